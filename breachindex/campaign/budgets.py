"""Budgets every worker shares: token buckets, daily quotas and single-use tokens, in the
campaign store.

A server runs several worker processes (and, with a shared database, several hosts); a limit
kept in each worker's memory lets N workers allow N times the rate. So the limits of the
public endpoints live where every worker already looks: the campaign's database file, through
a connection of their own (``BudgetStore``).

One call, ``charge``, is one short write transaction that checks and takes everything a
request costs at once, all or nothing:

* token buckets (``Bucket``: ``burst`` tokens, refilled at ``rate`` a second), one per
  subject: a network at each level, a number, the global budget of unauthenticated checks,
  an API key's per-second budget;
* fixed-window quotas (``Quota``: ``limit`` events per UTC day, say): an API key's daily quota;
* a single-use token (a solved puzzle's nonce): refused if it was spent before;
* the last-used time of an API key.

If any bucket or quota is short, nothing is taken and the answer names the worst one with the
seconds to wait. Subjects are stored only as keyed hashes (BLAKE2b-128 under a subkey of the
campaign secret): the table holds no address, number or key id in clear.

Speed. The transaction is a handful of indexed reads and upserts, about 30 us. Two settings
make it so, both safe for the campaign's own data in the same file:

* the budgets' connection commits with ``synchronous = OFF`` and never checkpoints itself
  (``wal_autocheckpoint = 0``): a commit only appends to the WAL. Every campaign commit (its
  connections keep ``synchronous = FULL``) fsyncs the WAL, and with it every budget frame
  before it, so a power cut can only tear budget frames after the last campaign commit; SQLite
  drops a torn WAL tail on recovery. The cost is a second of spent tokens given back;
* a thread of each process checkpoints the WAL once a second through a connection of its
  own (``synchronous = NORMAL``: the WAL is synced before and the file after), instead of a
  checkpoint with two fsyncs every few hundred budget commits. The same thread writes the
  refusals counted in memory, and sweeps a slice of each table for what no longer limits
  anything (full buckets, past windows, expired tokens);
* the tables are ``WITHOUT ROWID`` with no second index: one B-tree each, so a bucket taken
  dirties one page.

Its busy timeout is zero: a worker that finds the write lock taken retries after a few tens
of microseconds itself instead of SQLite's millisecond sleeps, so a contended budget costs
microseconds, not milliseconds.
"""
from __future__ import annotations

import contextlib
import hashlib
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ..errors import CampaignStoreError
from .db import Db
from .store import committed, is_postgresql_url

__all__ = ["Bucket", "Quota", "Charge", "Outcome", "BudgetStore", "read_last_used", "take", "subject_hash"]

T = TypeVar("T")


def _retry(step: Callable[[], T], what: str) -> T:
    """``step``, retried with short randomized sleeps (20 us doubling to 2 ms) while SQLite
    answers busy or locked, up to ``_LOCK_DEADLINE`` seconds (see the module documentation)."""
    deadline = time.monotonic() + _LOCK_DEADLINE
    pause = 20e-6
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise CampaignStoreError(f"the budgets are not {what} now: {exc}") from None
            if time.monotonic() > deadline:
                raise CampaignStoreError("the budgets are busy: another writer held the lock too long") from None
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 2e-3)
        except sqlite3.Error as exc:
            raise CampaignStoreError(f"the budgets are not {what} now: {exc}") from None


def _read(step: Callable[[], T]) -> T:
    return _retry(step, "readable")


_DAY_US = 86_400_000_000
_CHECKPOINT_EVERY = 1.0  # seconds between the checkpoints of the WAL (see the module documentation)
_SWEEP_ROWS = 2000  # rows of each table looked at by one sweep, once a second
_WAL_LIMIT = 64 << 20  # bytes the WAL file is cut back to when it starts over
_LOCK_DEADLINE = 5.0  # seconds a charge waits for the write lock before giving up


