"""SMS-pumping defences: the EU/EEA allow-list, refused number types, and every rate limit
(per number, per IP, per prefix, per country, in total) with exact retry_after values.

Numbers are phonenumbers' metadata examples, shifted by an offset where many are needed.
"""
from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime, timedelta, timezone
from typing import Any

import phonenumbers
import pytest
from phonenumbers import PhoneNumber, PhoneNumberType

from breachindex import InvalidPhoneNumber, Key
from breachindex.campaign import (
    EEA_CALLING_CODES,
    EEA_REGIONS,
    EU_OUTERMOST_CALLING_CODES,
    SMS_NUMBER_TYPES,
    Campaign,
    Limits,
    RecordingSender,
)
from breachindex.errors import CodeInvalid, SmsNotAllowed, Throttled

KEY = Key.generate()
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
S = timedelta(seconds=1)
H = timedelta(hours=1)


def example(region: str = "NL", kind: int = PhoneNumberType.MOBILE, offset: int = 0) -> str:
    n = phonenumbers.example_number_for_type(region, kind)
    assert n is not None, (region, kind)
    shifted = PhoneNumber(country_code=n.country_code, national_number=n.national_number + offset)
    return phonenumbers.format_number(shifted, phonenumbers.PhoneNumberFormat.E164)


NL = example("NL")


def only(**limits: Any) -> Limits:
    """Limits with every count off except those given."""
    return dataclasses.replace(Limits.off(), **limits)


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def make(tmp_path, sender):
    opened: list[Campaign] = []

    def factory(**kwargs: object) -> Campaign:
        c = Campaign(tmp_path / f"c{len(opened)}.db", secret=KEY, sender=sender, **kwargs)  # type: ignore[arg-type]
        opened.append(c)
        return c

    yield factory
    for c in opened:
        c.close()


# ---- the allow-list --------------------------------------------------------------------------------

def test_default_allow_list_is_the_eu_and_eea():
    assert len(EEA_REGIONS) == 30
    assert {"NL", "BE", "DE", "FI", "IS", "LI", "NO"} <= EEA_REGIONS
    assert not {"GB", "CH", "US", "TR"} & EEA_REGIONS
    assert len(EEA_CALLING_CODES) == 30
    assert {31, 32, 49, 358, 354, 423, 47} <= EEA_CALLING_CODES
    assert not {1, 7, 41, 44, 90, 262, 590} & EEA_CALLING_CODES
    assert {262, 590, 594, 596} == EU_OUTERMOST_CALLING_CODES


def test_every_eea_country_is_accepted(make, sender):
    c = make(limits=only())
    for i, region in enumerate(sorted(EEA_REGIONS)):
        c.start_verification(example(region), now=T0 + i * S)
    assert len(sender.messages) == 30


@pytest.mark.parametrize("region", ["US", "GB", "CH", "TR", "NG"])
def test_outside_the_eea_is_refused(make, sender, region):
    c = make()
    with pytest.raises(SmsNotAllowed) as info:
        c.start_verification(example(region), now=T0)
    assert info.value.reason == "country_not_allowed"
    assert sender.messages == []


def test_the_allow_list_is_configurable(make, sender):
    c = make(allowed_calling_codes={1})
    c.start_verification(example("US"), now=T0)
    with pytest.raises(SmsNotAllowed):
        c.start_verification(NL, now=T0)
    assert [m.to for m in sender.messages] == [example("US")]


# ---- number types ------------------------------------------------------------------------------------

@pytest.mark.parametrize("region", ["NL", "DE", "FR", "BE", "FI", "AT"])
def test_premium_rate_is_refused(make, sender, region):
    with pytest.raises(SmsNotAllowed) as info:
        make().start_verification(example(region, PhoneNumberType.PREMIUM_RATE), now=T0)
    assert info.value.reason == "premium_rate"
    assert sender.messages == []


@pytest.mark.parametrize("region", ["DE", "FR", "BE"])
def test_shared_cost_is_refused(make, sender, region):
    with pytest.raises(SmsNotAllowed) as info:
        make().start_verification(example(region, PhoneNumberType.SHARED_COST), now=T0)
    assert info.value.reason == "shared_cost"
    assert sender.messages == []


def test_toll_free_invalid_and_impossible_numbers_are_refused(make, sender):
    c = make()
    with pytest.raises(SmsNotAllowed) as toll_free:
        c.start_verification(example("NL", PhoneNumberType.TOLL_FREE), now=T0)
    assert toll_free.value.reason == "number_type_not_allowed"
    with pytest.raises(SmsNotAllowed) as invalid:  # possible length, but no such NL range
        c.start_verification("+31600000000", now=T0)
    assert invalid.value.reason == "invalid_number"
    with pytest.raises(InvalidPhoneNumber):
        c.start_verification("+31 6", now=T0)
    assert sender.messages == []


