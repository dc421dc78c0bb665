"""SMS-pumping defences: the EU/EEA allow-list, refused number types, and every rate limit
(per number, per IP, per prefix, per country, in total) with exact retry_after values.

Numbers are phonenumbers' metadata examples, shifted by an offset where many are needed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import re
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import phonenumbers
import pytest
from helpers.campaign import S, example
from hypothesis import given
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from breachindex import InvalidPhoneNumber, Key
from breachindex.campaign import (
    EEA_CALLING_CODES,
    EEA_REGIONS,
    EU_OUTERMOST_CALLING_CODES,
    SMS_NUMBER_TYPES,
    Campaign,
    Challenge,
    CodeRules,
    Limits,
    RecordingSender,
)
from breachindex.campaign.limits import check_sms_allowed
from breachindex.errors import CodeInvalid, SmsNotAllowed, Throttled, TooManyAttempts

KEY = Key.generate()
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)


NL = example("NL")


def only(**limits: Any) -> Limits:
    """Limits with every count off except those given."""
    return dataclasses.replace(Limits.off(), **limits)


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


def _refusal_by_two_matches(e164: str) -> str | None:
    """The reason check_sms_allowed gave when it asked is_valid_number, then number_type."""
    number = phonenumbers.parse(e164)
    if number.country_code not in EEA_CALLING_CODES:
        return "country_not_allowed"
    if not phonenumbers.is_valid_number(number):
        return "invalid_number"
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.PREMIUM_RATE:
        return "premium_rate"
    if kind == PhoneNumberType.SHARED_COST:
        return "shared_cost"
    return None if kind in SMS_NUMBER_TYPES else "number_type_not_allowed"


def _near_an_example(region: str, kind: int, offset: int) -> str | None:
    """phonenumbers' example of ``kind`` in ``region``, its last digits shifted by ``offset``."""
    found = phonenumbers.example_number_for_type(region, kind)
    if found is None:
        return None
    return f"+{found.country_code}{found.national_number + offset}"


_NUMBERS = st.one_of(
    st.builds(lambda cc, national: f"+{cc}{national}",
              st.sampled_from(sorted(EEA_CALLING_CODES | {1, 44, 7, 979, 800})), st.integers(0, 10**12)),
    st.builds(_near_an_example, st.sampled_from(sorted(EEA_REGIONS | {"US", "GB", "CH", "001"})),
              st.sampled_from([k for k in vars(PhoneNumberType).values() if isinstance(k, int)]),
              st.integers(-50, 50)))


@given(_NUMBERS)
def test_one_type_match_refuses_exactly_what_validity_and_type_did(e164: str | None) -> None:
    if e164 is None:
        return
    try:
        phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return
    try:
        check_sms_allowed(e164, EEA_CALLING_CODES, SMS_NUMBER_TYPES)
        reason = None
    except SmsNotAllowed as refused:
        reason = refused.reason
    assert reason == _refusal_by_two_matches(e164)


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


# ---- per number: never told ---------------------------------------------------------------------------

def sends(c: Campaign, sender: RecordingSender, phone: str, **kw: Any) -> Challenge:
    """A start that sends a code."""
    before = len(sender.messages)
    challenge = c.start_verification(phone, **kw)
    assert len(sender.messages) == before + 1
    return challenge


def silent(c: Campaign, sender: RecordingSender, phone: str, **kw: Any) -> Challenge:
    """A start refused because of the number: answered like any other, but nothing is sent."""
    before = len(sender.messages)
    challenge = c.start_verification(phone, **kw)
    assert len(sender.messages) == before
    assert re.fullmatch(r"[0-9a-f]{32}", challenge.id)
    return challenge


def test_resend_interval(make, sender):
    c = make(limits=only(resend_interval=30 * S))
    first = sends(c, sender, NL, now=T0)
    first_code = sender.last_code()
    # within the interval the same requester gets its live challenge back, and no new code
    again = silent(c, sender, NL, now=T0 + 12 * S)
    assert again == first
    sends(c, sender, NL, now=T0 + 30 * S)  # at the interval exactly: allowed
    assert sender.codes()[0] == first_code


