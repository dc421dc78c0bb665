"""Leases of an API key's calls (``breachindex.server.leases``): a busy key is charged several
calls at once, never beyond its limits; a quiet or small key call by call, exactly; what a
process holds is dropped after a second or at the turn of the day; and its RateLimit-Remaining
counts down exactly in one process.
"""
from __future__ import annotations

import types
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breachindex import Key
from breachindex.campaign import Campaign, RecordingSender
from breachindex.campaign.budgets import Bucket, Outcome
from breachindex.campaign.clock import to_us
from breachindex.server import budgets as budgets_module
from breachindex.server import leases as leases_module
from breachindex.server.auth import ApiKey
from breachindex.server.budgets import ServerBudgets
from breachindex.server.config import ServerConfig
from breachindex.server.errors import ApiError
from breachindex.server.leases import MAX_UNITS, SPAN, TTL, KeyLeases, lease_cap

KEY = Key(b"lease tests secret, 32 bytes!!!!")
# far in the future: the store sweeps stale rows (full buckets, past windows) by the real clock
# once a second, and would otherwise forget, mid-test, quotas a test still counts down
NOON = to_us(datetime(2100, 1, 1, 12, 0, tzinfo=timezone.utc))
CONFIG = ServerConfig(index="unused", key="unused", campaign="unused")  # the budgets read only their rules


