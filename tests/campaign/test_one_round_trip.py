"""The start and the confirmation in one round trip on PostgreSQL (``Codes._start_at_once``,
``Codes._confirm_at_once``): one statement decides in the database what the whole path
decides in Python, and writes only when the code goes out or the confirmation succeeds; any
other case falls back to the whole path.

They are held to the whole path by running the same requests on SQLite (which never takes
them) and on PostgreSQL (which takes them whenever it can), and comparing every answer and
what each store holds at the end; to an audit chain that ``verify`` accepts; and to one winner
when a start replaces the challenge a confirmation is using.
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from helpers.campaign import S, sql, wrong
from helpers.processes import at_once

from breachindex import Key
from breachindex.campaign import Campaign, CodeRules, Limits, RecordingSender, verification
from breachindex.errors import CampaignError

pytest.importorskip("psycopg")

KEY = Key(bytes(range(32)))
T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=14)
#: small limits, so that a few hundred requests meet every rule: told, held back, the caps
#: (with their reserve) and the failure rules
TIGHT = Limits(resend_interval=timedelta(seconds=30), number_per_hour=3, number_per_day=5, number_cap_per_day=7,
               ip_per_hour=5, ip_per_day=12, site_per_day=16, network_per_day=20, prefix_per_day=20,
               prefix_cap_per_day=30, country_per_day=48, total_per_day=52, reserve_share=0.25,
               reserve_network_sends=2, ip_failures_per_hour=6, network_failures_per_hour=9)
#: failures soon make a requester wait for a number, then lock it out
RULES = CodeRules(free_failures=1, first_wait=timedelta(minutes=10), lock_after_failures=5)
NUMBERS = [f"+3161234{i:04d}" for i in range(7)] + ["+31201234567"]  # mobile numbers, one fixed line
# hosts in three IPv4 /24 networks and two IPv6 /48s (two hosts share each)
ADDRESSES = ["192.0.2.1", "192.0.2.2", "198.51.100.7", "198.51.100.8", "203.0.113.9",
             "2001:db8:1:1::1", "2001:db8:1:2::1", "2001:db8:2::5"]


def _answer(call: Any, *args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], Any]:
    """What ``call(*args, **kwargs)`` answered, comparable across stores (no ids, no codes),
    and its result."""
    try:
        result = call(*args, **kwargs)
    except CampaignError as exc:
        retry = getattr(exc, "retry_after", None)
        return (type(exc).__name__, getattr(exc, "reason", None), None if retry is None else round(retry, 3)), None
    return ("ok", type(result).__name__), result


def _state(c: Campaign) -> dict[str, Any]:
    """What a store holds after the run, comparable across stores (rows as plain values)."""
    def rows(statement: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(int(v) if type(v).__name__ == "Decimal" else v for v in row)
                      for row in sql(c, statement).fetchall())

    return {
        "events": rows("SELECT scope, COUNT(*) FROM rate_events GROUP BY scope"),
        "spans": rows("SELECT scope, subject, span_us, start, events FROM rate_spans"),
        "challenges": rows("SELECT participant, host, network, created_us, expires_us, attempts, used_us, replaced_us, "
                           "phone_sealed IS NOT NULL FROM challenges"),
        "participants": rows("SELECT id, created_us, verified_us, phone_sealed IS NOT NULL FROM participants"),
        "failures": rows("SELECT participant, host, failures, wait_until_us, locked_us FROM code_failures"),
        "audit": rows("SELECT seq, at_us, kind, participant, payload FROM audit_log"),
    }


@pytest.fixture
def spied(monkeypatch):
    """How often each one-round-trip path wrote (True) or fell back (False)."""
    taken: Counter[tuple[str, bool]] = Counter()
    start, confirm = verification.Codes._start_at_once, verification.Codes._confirm_at_once

    def spy_start(self, *args):  # type: ignore[no-untyped-def]
        went = start(self, *args)
        taken["start", went] += 1
        return went

    def spy_confirm(self, *args):  # type: ignore[no-untyped-def]
        pid = confirm(self, *args)
        taken["confirm", pid is not None] += 1
        return pid

    monkeypatch.setattr(verification.Codes, "_start_at_once", spy_start)
    monkeypatch.setattr(verification.Codes, "_confirm_at_once", spy_confirm)
    # a start purges at most once a PURGE_EVERY and takes the whole path when it does; the
    # purge changes no answer within a day, so it is held back here on both stores alike
    monkeypatch.setattr(verification, "PURGE_EVERY", timedelta(days=1000))
    return taken


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_every_answer_and_the_stored_state_are_those_of_the_whole_path(pg_cluster, tmp_path, spied, seed):
    rng = random.Random(seed)
    senders = [RecordingSender(), RecordingSender()]
    stores = [str(tmp_path / "campaign.db"), pg_cluster.new_database()]
    # one checkpoint, at the first append: later ones would send confirmations down the whole path
    campaigns = [Campaign(store, secret=KEY, sender=s, limits=TIGHT, code_rules=RULES,
                          checkpoint_interval=timedelta(days=3))
                 for store, s in zip(stores, senders, strict=True)]
    started: list[dict[tuple[str, str], tuple[str, str]]] = [{}, {}]  # (number, address) -> (id, code)
    latest: list[tuple[str, str]] = []
    t = T0
    seen: Counter[Any] = Counter()
    try:
        for step in range(300):
            t += timedelta(seconds=rng.choice([0, 1, 5, 20, 45, 120, 400]))
            confirming = bool(latest) and rng.random() < 0.5
            if confirming:  # most often the latest code, else an older one
                phone, ip = latest[-1] if rng.random() < 0.7 else rng.choice(latest)
            elif latest and rng.random() < 0.3:  # a new code for a number and requester seen before
                phone, ip = rng.choice(latest)
            else:
                phone, ip = rng.choice(NUMBERS), rng.choice(ADDRESSES)
            right = rng.random() < 0.65
            answers = []
            for i, c in enumerate(campaigns):
                if confirming:
                    challenge_id, code = started[i][phone, ip]
                    answers.append(_answer(c.confirm_verification, challenge_id, code if right else wrong(code),
                                           ip=ip, now=t)[0])
                else:
                    sent = len(senders[i].messages)
                    answer, challenge = _answer(c.start_verification, phone, ip=ip, now=t)
                    sent = len(senders[i].messages) - sent  # 1 if the code went out, 0 if held back
                    if challenge is not None:  # a held-back code is unknown: any code is wrong
                        started[i][phone, ip] = (challenge.id, senders[i].last_code(phone) if sent else "000000")
                    answers.append((*answer, sent))
            assert answers[0] == answers[1], (step, "confirm" if confirming else "start", answers)
            seen["confirm" if confirming else "start", answers[0][:2] + (() if confirming else answers[0][-1:])] += 1
            if not confirming and answers[0][0] == "ok":
                latest.append((phone, ip))
        states = [_state(c) for c in campaigns]
        for key in states[0]:  # one table at a time: every row, duplicates counted
            assert states[0][key] == states[1][key], key
        for c in campaigns:
            assert c.verify_audit_log().consistent
    finally:
        for c in campaigns:
            c.close()
        pg_cluster.drop_database(stores[1])
    # PostgreSQL took both paths both ways, so each was compared
    assert all(spied[kind, went] >= 5 for kind in ("start", "confirm") for went in (True, False)), (spied, seen)


def test_a_start_that_replaces_the_challenge_first_leaves_the_confirmation_nothing_to_write(pg_cluster, spied):
    # a start from the same requester replaces the challenge while the confirmation's
    # statement runs: its update waits for the start's row lock, finds the challenge replaced
    # when it gets it, and writes nothing; the whole path then tells CodeInvalid
    import psycopg

    url = pg_cluster.new_database()
    sender = RecordingSender()
    try:
        with Campaign(url, secret=KEY, sender=sender, limits=Limits.off(), checkpoint_interval=None) as c:
            challenge = c.start_verification(NUMBERS[0], ip=ADDRESSES[0], now=T0)
            code = sender.last_code(NUMBERS[0])
            outcome: list[Any] = []
            with psycopg.connect(url) as start, psycopg.connect(url, autocommit=True) as watch:
                start.execute("UPDATE challenges SET replaced_us = %s, phone_sealed = NULL WHERE id = %s",
                              (int(T0.timestamp() * 1e6) + 1, challenge.id))  # held: not committed yet
                thread = threading.Thread(target=lambda: outcome.append(
                    _answer(c.confirm_verification, challenge.id, code, ip=ADDRESSES[0], now=T0 + 2 * S)))
                thread.start()
                deadline = time.monotonic() + 10
                while not watch.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                        "AND query LIKE 'WITH v AS%'").fetchone()[0]:
                    assert time.monotonic() < deadline, "the confirmation never waited for the start's row"
                    time.sleep(0.01)
                start.commit()
                thread.join(10)
            assert outcome[0][0] == ("CodeInvalid", None, None)
            assert spied["confirm", False] == 1 and spied["confirm", True] == 0
            assert sql(c, "SELECT COUNT(*) FROM participants WHERE verified_us IS NOT NULL").fetchone() == (0,)
            assert sql(c, "SELECT COUNT(*) FROM challenges WHERE used_us IS NOT NULL").fetchone() == (0,)
            assert sql(c, "SELECT COUNT(*) FROM audit_log").fetchone() == (0,)
            assert c.verify_audit_log().consistent
    finally:
        pg_cluster.drop_database(url)


def test_the_confirmation_in_one_round_trip_is_the_path_taken_and_its_entry_verifies(pg_cluster, spied):
    # after the whole path has read the latest checkpoint once, confirmations take one round
    # trip until the next is due; each one's entry names its participant and the chain holds
    url = pg_cluster.new_database()
    sender = RecordingSender()
    try:
        with Campaign(url, secret=KEY, sender=sender, limits=Limits.off()) as c:
            verified = []
            for i, phone in enumerate(NUMBERS[:6]):
                challenge = c.start_verification(phone, now=T0 + i * S)
                verified.append(c.confirm_verification(challenge.id, sender.last_code(phone), now=T0 + i * S))
            entries = sql(c, "SELECT participant FROM audit_log WHERE kind = 'verification_confirmed' "
                             "ORDER BY seq").fetchall()
            assert [p for (p,) in entries] == [v.participant for v in verified]
            assert sql(c, "SELECT COUNT(*) FROM participants WHERE verified_us IS NOT NULL AND phone_sealed IS NOT "
                          "NULL").fetchone() == (6,)
            assert c.verify_audit_log().consistent
            # the first confirmation read no checkpoint (none yet) and made one; the second read it
            assert spied["confirm", True] == 4, spied
            # a checkpoint due again: the whole path, which makes it
            challenge = c.start_verification(NUMBERS[6], now=T0 + timedelta(hours=2))
            c.confirm_verification(challenge.id, sender.last_code(NUMBERS[6]), now=T0 + timedelta(hours=2))
            assert spied["confirm", True] == 4
            assert sql(c, "SELECT COUNT(*) FROM audit_checkpoints").fetchone() == (2,)
    finally:
        pg_cluster.drop_database(url)


def test_a_start_held_back_pauses_like_a_send_less_what_its_first_try_took(tmp_store, store_kind, monkeypatch):
    # a code held back for the number (here: resent too soon) is answered after a pause as long
    # as a send takes; on PostgreSQL the start first tried in one statement, which a start
    # that sends does not repeat, so that try's time is taken off the pause
    pauses: list[float] = []
    monkeypatch.setattr(verification.random, "uniform", lambda low, high: 1.0)  # no jitter
    monkeypatch.setattr(verification.time, "sleep", pauses.append)
    sender = RecordingSender()
    with Campaign(tmp_store(), secret=KEY, sender=sender, limits=Limits()) as c:
        c.start_verification(NUMBERS[0], ip=ADDRESSES[0], now=T0)
        c._codes._send_seconds = 0.5  # a sender's recent time a send
        # within the resend interval, and within PURGE_EVERY of the first (which purged)
        held = c.start_verification(NUMBERS[0], ip=ADDRESSES[0], now=T0 + S / 2)
        assert len(sender.messages) == 1 and held.id
    assert len(pauses) == 1
    if store_kind == "sqlite":
        assert pauses == [0.5]
    else:
        assert 0.0 < pauses[0] < 0.5


#: the campaign-wide caps and the number's own rules, at their defaults; no rule of the caller's
CAPS_ONLY = Limits(ip_per_hour=None, ip_per_day=None, site_per_day=None, network_per_day=None, prefix_per_day=None,
                   prefix_cap_per_day=None)


def _start_on_both_paths(url: str, worker: int, count: int, start: Any, out: Any) -> None:
    """``count`` starts, every other one on the whole path; what went wrong, or None."""
    try:
        with Campaign(url, secret=KEY, sender=RecordingSender(), limits=CAPS_ONLY) as c:
            at_once_of = c._codes._start_at_once
            turn = iter(range(count))
            c._codes._start_at_once = lambda *a, **kw: next(turn) % 2 == 0 and at_once_of(*a, **kw)  # type: ignore
            start.wait(30)
            for k in range(count):  # each start from its own network: no lock of a requester's in common
                c.start_verification(f"+3162{worker:02d}{k:05d}", ip=f"2001:db8:{worker:x}:{k:x}::1")
        out.put(None)
    except Exception as exc:  # the parent reports it
        out.put(f"{type(exc).__name__}: {exc}")


def test_starts_at_once_on_both_paths_count_every_send_and_never_deadlock(pg_cluster):
    """Sends far from the caps hold them shared, so several count the caps' minutes and hours
    at once, on both paths: they must lock those rows in one order (two statements, run in
    one order by the whole path and in the other by the one statement, deadlocked)."""
    url = pg_cluster.new_database()
    try:
        Campaign(url, secret=KEY, sender=RecordingSender()).close()
        processes, count = 4, 250
        assert at_once(_start_on_both_paths, [(url, i, count) for i in range(processes)], settle=3.0,
                       timeout=90) \
            == [None] * processes
        with Campaign(url, secret=KEY, sender=RecordingSender()) as c:
            spans = dict(sql(c, "SELECT span_us, SUM(events) FROM rate_spans WHERE scope = 'send:all' "
                                "GROUP BY span_us").fetchall())
            assert {int(span): int(n) for span, n in spans.items()} == \
                {60_000_000: processes * count, 3_600_000_000: processes * count}
    finally:
        pg_cluster.drop_database(url)
