"""GDPR deadlines: by when a controller must answer a data subject's request (Art. 12(3)).

Art. 12(3) GDPR: the controller answers "within one month of receipt of the request"; it may
extend that "by two further months", if it tells the data subject so "within one month of
receipt". Periods are counted as Regulation (EEC, Euratom) No 1182/71 says:

* the day of receipt does not count (Art. 3(1)): a one-month period starts the next day;
* a period in months ends on the day of the last month with the same date as the day of
  receipt, or, where that month has no such date, on its last day (Art. 3(2)(c)):
  received 15 March -> 15 April; received 31 January -> 28 February (29 in a leap year);
* a period ending on a Saturday, a Sunday or a public holiday ends on the next working day
  (Art. 3(4)), found by stepping forward until a working day (a chain such as Saturday,
  Sunday, Easter Monday ends on the Tuesday).

Decisions where the texts leave room:

* The extended period is counted from receipt as three months (received 31 January ->
  30 April), not as two months added to the end of the first (-> 28 April): never earlier, so
  a request is never called overdue too soon. The working-day rule is applied once, at the end.
* Public holidays come from the ``holidays`` package (``holidays="NL"``: its Dutch calendar,
  i.e. New Year, Good Friday, Easter Monday, King's Day (26 April when the 27th is a Sunday),
  Liberation Day (5 May) in lustrum years only (2025, 2030, ...), Ascension, Whit Monday and
  both Christmas days). ``holidays`` may also be several country codes (the union, e.g.
  ``("NL", "IE")`` when the controller answers from Ireland), any container of dates (your
  own calendar), or None (weekends only).
* Time spent waiting for information the controller asked for (``paused_days``) moves the end
  of the period by that many days before the working-day rule; see
  ``breachindex.campaign.requests`` for when the campaign counts it.

Dates are calendar dates (``datetime.date``); a ``datetime`` is refused, as its day depends on
a time zone this module cannot guess.
"""
from __future__ import annotations

import calendar
from collections.abc import Callable, Container, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache

__all__ = [
    "EXTENSION_MONTHS",
    "HolidaySpec",
    "RESPONSE_MONTHS",
    "add_months",
    "country_holidays",
    "extension_in_time",
    "extension_notice_due",
    "is_working_day",
    "next_working_day",
    "response_due",
]

#: Art. 12(3): one month to answer ...
RESPONSE_MONTHS = 1
#: ... extendable by two further months
EXTENSION_MONTHS = 2

#: a country code, several (their union), a container of dates, or None (weekends only)
HolidaySpec = str | Sequence[str] | Container[date] | None

_MAX_STEPS = 60  # no calendar has 60 non-working days in a row; more means a broken calendar


def add_months(day: date, months: int) -> date:
    """The same date ``months`` later, or the last day of that month if it has no such date."""
    _check_date("day", day)
    index = day.month - 1 + int(months)
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@lru_cache(maxsize=1024)
def country_holidays(code: str, year: int) -> frozenset[date]:
    """The public holidays of one country (ISO code) in one year, from the ``holidays`` package."""
    import holidays as holiday_calendars  # imported on first use: the index alone does not need it

    try:
        found = holiday_calendars.country_holidays(code, years=year)
    except NotImplementedError:
        raise ValueError(f"no public-holiday calendar for country code {code!r}") from None
    return frozenset(found.keys())


def _holiday_test(spec: HolidaySpec) -> Callable[[date], bool]:
    """A predicate "is this date a public holiday" for a ``HolidaySpec``."""
    if spec is None:
        return lambda day: False
    if isinstance(spec, str):
        codes: tuple[str, ...] = (spec,)
    elif isinstance(spec, (tuple, list, set, frozenset)) and spec and all(isinstance(c, str) for c in spec):
        codes = tuple(sorted(str(c) for c in spec))
    elif isinstance(spec, Container):
        calendar_ = spec
        return lambda day: day in calendar_
    else:
        raise TypeError("holidays must be a country code, several, a container of dates, or None")
    for code in codes:
        country_holidays(code, 2000)  # an unknown country fails here, not at the first lookup
    return lambda day: any(day in country_holidays(code, day.year) for code in codes)


def _check_date(name: str, value: object) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be a datetime.date (not a datetime: its day depends on a time zone)")
    return value


def is_working_day(day: date, holidays: HolidaySpec = "NL") -> bool:
    """Not a Saturday, a Sunday, nor a public holiday of ``holidays``."""
    _check_date("day", day)
    return day.weekday() < 5 and not _holiday_test(holidays)(day)


def next_working_day(day: date, holidays: HolidaySpec = "NL") -> date:
    """``day`` if it is a working day, else the first working day after it."""
    _check_date("day", day)
    is_holiday = _holiday_test(holidays)
    for _ in range(_MAX_STEPS):
        if day.weekday() < 5 and not is_holiday(day):
            return day
        day += timedelta(days=1)
    raise ValueError(f"no working day within {_MAX_STEPS} days: is the holiday calendar right?")


def response_due(received: date, *, extended: bool = False, holidays: HolidaySpec = "NL",
                 paused_days: int = 0) -> date:
    """The last day on which the controller may answer a request received on ``received``.

    One month from receipt (three with ``extended``), moved by ``paused_days``, then to the
    next working day (see the module documentation for the rules and worked examples).
    Whether an extension is valid (announced within the first month) is for the caller to
    check with ``extension_in_time``.
    """
    _check_date("received", received)
    if isinstance(paused_days, bool) or not isinstance(paused_days, int) or paused_days < 0:
        raise ValueError("paused_days must be an int >= 0")
    months = RESPONSE_MONTHS + (EXTENSION_MONTHS if extended else 0)
    return next_working_day(add_months(received, months) + timedelta(days=paused_days), holidays)


def extension_notice_due(received: date, *, holidays: HolidaySpec = "NL", paused_days: int = 0) -> date:
    """The last day on which an extension may be announced: the end of the first month."""
    return response_due(received, holidays=holidays, paused_days=paused_days)


def extension_in_time(received: date, announced: date, *, holidays: HolidaySpec = "NL",
                      paused_days: int = 0) -> bool:
    """True if an extension announced on ``announced`` is valid: on or after the day of
    receipt and no later than ``extension_notice_due``."""
    _check_date("announced", announced)
    return received <= announced <= extension_notice_due(received, holidays=holidays, paused_days=paused_days)
