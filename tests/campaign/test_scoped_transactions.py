"""Scoped write transactions (``transaction(locks=...)``, ``db.hold``, ``db.try_hold``): on
PostgreSQL, those of different names run side by side and those of one name one after the
other; an exclusive writer and a scoped one exclude each other; appends to the audit log keep
one chain; wrong codes sent at once to one challenge spend exactly its tries. On SQLite every
writer is exclusive, and the same calls work unchanged."""
from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers.campaign import OPEN, S, example, number, sql, wrong
from helpers.processes import at_once

from breachindex import Key
from breachindex.campaign import Campaign, Limits, RecordingSender
from breachindex.campaign.audit import GENESIS_HASH, AuditLog
from breachindex.campaign.db import AUDIT_TAIL, hold, try_hold
from breachindex.campaign.store import open_store
from breachindex.campaign.treehead import AuditSigner
from breachindex.campaign.verification import PURGE_EVERY
from breachindex.errors import CampaignError, CampaignStoreError, CodeInvalid, Throttled, TooManyAttempts

pytest.importorskip("psycopg")
from breachindex.campaign.pgstore import PgStore

KEY = Key(bytes(range(32)))
T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
HELD = 0.4  # seconds a first transaction keeps its locks while a second tries to run


@pytest.fixture
def pg(pg_cluster):
    url = pg_cluster.new_database()
    store = PgStore(url, busy_timeout=10.0)
    yield store
    store.close()
    pg_cluster.drop_database(url)


def _second_waits(first: Callable, second: Callable) -> bool:
    """Run ``first`` (which holds its transaction open for HELD seconds once its locks are
    taken) and, once it holds them, ``second``: True if ``second`` finished only after
    ``first`` stopped holding (its locks go with its commit, after that moment)."""
    holding, done = threading.Event(), {}
    thread = threading.Thread(target=first, args=(holding, done))
    thread.start()
    assert holding.wait(10)
    second()
    done["second"] = time.monotonic()
    thread.join(10)
    return done["second"] >= done["first"]