def test_a_resend_within_the_interval_keeps_the_earlier_code_valid(make, sender):
    c = make()
    challenge = sends(c, sender, NL, now=T0)
    again = silent(c, sender, NL, now=T0 + S)
    assert c.confirm_verification(again.id, sender.last_code(), now=T0 + 2 * S)
    assert again.id == challenge.id


def test_a_number_refusal_looks_like_a_send_to_a_stranger(make, sender):
    c = make(limits=only(number_cap_per_day=1))
    sends(c, sender, NL, ip="198.51.100.1", now=T0)  # the owner's code
    stranger = silent(c, sender, NL, ip="203.0.113.9", now=T0 + S)
    fresh = sends(c, sender, example("NL", offset=1), ip="203.0.113.9", now=T0 + 2 * S)
    # the same shape and the same expiry as a real send; no code opens it
    assert stranger.expires_at - (T0 + S) == fresh.expires_at - (T0 + 2 * S)
    with pytest.raises(CodeInvalid) as info:
        c.confirm_verification(stranger.id, sender.codes()[0], ip="203.0.113.9", now=T0 + 3 * S)
    assert type(info.value) is CodeInvalid


class SlowSender(RecordingSender):
    def send(self, e164: str, text: str) -> None:
        time.sleep(0.05)
        super().send(e164, text)


def test_a_start_that_sends_nothing_takes_as_long_as_a_send(tmp_path, tmp_store):
    sender = SlowSender()
    with Campaign(tmp_store("c"), secret=KEY, sender=sender, limits=only(number_cap_per_day=1)) as c:
        for i in range(8):  # the campaign learns how long its sender takes
            c.start_verification(example("NL", offset=1000 * i), now=T0)
        c.start_verification(NL, now=T0)
        started = time.perf_counter()
        silent(c, sender, NL, now=T0 + S)
        elapsed = time.perf_counter() - started
    assert elapsed >= 0.03  # a real send took 0.05 s: jittered 0.75-1.25 of the recent average


def test_per_number_per_hour_counts_per_requesting_network(make, sender):
    c = make(limits=only(number_per_hour=5))
    for i in range(5):
        sends(c, sender, NL, ip="198.51.100.1", now=T0 + i * 60 * S)
    silent(c, sender, NL, ip="198.51.100.77", now=T0 + 10 * 60 * S)  # the same /24
    sends(c, sender, NL, ip="203.0.113.1", now=T0 + 10 * 60 * S)  # another network is not held back
    sends(c, sender, NL, ip="198.51.100.1", now=T0 + H)  # the first send left the window
    sends(c, sender, example("NL", offset=1), ip="198.51.100.1", now=T0 + 10 * 60 * S)  # another number


def test_per_number_per_day(make, sender):
    c = make(limits=only(number_per_day=10))
    for i in range(10):
        sends(c, sender, NL, now=T0 + i * H)
    silent(c, sender, NL, now=T0 + 10 * H)
    sends(c, sender, NL, now=T0 + 24 * H)


def test_no_phone_gets_more_than_the_daily_cap_from_every_network_together(make, sender):
    c = make(limits=only(number_cap_per_day=3))
    for i, ip in enumerate(["198.51.100.1", "203.0.113.1", "2001:db8:1::1"]):
        sends(c, sender, NL, ip=ip, now=T0 + i * S)
    silent(c, sender, NL, ip="192.0.2.1", now=T0 + 5 * S)
    sends(c, sender, NL, ip="192.0.2.1", now=T0 + 24 * H)


def test_default_limits_per_number(make, sender):
    c = make()
    for i in range(5):
        sends(c, sender, NL, now=T0 + i * 30 * S)
    silent(c, sender, NL, now=T0 + 5 * 30 * S)


def test_windows_slide(make, sender):
    c = make(limits=only(number_per_hour=2))
    sends(c, sender, NL, now=T0)
    sends(c, sender, NL, now=T0 + 30 * 60 * S)
    silent(c, sender, NL, now=T0 + 59 * 60 * S)
    sends(c, sender, NL, now=T0 + H)  # the first left the window
    silent(c, sender, NL, now=T0 + H + S)
    sends(c, sender, NL, now=T0 + H + 30 * 60 * S)


