"""The controllers SOMI sends requests to: a small registry, keyed by a short name.

Each entry has the controller's legal name, where data-subject requests go (the channel the
controller publishes for them: a privacy e-mail address or web form), its postal address and
its country. The entries are what the controllers published when this registry was written;
addresses change, so the filing lawyer checks them before each filing, and a campaign can be
given an updated registry (``Campaign(controllers=...)``, e.g. ``{**CONTROLLERS, "x": ...}``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..errors import UnknownController

__all__ = ["CONTROLLERS", "Controller", "check_registry", "lookup_controller"]


@dataclass(frozen=True)
class Controller:
    """A data controller: ``key`` (the registry name), ``legal_name``, ``request_address``
    (the e-mail address or web form for data-subject requests), ``postal_address``,
    ``country`` (ISO 3166 alpha-2); ``deadline_calendar``: the public holidays its deadlines
    count with (a ``holidays`` country code, or several joined by ``+``), None for its
    ``country``'s (Reg. 1182/71: those of the state where the act, the answer, is done)."""

    key: str
    legal_name: str
    request_address: str
    postal_address: str
    country: str
    deadline_calendar: str | None = None

    def __post_init__(self) -> None:
        key = self.key
        if not key or not key.isascii() or not key.replace("_", "").isalnum() or key != key.lower():
            raise ValueError("a controller key is lower-case ASCII letters, digits and underscores")
        for name in ("legal_name", "request_address", "postal_address"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or not value.isprintable():
                raise ValueError(f"a controller's {name} must be non-empty printable text")
        if len(self.country) != 2 or not self.country.isalpha() or not self.country.isupper():
            raise ValueError("a controller's country is an ISO 3166 alpha-2 code, e.g. 'IE'")
        if self.deadline_calendar is not None:
            codes = self.deadline_calendar.split("+") if isinstance(self.deadline_calendar, str) else [""]
            if not all(c.isascii() and c.isalpha() and c.isupper() and 2 <= len(c) <= 3 for c in codes):
                raise ValueError("a controller's deadline_calendar is a country code, or several joined by '+'")

    @property
    def calendar(self) -> str | tuple[str, ...]:
        """The holiday calendar of its deadlines (``deadlines.HolidaySpec``)."""
        if self.deadline_calendar is None:
            return self.country
        codes = tuple(self.deadline_calendar.split("+"))
        return codes[0] if len(codes) == 1 else codes

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "legal_name": self.legal_name, "request_address": self.request_address,
                "postal_address": self.postal_address, "country": self.country,
                "deadline_calendar": "+".join(self.calendar) if isinstance(self.calendar, tuple) else self.calendar}


CONTROLLERS: Mapping[str, Controller] = MappingProxyType({c.key: c for c in (
    Controller("meta", "Meta Platforms Ireland Limited",
               "https://www.facebook.com/help/contact/540977946302970",
               "Merrion Road, Dublin 4, D04 X2K5, Ireland", "IE"),
    Controller("zoom", "Zoom Communications, Inc.", "privacy@zoom.us",
               "55 Almaden Boulevard, 6th Floor, San Jose, CA 95113, United States", "US"),
    Controller("palantir", "Palantir Technologies Inc.", "privacy@palantir.com",
               "1200 17th Street, Floor 15, Denver, CO 80202, United States", "US"),
    Controller("tiktok", "TikTok Technology Limited", "https://www.tiktok.com/legal/report/privacy",
               "10 Earlsfort Terrace, Dublin 2, D02 T380, Ireland", "IE"),
)})


def check_registry(registry: Mapping[str, Controller]) -> Mapping[str, Controller]:
    """A read-only copy of a registry whose keys match its entries."""
    if not isinstance(registry, Mapping) or not registry:
        raise ValueError("a controller registry is a non-empty mapping of key to Controller")
    for key, entry in registry.items():
        if not isinstance(entry, Controller) or entry.key != key:
            raise ValueError("every registry entry must be a Controller filed under its own key")
    return MappingProxyType(dict(registry))


def lookup_controller(registry: Mapping[str, Controller], key: object) -> Controller:
    """The entry for ``key``; UnknownController if there is none."""
    entry = registry.get(key) if isinstance(key, str) else None
    if entry is None:
        raise UnknownController(f"unknown controller: choose one of {', '.join(sorted(registry))}")
    return entry
