"""A hypothesis state machine of the challenge lifecycle against a plain Python model.

The model is the rules written out naively (a dict of challenges, a dict of per-number failure
state: every call comes from one requester, so the per-requester state is the number's); every
answer of the campaign (the exception class and its reason and retry_after, or the
verification) must equal the model's, and a start the model refuses must send nothing and
answer with the requester's usable challenge or one no code opens. Send limits are switched off here (they have their
own tests). The code rules are the defaults (6 digits, 10 minutes, 3 tries, 2 free failures)
except shorter waits (2 s doubling to 16 s) and a lock at 8 failures, so that runs reach them;
test_campaign_otp checks the default waits (30 s to 1 h) and the lock at 100.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from helpers.campaign import OPEN, example
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from breachindex import Key
from breachindex.campaign import Campaign, CodeRules, RecordingSender
from breachindex.errors import CodeExpired, CodeInvalid, Throttled, TooManyAttempts

KEY = Key.generate()
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
NUMBERS = [example(r) for r in ("NL", "DE")]
RULES = CodeRules(first_wait=timedelta(seconds=2), max_wait=timedelta(seconds=16), lock_after_failures=8)
LIFETIME = 600 * 10**6
RETENTION = 86_400 * 10**6


def wait_us(failures: int) -> int | None:
    """The model's growing wait: none for 2 failures, then 2 s doubling, capped at 16 s."""
    if failures < 3:
        return None
    return min(2 * 2 ** (failures - 3), 16) * 10**6


@dataclass
class ModelChallenge:
    number: str
    code: str
    expires: int
    attempts: int = 0
    state: str = "live"  # live, used, replaced


@dataclass
class ModelNumber:
    failures: int = 0
    wait_until: int | None = None
    locked: bool = False
    verified_at: int | None = None


@dataclass
class Model:
    t: int = 0
    challenges: dict[str, ModelChallenge] = field(default_factory=dict)
    numbers: dict[str, ModelNumber] = field(default_factory=lambda: {n: ModelNumber() for n in NUMBERS})

    def refusal(self, number: str) -> tuple[type, str | None, float | None] | None:
        n = self.numbers[number]
        if n.locked:
            return (TooManyAttempts, "number_locked", None)
        if n.wait_until is not None and n.wait_until > self.t:
            return (Throttled, "failure_wait", (n.wait_until - self.t) / 1e6)
        return None

    def usable(self, number: str) -> str | None:
        """The number's live challenge that a code could still open, if any."""
        return next((cid for cid, ch in self.challenges.items() if ch.number == number and ch.state == "live"
                     and ch.attempts < 3 and self.t < ch.expires), None)

    def purge(self) -> None:
        for cid in [c for c, ch in self.challenges.items() if ch.expires <= self.t - RETENTION]:
            del self.challenges[cid]  # purged a day after expiry, by every start

    def start(self, number: str, challenge_id: str, code: str) -> tuple | None:
        self.purge()
        refused = self.refusal(number)
        if refused:
            return refused
        for ch in self.challenges.values():
            if ch.number == number and ch.state == "live":
                ch.state = "replaced"
        self.challenges[challenge_id] = ModelChallenge(number, code, self.t + LIFETIME)
        return None

    def confirm(self, challenge_id: str, code: str) -> tuple:
        ch = self.challenges.get(challenge_id)
        if ch is None:
            return (CodeInvalid, None, None)
        refused = self.refusal(ch.number)
        if refused:
            return refused
        if ch.state != "live":
            return (CodeInvalid, None, None)
        if ch.attempts >= 3:
            return (TooManyAttempts, "code_burned", None)
        if self.t >= ch.expires:
            return (CodeExpired, None, None)
        n = self.numbers[ch.number]
        if code != ch.code:
            ch.attempts += 1
            n.failures += 1
            if n.failures >= 8:
                n.locked, n.wait_until = True, None
                return (TooManyAttempts, "number_locked", None)
            wait = wait_us(n.failures)
            n.wait_until = None if wait is None else self.t + wait
            if ch.attempts >= 3:
                return (TooManyAttempts, "code_burned", None if wait is None else wait / 1e6)
            return (CodeInvalid, None, None)
        ch.state = "used"
        n.failures, n.wait_until, n.verified_at = 0, None, self.t
        return ("verified", ch.number, None)


def outcome(error: BaseException) -> tuple:
    return (type(error), getattr(error, "reason", None), getattr(error, "retry_after", None))