# ---- per IP -----------------------------------------------------------------------------------------

def test_per_ip_per_hour(make):
    c = make(limits=only(ip_per_hour=20))
    for i in range(20):
        c.start_verification(example("NL", offset=i * 1000), ip="192.0.2.7", now=T0 + i * S)
    with pytest.raises(Throttled) as info:
        c.start_verification(example("NL", offset=20_000), ip="192.0.2.7", now=T0 + 20 * S)
    assert info.value.reason == "ip_per_hour" and info.value.retry_after == 3600.0 - 20
    c.start_verification(example("NL", offset=20_000), ip="192.0.2.8", now=T0 + 20 * S)
    c.start_verification(example("NL", offset=21_000), now=T0 + 21 * S)  # no IP: the shared unknown requester


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

def test_per_number_prefix_per_day(make, sender):
    c = make(limits=only(prefix_per_day=3))
    for i in range(3):  # +316123456xx: one block of 1000 numbers
        sends(c, sender, example("NL", offset=i), now=T0 + i * S)
    silent(c, sender, example("NL", offset=3), now=T0 + 3 * S)
    sends(c, sender, example("NL", offset=3), ip="203.0.113.1", now=T0 + 3 * S)  # another network
    sends(c, sender, example("NL", offset=1000), now=T0 + 4 * S)  # the next block
    sends(c, sender, example("NL", offset=4), now=T0 + 24 * H)


def test_a_prefix_has_a_cap_over_every_network(make, sender):
    c = make(limits=only(prefix_cap_per_day=2))
    sends(c, sender, example("NL", offset=0), ip="198.51.100.1", now=T0)
    sends(c, sender, example("NL", offset=1), ip="203.0.113.1", now=T0 + S)
    silent(c, sender, example("NL", offset=2), ip="192.0.2.1", now=T0 + 2 * S)


def test_prefix_width_is_configurable(make, sender):
    c = make(limits=only(prefix_per_day=1, prefix_hidden_digits=5))
    sends(c, sender, example("NL", offset=0), now=T0)
    silent(c, sender, example("NL", offset=10_000 - 1 - 5678), now=T0 + S)  # same 10^5 block


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
    c = make(limits=only(ip_per_hour=1, ip_per_day=1))
    c.start_verification(NL, ip="192.0.2.1", now=T0)
    with pytest.raises(Throttled) as info:
        c.start_verification(example("NL", offset=1000), ip="192.0.2.1", now=T0 + 10 * S)
    assert info.value.reason == "ip_per_day" and info.value.retry_after == 24 * 3600.0 - 10


# ---- nested networks, and caps one network cannot spend -----------------------------------------------

def spread(prefix: str, count: int) -> list[str]:
    """``count`` addresses in different /64s of an IPv6 ``prefix`` (a /48: ``2001:db8:aa``)."""
    return [f"{prefix}:{i:x}::1" for i in range(count)]


def test_a_missing_address_is_one_shared_requester_never_a_free_pass(make):
    c = make(limits=only(ip_per_hour=2))
    c.start_verification(example("NL", offset=0), now=T0)
    c.start_verification(example("NL", offset=1000), now=T0 + S)
    with pytest.raises(Throttled) as info:
        c.start_verification(example("NL", offset=2000), now=T0 + 2 * S)
    assert info.value.reason == "ip_per_hour"


@pytest.mark.parametrize(("limits", "addresses", "reason"), [
    (only(site_per_day=3), [f"2001:db8:aa:10{i}::1" for i in range(4)], "site_per_day"),  # 4 /64s of one /56
    (only(network_per_day=3), spread("2001:db8:aa", 4), "network_per_day"),  # 4 /56s of one /48
    (only(network_per_day=3), [f"198.51.100.{i}" for i in range(1, 5)], "network_per_day"),  # one IPv4 /24
])
def test_sends_count_at_every_network_level(make, limits, addresses, reason):
    c = make(limits=limits)
    for i, ip in enumerate(addresses[:-1]):
        c.start_verification(example("NL", offset=i * 1000), ip=ip, now=T0 + i * S)
    with pytest.raises(Throttled) as info:
        c.start_verification(example("NL", offset=9000), ip=addresses[-1], now=T0 + 9 * S)
    assert info.value.reason == reason
    c.start_verification(example("NL", offset=9000), ip="192.0.2.200", now=T0 + 10 * S)  # elsewhere: fine


