"""The mandate texts the check page shows, per template version and language.

The server is the only source of a mandate's text: the page fetches the text (with its
template version and SHA-256), shows it as it is, and posts back only the version, the language
and the controller. The server then renders its own copy and hands exactly those bytes to
``Campaign.sign_mandate``, which stores their SHA-256. So the hash stored is the hash of the
text shown, and a client cannot slip another text in. A published version is never edited:
a changed text gets a new version (mandates keep the version and the hash they were signed with).
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..campaign.controllers import Controller

__all__ = ["CURRENT_VERSION", "LANGUAGES", "MandateTemplate", "TEMPLATES", "render", "PAGE_SCOPES", "PAGE_CONSENTS"]

CURRENT_VERSION = "2026-11"
LANGUAGES: tuple[str, ...] = ("nl", "en")

#: what the page's mandate covers, and the boxes it shows
PAGE_SCOPES: tuple[str, ...] = ("gdpr_access_art15",)
PAGE_CONSENTS: tuple[str, ...] = ("privacy_notice_read", "authorise_access_request")

_NL = (
    "Machtiging\n\n"
    "Ik machtig Stichting Onderzoek Marktinformatie (SOMI) om namens mij bij {legal_name} "
    "({postal_address}) inzage te vragen in de persoonsgegevens die {legal_name} over mij verwerkt "
    "(artikel 15 AVG), en om de antwoorden namens mij te ontvangen.\n\n"
    "Deze machtiging geldt twaalf maanden vanaf vandaag. Ik kan haar op elk moment intrekken; "
    "verzoeken die al zijn ingediend, worden dan ingetrokken of de verwerkingsverantwoordelijke "
    "wordt ingelicht.\n\n"
    "SOMI gebruikt mijn telefoonnummer, mijn naam en deze machtiging alleen voor dit verzoek en "
    "de collectieve actie over het datalek van 2021, zoals beschreven in de privacyverklaring.\n"
)
_EN = (
    "Mandate\n\n"
    "I authorise Stichting Onderzoek Marktinformatie (SOMI) to request, on my behalf, access to "
    "the personal data that {legal_name} ({postal_address}) processes about me (Article 15 GDPR), "
    "and to receive the answers on my behalf.\n\n"
    "This mandate is valid for twelve months from today. I can revoke it at any time; requests "
    "already filed are then withdrawn or the controller is informed.\n\n"
    "SOMI uses my phone number, my name and this mandate only for this request and the "
    "collective action about the 2021 data leak, as described in the privacy notice.\n"
)


@dataclass(frozen=True)
class MandateTemplate:
    """A published text: ``version``, ``language`` and the text with ``{legal_name}`` and
    ``{postal_address}`` of the controller."""

    version: str
    language: str
    text: str


TEMPLATES: Mapping[tuple[str, str], MandateTemplate] = MappingProxyType({
    (CURRENT_VERSION, "nl"): MandateTemplate(CURRENT_VERSION, "nl", _NL),
    (CURRENT_VERSION, "en"): MandateTemplate(CURRENT_VERSION, "en", _EN),
})


def render(version: str, language: str, controller: Controller) -> tuple[str, str] | None:
    """(text, SHA-256 hex of its UTF-8 bytes) of a published template for ``controller``, or
    None if there is no such version and language."""
    template = TEMPLATES.get((version, language))
    if template is None:
        return None
    text = template.text.format(legal_name=controller.legal_name, postal_address=controller.postal_address)
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()
