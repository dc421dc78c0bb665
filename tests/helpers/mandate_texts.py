"""Mandate templates for tests whose subject is not the texts themselves (requests, batches,
the audit log, the vault): a campaign records a mandate only on a published text whose scopes
and boxes are exactly those signed, so these tests publish their own.

``registry(texts, consents)`` publishes each text under ``BASE`` for the access scope alone,
and under ``version_for(scopes)`` for every other set of scopes whose boxes ``consents``
holds. The real texts and their checks are tested in test_mandate_scopes.py.
"""
from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations

from breachindex.campaign.mandates import ALWAYS_REQUIRED_CONSENTS, SCOPE_CONSENTS, SCOPES
from breachindex.campaign.templates import MandateTemplate

BASE = "v1"
ACCESS = ("gdpr_access_art15",)


def version_for(scopes: Iterable[str], base: str = BASE) -> str:
    chosen = tuple(sorted(set(scopes)))
    return base if chosen == ACCESS else "scopes:" + "+".join(chosen)


def registry(texts: Iterable[str], consents: Iterable[str], base: str = BASE) -> dict[str, MandateTemplate]:
    by_language = {f"t{i}": text for i, text in enumerate(texts)}
    boxes = tuple(dict.fromkeys(consents))
    published: dict[str, MandateTemplate] = {}
    for size in range(1, len(SCOPES) + 1):
        for scopes in combinations(sorted(SCOPES), size):
            needed = set(ALWAYS_REQUIRED_CONSENTS) | {SCOPE_CONSENTS[s] for s in scopes}
            if needed <= set(boxes):
                version = version_for(scopes, base)
                published[version] = MandateTemplate(version, scopes, boxes, by_language)
    return published