def test_fixed_line_mobile_and_voip_are_accepted(make, sender):
    c = make(limits=only())
    for i, kind in enumerate([PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.VOIP]):
        c.start_verification(example("NL", kind), now=T0 + i * S)
    assert len(sender.messages) == 3


def test_premium_rate_can_never_be_allowed(make):
    with pytest.raises(ValueError):
        make(allowed_number_types=SMS_NUMBER_TYPES | {PhoneNumberType.PREMIUM_RATE})
    with pytest.raises(ValueError):
        make(allowed_number_types={PhoneNumberType.SHARED_COST})


def test_refused_numbers_leave_no_trace(make, tmp_path):
    c = make()
    for number in (example("US"), example("NL", PhoneNumberType.PREMIUM_RATE)):
        with pytest.raises(SmsNotAllowed):
            c.start_verification(number, now=T0)
    db = sqlite3.connect(tmp_path / "c0.db")
    assert db.execute("SELECT COUNT(*) FROM participants").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM rate_events").fetchone()[0] == 0
    db.close()


# ---- per number -------------------------------------------------------------------------------------

def test_resend_interval(make, sender):
    c = make(limits=only(resend_interval=30 * S))
    c.start_verification(NL, now=T0)
    first_code = sender.last_code()
    with pytest.raises(Throttled) as info:
        c.start_verification(NL, now=T0 + 12 * S)
    assert info.value.reason == "resend_interval" and info.value.retry_after == 18.0
    assert "18 s" in str(info.value)
    # a refused resend sends nothing and does not replace the earlier code
    assert len(sender.messages) == 1
    c.start_verification(NL, now=T0 + 30 * S)  # at the interval exactly: allowed
    assert len(sender.messages) == 2 and sender.codes()[0] == first_code


def test_a_throttled_resend_keeps_the_earlier_code_valid(make, sender):
    c = make()
    challenge = c.start_verification(NL, now=T0)
    with pytest.raises(Throttled):
        c.start_verification(NL, now=T0 + S)
    assert c.confirm_verification(challenge.id, sender.last_code(), now=T0 + 2 * S)


def test_per_number_per_hour(make):
    c = make(limits=only(number_per_hour=5))
    for i in range(5):
        c.start_verification(NL, now=T0 + i * 60 * S)
    with pytest.raises(Throttled) as info:
        c.start_verification(NL, now=T0 + 10 * 60 * S)
    assert info.value.reason == "number_per_hour"
    assert info.value.retry_after == 50 * 60.0  # the first send leaves the window at T0 + 1 h
    c.start_verification(NL, now=T0 + H)
    c.start_verification(example("NL", offset=1), now=T0 + 10 * 60 * S)  # another number is free


def test_per_number_per_day(make):
    c = make(limits=only(number_per_day=10))
    for i in range(10):
        c.start_verification(NL, now=T0 + i * H)
    with pytest.raises(Throttled) as info:
        c.start_verification(NL, now=T0 + 10 * H)
    assert info.value.reason == "number_per_day" and info.value.retry_after == 14 * 3600.0
    c.start_verification(NL, now=T0 + 24 * H)


def test_default_limits_per_number(make):
    c = make()
    for i in range(5):
        c.start_verification(NL, now=T0 + i * 30 * S)
    with pytest.raises(Throttled) as info:
        c.start_verification(NL, now=T0 + 5 * 30 * S)
    assert info.value.reason == "number_per_hour"


# ---- per IP -----------------------------------------------------------------------------------------

def test_per_ip_per_hour(make):
    c = make(limits=only(ip_per_hour=20))
    for i in range(20):
        c.start_verification(example("NL", offset=i * 1000), ip="192.0.2.7", now=T0 + i * S)
    with pytest.raises(Throttled) as info:
        c.start_verification(example("NL", offset=20_000), ip="192.0.2.7", now=T0 + 20 * S)
    assert info.value.reason == "ip_per_hour" and info.value.retry_after == 3600.0 - 20
    c.start_verification(example("NL", offset=20_000), ip="192.0.2.8", now=T0 + 20 * S)
    c.start_verification(example("NL", offset=21_000), now=T0 + 21 * S)  # no IP given: not counted


def test_per_ip_per_day(make):
    c = make(limits=only(ip_per_day=3))
    for i in range(3):
        c.start_verification(example("NL", offset=i * 1000), ip="198.51.100.1", now=T0 + i * H)
    with pytest.raises(Throttled) as info:
        c.start_verification(example("NL", offset=9000), ip="198.51.100.1", now=T0 + 3 * H)
    assert info.value.reason == "ip_per_day"


def test_ipv6_counts_per_slash_64(make):
    c = make(limits=only(ip_per_hour=2))
    c.start_verification(example("NL", offset=0), ip="2001:db8:1:2::1", now=T0)
    c.start_verification(example("NL", offset=1000), ip="2001:db8:1:2:ffff::9", now=T0 + S)
    with pytest.raises(Throttled):  # same /64
        c.start_verification(example("NL", offset=2000), ip="2001:0db8:0001:0002:0:0:0:42", now=T0 + 2 * S)
    c.start_verification(example("NL", offset=3000), ip="2001:db8:1:3::1", now=T0 + 3 * S)  # next /64