def _open_for(store, locks, *, late: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    def run(holding: threading.Event, done: dict[str, float]) -> None:
        with store.transaction(locks) as db:
            hold(db, *late)
            db.execute("SELECT 1").fetchone()  # the locks are taken once an answer came back
            holding.set()
            time.sleep(HELD)
            # before the commit: a second that waited for the locks cannot finish earlier, and
            # this thread recording it late cannot make a second that waited look as if it had not
            done["first"] = time.monotonic()
    return run


def _write(store, locks, *, late: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    def run() -> None:
        with store.transaction(locks) as db:
            hold(db, *late)
            db.execute("SELECT 1").fetchone()
    return run


def test_scoped_transactions_of_different_names_run_side_by_side_and_of_one_name_in_turn(pg):
    assert not _second_waits(_open_for(pg, {"participant|a"}), _write(pg, {"participant|b"}))
    assert _second_waits(_open_for(pg, {"participant|a", "x"}), _write(pg, {"y", "participant|a"}))
    assert not _second_waits(_open_for(pg, set()), _write(pg, set()))  # no names: nothing shared but readers' rows


def test_a_name_held_late_waits_like_one_taken_at_the_start(pg):
    assert _second_waits(_open_for(pg, {"challenge|1"}, late=("participant|a",)),
                         _write(pg, {"challenge|2"}, late=("participant|a",)))
    assert _second_waits(_open_for(pg, {"participant|a"}), _write(pg, {"challenge|2"}, late=("participant|a",)))
    assert not _second_waits(_open_for(pg, {"challenge|1"}, late=("participant|a",)),
                             _write(pg, {"challenge|2"}, late=("participant|b",)))


def test_an_exclusive_writer_and_a_scoped_one_exclude_each_other(pg):
    assert _second_waits(_open_for(pg, None), _write(pg, {"participant|a"}))
    assert _second_waits(_open_for(pg, {"participant|a"}), _write(pg, None))
    assert _second_waits(_open_for(pg, None), _write(pg, None))


def test_try_hold_answers_false_while_another_transaction_holds_the_name(pg):
    holding, release = threading.Event(), threading.Event()

    def first() -> None:
        with pg.transaction({"a"}) as db:
            assert try_hold(db, "purge").fetchone()[0] is True
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    assert holding.wait(10)
    with pg.transaction({"b"}) as db:
        assert try_hold(db, "purge").fetchone()[0] is False
    release.set()
    thread.join(10)
    with pg.transaction({"b"}) as db:
        assert try_hold(db, "purge").fetchone()[0] is True
    with pg.transaction() as db:  # an exclusive writer holds everything already
        assert try_hold(db, "purge").fetchone()[0] is True


def test_on_sqlite_the_same_calls_work_and_every_writer_is_exclusive(tmp_path):
    with Campaign(tmp_path / "c.db", secret=KEY, sender=RecordingSender(), limits=OPEN) as c:
        store = c._store
        with store.transaction({"participant|a"}) as db:
            hold(db, "participant|b", AUDIT_TAIL)
            assert try_hold(db, "purge").fetchone()[0]
        assert _second_waits(_open_for(store, {"participant|a"}), _write(store, {"participant|b"}))


def test_appends_from_scoped_transactions_at_once_keep_one_chain(pg):
    log = AuditLog(AuditSigner(Ed25519PrivateKey.generate()))
    threads, appends = 8, 25

    def append(i: int) -> None:
        for k in range(appends):
            with pg.transaction({f"participant|{i}"}) as db:
                if (i + k) % 2:  # the chain's tail read by the client, or taken by the insert
                    log.append(db, "participant_unlocked", 1_700_000_000_000_000 + k, participant=f"{i:032x}",
                               payload={"unlocked_at": "2023-11-14T22:13:20Z"})
                else:
                    log.append_where(db, "participant_unlocked", 1_700_000_000_000_000 + k, ("1 = ?", (1,)),
                                     participant=f"{i:032x}", payload={"unlocked_at": "2023-11-14T22:13:20Z"})

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(append, range(threads)))
    with pg.read() as db:
        seqs = [int(r[0]) for r in db.execute("SELECT seq FROM audit_log ORDER BY seq").fetchall()]
        report = log.verify(db)
    assert seqs == list(range(1, threads * appends + 1))
    assert report.consistent and report.entries == threads * appends, report


def test_an_append_where_hashes_its_entry_as_the_log_does_and_appends_only_if_its_condition_holds(tmp_store):
    log = AuditLog(AuditSigner(Ed25519PrivateKey.generate()))
    store = open_store(tmp_store())
    # the participant given, or read by the insert (participant_of), as a confirmation in one
    # round trip reads whom its statement confirmed; a payload that holds a key "participant"
    # too, which the entry's own participant must not be taken for
    whose = ("(SELECT ? || ?)", ("ab" * 8, "cd" * 8))
    try:
        written = []
        for n, (kind, condition, payload, read) in enumerate([
                ("verification_confirmed", ("1 = ?", (1,)), {"verified_at": "1970-01-01T00:00:00Z"}, None),  # first
                ("participant_unlocked", None, {"unlocked_at": "x\u00e9\"}"}, None),
                ("verification_confirmed", ("1 = ?", (2,)), {"verified_at": "never"}, None),  # not appended
                ("verification_confirmed", ("EXISTS (SELECT 1 FROM audit_log WHERE seq = ?)", (2,)),
                 {"verified_at": "\u2603 and 'quotes' \\ ?"}, None),
                ("verification_confirmed", ("1 = ?", (1,)), {"participant": "", "verified_at": "z"}, whose),
                ("verification_confirmed", ("1 = ?", (3,)), {"verified_at": "never"}, whose),  # not appended
                ("participant_unlocked", None, {"unlocked_at": "y"}, None)]):
            with store.transaction() as db:
                if condition is None:
                    log.append(db, kind, 10 + n, participant=f"{n:032x}", payload=payload)
                    written.append(n)
                else:
                    appended = log.append_where(db, kind, 10 + n, condition, participant=f"{n:032x}", ref="r",
                                                payload=payload, participant_of=read)
            if condition is not None:
                assert appended.rowcount == (0 if n in (2, 5) else 1)
                written += [] if n in (2, 5) else [n]
        with store.read() as db:
            entries = log.entries(db)
            report = log.verify(db)
        assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
        assert [e.at_us for e in entries] == [10 + n for n in written]
        assert [e.participant for e in entries] == [f"{n:032x}" for n in written[:3]] + ["ab" * 8 + "cd" * 8,
                                                                                        f"{written[4]:032x}"]
        assert report.consistent and report.entries == 5, report
        assert entries[0].prev_hash == GENESIS_HASH
        for entry, before in zip(entries, [GENESIS_HASH] + [e.entry_hash for e in entries], strict=False):
            assert entry.prev_hash == before
            assert entry.entry_hash == hashlib.sha256(before + entry.body).digest()
    finally:
        store.close()


def test_wrong_codes_sent_at_once_to_one_challenge_spend_exactly_its_tries(tmp_store):
    sender = RecordingSender()
    store = tmp_store()
    with Campaign(store, secret=KEY, sender=sender, limits=OPEN) as c:
        challenge = c.start_verification(number(1), now=T0)
        code = sender.last_code(number(1))
    # one campaign (one connection) per guesser, as separate workers have, all guessing at once
    guessers = [Campaign(store, secret=KEY, sender=sender, limits=OPEN) for _ in range(8)]
    barrier = threading.Barrier(len(guessers))

    def guess(g: Campaign) -> list[str]:
        barrier.wait(10)
        answers = []
        for _ in range(3):
            try:
                g.confirm_verification(challenge.id, wrong(code), now=T0 + S)
                answers.append("verified")
            except CampaignError as exc:
                answers.append(type(exc).__name__)
        return answers

    try:
        with ThreadPoolExecutor(len(guessers)) as pool:
            answers = Counter(a for batch in pool.map(guess, guessers) for a in batch)
    finally:
        for g in guessers:
            g.close()
    # two wrong, the third burns the code and earns the requester a wait: the rest wait
    assert answers == {"CodeInvalid": 2, "TooManyAttempts": 1, "Throttled": 21}, answers
    with Campaign(store, secret=KEY, sender=sender, limits=OPEN) as c:
        assert sql(c, "SELECT attempts FROM challenges WHERE id = ?", (challenge.id,)).fetchone()[0] == 3
        assert sql(c, "SELECT failures FROM code_failures").fetchone()[0] == 3
        with pytest.raises((TooManyAttempts, Throttled)):
            c.confirm_verification(challenge.id, code, now=T0 + S)


def _verify_many(url: str, worker: int, count: int, start, out) -> None:  # type: ignore[no-untyped-def]
    sender = RecordingSender()
    with Campaign(url, secret=KEY, sender=sender, limits=OPEN) as c:
        start.wait(30)
        for k in range(count):
            phone = number(worker * 100 + k)
            challenge = c.start_verification(phone, now=T0)
            c.confirm_verification(challenge.id, sender.last_code(phone), now=T0 + S)
    out.put(count)


def test_many_processes_verifying_at_once_lose_nothing_and_keep_one_audit_chain(pg_cluster):
    url = pg_cluster.new_database()
    try:
        Campaign(url, secret=KEY, sender=RecordingSender(), limits=OPEN).close()
        assert sum(at_once(_verify_many, [(url, i, 15) for i in range(6)])) == 90
        with Campaign(url, secret=KEY, sender=RecordingSender(), limits=OPEN) as c:
            assert sql(c, "SELECT COUNT(*) FROM participants WHERE verified_us IS NOT NULL").fetchone()[0] == 90
            report = c.verify_audit_log()
            assert report.consistent and report.entries == 90, report
    finally:
        pg_cluster.drop_database(url)


def test_a_start_purges_at_most_once_a_purge_interval_in_each_process(tmp_store):
    store = tmp_store()
    sender = RecordingSender()
    with Campaign(store, secret=KEY, sender=sender, limits=OPEN) as purger, \
            Campaign(store, secret=KEY, sender=sender, limits=OPEN) as other:
        t = T0 + timedelta(hours=1)
        purger.start_verification(number(1), now=t)  # purges, and so starts its interval
        stale = other.start_verification(number(2), now=t - timedelta(hours=1))  # expired by t

        def sealed() -> bool:
            return sql(purger, "SELECT phone_sealed FROM challenges WHERE id = ?",
                       (stale.id,)).fetchone()[0] is not None

        assert sealed()
        purger.start_verification(example("NL", offset=10), now=t + PURGE_EVERY / 2)
        assert sealed()  # within the interval: no purge
        purger.start_verification(example("NL", offset=11), now=t + 2 * PURGE_EVERY)
        assert not sealed()


def test_a_writer_waiting_for_a_name_past_busy_timeout_gives_a_store_error(pg_cluster):
    url = pg_cluster.new_database()
    impatient = PgStore(url, busy_timeout=0.3)
    try:
        holding, release = threading.Event(), threading.Event()

        def first() -> None:
            with impatient.transaction({"participant|a"}) as db:
                db.execute("SELECT 1").fetchone()
                holding.set()
                release.wait(10)

        thread = threading.Thread(target=first)
        thread.start()
        assert holding.wait(10)
        try:
            for locks in ({"participant|a"}, None):
                with pytest.raises(CampaignStoreError, match="not writable now"), \
                        impatient.transaction(locks) as db:
                    db.execute("SELECT 1").fetchone()
        finally:
            release.set()
            thread.join(10)
        with impatient.transaction({"participant|a"}) as db:  # free again
            assert db.execute("SELECT 1").fetchone() == (1,)
    finally:
        impatient.close()
        pg_cluster.drop_database(url)


def test_on_sqlite_no_read_stays_open_past_its_transaction(tmp_path):
    # A refused start's exception keeps the start's frame, and so whatever it read, alive (a
    # server's error handling holds it for a while). Had a read stayed open, the connection
    # would keep that read's snapshot, and its next write, after another connection wrote,
    # would fail as busy.
    path = tmp_path / "c.db"
    with Campaign(path, secret=KEY, sender=RecordingSender(), limits=Limits(ip_per_hour=3)) as a, \
            Campaign(path, secret=KEY, sender=RecordingSender()) as b:
        for i in range(3):  # the network has sent its reserve_network_sends: the caps' reserve applies
            a.start_verification(number(i), ip="198.51.100.20", now=T0)
        with pytest.raises(Throttled) as refused:  # refused before the caps' answers are looked at
            a.start_verification(number(3), ip="198.51.100.20", now=T0 + S)
        b.start_verification(number(4), ip="203.0.113.50", now=T0 + S)  # another connection writes
        a.start_verification(number(5), ip="192.0.2.10", now=T0 + 2 * S)
        assert refused.value.reason == "ip_per_hour"


def test_starts_at_once_near_the_campaign_cap_send_exactly_the_cap(tmp_store, monkeypatch):
    """Eight workers starting codes at once until the total cap refuses them: far from the cap
    they hold its lock shared (on PostgreSQL), near it alone, and exactly the cap is sent."""
    import breachindex.campaign.verification as verification

    cap = 500  # the reserve (a fifth) ends at 400, and starts hold the cap shared below 400 - slack
    limits = Limits(total_per_day=cap, prefix_per_day=None, prefix_cap_per_day=None)
    modes: list[bool] = []
    real_hold = verification.hold

    def watched_hold(db, *names, shared=False):  # type: ignore[no-untyped-def]
        if any(name.startswith("send:all|") for name in names):
            modes.append(shared)
        real_hold(db, *names, shared=shared)

    monkeypatch.setattr(verification, "hold", watched_hold)
    store = tmp_store()
    workers = [Campaign(store, secret=KEY, sender=RecordingSender(), limits=limits) for _ in range(8)]
    slack = 40  # at most 8 of this test's transactions are open at once: far below 400 - 40 = 360
    for w in workers:
        if w._store.max_writers is not None:
            monkeypatch.setattr(type(w._store), "max_writers", property(lambda self: slack))
    barrier = threading.Barrier(len(workers))

    def start_until_capped(i: int) -> int:
        barrier.wait(10)
        sent = 0
        for k in itertools.count():
            n = i * 1000 + k
            try:  # each start from its own /48, for its own number: only the total cap binds
                workers[i].start_verification(f"+316{10_000_000 + n * 97:08d}", ip=f"2001:db8:{n:x}::1",
                                              now=T0 + n * S // 1000)
                sent += 1
            except Throttled as exc:
                assert exc.reason == "total_per_day", exc
                return sent
        raise AssertionError("unreachable")

    try:
        with ThreadPoolExecutor(len(workers)) as pool:
            sent = list(pool.map(start_until_capped, range(len(workers))))
    finally:
        for w in workers:
            w.close()
    assert sum(sent) == cap
    if workers[0]._store.max_writers is not None:  # PostgreSQL: both ways were taken
        assert True in modes and False in modes
    else:
        assert True not in modes


@pytest.mark.parametrize("checkpointed", [False, True], ids=["checkpoint-due", "append-where"])
def test_a_confirmation_whose_challenge_a_start_replaced_meanwhile_writes_nothing_of_the_number(pg, monkeypatch,
                                                                                                checkpointed):
    # between the confirmation's read of its challenge and its hold of the number (which a
    # start holds from its beginning), a start from the same requester replaces that challenge.
    # With no checkpoint yet, the confirmation's append reads the chain's tail first; after one
    # (another number's confirmation made it), the insert takes the tail itself (append_where)
    from breachindex.campaign import verification

    sender = RecordingSender()
    with Campaign(pg.url, secret=KEY, sender=sender, limits=OPEN) as c, \
            Campaign(pg.url, secret=KEY, sender=sender, limits=OPEN) as other:
        if checkpointed:
            first = c.start_verification(number(2), now=T0)
            c.confirm_verification(first.id, sender.last_code(number(2)), now=T0)
            assert sql(c, "SELECT COUNT(*) FROM audit_checkpoints").fetchone() == (1,)
        appended = sql(c, "SELECT COUNT(*) FROM audit_log").fetchone()[0]
        challenge = c.start_verification(number(1), now=T0)
        code = sender.last_code(number(1))
        real_hold = verification.hold
        replaced = threading.Event()

        def start_then_hold(db, *names, shared=False):  # type: ignore[no-untyped-def]
            if not replaced.is_set() and names and names[0].startswith("participant|"):
                replaced.set()
                thread = threading.Thread(target=other.start_verification, args=(number(1),),
                                          kwargs={"now": T0 + S})
                thread.start()  # another worker's start: it commits before this confirmation goes on
                thread.join(10)
                assert not thread.is_alive()
            real_hold(db, *names, shared=shared)

        monkeypatch.setattr(verification, "hold", start_then_hold)
        with pytest.raises(CodeInvalid):
            c.confirm_verification(challenge.id, code, now=T0 + 2 * S)
        assert replaced.is_set()
        before = (int(checkpointed),)  # the other number's confirmation
        assert sql(c, "SELECT COUNT(*) FROM participants WHERE verified_us IS NOT NULL").fetchone() == before
        assert sql(c, "SELECT COUNT(*) FROM audit_log").fetchone() == (appended,)
        assert sql(c, "SELECT COUNT(*) FROM challenges WHERE used_us IS NOT NULL").fetchone() == before
        assert c.verify_audit_log().consistent
