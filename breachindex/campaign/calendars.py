"""Which public holidays count for a request's deadline, and the frozen copy a request keeps.

Reg. 1182/71 (Art. 3(4)) moves a period that ends on a public holiday to the next working day,
counting the holidays "of the Member State or Community institution where the act is to be
done": the controller answers, so the controller's state (Meta Platforms Ireland: Ireland).
A controller's calendar is its ``deadline_calendar``, or its ``country``; a campaign can set one
calendar for all (``Campaign(deadline_holidays=...)``), recorded as such.

When a request is sent, its calendar is frozen: the public holidays of its window (the year
of receipt and the two after it) are copied into the request with the calendar's source and
the ``holidays`` package version, and its statutory due date is stored beside them. Later
readings count with that copy, so a ``holidays`` update or a changed registry never moves a
running deadline silently; only a day beyond the window (a pause of years) falls back to the
calendar as installed, and the record says so (``FrozenCalendar.covers``).
"""
from __future__ import annotations

import json
from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .controllers import Controller
from .deadlines import HolidaySpec, country_holidays, next_working_day

__all__ = ["PER_CONTROLLER", "Calendars", "FrozenCalendar", "describe", "freeze_calendar", "holidays_version"]

#: ``Campaign(deadline_holidays=PER_CONTROLLER)`` (the default): each controller's own calendar
PER_CONTROLLER = "per-controller"

#: years of holidays a request keeps: the year of receipt and the two after it
_WINDOW_YEARS = 3


def holidays_version() -> str:
    """The installed ``holidays`` package's version (recorded with every frozen calendar)."""
    import holidays as holiday_calendars

    return str(holiday_calendars.__version__)


def _codes(spec: HolidaySpec) -> tuple[str, ...] | None:
    if isinstance(spec, str):
        return (spec,)
    if isinstance(spec, (tuple, list, set, frozenset)) and spec and all(isinstance(c, str) for c in spec):
        return tuple(sorted(str(c) for c in spec))
    return None


def describe(spec: HolidaySpec) -> str:
    """A calendar's name as the record shows it: ``IE``, ``IE+NL``, ``custom`` or ``weekends-only``."""
    if spec is None:
        return "weekends-only"
    codes = _codes(spec)
    return "+".join(codes) if codes is not None else "custom"


@dataclass(frozen=True)
class FrozenCalendar(Container[date]):
    """The public holidays a request's deadline counts with, copied when it was sent.

    ``source``: the calendar's name (``IE``, ``IE+NL``, ``custom``, ``weekends-only``);
    ``chosen_by``: ``controller`` (its own calendar) or ``campaign`` (one for all);
    ``holidays_version``: the ``holidays`` package's version then (None for a custom one);
    ``first_year``..``last_year``: the window the copy covers; ``days``: the holidays in it.
    """

    source: str
    chosen_by: str
    holidays_version: str | None
    first_year: int
    last_year: int
    days: frozenset[date]

    def covers(self, day: date) -> bool:
        return self.first_year <= day.year <= self.last_year

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        if self.covers(day):
            return day in self.days
        # beyond the window (a pause of years): the same calendar as installed now
        codes = None if self.source in ("custom", "weekends-only") else tuple(self.source.split("+"))
        return codes is not None and any(day in country_holidays(code, day.year) for code in codes)

    def to_json(self) -> dict[str, Any]:
        """What a record shows: the calendar's name, who chose it, the version, the window."""
        return {"source": self.source, "chosen_by": self.chosen_by, "holidays_version": self.holidays_version,
                "window": [self.first_year, self.last_year]}

    def to_text(self) -> str:
        """The whole copy, days included, as stored with the request."""
        return json.dumps({"source": self.source, "chosen_by": self.chosen_by,
                           "holidays_version": self.holidays_version, "first_year": self.first_year,
                           "last_year": self.last_year, "days": sorted(d.isoformat() for d in self.days)},
                          separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_text(cls, text: str) -> FrozenCalendar:
        value: dict[str, Any] = json.loads(text)
        return cls(str(value["source"]), str(value["chosen_by"]), value["holidays_version"],
                   int(value["first_year"]), int(value["last_year"]),
                   frozenset(date.fromisoformat(d) for d in value["days"]))


def freeze_calendar(spec: HolidaySpec, received: date, *, chosen_by: str) -> FrozenCalendar:
    """The holidays of ``spec`` from the year of ``received`` on (``_WINDOW_YEARS`` years)."""
    first, last = received.year, received.year + _WINDOW_YEARS - 1
    codes = _codes(spec)
    if spec is None:
        days: frozenset[date] = frozenset()
        version = None
    elif codes is not None:
        days = frozenset(d for code in codes for year in range(first, last + 1) for d in country_holidays(code, year))
        version = holidays_version()
    elif isinstance(spec, Container):
        start, end = date(first, 1, 1), date(last, 12, 31)
        days = frozenset(start + timedelta(days=i) for i in range((end - start).days + 1)
                         if start + timedelta(days=i) in spec)
        version = None
    else:
        raise TypeError("holidays must be a country code, several, a container of dates, or None")
    return FrozenCalendar(describe(spec), chosen_by, version, first, last, days)


class Calendars:
    """Which calendar counts for a controller: the campaign's one for all, or (``PER_CONTROLLER``)
    each controller's ``deadline_calendar`` or ``country``."""

    def __init__(self, choice: HolidaySpec, controllers: Mapping[str, Controller]) -> None:
        self.choice = choice
        self._controllers = controllers

    @classmethod
    def checked(cls, choice: HolidaySpec, controllers: Mapping[str, Controller]) -> Calendars:
        """The calendars, each one tried once now (an unknown country fails here, not at a deadline)."""
        calendars = cls(choice, controllers)
        for controller in controllers if calendars.per_controller else ("",):
            next_working_day(date(2024, 12, 25), calendars.spec_for(controller))
        return calendars

    @property
    def per_controller(self) -> bool:
        return isinstance(self.choice, str) and self.choice == PER_CONTROLLER

    def spec_for(self, controller: str) -> HolidaySpec:
        if not self.per_controller:
            return self.choice
        entry = self._controllers.get(controller)
        # a controller no longer in the registry keeps counting with its requests' frozen copies;
        # an unsent one falls back to weekends only until the registry knows it again
        return None if entry is None else entry.calendar

    def freeze(self, controller: str, received: date) -> FrozenCalendar:
        return freeze_calendar(self.spec_for(controller), received,
                               chosen_by="controller" if self.per_controller else "campaign")
