"""One-time codes with an injected clock: expiry at 10:00 exactly, single use, the third wrong
try, growing waits, the lock at 100 failures, resend replacing the code, one error shape.

Numbers are phonenumbers' metadata examples (``example``), never real-looking personal ones.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

import pytest
from helpers.campaign import OPEN, US, S, example, sql, wrong

from breachindex import Key
from breachindex.campaign import Campaign, CodeRules, RecordingSender
from breachindex.campaign.otp import clean_code, generate_code
from breachindex.errors import CampaignError, CodeExpired, CodeInvalid, SmsSendFailed, Throttled, TooManyAttempts

KEY = Key.generate()
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)


NL = example("NL")
DE = example("DE")


@pytest.fixture
def campaign(tmp_path, sender, tmp_store):
    with Campaign(tmp_store("campaign"), secret=KEY, sender=sender) as c:
        yield c


@pytest.fixture
def open_campaign(tmp_path, sender, tmp_store):
    with Campaign(tmp_store("open"), secret=KEY, sender=sender, limits=OPEN) as c:
        yield c


# ---- the happy path -------------------------------------------------------------------------

def test_start_sends_one_code_and_confirm_succeeds_once(campaign, sender):
    challenge = campaign.start_verification("06 12345678", region="NL", now=T0)
    assert challenge.expires_at == T0 + 10 * MIN
    assert re.fullmatch(r"[0-9a-f]{32}", challenge.id)
    assert [m.to for m in sender.messages] == [NL]
    code = sender.last_code()
    assert re.fullmatch(r"[0-9]{6}", code)
    assert "SOMI" in sender.messages[0].text and "10 min" in sender.messages[0].text

    verification = campaign.confirm_verification(challenge.id, code, now=T0 + MIN)
    assert verification.participant == campaign.participant_id(NL)
    assert verification.verified_at == T0 + MIN
    assert campaign.verified_at(verification.participant) == T0 + MIN
    assert campaign.is_verified(verification.participant, now=T0 + 2 * MIN)
    with pytest.raises(CodeInvalid) as again:  # single use
        campaign.confirm_verification(challenge.id, code, now=T0 + 2 * MIN)
    assert type(again.value) is CodeInvalid


def test_challenge_ids_are_random_and_codes_independent(open_campaign, sender):
    ids = {open_campaign.start_verification(NL, now=T0 + i * S).id for i in range(300)}
    assert len(ids) == 300
    # none can pass for a command-line option (a base64url id began with '-' once in 64)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(sender.codes())) > 1


def test_typed_code_may_have_spaces_or_a_dash(campaign, sender):
    challenge = campaign.start_verification(NL, now=T0)
    code = sender.last_code()
    v = campaign.confirm_verification(challenge.id, f" {code[:3]} -{code[3:]} ", now=T0 + S)
    assert v.participant == campaign.participant_id(NL)


def test_generate_code_has_six_digits_with_leading_zeros_kept():
    codes = [generate_code() for _ in range(3000)]
    assert all(re.fullmatch(r"[0-9]{6}", c) for c in codes)
    assert len(set(codes)) > 2900
    assert any(c.startswith("0") for c in codes)  # ~10% of them: 300 expected
    assert clean_code(" 12 34-56\t") == "123456"
    with pytest.raises(TypeError):
        clean_code(123456)  # type: ignore[arg-type]


def test_code_rules_refuse_weak_settings():
    with pytest.raises(ValueError):
        CodeRules(digits=4)
    with pytest.raises(ValueError):
        CodeRules(lock_after_failures=101)
    with pytest.raises(ValueError):
        CodeRules(first_wait=timedelta(hours=2))
    assert CodeRules().wait_after(2) is None
    assert [CodeRules().wait_after(n) for n in (3, 4, 5, 10, 11, 99)] == [
        30 * S, 60 * S, 120 * S, 3600 * S, 3600 * S, 3600 * S]


# ---- expiry: 10 minutes, the boundary on both sides -------------------------------------------

def test_code_valid_one_microsecond_before_expiry(campaign, sender):
    challenge = campaign.start_verification(NL, now=T0)
    v = campaign.confirm_verification(challenge.id, sender.last_code(), now=T0 + 10 * MIN - US)
    assert v.verified_at == T0 + 10 * MIN - US


def test_code_expired_at_ten_minutes_exactly(campaign, sender):
    challenge = campaign.start_verification(NL, now=T0)
    assert challenge.expires_at == T0 + 10 * MIN
    with pytest.raises(CodeExpired):
        campaign.confirm_verification(challenge.id, sender.last_code(), now=challenge.expires_at)
    with pytest.raises(CodeExpired):  # and later
        campaign.confirm_verification(challenge.id, sender.last_code(), now=T0 + 3 * timedelta(hours=1))


def test_expired_code_does_not_count_as_a_failure(open_campaign, sender):
    for i in range(5):
        challenge = open_campaign.start_verification(NL, now=T0 + i * timedelta(hours=1))
        with pytest.raises(CodeExpired):
            open_campaign.confirm_verification(challenge.id, wrong(sender.last_code()),
                                               now=T0 + i * timedelta(hours=1) + 10 * MIN)
    challenge = open_campaign.start_verification(NL, now=T0 + 6 * timedelta(hours=1))
    with pytest.raises(CodeInvalid) as first:  # a first failure: no wait, no TooManyAttempts
        open_campaign.confirm_verification(challenge.id, wrong(sender.last_code()), now=T0 + 6 * timedelta(hours=1))
    assert type(first.value) is CodeInvalid


# ---- one error shape ----------------------------------------------------------------------------

def test_wrong_expired_unknown_used_and_replaced_have_one_shape(open_campaign, sender):
    c = open_campaign
    errors: dict[str, CampaignError] = {}

    def catch(name: str, challenge_id: str, code: str, now: datetime) -> None:
        with pytest.raises(CodeInvalid) as info:
            c.confirm_verification(challenge_id, code, now=now)
        errors[name] = info.value

    a = c.start_verification(NL, now=T0)
    catch("wrong", a.id, wrong(sender.last_code()), T0 + S)
    catch("unknown", "x" * 22, "123456", T0 + S)
    catch("empty id", "", "123456", T0 + S)
    catch("huge id", "y" * 10_000, "123456", T0 + S)
    c.confirm_verification(a.id, sender.last_code(), now=T0 + 2 * S)
    catch("used", a.id, sender.last_code(), T0 + 3 * S)
    b = c.start_verification(DE, now=T0)
    b_code = sender.last_code()
    c.start_verification(DE, now=T0 + S)
    catch("replaced", b.id, b_code, T0 + 2 * S)
    d = c.start_verification(example("NL", offset=1000), now=T0)
    catch("expired", d.id, sender.last_code(), T0 + 10 * MIN)

    assert type(errors["expired"]) is CodeExpired
    assert all(type(e) is CodeInvalid for name, e in errors.items() if name != "expired")
    assert len({str(e) for e in errors.values()}) == 1
    assert all(vars(e) == {} for e in errors.values())
    assert len({e.args for e in errors.values()}) == 1


# ---- three wrong tries --------------------------------------------------------------------------

def test_third_wrong_try_burns_the_code(campaign, sender):
    challenge = campaign.start_verification(NL, now=T0)
    code = sender.last_code()
    for i in (1, 2):
        with pytest.raises(CodeInvalid) as info:
            campaign.confirm_verification(challenge.id, wrong(code), now=T0 + i * S)
        assert type(info.value) is CodeInvalid
    with pytest.raises(TooManyAttempts) as third:
        campaign.confirm_verification(challenge.id, "not a code", now=T0 + 3 * S)
    assert third.value.reason == "code_burned"
    assert third.value.retry_after == 30.0
    # the fourth try, with the correct code, fails: first the wait, then the burned code
    with pytest.raises(Throttled) as waiting:
        campaign.confirm_verification(challenge.id, code, now=T0 + 4 * S)
    assert waiting.value.reason == "failure_wait" and waiting.value.retry_after == pytest.approx(29.0)
    with pytest.raises(TooManyAttempts) as burned:
        campaign.confirm_verification(challenge.id, code, now=T0 + 3 * S + 30 * S)
    assert burned.value.reason == "code_burned"
    # a new code works
    fresh = campaign.start_verification(NL, now=T0 + 40 * S)
    assert campaign.confirm_verification(fresh.id, sender.last_code(), now=T0 + 41 * S)


# ---- resend ----------------------------------------------------------------------------------------

def test_resend_replaces_the_code(campaign, sender):
    first = campaign.start_verification(NL, now=T0)
    first_code = sender.last_code()
    second = campaign.start_verification(NL, now=T0 + 30 * S)
    second_code = sender.last_code()
    assert first.id != second.id
    with pytest.raises(CodeInvalid):
        campaign.confirm_verification(first.id, first_code, now=T0 + 31 * S)
    if first_code != second_code:  # the old code does not open the new challenge either
        with pytest.raises(CodeInvalid):
            campaign.confirm_verification(second.id, first_code, now=T0 + 32 * S)
    v = campaign.confirm_verification(second.id, second_code, now=T0 + 33 * S)
    assert v.participant == campaign.participant_id(NL)


def test_a_resend_for_another_number_does_not_replace(campaign, sender):
    a = campaign.start_verification(NL, now=T0)
    a_code = sender.last_code()
    campaign.start_verification(DE, now=T0 + S)
    assert campaign.confirm_verification(a.id, a_code, now=T0 + 2 * S).participant == campaign.participant_id(NL)


# ---- growing waits and the lock ------------------------------------------------------------------

def _fail_once(c: Campaign, sender: RecordingSender, phone: str, state: dict, now: datetime,
               ip: str | None = None) -> BaseException:
    """One wrong code for ``phone`` at ``now`` (a new code when the last one is burned or expired)."""
    if state.get("tries", 3) >= 3 or now >= state["challenge"].expires_at:
        state["challenge"] = c.start_verification(phone, ip=ip, now=now)
        state["tries"] = 0
    state["tries"] += 1
    with pytest.raises((CodeInvalid, TooManyAttempts)) as info:
        c.confirm_verification(state["challenge"].id, wrong(sender.last_code(phone)), now=now)
    return info.value


def test_waits_grow_from_30_s_doubling_to_one_hour(open_campaign, sender):
    c, state, now = open_campaign, {}, T0
    waits = []
    for _ in range(12):
        _fail_once(c, sender, NL, state, now)
        (until,) = sql(c, "SELECT wait_until_us FROM code_failures").fetchone()
        if until is None:
            waits.append(0.0)
        else:
            wait = timedelta(microseconds=until - int((now - EPOCH) / US))
            waits.append(wait.total_seconds())
            with pytest.raises(Throttled) as info:  # even the right code waits
                c.confirm_verification(state["challenge"].id, sender.last_code(NL), now=now + wait - US)
            assert info.value.reason == "failure_wait" and info.value.retry_after == 1e-6
            sent = len(sender.messages)
            c.start_verification(NL, now=now + wait - US)  # a new code waits too, silently: nothing is sent
            assert len(sender.messages) == sent
            now += wait
        now += S
    # two free failures, then 30 s doubling, capped at one hour
    assert waits == [0.0, 0.0, 30.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0, 3600.0, 3600.0]


def test_a_success_resets_the_failures(open_campaign, sender):
    c, now = open_campaign, T0
    ch = c.start_verification(NL, now=now)
    for _ in range(2):
        with pytest.raises(CodeInvalid):
            c.confirm_verification(ch.id, wrong(sender.last_code()), now=now)
    c.confirm_verification(ch.id, sender.last_code(), now=now)
    ch = c.start_verification(NL, now=now + S)
    for _ in range(2):  # had the count not been reset, these would be failures 3 and 4
        with pytest.raises(CodeInvalid) as info:
            c.confirm_verification(ch.id, wrong(sender.last_code()), now=now + S)
        assert type(info.value) is CodeInvalid
    assert c.confirm_verification(ch.id, sender.last_code(), now=now + S)


def test_a_requester_locks_at_100_consecutive_failures_until_unlocked(open_campaign, sender):
    c, state, now = open_campaign, {}, T0
    for failure in range(1, 100):
        error = _fail_once(c, sender, NL, state, now, ip="203.0.113.66")
        assert not (isinstance(error, TooManyAttempts) and error.reason == "number_locked"), failure
        now += 2 * timedelta(hours=1)  # past any wait
    error = _fail_once(c, sender, NL, state, now, ip="203.0.113.66")
    assert isinstance(error, TooManyAttempts) and error.reason == "number_locked"
    assert error.retry_after is None
    later = now + timedelta(days=30)
    sent = len(sender.messages)
    held = c.start_verification(NL, ip="203.0.113.66", now=later)  # the locked requester: nothing is sent
    assert len(sender.messages) == sent
    with pytest.raises(CodeInvalid):
        c.confirm_verification(held.id, sender.last_code(NL), ip="203.0.113.66", now=later)
    # the number's owner, elsewhere, is not locked out by a stranger's failures
    mine = c.start_verification(NL, ip="198.51.100.20", now=later)
    assert len(sender.messages) == sent + 1
    assert c.confirm_verification(mine.id, sender.last_code(NL), ip="198.51.100.20", now=later)
    # the operator unlocks; the requester starts afresh
    assert c.unlock("06 12345678", region="NL") is True
    assert c.unlock(NL) is False
    ch = c.start_verification(NL, ip="203.0.113.66", now=later)
    with pytest.raises(CodeInvalid) as fresh:
        c.confirm_verification(ch.id, wrong(sender.last_code(NL)), now=later)
    assert type(fresh.value) is CodeInvalid
    assert c.confirm_verification(ch.id, sender.last_code(NL), now=later)


def test_a_lower_lock_threshold_applies(tmp_path, sender, tmp_store):
    rules = CodeRules(lock_after_failures=5, free_failures=3)
    with Campaign(tmp_store("c"), secret=KEY, sender=sender, limits=OPEN, code_rules=rules) as c:
        state: dict = {}
        moments = [T0, T0 + S, T0 + 2 * S, T0 + 40 * S, T0 + 110 * S]  # past the waits of 30 s, 60 s
        errors = [_fail_once(c, sender, NL, state, t) for t in moments]
    assert [getattr(e, "reason", None) for e in errors] == [None, None, "code_burned", None, "number_locked"]


# ---- time ----------------------------------------------------------------------------------------

def test_naive_datetimes_are_refused(campaign, sender):
    with pytest.raises(ValueError, match="timezone-aware"):
        campaign.start_verification(NL, now=datetime(2024, 5, 1, 10, 0))
    challenge = campaign.start_verification(NL, now=T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        campaign.confirm_verification(challenge.id, sender.last_code(), now=datetime(2024, 5, 1, 10, 1))
    with pytest.raises(TypeError):
        campaign.start_verification(NL, now="2024-05-01T10:00:00Z")  # type: ignore[arg-type]


def test_other_timezones_are_the_same_instant(campaign, sender):
    cet = timezone(timedelta(hours=2))
    challenge = campaign.start_verification(NL, now=T0.astimezone(cet))
    assert challenge.expires_at == T0 + 10 * MIN and challenge.expires_at.tzinfo == timezone.utc
    with pytest.raises(CodeExpired):
        campaign.confirm_verification(challenge.id, sender.last_code(), now=(T0 + 10 * MIN).astimezone(cet))


def test_default_now_is_the_current_time(campaign, sender):
    before = datetime.now(timezone.utc)
    challenge = campaign.start_verification(NL)
    assert before + 10 * MIN <= challenge.expires_at <= datetime.now(timezone.utc) + 10 * MIN
    assert campaign.confirm_verification(challenge.id, sender.last_code()).verified_at >= before


# ---- the sender ------------------------------------------------------------------------------------

def test_a_failing_sender_withdraws_the_code(campaign, sender):
    sender.fail_with = RuntimeError(f"gateway refused {NL}")
    with pytest.raises(SmsSendFailed) as info:
        campaign.start_verification(NL, now=T0)
    assert NL[1:] not in str(info.value) and info.value.__cause__ is None
    assert info.value.__suppress_context__
    sender.fail_with = None
    campaign.start_verification(NL, now=T0 + S)  # the attempt counted (pumping defence): nothing sent
    assert sender.messages == []
    challenge = campaign.start_verification(NL, now=T0 + 30 * S)
    assert campaign.confirm_verification(challenge.id, sender.last_code(), now=T0 + 31 * S)


def test_console_sender_masks_the_number(tmp_path, capsys, tmp_store):
    from breachindex.campaign import ConsoleSender

    with Campaign(tmp_store("c"), secret=KEY, sender=ConsoleSender()) as c:
        c.start_verification(NL, now=T0)
    err = capsys.readouterr().err
    assert re.search(r"code is [0-9]{6}", err)  # development: the one place a code is shown
    assert NL not in err and NL[3:] not in err and NL[-2:] in err


def test_message_template_is_configurable(tmp_path, sender, tmp_store):
    with Campaign(tmp_store("c"), secret=KEY, sender=sender, message="Code: {code}") as c:
        c.start_verification(NL, now=T0)
    assert re.fullmatch(r"Code: [0-9]{6}", sender.messages[0].text)
    with pytest.raises(ValueError):
        Campaign(tmp_store("d"), secret=KEY, sender=sender, message="no code here")


# ---- nothing logs or raises a number or a code ------------------------------------------------------

def test_logs_and_errors_never_hold_the_number_or_the_code(campaign, sender, caplog):
    caplog.set_level(logging.DEBUG, logger="breachindex")
    texts: list[str] = []
    ch = campaign.start_verification(NL, now=T0)
    code = sender.last_code()
    for i in range(3):
        try:
            campaign.confirm_verification(ch.id, wrong(code), now=T0 + i * S)
        except CampaignError as exc:
            texts.append(f"{exc!r} {exc}")
    for attempt in (lambda: campaign.start_verification(NL, now=T0 + 5 * S),
                    lambda: campaign.confirm_verification(ch.id, code, now=T0 + 6 * S)):
        try:
            attempt()
        except CampaignError as exc:
            texts.append(f"{exc!r} {exc}")
    ch = campaign.start_verification(NL, now=T0 + 2 * MIN)
    code2 = sender.last_code()
    campaign.confirm_verification(ch.id, code2, now=T0 + 3 * MIN)
    texts += [r.getMessage() for r in caplog.records]
    assert texts and caplog.records
    national = "612345678"
    for text in texts:
        assert national not in text
        assert code not in text and wrong(code) not in text and code2 not in text