class Clock:
    """Both clocks a charge reads (the store's epoch microseconds, the leases' monotonic
    seconds), moved by hand."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def us(self, _now: Any = None) -> int:
        return NOON + int(self.seconds * 1_000_000)

    def monotonic(self) -> float:
        return self.seconds


class Counting:
    """A budget store that counts the charges it is asked for and the units they take."""

    def __init__(self, store: Any) -> None:
        self.store, self.charges, self.units = store, 0, 0

    def charge(self, charge: Any, now_us: int) -> Outcome:
        outcome = self.store.charge(charge, now_us)
        self.charges += 1
        self.units += charge.units if outcome.allowed else 0
        return outcome

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(budgets_module, "now_us", c.us)
    monkeypatch.setattr(leases_module, "time", types.SimpleNamespace(monotonic=c.monotonic))
    return c


@pytest.fixture
def shared(tmp_store):
    with Campaign(tmp_store(), secret=KEY, sender=RecordingSender()) as campaign:
        store = campaign.open_budgets()
    yield store
    store.close()


def workers(store: Any, count: int) -> list[tuple[ServerBudgets, Counting]]:
    """``count`` servers' budgets on one store (each one process's leases), each counting its charges."""
    made = []
    for _ in range(count):
        counting = Counting(store)
        made.append((ServerBudgets(CONFIG, counting), counting))  # type: ignore[arg-type]
    return made


def key(per_second: float, per_day: int) -> ApiKey:
    return ApiKey(id="k1", name="partner", scopes=frozenset({"check"}), created_at="2026-12-01T00:00:00Z",
                  per_second=per_second, per_day=per_day)


def call(budgets: ServerBudgets, k: ApiKey) -> tuple[int, str | None, int]:
    """(status, refusing rule, RateLimit-Remaining) of one keyed call."""
    try:
        headers = budgets.key_call(k)
    except ApiError as exc:
        return 429, exc.reason, int(exc.headers["RateLimit-Remaining"])
    return 200, None, int(headers["RateLimit-Remaining"])


# ---- the sizes -------------------------------------------------------------------------------

def test_a_key_of_the_default_quotas_is_never_leased() -> None:
    assert lease_cap(10.0, 10_000) == 1
    assert lease_cap(39.0, 10**9) == 1 and lease_cap(10_000.0, 1999) == 1
    assert lease_cap(1000.0, 1_000_000) == 50 and lease_cap(10_000.0, 10**9) == MAX_UNITS


def test_a_lease_doubles_while_it_runs_out_fast_and_halves_once_calls_slow(clock) -> None:
    leases = KeyLeases()
    ok = Outcome(True, remaining={"key:day": 10**6}, reset_after={"key:day": 3600.0})
    sizes = []
    for _ in range(8):  # each lease used up at once: the next one twice as large, up to the cap
        size = leases.size("k", 40)
        sizes.append(size)
        leases.charged("k", size, 0, ok, "key:day")
        held = [leases.spend("k", 0) for _ in range(size)]  # one unit was the charging call's own
        assert None not in held[:-1] and held[-1] is None
        clock.seconds += SPAN / 2
    assert sizes == [1, 2, 4, 8, 16, 32, 40, 40]
    clock.seconds += 2 * SPAN  # steady: kept
    assert leases.size("k", 40) == 40
    clock.seconds += 5 * SPAN  # slow: halved
    assert leases.size("k", 40) == 20
    leases.refused("k")  # did not fit: call by call again
    assert leases.size("k", 40) == 1


def test_held_calls_are_dropped_after_the_ttl_and_at_the_turn_of_the_window(clock) -> None:
    leases = KeyLeases()
    leases.charged("k", 10, 7, Outcome(True, remaining={"key:day": 100}, reset_after={"key:day": 30.0}), "key:day")
    held = leases.spend("k", 7)
    assert held is not None and held.remaining == 108 and held.reset_after == 30.0  # 9 held, 8 left after this one
    assert leases.spend("k", 8) is None  # the next window: nothing held for it
    clock.seconds += 0.5
    held = leases.spend("k", 7)
    assert held is not None and held.remaining == 107 and held.reset_after == pytest.approx(29.5)
    clock.seconds += TTL
    assert leases.spend("k", 7) is None  # too old


def test_calls_held_from_a_charge_another_thread_made_meanwhile_are_kept(clock) -> None:
    leases = KeyLeases()
    ok = Outcome(True, remaining={"key:day": 100}, reset_after={"key:day": 30.0})
    leases.charged("k", 4, 0, ok, "key:day")  # one thread's lease: 3 held
    leases.charged("k", 5, 0, Outcome(True, remaining={"key:day": 95}, reset_after={"key:day": 30.0}), "key:day")
    held = [leases.spend("k", 0) for _ in range(8)]  # 3 + 4 held, not 4 (the first three are not lost)
    assert None not in held[:7] and held[7] is None
    assert [h.remaining for h in held[:7]] == [101, 100, 99, 98, 97, 96, 95]  # type: ignore[union-attr]


# ---- against the shared store ----------------------------------------------------------------

def test_one_process_counts_its_quota_down_exactly_with_a_few_charges(clock, shared) -> None:
    [(budgets, counting)] = workers(shared, 1)
    k = key(1000.0, 100_000)
    answers = [call(budgets, k) for _ in range(500)]
    assert [a[0] for a in answers] == [200] * 500
    assert [a[2] for a in answers] == list(range(99_999, 99_499, -1))  # what a single process sees is exact
    assert counting.charges < 40  # 1, 2, 4, ... 50 at a time, not 500 charges
    assert counting.units - 500 < lease_cap(1000.0, 100_000)  # the rest held by this process


def test_a_small_key_is_charged_call_by_call(clock, shared) -> None:
    [(budgets, counting)] = workers(shared, 1)
    k = key(10.0, 10_000)
    answers = [call(budgets, k) for _ in range(12)]
    assert [a[0] for a in answers] == [200] * 10 + [429] * 2 and answers[-1][1] == "key:second"
    assert counting.charges == 12 and shared.refusals() == {"key:second": 2}


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 2), st.sampled_from([0.0, 0.0, 0.0, 0.002, 0.05, 0.3, 1.5])),
                      min_size=1, max_size=200),
       cap=st.sampled_from([2, 5, 16]))
def test_three_processes_never_answer_beyond_the_limits(tmp_path_factory, steps, cap) -> None:
    """Three processes leasing from one store, called in any order at any pace, with leases
    larger than the limits' share would allow (so that the limits bind): the calls answered
    never exceed the per-second bucket's burst plus its refill, nor the daily quota; and a
    refusal comes only when the store itself has nothing left, never from a lease too large."""
    store = _sqlite_budgets(tmp_path_factory)
    c = Clock()
    k = key(8.0, 40)
    second = Bucket("key:second", 8.0, 8.0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(budgets_module, "now_us", c.us)
        mp.setattr(budgets_module, "lease_cap", lambda per_second, per_day: cap)
        mp.setattr(leases_module, "time", types.SimpleNamespace(monotonic=c.monotonic))
        procs = workers(store, 3)
        answered = 0
        try:
            for who, gap in steps:
                c.seconds += gap
                status, reason, _ = call(procs[who][0], k)
                answered += status == 200
                taken = sum(counting.units for _, counting in procs)
                assert answered <= taken <= k.per_day
                assert answered <= 8 + 8.0 * c.seconds + 1e-6
                if reason == "key:day":
                    assert taken == k.per_day  # the quota is spent in the store, not merely leased too large
                elif reason == "key:second":
                    assert store.level(second, k.id, c.us()) < 1.0
                else:
                    assert status == 200
        finally:
            store.close()


def _sqlite_budgets(factory: Any) -> Any:
    with Campaign(factory.mktemp("leases") / "c.db", secret=KEY, sender=RecordingSender()) as campaign:
        return campaign.open_budgets()
