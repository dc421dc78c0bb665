"""GDPR Art. 12(3) deadlines counted as Regulation 1182/71 says, with dates worked out by hand.

Each expected date below was counted on a calendar: the month rule first (same date next
month, or that month's last day), then the working-day rule (Saturday, Sunday and Dutch public
holidays as the ``holidays`` package lists them roll forward to the next working day).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breachindex.campaign.deadlines import (
    add_months,
    extension_in_time,
    extension_notice_due,
    is_working_day,
    next_working_day,
    response_due,
)

D = date


# ---- the month rule -------------------------------------------------------------------------------

@pytest.mark.parametrize(("start", "months", "end"), [
    (D(2021, 3, 15), 1, D(2021, 4, 15)),
    (D(2021, 1, 31), 1, D(2021, 2, 28)),   # February has no 31st: its last day
    (D(2024, 1, 31), 1, D(2024, 2, 29)),   # leap year
    (D(2023, 1, 31), 1, D(2023, 2, 28)),
    (D(2024, 1, 29), 1, D(2024, 2, 29)),
    (D(2023, 1, 29), 1, D(2023, 2, 28)),
    (D(2021, 3, 31), 1, D(2021, 4, 30)),
    (D(2021, 12, 15), 1, D(2022, 1, 15)),  # over the year end
    (D(2021, 1, 31), 3, D(2021, 4, 30)),
    (D(2023, 11, 30), 3, D(2024, 2, 29)),
    (D(2021, 10, 31), 3, D(2022, 1, 31)),
])
def test_add_months(start, months, end):
    assert add_months(start, months) == end


# ---- one month, then the next working day ---------------------------------------------------------

@pytest.mark.parametrize(("received", "due", "why"), [
    (D(2021, 3, 15), D(2021, 4, 15), "a Thursday: no roll"),
    (D(2021, 1, 31), D(2021, 3, 1), "28 Feb 2021 is a Sunday -> Monday 1 March"),
    (D(2024, 1, 31), D(2024, 2, 29), "leap year: Thursday 29 February"),
    (D(2023, 1, 31), D(2023, 2, 28), "not a leap year: Tuesday 28 February"),
    (D(2024, 5, 15), D(2024, 6, 17), "Saturday 15 June -> Monday 17"),
    (D(2024, 5, 16), D(2024, 6, 17), "Sunday 16 June -> Monday 17"),
    (D(2026, 3, 27), D(2026, 4, 28), "King's Day, Monday 27 April 2026 -> Tuesday"),
    (D(2025, 3, 26), D(2025, 4, 28), "King's Day 2025 moved to Saturday 26 April; Sunday 27 -> Monday 28"),
    (D(2025, 4, 5), D(2025, 5, 6), "Liberation Day, Monday 5 May 2025 (a lustrum year) -> Tuesday"),
    (D(2026, 4, 5), D(2026, 5, 5), "5 May 2026 is no holiday in the package's calendar (not a lustrum year)"),
    (D(2024, 11, 25), D(2024, 12, 27), "Christmas Wednesday 25 and Thursday 26 -> Friday 27"),
    (D(2022, 11, 25), D(2022, 12, 27), "Sunday 25 December, Monday 26 a holiday -> Tuesday 27"),
    (D(2024, 3, 1), D(2024, 4, 2), "Easter Monday 1 April 2024 -> Tuesday"),
    (D(2024, 2, 29), D(2024, 4, 2), "Good Friday 29 March, Saturday, Sunday, Easter Monday -> Tuesday 2 April"),
    (D(2024, 4, 9), D(2024, 5, 10), "Ascension Day, Thursday 9 May 2024 -> Friday"),
    (D(2024, 4, 20), D(2024, 5, 21), "Whit Monday 20 May 2024 -> Tuesday"),
    (D(2024, 4, 18), D(2024, 5, 21), "Saturday 18, Whit Sunday 19, Whit Monday 20 -> Tuesday 21"),
    (D(2024, 12, 1), D(2025, 1, 2), "New Year's Day, Wednesday -> Thursday 2 January"),
])
def test_response_due(received, due, why):
    assert response_due(received) == due, why
    assert is_working_day(due)


@pytest.mark.parametrize(("received", "due", "why"), [
    (D(2021, 1, 31), D(2021, 4, 30), "three months from receipt, not 28 Feb + 2 months (28 April)"),
    (D(2023, 11, 30), D(2024, 2, 29), "leap year"),
    (D(2022, 11, 30), D(2023, 2, 28), "not a leap year"),
    (D(2024, 10, 25), D(2025, 1, 27), "Saturday 25 January -> Monday 27"),
    (D(2025, 2, 5), D(2025, 5, 6), "Liberation Day 2025 -> Tuesday 6 May"),
])
def test_extended_due(received, due, why):
    assert response_due(received, extended=True) == due, why


def test_calendars():
    assert response_due(D(2024, 2, 29), holidays=None) == D(2024, 3, 29)  # Good Friday counts only with holidays
    assert response_due(D(2025, 2, 17)) == D(2025, 3, 17)                 # St Patrick's Day is Irish
    assert response_due(D(2025, 2, 17), holidays=("NL", "IE")) == D(2025, 3, 18)
    assert response_due(D(2025, 2, 17), holidays=["IE"]) == D(2025, 3, 18)
    # your own calendar: the Algemene termijnenwet has 5 May every year
    assert response_due(D(2026, 4, 5), holidays={D(2026, 5, 5)}) == D(2026, 5, 6)
    with pytest.raises(ValueError):
        response_due(D(2024, 1, 1), holidays="XX")
    with pytest.raises(TypeError):
        response_due(D(2024, 1, 1), holidays=42)  # type: ignore[arg-type]


def test_pauses_move_the_end_before_the_working_day_rule():
    assert response_due(D(2024, 3, 15), paused_days=8) == D(2024, 4, 23)
    assert response_due(D(2024, 4, 13), paused_days=2) == D(2024, 5, 15)  # 13 May + 2 = Wednesday 15
    assert response_due(D(2024, 4, 13), paused_days=5) == D(2024, 5, 21)  # Saturday 18 -> Tuesday 21 (Whit Monday)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError):
            response_due(D(2024, 3, 15), paused_days=bad)  # type: ignore[arg-type]


def test_datetimes_are_refused():
    with pytest.raises(TypeError):
        response_due(datetime(2024, 3, 15, tzinfo=timezone.utc))
    with pytest.raises(TypeError):
        response_due("2024-03-15")  # type: ignore[arg-type]


# ---- the extension must be announced within the first month -------------------------------------

def test_extension_announced_in_time_and_too_late():
    received = D(2021, 1, 31)
    assert extension_notice_due(received) == D(2021, 3, 1)  # the first month ends Sunday 28 Feb -> Monday
    assert extension_in_time(received, D(2021, 2, 10))
    assert extension_in_time(received, D(2021, 3, 1))       # the last day
    assert not extension_in_time(received, D(2021, 3, 2))   # one day late
    assert not extension_in_time(received, D(2021, 1, 30))  # before the request arrived
    received = D(2024, 5, 15)
    assert extension_notice_due(received) == D(2024, 6, 17)
    assert extension_in_time(received, D(2024, 6, 17)) and not extension_in_time(received, D(2024, 6, 18))


def test_next_working_day():
    assert next_working_day(D(2024, 3, 29)) == D(2024, 4, 2)
    assert next_working_day(D(2024, 4, 2)) == D(2024, 4, 2)
    with pytest.raises(ValueError):  # a calendar where nothing is a working day
        next_working_day(D(2024, 1, 1), holidays={D(2024, 1, 1) + timedelta(days=i) for i in range(400)})


# ---- properties -----------------------------------------------------------------------------------

dates = st.dates(min_value=D(2000, 1, 1), max_value=D(2060, 12, 31))


@settings(max_examples=300, deadline=None)
@given(dates, st.booleans())
def test_due_dates_properties(received, extended):
    due = response_due(received, extended=extended)
    naive = add_months(received, 3 if extended else 1)
    assert due >= received + timedelta(days=28 * (3 if extended else 1))
    assert is_working_day(due)
    assert timedelta(0) <= due - naive < timedelta(days=7)
    if extended:
        assert due >= response_due(received)


@settings(max_examples=300, deadline=None)
@given(dates, st.integers(min_value=0, max_value=40), st.booleans())
def test_due_dates_are_monotonic(received, gap, extended):
    later = received + timedelta(days=gap)
    assert response_due(received, extended=extended) <= response_due(later, extended=extended)
    assert response_due(received, paused_days=gap) >= response_due(received)
