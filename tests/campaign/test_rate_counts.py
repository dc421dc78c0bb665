"""``limits.RateCounts`` against a plain model: "when does one more event fit" read from the
events themselves (the limit-th newest in the window) and, for the campaign-wide caps, from the
counts by the hour and minute first; with events on minute and hour boundaries, at the window's
edge, and after old events were forgotten. On both stores."""
from __future__ import annotations

import random
import uuid
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breachindex import Key
from breachindex.campaign import MIGRATIONS, Campaign, RecordingSender
from breachindex.campaign.limits import MINUTE_COUNTED_SCOPES, RateCounts, forget_events, record_event
from breachindex.campaign.store import open_store

MINUTE = 60_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
T0 = 1_796_000_000 * 1_000_000 // HOUR * HOUR  # an hour's start (and a minute's), in 2026


def model_wait(events: list[int], now: int, window: int, limit: int) -> int | None:
    inside = sorted((at for at in events if at > now - window), reverse=True)
    return None if len(inside) < limit else inside[limit - 1] + window - now


def _random_example(rng: random.Random) -> tuple[list[int], list[int]]:
    times = [rng.randint(0, 2 * DAY) for _ in range(rng.randint(1, 12))]
    probes = [rng.choice(times) + DAY + rng.randint(-MINUTE, MINUTE) for _ in range(4)] + [rng.randint(0, 3 * DAY)]
    probes += [rng.choice(times) + DAY + rng.randint(-HOUR, HOUR) for _ in range(2)]
    return times, probes


@pytest.fixture(scope="module")
def stores(pg_cluster, tmp_path_factory):
    opened = [Campaign(tmp_path_factory.mktemp("counts") / "c.db", secret=Key(bytes(32)), sender=RecordingSender()),
              Campaign(pg_cluster.new_database(), secret=Key(bytes(32)), sender=RecordingSender())]
    yield [c._store for c in opened]
    for c in opened:
        c.close()