def test_ipv4_mapped_ipv6_is_the_ipv4_address(make):
    c = make(limits=only(ip_per_hour=1))
    c.start_verification(example("NL", offset=0), ip="203.0.113.5", now=T0)
    with pytest.raises(Throttled):
        c.start_verification(example("NL", offset=1000), ip="::ffff:203.0.113.5", now=T0 + S)


def test_bad_ip_is_a_value_error(make):
    with pytest.raises(ValueError) as info:
        make().start_verification(NL, ip="not-an-ip", now=T0)
    assert "not-an-ip" not in str(info.value)


def test_failed_confirmations_per_ip(make):
    c = make(limits=only(ip_failures_per_hour=3))
    for i in range(3):
        with pytest.raises(CodeInvalid) as info:
            c.confirm_verification(f"unknown-{i}", "123456", ip="192.0.2.99", now=T0 + i * S)
        assert type(info.value) is CodeInvalid
    with pytest.raises(Throttled) as throttled:
        c.confirm_verification("unknown-x", "123456", ip="192.0.2.99", now=T0 + 3 * S)
    assert throttled.value.reason == "ip_failures_per_hour"
    with pytest.raises(CodeInvalid) as other:
        c.confirm_verification("unknown-y", "123456", ip="192.0.2.100", now=T0 + 3 * S)
    assert type(other.value) is CodeInvalid


# ---- per prefix, per country, in total ----------------------------------------------------------

def test_per_number_prefix_per_day(make):
    c = make(limits=only(prefix_per_day=3))
    for i in range(3):  # +316123456xx: one block of 1000 numbers
        c.start_verification(example("NL", offset=i), now=T0 + i * S)
    with pytest.raises(Throttled) as info:
        c.start_verification(example("NL", offset=3), now=T0 + 3 * S)
    assert info.value.reason == "prefix_per_day"
    assert info.value.retry_after == 24 * 3600.0 - 3
    c.start_verification(example("NL", offset=1000), now=T0 + 4 * S)  # the next block


def test_prefix_width_is_configurable(make):
    c = make(limits=only(prefix_per_day=1, prefix_hidden_digits=5))
    c.start_verification(example("NL", offset=0), now=T0)
    with pytest.raises(Throttled):
        c.start_verification(example("NL", offset=10_000 - 1 - 5678), now=T0 + S)  # same 10^5 block


def test_per_country_per_day_with_an_override(make):
    c = make(limits=only(country_per_day=2, country_per_day_overrides={49: 3}))
    for i in range(2):
        c.start_verification(example("NL", offset=i * 1000), now=T0 + i * S)
    with pytest.raises(Throttled) as info:
        c.start_verification(example("NL", offset=5000), now=T0 + 5 * S)
    assert info.value.reason == "country_per_day"
    for i in range(3):
        c.start_verification(example("DE", offset=i * 1000), now=T0 + i * S)
    with pytest.raises(Throttled):
        c.start_verification(example("DE", offset=9000), now=T0 + 9 * S)
    c.start_verification(example("BE"), now=T0 + 9 * S)


def test_total_per_day(make):
    c = make(limits=only(total_per_day=2))
    c.start_verification(example("NL"), now=T0)
    c.start_verification(example("DE"), now=T0 + S)
    with pytest.raises(Throttled) as info:
        c.start_verification(example("BE"), now=T0 + 2 * S)
    assert info.value.reason == "total_per_day"


def test_the_longest_wait_is_reported(make):
    c = make(limits=only(resend_interval=30 * S, number_per_hour=1))
    c.start_verification(NL, now=T0)
    with pytest.raises(Throttled) as info:
        c.start_verification(NL, now=T0 + 10 * S)
    assert info.value.reason == "number_per_hour" and info.value.retry_after == 3590.0


def test_windows_slide(make):
    c = make(limits=only(number_per_hour=2))
    c.start_verification(NL, now=T0)
    c.start_verification(NL, now=T0 + 30 * 60 * S)
    with pytest.raises(Throttled) as info:
        c.start_verification(NL, now=T0 + 59 * 60 * S)
    assert info.value.retry_after == 60.0
    c.start_verification(NL, now=T0 + H)  # the first left the window
    with pytest.raises(Throttled) as again:
        c.start_verification(NL, now=T0 + H + S)
    assert again.value.retry_after == 30 * 60.0 - 1


def test_limits_validate():
    with pytest.raises(ValueError):
        Limits(number_per_hour=0)
    with pytest.raises(ValueError):
        Limits(resend_interval=-S)
    with pytest.raises(ValueError):
        Limits(prefix_hidden_digits=0)
    with pytest.raises(ValueError):
        Limits(country_per_day_overrides={31: -1})
    assert Limits().country_limit(31) == 10_000