def subject_hash(key: bytes, name: str, value: str) -> str:
    """The stored form of a subject: a keyed hash (BLAKE2b-128) of the rule's name and the value."""
    data = name.encode("utf-8") + b"\x00" + value.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, key=key, digest_size=16).hexdigest()


@dataclass(frozen=True)
class Bucket:
    """A token bucket rule: ``burst`` tokens at most, ``rate`` tokens a second. ``name``
    keeps rules apart in the table and names the limit in a refusal."""

    name: str
    rate: float
    burst: float

    def __post_init__(self) -> None:
        if not self.rate > 0 or not self.burst >= 1:
            raise ValueError(f"bucket {self.name}: needs rate > 0 and burst >= 1")


@dataclass(frozen=True)
class Quota:
    """At most ``limit`` events per fixed window of ``window_us`` microseconds (aligned to the
    epoch, so a day is a UTC day)."""

    name: str
    limit: int
    window_us: int = _DAY_US

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_us < 1_000_000:
            raise ValueError(f"quota {self.name}: needs limit >= 1 and a window of at least a second")


@dataclass
class Charge:
    """What one request costs: ``buckets`` and ``quotas`` as (rule, subject) pairs, a
    single-use ``token`` with its expiry, and an API key whose last-used time to record.

    ``units``: how many tokens of each bucket and events of each quota to take, all or none
    (a worker leasing several of an API key's calls at once: ``server.leases``). A charge of
    more than one unit that does not fit is not counted as a refusal: its caller then charges
    one unit, and that one is counted if refused."""

    buckets: list[tuple[Bucket, str]] = field(default_factory=list)
    quotas: list[tuple[Quota, str]] = field(default_factory=list)
    token: tuple[str, int] | None = None
    touch_key: str | None = None
    units: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.units, bool) or not isinstance(self.units, int) or self.units < 1:
            raise ValueError("a charge takes at least one unit")


@dataclass(frozen=True)
class Outcome:
    """The answer of ``charge``. ``allowed``: everything was taken. Otherwise ``reason`` names
    the rule that refused (``token_spent`` for a token used before) and ``retry_after`` the
    seconds until it would allow (None for a spent token). ``remaining`` and ``reset_after``
    give, per quota name, what is left and the seconds until the window turns over; ``left``
    per bucket name the tokens left (after this request's, when it was allowed)."""

    allowed: bool
    reason: str | None = None
    retry_after: float | None = None
    remaining: dict[str, int] = field(default_factory=dict)
    reset_after: dict[str, float] = field(default_factory=dict)
    left: dict[str, float] = field(default_factory=dict)


