"""The mandate texts the check page shows: the campaign's published templates
(``breachindex.campaign.templates``), rendered per version, language and controller.

The server is the only source of a mandate's text: the page fetches the text (with its
template version and SHA-256), shows it as it is, and posts back only the version, the language
and the controller. The server then renders its own copy and hands exactly those bytes to
``Campaign.sign_mandate``, which checks them against the template (and the scopes and boxes
against what that template authorises) and stores their SHA-256. So the hash stored is the hash
of the text shown, and a client can slip in neither another text nor a wider scope.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping

from ..campaign.controllers import Controller
from ..campaign.templates import CURRENT_VERSION, LANGUAGES, TEMPLATES, MandateTemplate

__all__ = ["CURRENT_VERSION", "LANGUAGES", "MandateTemplate", "TEMPLATES", "render", "PAGE_SCOPES", "PAGE_CONSENTS"]

#: what the page's current mandate covers, and the boxes it shows
PAGE_SCOPES: tuple[str, ...] = TEMPLATES[CURRENT_VERSION].scopes
PAGE_CONSENTS: tuple[str, ...] = TEMPLATES[CURRENT_VERSION].consents


def render(version: str, language: str, controller: Controller,
           templates: Mapping[str, MandateTemplate] = TEMPLATES) -> tuple[str, str] | None:
    """(text, SHA-256 hex of its UTF-8 bytes) of a published template for ``controller``, or
    None if there is no such version and language."""
    template = templates.get(version)
    text = None if template is None else template.render(language, controller)
    if text is None:
        return None
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()
