"""Time in the campaign store: aware UTC datetimes outside, integer epoch microseconds inside.

Every method of the workflow that depends on time takes ``now=`` (default: the current UTC
time), so tests inject the clock instead of sleeping. ``now`` must be timezone-aware: a naive
datetime is refused with ValueError rather than guessed at (a server's local time silently
taken for UTC would shift every expiry by hours). The database stores instants as integer
microseconds since the Unix epoch (``*_us`` columns, BIGINT): exact, comparable, portable.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

__all__ = ["EPOCH", "MICROSECOND", "utc_now", "to_us", "from_us", "now_us", "seconds", "iso"]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime; ValueError for a naive one."""
    if not isinstance(moment, datetime):
        raise TypeError(f"now must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("now must be timezone-aware (e.g. datetime.now(timezone.utc)); "
                         "naive datetimes are refused")
    return (moment - EPOCH) // MICROSECOND


def now_us(now: datetime | None) -> int:
    """``to_us(now)``, with None meaning the current UTC time."""
    if now is None:  # the same clock as utc_now, without a datetime: every keyed check asks
        return time.time_ns() // 1000
    return to_us(now)


def from_us(us: int) -> datetime:
    """The aware UTC datetime of epoch microseconds."""
    return EPOCH + timedelta(microseconds=us)


def seconds(us: int) -> float:
    """Microseconds as float seconds (for ``retry_after``)."""
    return us / 1_000_000


def iso(us: int) -> str:
    """An instant as ISO-8601 UTC text (``Z``; microseconds only when there are any)."""
    moment = from_us(us)
    if moment.year >= 1000:  # isoformat is strftime's text here, and far cheaper
        return moment.replace(tzinfo=None).isoformat() + "Z"
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")  # %Y does not pad a year below 1000 to four digits
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"
