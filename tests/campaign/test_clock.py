"""The instants the audit log and the letters print: their text must never change."""
from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from breachindex.campaign.clock import EPOCH, MICROSECOND, from_us, iso, to_us

_FIRST_US = to_us(datetime(1, 1, 1, tzinfo=timezone.utc))
_LAST_US = to_us(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc))


def _strftime_iso(us: int) -> str:
    """What ``iso`` printed when every entry so far was written (strftime)."""
    moment = EPOCH + us * MICROSECOND
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


@given(st.integers(_FIRST_US, _LAST_US))
def test_iso_prints_what_strftime_printed(us: int) -> None:
    assert iso(us) == _strftime_iso(us)


@given(st.integers(0, 2**62 // 1000))
def test_iso_of_epoch_microseconds_reads_back(us: int) -> None:
    text = iso(us)
    assert text.endswith("Z")
    assert to_us(datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)) == us == to_us(from_us(us))


def test_iso_examples() -> None:
    assert iso(0) == "1970-01-01T00:00:00Z"
    assert iso(1) == "1970-01-01T00:00:00.000001Z"
    assert iso(1_796_400_000_000_000) == "2026-12-04T16:00:00Z"
    assert iso(_FIRST_US) == "1-01-01T00:00:00Z"