def test_an_attacker_spread_over_a_slash_48_cannot_stop_anyone_elses_code(make, sender):
    """Issue 14's kill switch, with the default limits: one party with a whole IPv6 /48 (65,536
    /64s, free from a tunnel broker) asks for codes as fast as it is let, for numbers all over
    the Dutch range. It spends its network's 300 a day and no more; the country's 10,000 stay
    for everyone else, and a person on another network gets their code."""
    c = make()
    refused = sent = 0
    for i, ip in enumerate(spread("2001:db8:aa", 400)):
        try:
            c.start_verification(example("NL", offset=i * 1000), ip=ip, now=T0 + i * S)
            sent += 1
        except Throttled as exc:
            assert exc.reason in ("network_per_day", "site_per_day")
            refused += 1
    assert sent == Limits().network_per_day and refused == 100
    assert len(sender.messages) == sent
    victim = c.start_verification(NL, ip="198.51.100.23", now=T0 + 500 * S)
    assert len(sender.messages) == sent + 1
    assert c.confirm_verification(victim.id, sender.last_code(NL), ip="198.51.100.23", now=T0 + 501 * S)


def test_the_last_share_of_a_cap_is_kept_for_networks_that_sent_little(make, sender):
    # a cap of 100 with a reserve of a fifth: networks that already sent 3 today stop at 80
    c = make(limits=only(country_per_day=100, network_per_day=30, reserve_share=0.2, reserve_network_sends=3))
    taken = 0
    for block in range(3):  # three attackers' /48s, 30 each: the third stops at 80 in all
        for i in range(30):
            try:
                c.start_verification(example("NL", offset=(block * 100 + i) * 1000), ip=f"2001:db8:{block}::{i:x}",
                                     now=T0 + taken * S)
                taken += 1
            except Throttled as exc:
                assert exc.reason == "country_per_day"
    assert taken == 80
    # a network with no sends today still gets codes, up to the whole cap
    for i in range(20):
        c.start_verification(example("NL", offset=(900 + i) * 1000), ip=f"203.0.{113 + i}.7", now=T0 + (100 + i) * S)
    with pytest.raises(Throttled):  # the cap itself holds
        c.start_verification(example("NL", offset=990_000), ip="192.0.2.99", now=T0 + 200 * S)


def test_a_strangers_failures_never_lock_the_owner_out(tmp_path, sender, tmp_store):
    rules = CodeRules(lock_after_failures=5, free_failures=3)
    with Campaign(tmp_store("c"), secret=KEY, sender=sender, limits=Limits.off(), code_rules=rules) as c:
        now = T0
        for _ in range(5):  # a stranger asks for the owner's number and guesses until locked
            ch = c.start_verification(NL, ip="203.0.113.66", now=now)
            with contextlib.suppress(CodeInvalid, TooManyAttempts):
                c.confirm_verification(ch.id, "000000" if sender.last_code(NL) != "000000" else "111111",
                                       ip="203.0.113.66", now=now)
            now += H
        held = silent(c, sender, NL, ip="203.0.113.66", now=now)  # the stranger gets no more codes
        with pytest.raises(CodeInvalid):
            c.confirm_verification(held.id, sender.last_code(NL), ip="203.0.113.66", now=now)
        owner = c.start_verification(NL, ip="198.51.100.5", now=now)
        assert c.confirm_verification(owner.id, sender.last_code(NL), ip="198.51.100.5", now=now)
        # nor does a stranger's code replace the owner's
        mine = c.start_verification(NL, ip="198.51.100.5", now=now + H)
        my_code = sender.last_code(NL)
        c.start_verification(NL, ip="203.0.113.200", now=now + H + S)
        assert c.confirm_verification(mine.id, my_code, ip="198.51.100.5", now=now + H + 2 * S)


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