class ChallengeLifecycle(RuleBasedStateMachine):
    challenges = Bundle("challenges")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="campaign-sm-"))
        self.sender = RecordingSender()
        self.campaign = Campaign(self.folder / "c.db", secret=KEY, sender=self.sender, limits=OPEN, code_rules=RULES)
        self.model = Model()

    def teardown(self) -> None:
        self.campaign.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def now(self) -> datetime:
        return T0 + timedelta(microseconds=self.model.t)

    @rule(seconds=st.sampled_from([1, 1, 2, 3, 4, 8, 15, 16, 17, 30, 599, 600, 601, 3600, 90_000]))
    def advance(self, seconds: int) -> None:
        self.model.t += seconds * 10**6

    @rule(micros=st.integers(min_value=1, max_value=3))
    def tick(self, micros: int) -> None:
        self.model.t += micros

    @rule(target=challenges, number=st.sampled_from(NUMBERS))
    def start(self, number: str):  # type: ignore[no-untyped-def]
        sent = len(self.sender.messages)
        self.model.purge()
        live = self.model.usable(number)
        challenge = self.campaign.start_verification(number, now=self.now)  # never refused: limits are off
        if len(self.sender.messages) == sent:  # nothing sent: the number waits or is locked, and that is not told
            refused = self.model.refusal(number)
            event(f"start answered without a code: {refused[1] if refused else None}")
            assert refused is not None
            if live is not None:  # the same requester gets its usable challenge back
                assert challenge.id == live
            else:  # or one that no code opens
                assert challenge.id not in self.model.challenges
                assert challenge.expires_at == self.now + timedelta(minutes=10)
            return challenge.id
        code = self.sender.last_code(number)
        assert self.model.start(number, challenge.id, code) is None
        assert challenge.expires_at == self.now + timedelta(minutes=10)
        return challenge.id

    def _confirm(self, challenge_id: str, code: str) -> None:
        expected = self.model.confirm(challenge_id, code)
        kind = getattr(expected[0], "__name__", expected[0])
        event(f"confirm: {kind} {expected[1] if kind != 'verified' else ''}")
        try:
            verification = self.campaign.confirm_verification(challenge_id, code, now=self.now)
        except (CodeInvalid, TooManyAttempts, Throttled) as exc:
            assert outcome(exc) == expected, (outcome(exc), expected)
            return
        assert expected[0] == "verified", expected
        assert verification.participant == self.campaign.participant_id(expected[1])
        assert verification.verified_at == self.now

    @rule(challenge_id=challenges)
    def confirm_right(self, challenge_id: str) -> None:
        ch = self.model.challenges.get(challenge_id)
        self._confirm(challenge_id, ch.code if ch else "000000")

    @rule(challenge_id=challenges, delta=st.integers(min_value=1, max_value=999_999))
    def confirm_wrong(self, challenge_id: str, delta: int) -> None:
        ch = self.model.challenges.get(challenge_id)
        code = f"{(int(ch.code) + delta) % 1_000_000:06d}" if ch else "000000"
        self._confirm(challenge_id, code)

    def _live(self, number: str) -> str | None:
        return next((cid for cid, ch in self.model.challenges.items() if ch.number == number and ch.state == "live"),
                    None)

    @precondition(lambda self: any(ch.state == "live" for ch in self.model.challenges.values()))
    @rule(number=st.sampled_from(NUMBERS), right=st.sampled_from([False, False, False, True]),
          tries=st.integers(min_value=1, max_value=3))
    def confirm_live(self, number: str, right: bool, tries: int) -> None:
        """The common case: someone types codes for the latest challenge of a number (mostly
        wrong ones, so that waits, burned codes and the lock are reached)."""
        cid = self._live(number)
        if cid is None:
            return
        code = self.model.challenges[cid].code
        bad = f"{(int(code) + 1) % 1_000_000:06d}"
        for _ in range(1 if right else tries):
            self._confirm(cid, code if right else bad)

    @rule(number=st.sampled_from(NUMBERS), rounds=st.integers(min_value=1, max_value=8))
    def brute_force(self, number: str, rounds: int) -> None:
        """Someone guessing: a wrong code, a new code whenever needed, waiting out each wait."""
        for _ in range(rounds):
            cid = self._live(number)
            ch = None if cid is None else self.model.challenges[cid]
            if ch is None or ch.attempts >= 3 or self.model.t >= ch.expires:
                started = self.start(number)
                if started not in self.model.challenges:  # nothing was sent: the requester waits or is locked
                    return
                cid, ch = started, self.model.challenges[started]
            self._confirm(cid, f"{(int(ch.code) + 7) % 1_000_000:06d}")
            self.model.t += 17 * 10**6  # past the longest wait

    @rule(challenge_id=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
                               min_size=0, max_size=30))
    def confirm_unknown(self, challenge_id: str) -> None:
        self._confirm(challenge_id, "123456")

    @precondition(lambda self: any(n.locked or n.failures for n in self.model.numbers.values()))
    @rule(number=st.sampled_from(NUMBERS))
    def unlock(self, number: str) -> None:
        n = self.model.numbers[number]
        had_state = n.locked or n.failures > 0 or n.wait_until is not None
        assert self.campaign.unlock(number) == had_state
        n.failures, n.wait_until, n.locked = 0, None, False

    @invariant()
    def verified_times_agree(self) -> None:
        for number, n in self.model.numbers.items():
            at = self.campaign.verified_at(self.campaign.participant_id(number))
            assert at == (None if n.verified_at is None else T0 + timedelta(microseconds=n.verified_at))


ChallengeLifecycle.TestCase.settings = settings(
    max_examples=100, stateful_step_count=50, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_challenge_lifecycle = ChallengeLifecycle.TestCase
