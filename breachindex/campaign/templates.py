"""The published mandate texts, and what each one authorises.

A mandate is only as wide as the text the person read. So each published version of the text
declares the ``scopes`` it authorises and the ``consents`` (boxes) it shows, and a mandate is
recorded only when its scopes and ticked boxes are exactly those, and its text is exactly that
version's text for the controller in one of its languages (``MandateTemplate.check``):
a mandate for erasure or a collective claim cannot be signed on a text that asks only for
access, in the library as over HTTP.

A published version is never edited: a changed text, or a text that authorises more, gets a
new version, and mandates keep the version and the SHA-256 they were signed with. Texts hold
``{legal_name}`` and ``{postal_address}`` of the controller. ``Campaign(templates=...)`` takes
another registry (a campaign with its own texts); ``TEMPLATES`` is SOMI's.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..errors import InvalidMandate
from .controllers import Controller
from .mandates import ALWAYS_REQUIRED_CONSENTS, CONSENTS, SCOPE_CONSENTS, SCOPES

__all__ = ["CURRENT_VERSION", "LANGUAGES", "MandateTemplate", "TEMPLATES", "check_templates"]

CURRENT_VERSION = "2026-11"
#: the languages SOMI publishes its texts in
LANGUAGES: tuple[str, ...] = ("nl", "en")

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
    """One published version: its ``texts`` by language, the ``scopes`` they authorise and
    the ``consents`` (boxes) they show, every one of which must be ticked."""

    version: str
    scopes: tuple[str, ...]
    consents: tuple[str, ...]
    texts: Mapping[str, str] = field(hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not 0 < len(self.version) <= 64 or not self.version.isprintable():
            raise ValueError("a template version is printable text of 1 to 64 characters")
        scopes, consents = set(self.scopes), set(self.consents)
        if not scopes or not scopes <= set(SCOPES):
            raise ValueError(f"template {self.version}: scopes must be a non-empty subset of {', '.join(SCOPES)}")
        if not consents <= set(CONSENTS):
            raise ValueError(f"template {self.version}: unknown consents")
        needed = set(ALWAYS_REQUIRED_CONSENTS) | {SCOPE_CONSENTS[s] for s in scopes}
        if not needed <= consents:
            raise ValueError(f"template {self.version}: its boxes must include {', '.join(sorted(needed))}")
        if not self.texts or not all(isinstance(t, str) and t.strip() for t in self.texts.values()):
            raise ValueError(f"template {self.version}: needs a non-empty text in at least one language")
        # declared order kept (the page shows the boxes in it), repeats dropped
        object.__setattr__(self, "scopes", tuple(dict.fromkeys(self.scopes)))
        object.__setattr__(self, "consents", tuple(dict.fromkeys(self.consents)))
        object.__setattr__(self, "texts", MappingProxyType(dict(self.texts)))

    def render(self, language: str, controller: Controller) -> str | None:
        """The text shown for ``controller`` in ``language`` (None: no such language)."""
        text = self.texts.get(language)
        if text is None:
            return None
        return text.format(legal_name=controller.legal_name, postal_address=controller.postal_address)

    def language_of(self, controller: Controller, text: str) -> str | None:
        """The language whose rendering for ``controller`` is exactly ``text`` (None: none)."""
        for language in self.texts:
            if self.render(language, controller) == text:
                return language
        return None

    def check(self, controller: Controller, text: object, scopes: Iterable[object],
              consents: Iterable[object]) -> str:
        """The language of ``text`` if a mandate with these scopes and consents may be recorded
        on it; InvalidMandate (with ``reason``) otherwise."""
        language = self.language_of(controller, text) if isinstance(text, str) else None
        if language is None:
            raise InvalidMandate(f"the text is not the text of template {self.version} for this controller",
                                 reason="text_not_template")
        if set(scopes) != set(self.scopes):
            raise InvalidMandate(f"template {self.version} authorises exactly: {', '.join(self.scopes)}",
                                 reason="scopes_not_in_text")
        if set(consents) != set(self.consents):
            raise InvalidMandate(f"template {self.version} needs exactly these boxes ticked: "
                                 f"{', '.join(self.consents)}", reason="consents_not_in_text")
        return language

    def digest(self, language: str, controller: Controller) -> str | None:
        """The SHA-256 (hex) of the text shown, as a mandate stores it."""
        text = self.render(language, controller)
        return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_templates(templates: Mapping[str, MandateTemplate]) -> Mapping[str, MandateTemplate]:
    """A read-only copy of a registry whose keys are its templates' versions (ValueError else)."""
    if not templates:
        raise ValueError("the template registry is empty")
    for version, template in templates.items():
        if not isinstance(template, MandateTemplate) or template.version != version:
            raise ValueError(f"the registry entry {version!r} is not a MandateTemplate of that version")
    return MappingProxyType(dict(templates))


TEMPLATES: Mapping[str, MandateTemplate] = check_templates({
    CURRENT_VERSION: MandateTemplate(CURRENT_VERSION, scopes=("gdpr_access_art15",),
                                     consents=("privacy_notice_read", "authorise_access_request"),
                                     texts={"nl": _NL, "en": _EN}),
})