# event times: minute and hour boundaries and the microseconds around them, across two days
_times = st.lists(st.one_of(st.integers(0, 2 * DAY),
                            st.builds(lambda m, d: m * MINUTE + d, st.integers(0, 2880), st.sampled_from([-1, 0, 1])),
                            st.builds(lambda h, d: h * HOUR + d, st.integers(0, 48), st.sampled_from([-1, 0, 1]))),
                  min_size=0, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(times=_times, limit=st.integers(1, 12), data=st.data(),
       forget=st.one_of(st.none(), st.integers(0, DAY)), scope=st.sampled_from(["send:all", "send:host"]))
def test_waits_are_the_plain_models_on_both_stores(stores, times, limit, data, forget, scope):
    subject = uuid.uuid4().hex  # each example its own subject: the stores are shared
    events = [T0 + t for t in times]
    # a moment anywhere, and moments whose window starts in an event's minute or hour, or the
    # one before, or on their edges
    probes = [data.draw(st.integers(0, 3 * DAY))]
    for t in times:
        probes += [t + DAY + data.draw(st.integers(-MINUTE, MINUTE)), t + DAY - t % MINUTE - 1,
                   t + DAY + data.draw(st.integers(-HOUR, HOUR)),
                   t + DAY - t % HOUR + data.draw(st.sampled_from([-1, 0]))]
    for store in stores:
        with store.transaction() as db:
            for at in events:
                record_event(db, {scope: subject}, at)
            if forget is not None:
                forget_events(db, T0 + forget)
    kept = [at for at in events if forget is None or at > T0 + forget]
    for store in stores:  # a span is forgotten whole, once every event in it is
        for span in (MINUTE, HOUR):
            with store.read() as db:
                rows = dict(db.execute("SELECT start, events FROM rate_spans WHERE subject = ? AND span_us = ?",
                                       (subject, span)).fetchall())
            first = 0 if forget is None else (T0 + forget) // span
            expected = Counter(at // span for at in events if at // span >= first) if scope == "send:all" else {}
            assert rows == dict(expected), (store.name, span)
    for store in stores:
        for probe in probes:
            now = T0 + probe
            if forget is not None and now - DAY < T0 + forget:
                continue  # a window reaching back past what was forgotten: never asked (purge keeps a day)
            # the drawn limit, and the window's own count and one more: a count one short or one
            # over changes the answer there
            inside = sum(at > now - DAY for at in kept)
            limits = sorted({limit, max(1, inside), inside + 1})
            with store.read() as db:
                counts = RateCounts(db, now)
                asked = [counts.ask(scope, subject, DAY, n) for n in limits]
                got = [counts.wait(q) for q in asked]
                fits = [counts.fits(q) for q in asked]
            assert got == [model_wait(kept, now, DAY, n) for n in limits], (store.name, now - T0)
            assert fits == [w is None for w in got], (store.name, now - T0)  # what the count alone tells


@pytest.mark.parametrize("which", [0, 1], ids=["sqlite", "postgresql"])
def test_waits_are_the_plain_models_over_many_random_days(stores, which):
    """The same, 150 seeded random examples of the cap's scope, each limit the window's own count
    and one more (a count one short or one over changes the answer there)."""
    store, rng = stores[which], random.Random(20261204)
    for _ in range(150):
        subject, (times, probes) = uuid.uuid4().hex, _random_example(rng)
        events = [T0 + t for t in times]
        with store.transaction() as db:
            for at in events:
                record_event(db, {"send:all": subject}, at)
        with store.read() as db:
            for probe in probes:
                now = T0 + probe
                inside = sum(at > now - DAY for at in events)
                for n in sorted({max(1, inside), inside + 1}):
                    counts = RateCounts(db, now)
                    assert counts.wait(counts.ask("send:all", subject, DAY, n)) == model_wait(events, now, DAY, n)


def test_the_caps_are_the_scopes_counted_by_the_minute():
    from breachindex.campaign.limits import Limits

    assert {rule.scope for rule in Limits().cap_rules(31)} == MINUTE_COUNTED_SCOPES


def test_the_hours_are_filled_from_the_minutes_when_a_store_is_migrated(tmp_store):
    """A store from before the hours (schema 12) with two days of sends counted by the minute:
    once migrated, the spans hold the minutes and their hours' sums, and the caps' waits are
    still those of the events."""
    rng = random.Random(13)
    events = sorted(T0 + rng.randint(0, 2 * DAY) for _ in range(300))
    before = next(i for i, m in enumerate(MIGRATIONS) if m.version == 13)
    store = open_store(tmp_store("c"), migrations=MIGRATIONS[:before])
    with store.transaction() as db:
        for scope, subject in (("send:all", "all"), ("send:country", "31")):
            db.execute("INSERT INTO rate_events (scope, subject, at_us) VALUES "
                       + ", ".join(["(?, ?, ?)"] * len(events)), [v for at in events for v in (scope, subject, at)])
            minutes = Counter(at // MINUTE for at in events)
            db.execute("INSERT INTO rate_minutes (scope, subject, minute, events) VALUES "
                       + ", ".join(["(?, ?, ?, ?)"] * len(minutes)),
                       [v for minute, n in minutes.items() for v in (scope, subject, minute, n)])
    store.close()
    store = open_store(tmp_store("c"))
    try:
        with store.read() as db:
            spans = db.execute("SELECT scope, subject, span_us, start, events FROM rate_spans ORDER BY 1, 2, 3, 4")
            assert [tuple(r) for r in spans.fetchall()] == sorted(
                (scope, subject, span, start, n) for scope, subject in (("send:all", "all"), ("send:country", "31"))
                for span in (MINUTE, HOUR) for start, n in Counter(at // span for at in events).items())
            for now in [T0 + DAY + rng.randint(0, DAY) for _ in range(20)]:
                inside = sum(at > now - DAY for at in events)
                for n in (inside, inside + 1):
                    counts = RateCounts(db, now)
                    assert counts.wait(counts.ask("send:country", "31", DAY, n)) == model_wait(events, now, DAY, n)
    finally:
        store.close()