class BudgetStore:
    """The shared budgets of one campaign store (see the module documentation).

    ``path``: the campaign's SQLite file (already created and migrated by its ``Store``);
    ``subject_key``: 32 bytes to hash subjects with. Safe for several threads (one connection,
    one lock) and several processes (SQLite's write lock).
    """

    def __init__(self, path: str | Path, subject_key: bytes) -> None:
        if len(subject_key) < 16:
            raise ValueError("the subject key needs at least 16 bytes")
        self._key = bytes(subject_key)
        self._lock = threading.Lock()
        try:  # opened with SQLite's own waiting (another worker may be writing); charges wait themselves
            conn = sqlite3.connect(str(path), timeout=_LOCK_DEADLINE, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous = OFF")  # see the module documentation
            conn.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT}")
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute("PRAGMA busy_timeout = 0")
        except sqlite3.Error as exc:
            raise CampaignStoreError(f"cannot open the budgets of the campaign store: {exc}") from None
        self._conn: sqlite3.Connection | None = conn
        self._refused: dict[str, int] = {}  # refusals by rule not written yet (see charge)
        self._sweep_from: dict[str, str] = {}  # table -> the key the next sweep starts after
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_every_second, args=(str(path),),
                                              name="budget-checkpoints", daemon=True)
        self._checkpointer.start()

    def _checkpoint_every_second(self, path: str) -> None:
        """Move the WAL into the database file once a second (a passive checkpoint: it never
        waits for a writer), so the WAL stays small without a checkpoint in any commit."""
        try:
            conn = sqlite3.connect(path, timeout=_LOCK_DEADLINE, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return
        try:
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT}")
            while not self._stop.wait(_CHECKPOINT_EVERY):
                with contextlib.suppress(sqlite3.Error):  # busy now: the next second will do
                    self._write_refusals(conn)
                    self._sweep(conn, int(time.time() * 1_000_000))
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            with contextlib.suppress(sqlite3.Error):
                self._write_refusals(conn)
        finally:
            conn.close()

    def _write_refusals(self, conn: sqlite3.Connection) -> None:
        """Write the refusals counted in memory through ``conn`` (the checkpointing thread's)."""
        with self._lock:
            pending, self._refused = self._refused, {}
        if not pending:
            return
        try:
            with conn:  # a transaction of its own
                conn.executemany("INSERT INTO budget_refusals (reason, refused) VALUES (?, ?) ON CONFLICT (reason) "
                                 "DO UPDATE SET refused = budget_refusals.refused + excluded.refused",
                                 sorted(pending.items()))
        except sqlite3.Error:
            with self._lock:  # not written: counted again with the next ones
                for reason, count in pending.items():
                    self._refused[reason] = self._refused.get(reason, 0) + count
            raise

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer.is_alive() and self._checkpointer is not threading.current_thread():
            self._checkpointer.join(2 * _CHECKPOINT_EVERY)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def subject(self, name: str, value: str) -> str:
        """The stored form of a subject: a keyed hash of the rule's name and the value."""
        return subject_hash(self._key, name, value)

    # ---- the transaction ------------------------------------------------------------------
    def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, retried while another writer holds the lock (see ``_retry``)."""
        _retry(lambda: conn.execute("BEGIN IMMEDIATE"), "writable")

    def charge(self, charge: Charge, now_us: int) -> Outcome:
        """Take everything ``charge`` costs at ``now_us``, or nothing (see ``Outcome``).

        A read-only look comes first: a refusal (what an attack mostly gets) takes no write
        lock and writes nothing (refusals are counted in memory and written once a second).
        Only a charge that looks allowed takes the write lock, and is checked again under it."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise CampaignStoreError("the campaign store is closed")
            _read(lambda: conn.execute("BEGIN"))
            try:
                looked = self._charge(conn, charge, now_us, write=False)
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            if not looked.allowed:
                if charge.units == 1:  # a lease that does not fit is no refusal (see Charge)
                    self._refused[str(looked.reason)] = self._refused.get(str(looked.reason), 0) + 1
                return looked
            self._begin(conn)
            with committed(conn, "a budget transaction failed"):
                outcome = self._charge(conn, charge, now_us, write=True)
                if not outcome.allowed and charge.units == 1:  # another worker took the last token in between
                    self._refused[str(outcome.reason)] = self._refused.get(str(outcome.reason), 0) + 1
                self._flush_refusals(conn)
        return outcome

    def _flush_refusals(self, conn: sqlite3.Connection) -> None:
        """Add the refusals counted in memory to the table, in the caller's transaction (the
        caller holds ``_lock``)."""
        if self._refused:
            conn.executemany("INSERT INTO budget_refusals (reason, refused) VALUES (?, ?) ON CONFLICT (reason) "
                             "DO UPDATE SET refused = budget_refusals.refused + excluded.refused",
                             sorted(self._refused.items()))
            self._refused.clear()

    def _charge(self, conn: sqlite3.Connection, charge: Charge, now_us: int, *, write: bool) -> Outcome:
        return take(conn, self.subject, charge, now_us, write=write)

    def _sweep(self, conn: sqlite3.Connection, now_us: int) -> None:
        """Forget a slice of what no longer limits anything (full buckets, past windows,
        expired tokens): the next ``_SWEEP_ROWS`` rows of each table in key order, so that no
        sweep holds the write lock for long however large the tables grow under an attack."""
        for table, key, stale in (("budget_buckets", "subject", "full_us <= ?"),
                                  ("budget_quotas", "subject", f"window_us + {_DAY_US} <= ?"),
                                  ("budget_spent", "token", "expires_us <= ?")):
            start = self._sweep_from.get(table, "")
            rows = conn.execute(f"SELECT {key}, {stale.replace(' <= ?', '')} FROM {table} WHERE {key} > ? "
                                f"ORDER BY {key} LIMIT {_SWEEP_ROWS}", (start,)).fetchall()
            gone = [(row[0],) for row in rows if int(row[1]) <= now_us]
            if gone:
                with conn:
                    conn.executemany(f"DELETE FROM {table} WHERE {key} = ? AND {stale}",
                                     [(k, now_us) for (k,) in gone])
            self._sweep_from[table] = str(rows[-1][0]) if len(rows) == _SWEEP_ROWS else ""

    # ---- reading --------------------------------------------------------------------------
    def level(self, rule: Bucket, value: str, now_us: int) -> float:
        """The tokens a bucket holds at ``now_us`` (``rule.burst`` when it was never used)."""
        subject = self.subject(rule.name, value)
        with self._lock:
            conn = self._conn
            if conn is None:
                raise CampaignStoreError("the campaign store is closed")
            row = _read(lambda: conn.execute("SELECT tokens, at_us FROM budget_buckets WHERE subject = ?",
                                             (subject,)).fetchone())
        if row is None:
            return float(rule.burst)
        return min(float(rule.burst), float(row[0]) + max(0, now_us - int(row[1])) / 1e6 * rule.rate)

    def refusals(self) -> dict[str, int]:
        """How many requests each rule refused, over every worker, since the store was created."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise CampaignStoreError("the campaign store is closed")
            rows = _read(lambda: conn.execute("SELECT reason, refused FROM budget_refusals").fetchall())
            counts = {str(reason): int(count) for reason, count in rows}
            for reason, count in self._refused.items():  # this process's, not written yet
                counts[reason] = counts.get(reason, 0) + count
        return counts

    def last_used(self, key_ids: Sequence[str]) -> dict[str, int]:
        """When each of ``key_ids`` was last used (epoch microseconds); absent: never."""
        if not key_ids:
            return {}
        with self._lock:
            conn = self._conn
            if conn is None:
                raise CampaignStoreError("the campaign store is closed")
            marks = ", ".join("?" * len(key_ids))
            rows = _read(lambda: conn.execute(f"SELECT key_id, last_used_us FROM api_key_usage WHERE key_id IN "
                                              f"({marks})", tuple(key_ids)).fetchall())
        return {str(k): int(v) for k, v in rows}


def take(conn: Db, subject_of: Callable[[str, str], str], charge: Charge, now_us: int, *, write: bool) -> Outcome:
    """What ``charge`` gets at ``now_us``; with ``write``, take it (in the caller's transaction).
    ``subject_of(rule name, value)``: the stored form of a subject. SQLite's charges run it; on
    PostgreSQL the store's function ``breachindex_charge`` (schema migrations 9 and 11) runs the same
    steps, held to the same outcomes by a property test."""
    if charge.token is not None:
        token, _ = charge.token
        if conn.execute("SELECT 1 FROM budget_spent WHERE token = ?", (token,)).fetchone() is not None:
            return Outcome(False, "token_spent", None)
    units = float(charge.units)
    worst: tuple[float, str] | None = None
    levels: dict[str, float] = {}
    bucket_rows: list[tuple[str, float, int]] = []
    for rule, value in charge.buckets:
        subject = subject_of(rule.name, value)
        row = conn.execute("SELECT tokens, at_us FROM budget_buckets WHERE subject = ?", (subject,)).fetchone()
        tokens = float(rule.burst)
        if row is not None:
            elapsed = max(0, now_us - int(row[1])) / 1e6
            tokens = min(float(rule.burst), float(row[0]) + elapsed * rule.rate)
        if tokens < units:
            wait = (units - tokens) / rule.rate  # more than a full bucket never fits: waits a refill past it
            if worst is None or wait > worst[0]:
                worst = (wait, rule.name)
        left = tokens - units
        levels[rule.name] = tokens
        full_us = now_us + int(max(0.0, rule.burst - left) / rule.rate * 1e6)
        bucket_rows.append((subject, left, full_us))
    remaining: dict[str, int] = {}
    reset_after: dict[str, float] = {}
    quota_rows: list[tuple[str, int, int]] = []
    for quota, value in charge.quotas:
        subject = subject_of(quota.name, value)
        window = now_us - now_us % quota.window_us
        row = conn.execute("SELECT window_us, used FROM budget_quotas WHERE subject = ?", (subject,)).fetchone()
        used = int(row[1]) if row is not None and int(row[0]) == window else 0
        reset = (window + quota.window_us - now_us) / 1e6
        reset_after[quota.name] = reset
        if used + charge.units > quota.limit:
            remaining[quota.name] = max(0, quota.limit - used)
            if worst is None or reset > worst[0]:
                worst = (reset, quota.name)
        else:
            remaining[quota.name] = quota.limit - used - charge.units
        quota_rows.append((subject, window, used + charge.units))
    if worst is not None:  # nothing is taken: every bucket keeps its level
        return Outcome(False, worst[1], worst[0], remaining, reset_after, levels)
    allowed = Outcome(True, None, None, remaining, reset_after,
                      {name: level - units for name, level in levels.items()})
    if not write:
        return allowed
    conn.executemany(
        "INSERT INTO budget_buckets (subject, tokens, at_us, full_us) VALUES (?, ?, ?, ?) ON CONFLICT (subject) "
        "DO UPDATE SET tokens = excluded.tokens, at_us = excluded.at_us, full_us = excluded.full_us",
        [(subject, left, now_us, full_us) for subject, left, full_us in bucket_rows])
    conn.executemany(
        "INSERT INTO budget_quotas (subject, window_us, used) VALUES (?, ?, ?) ON CONFLICT (subject) "
        "DO UPDATE SET window_us = excluded.window_us, used = excluded.used", quota_rows)
    if charge.token is not None:
        conn.execute("INSERT INTO budget_spent (token, expires_us) VALUES (?, ?)", charge.token)
    if charge.touch_key is not None:
        conn.execute("INSERT INTO api_key_usage (key_id, last_used_us) VALUES (?, ?) ON CONFLICT (key_id) "
                     "DO UPDATE SET last_used_us = excluded.last_used_us", (charge.touch_key, now_us))
    return allowed


def read_last_used(path: str | Path, key_ids: Sequence[str]) -> dict[str, int]:
    """When each API key was last used (epoch microseconds), read from a campaign store (a
    SQLite path, or a PostgreSQL URL) without its secret (key ids are not secrets; nothing
    else is read)."""
    if is_postgresql_url(str(path)):
        import psycopg  # optional: breachindex[postgresql]

        try:
            with psycopg.connect(str(path), autocommit=True) as pg:
                rows = pg.execute("SELECT key_id, last_used_us FROM api_key_usage WHERE key_id = ANY(%s)",
                                  (list(key_ids),)).fetchall()
        except psycopg.Error as exc:
            raise CampaignStoreError(f"cannot read API key usage: {str(exc).splitlines()[0]}") from None
        return {str(k): int(v) for k, v in rows}
    try:
        conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise CampaignStoreError(f"cannot open the campaign store: {exc}") from None
    try:
        marks = ", ".join("?" * len(key_ids))
        rows = conn.execute(f"SELECT key_id, last_used_us FROM api_key_usage WHERE key_id IN ({marks})",
                            tuple(key_ids)).fetchall() if key_ids else []
    except sqlite3.Error as exc:
        raise CampaignStoreError(f"the campaign store has no API key usage to read: {exc}") from None
    finally:
        conn.close()
    return {str(k): int(v) for k, v in rows}
