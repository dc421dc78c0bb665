"""The budgets every worker shares (``breachindex.campaign.budgets``): token buckets, daily
quotas and single-use tokens against a plain model, all or nothing, several processes taking
from one bucket at once, nothing in clear in the table, and the purge.
"""
from __future__ import annotations

import multiprocessing
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breachindex import Key
from breachindex.campaign import Campaign, RecordingSender
from breachindex.campaign.budgets import Bucket, Charge, Quota
from breachindex.campaign.clock import to_us
from breachindex.campaign.networks import origin_of

KEY = Key(b"budget tests secret, 32 bytes!!!")
# far in the future: the stores sweep stale rows (full buckets, past windows) by the real clock
# once a second, and would otherwise forget, mid-test, rows a test still reads
T0 = to_us(datetime(2100, 1, 1, 10, 0, tzinfo=timezone.utc))
SECOND = 1_000_000


def store_at(where: Path | str) -> Any:
    """The budgets of a campaign store (a SQLite path or a PostgreSQL URL), created and migrated."""
    with Campaign(where, secret=KEY, sender=RecordingSender()) as c:
        return c.open_budgets()


@pytest.fixture
def store(tmp_store):
    s = store_at(tmp_store("c"))
    yield s
    s.close()


class ModelBucket:
    """A token bucket written out plainly."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, None

    def level(self, t: int) -> float:
        if self.at is None:
            return self.burst
        return min(self.burst, self.tokens + (t - self.at) / SECOND * self.rate)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3 * SECOND),
                                 st.sampled_from([1, 1, 1, 2, 3])), min_size=1, max_size=60))
def test_buckets_against_a_plain_model(tmp_path_factory, steps):
    rules = [Bucket("a", 1.0, 3), Bucket("b", 0.5, 2), Bucket("c", 4.0, 5)]
    store = store_at(tmp_path_factory.mktemp("model") / "c.db")
    model = {r.name: ModelBucket(r.rate, r.burst) for r in rules}
    t = T0
    try:
        for which, gap, units in steps:
            t += gap
            # a request costs ``units`` tokens from rule ``which`` and from rule c (the global one), all or nothing
            charged = [rules[which], rules[2]] if which != 2 else [rules[2]]
            outcome = store.charge(Charge(buckets=[(r, "subject") for r in charged], units=units), t)
            levels = {r.name: model[r.name].level(t) for r in charged}
            allowed = all(level >= units for level in levels.values())
            assert outcome.allowed == allowed, (outcome, levels)
            if allowed:
                for r in charged:
                    model[r.name].tokens, model[r.name].at = levels[r.name] - units, t
            else:
                waits = {r.name: (units - levels[r.name]) / r.rate for r in charged if levels[r.name] < units}
                worst = max(waits, key=lambda name: waits[name])
                assert outcome.reason == worst and outcome.retry_after == pytest.approx(waits[worst])
            for r in charged:  # the level the answer reports is the model's
                assert outcome.left[r.name] == pytest.approx(max(0.0, model[r.name].level(t)), abs=1e-9)
    finally:
        store.close()


def test_a_refused_charge_takes_nothing(store):
    small, large = Bucket("small", 0.001, 1), Bucket("large", 0.001, 10)
    assert store.charge(Charge(buckets=[(small, "x"), (large, "x")]), T0).allowed
    refused = store.charge(Charge(buckets=[(small, "x"), (large, "x")]), T0)
    assert not refused.allowed and refused.reason == "small"
    assert store.level(large, "x", T0) == pytest.approx(9.0)  # the large bucket kept its token
    assert store.refusals() == {"small": 1}


def test_daily_quotas_turn_over_at_midnight_utc(store):
    day = Quota("key:day", 3)
    noon = to_us(datetime(2100, 1, 1, 12, 0, tzinfo=timezone.utc))
    answers = [store.charge(Charge(quotas=[(day, "k")]), noon + i) for i in range(4)]
    assert [a.allowed for a in answers] == [True, True, True, False]
    assert [a.remaining["key:day"] for a in answers] == [2, 1, 0, 0]
    assert answers[3].reason == "key:day" and answers[3].retry_after == pytest.approx(12 * 3600, abs=1e-3)
    midnight = to_us(datetime(2100, 1, 2, 0, 0, tzinfo=timezone.utc))
    assert store.charge(Charge(quotas=[(day, "k")]), midnight).allowed
    assert store.charge(Charge(quotas=[(day, "other")]), noon).allowed  # per subject


def test_a_charge_of_several_units_takes_them_all_or_none_and_is_no_refusal(store):
    day, second = Quota("key:day", 5), Bucket("key:second", 0.001, 4)
    lease = store.charge(Charge(buckets=[(second, "k")], quotas=[(day, "k")], units=3), T0)
    assert lease.allowed and lease.remaining["key:day"] == 2 and lease.left["key:second"] == pytest.approx(1.0)
    too_many = store.charge(Charge(buckets=[(second, "k")], quotas=[(day, "k")], units=2), T0)
    assert not too_many.allowed and too_many.reason == "key:second"
    assert store.level(second, "k", T0) == pytest.approx(1.0)  # nothing taken
    assert store.refusals() == {}  # a lease that does not fit is not a refusal
    one = store.charge(Charge(buckets=[(second, "k")], quotas=[(day, "k")]), T0)  # one unit still fits
    assert one.allowed and one.remaining["key:day"] == 1  # the day's quota lost nothing to the refused lease
    refused = store.charge(Charge(buckets=[(second, "k")], quotas=[(day, "k")]), T0)
    assert not refused.allowed and store.refusals() == {"key:second": 1}
    with pytest.raises(ValueError):
        Charge(units=0)


def test_a_token_is_spent_once(store):
    once = Charge(token=("nonce-1", T0 + 60 * SECOND))
    assert store.charge(once, T0).allowed
    again = store.charge(once, T0 + SECOND)
    assert not again.allowed and again.reason == "token_spent" and again.retry_after is None


def test_a_refused_charge_does_not_spend_its_token(store):
    tight = Bucket("tight", 0.001, 1)
    assert store.charge(Charge(buckets=[(tight, "x")]), T0).allowed
    assert not store.charge(Charge(buckets=[(tight, "x")], token=("nonce-2", T0 + SECOND * 60)), T0).allowed
    assert store.charge(Charge(token=("nonce-2", T0 + SECOND * 60)), T0).allowed  # still good once


def test_the_table_holds_no_subject_in_clear(tmp_path):
    store = store_at(tmp_path / "c.db")
    origin = origin_of("2001:db8:aa:1::7")
    rule = Bucket("check:network", 1.0, 5)
    store.charge(Charge(buckets=[(rule, str(origin.subject("network"))), (rule, "+31612345678")],
                        touch_key="0123456789ab"), T0)
    raw = (tmp_path / "c.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("c.db-*"))
    for needle in (b"2001:db8", b"31612345678", b"network:v6"):
        assert needle not in raw
    assert store.last_used(["0123456789ab", "ffffffffffff"]) == {"0123456789ab": T0}


def test_full_buckets_spent_tokens_and_old_windows_are_swept_a_slice_at_a_time(tmp_path, monkeypatch):
    store = store_at(tmp_path / "c.db")
    import breachindex.campaign.budgets as budgets

    monkeypatch.setattr(budgets, "_SWEEP_ROWS", 7)
    for i in range(20):
        store.charge(Charge(buckets=[(Bucket("x", 1.0, 2), f"s{i}")], quotas=[(Quota("q", 5), f"s{i}")],
                            token=(f"n{i}", T0 + SECOND)), T0)
    store.charge(Charge(buckets=[(Bucket("slow", 1e-6, 2), "kept")], token=("later", T0 + 10**12)), T0)
    conn = store._conn
    assert conn is not None

    def counts() -> list[int]:
        return [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("budget_buckets", "budget_quotas", "budget_spent")]

    assert counts() == [21, 20, 21]
    store._sweep(conn, T0 + 2 * 86_400 * SECOND)  # 7 rows of each table looked at, in key order
    after = counts()
    assert after[1] == 13 and all(n in (14, 15) for n in (after[0], after[2]))  # a kept row may be among them
    for _ in range(3):
        store._sweep(conn, T0 + 2 * 86_400 * SECOND)
    assert counts() == [1, 0, 1]  # what still limits stays: the slow bucket, the unexpired token


def _take_many(path: str, count: int, out: multiprocessing.Queue) -> None:
    store = store_at(path)
    rule = Bucket("shared", 0.000001, 50)
    allowed = sum(store.charge(Charge(buckets=[(rule, "one")]), T0).allowed for _ in range(count))
    store.close()
    out.put(allowed)


def test_several_processes_take_from_one_bucket_exactly_its_burst(tmp_store):
    path = tmp_store("c")
    store_at(path).close()
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()
    workers = [ctx.Process(target=_take_many, args=(str(path), 40, out)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    taken = [out.get(timeout=5) for _ in workers]
    assert sum(taken) == 50  # 160 tries from four processes: the burst exactly, not four bursts


# ---- PostgreSQL's charge (a function of the store) against budgets.take (SQLite's) --------------

_RULES = [Bucket("a", 1.0, 3), Bucket("b", 0.5, 2), Bucket("c", 4.0, 5.5), Bucket("d", 1e-3, 1)]
_QUOTAS = [Quota("day", 4), Quota("minute", 2, 60 * SECOND)]


@pytest.fixture(scope="module")
def both_stores(pg_cluster, tmp_path_factory):
    url = pg_cluster.new_database()
    stores = (store_at(tmp_path_factory.mktemp("oracle") / "c.db"), store_at(url))
    yield stores
    for s in stores:
        s.close()
    pg_cluster.drop_database(url)


_charges = st.lists(st.tuples(
    st.lists(st.tuples(st.sampled_from(_RULES), st.sampled_from("xy")), max_size=3),
    st.lists(st.tuples(st.sampled_from(_QUOTAS), st.sampled_from("xy")), max_size=2),
    st.one_of(st.none(), st.sampled_from(["n1", "n2"])),
    st.one_of(st.none(), st.just("key-1")),
    st.integers(0, 90 * SECOND),
    st.sampled_from([1, 1, 1, 2, 3])), min_size=1, max_size=25)


@settings(max_examples=40, deadline=None)
@given(steps=_charges)
def test_postgresqls_charge_gives_exactly_what_budgets_take_gives(both_stores, steps):
    sqlite, postgresql = both_stores
    run = uuid.uuid4()  # examples share nothing: their subjects carry a fresh id (hypothesis repeats its own)
    t = T0 + 7 * 3600 * SECOND
    for buckets, quotas, token, touch, gap, units in steps:
        t += gap
        charge = Charge(buckets=[(r, f"{run}:{v}") for r, v in buckets], quotas=[(q, f"{run}:{v}") for q, v in quotas],
                        token=None if token is None else (f"{run}:{token}", t + 30 * SECOND), touch_key=touch,
                        units=units)
        expected, got = sqlite.charge(charge, t), postgresql.charge(charge, t)
        assert got == expected, (charge, t)
