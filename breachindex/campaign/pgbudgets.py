"""The shared budgets (``budgets``) in a PostgreSQL campaign store: every worker of every host
charges the same rows, so N servers enforce one limit.

A charge is one statement, ``SELECT * FROM breachindex_charge(...)``: the store's function
(schema migrations 9 and 11) that runs ``budgets.take`` statement for statement, in the statement's own
transaction. It first locks the charge's own subjects (transaction-scoped advisory locks on their
keyed hashes, taken in one sorted order, so two charges never wait on each other in a cycle):
charges of different subjects run side by side, charges of one subject one after another, and a
subject with no row yet is locked as firmly as one with a row. Those locks are held only while the
server runs the function, never across a round trip to the client: an API key's charges, all on
one subject, follow each other at the server's pace. A refusal writes nothing. On SQLite the
process runs ``budgets.take`` itself; a property test holds the two to the same outcomes, float
for float.

Its commits use ``synchronous_commit = off`` (the budgets' analogue of SQLite's ``synchronous
= OFF``, set on each of the pool's connections): a crash of the database server can give back the
last fraction of a second of spent tokens, never corrupt anything. Refusals are counted in memory
and written once a second by a thread that also sweeps a slice of what no longer limits anything.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import CampaignStoreError
from .budgets import _DAY_US, Bucket, Charge, Outcome, subject_hash
from .pgstore import open_pool, scope_key

__all__ = ["PgBudgetStore", "BUDGET_LOCK_CLASS"]

#: the first key of the budgets' two-key advisory locks (the second: ``pgstore.scope_key`` of a subject)
BUDGET_LOCK_CLASS = 0x62756467  # "budg"
#: a charge: budgets.take as a function of the store (schema migrations 9 and 11), in one round trip
_CHARGE = ("SELECT * FROM breachindex_charge(%s, %s, %s::int[], %s::text[], %s::text[], %s::float8[], %s::float8[], "
           "%s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::text, %s::bigint, %s::text, %s::int)")
_FLUSH_EVERY = 1.0  # seconds between writes of the refusals counted in memory
_SWEEP_ROWS = 2000


class PgBudgetStore:
    """The shared budgets of a PostgreSQL campaign store (the interface of ``BudgetStore``)."""

    def __init__(self, url: str, subject_key: bytes, *, pool_size: int = 4, timeout: float = 5.0) -> None:
        if len(subject_key) < 16:
            raise ValueError("the subject key needs at least 16 bytes")
        self._key = bytes(subject_key)
        self._lock = threading.Lock()
        self._refused: dict[str, int] = {}
        self._pool: ConnectionPool[Any] | None = open_pool(url, "breachindex-budgets", pool_size, timeout,
                                                           "cannot open the budgets of the campaign store",
                                                           {"synchronous_commit": "off"})
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._every_second, name="budget-refusals", daemon=True)
        self._flusher.start()

    def subject(self, name: str, value: str) -> str:
        return subject_hash(self._key, name, value)

    def _pool_or_raise(self) -> ConnectionPool[Any]:
        pool = self._pool
        if pool is None:
            raise CampaignStoreError("the campaign store is closed")
        return pool

    # ---- the transaction ------------------------------------------------------------------
    def charge(self, charge: Charge, now_us: int) -> Outcome:
        """Take everything ``charge`` costs at ``now_us``, or nothing (see ``budgets.Outcome``)."""
        buckets = [(rule, self.subject(rule.name, value)) for rule, value in charge.buckets]
        quotas = [(quota, self.subject(quota.name, value)) for quota, value in charge.quotas]
        token, expires = charge.token if charge.token is not None else (None, None)
        subjects = [s for _, s in buckets] + [s for _, s in quotas] + ([] if token is None else [token])
        keys = sorted({scope_key(s) for s in subjects})
        try:
            with self._pool_or_raise().connection() as conn:
                try:  # one statement, its own transaction (see the module documentation)
                    row = conn.execute(_CHARGE, (
                        now_us, BUDGET_LOCK_CLASS, keys,
                        [s for _, s in buckets], [r.name for r, _ in buckets], [float(r.rate) for r, _ in buckets],
                        [float(r.burst) for r, _ in buckets],
                        [s for _, s in quotas], [q.name for q, _ in quotas], [q.limit for q, _ in quotas],
                        [q.window_us for q, _ in quotas], token, expires, charge.touch_key, charge.units)).fetchone()
                except psycopg.Error as exc:
                    raise CampaignStoreError(f"a budget transaction failed: {str(exc).splitlines()[0]}") from None
        except PoolTimeout:
            raise CampaignStoreError("the budgets are busy: no connection to the campaign store is free") from None
        allowed, reason, retry_after, levels, remaining, reset_after = row
        if reason == "token_spent":
            outcome = Outcome(False, "token_spent", None)
        else:
            # dicts by rule name, filled in the charge's order as budgets.take fills them
            names = [r.name for r, _ in buckets]
            taken = float(charge.units) if allowed else 0.0
            left = {n: float(v) - taken for n, v in zip(names, levels, strict=True)}
            outcome = Outcome(bool(allowed), reason, retry_after,
                              {q.name: int(v) for (q, _), v in zip(quotas, remaining, strict=True)},
                              {q.name: float(v) for (q, _), v in zip(quotas, reset_after, strict=True)}, left)
        if not outcome.allowed and charge.units == 1:  # a refused charge wrote nothing; a lease is no refusal
            self._count(str(outcome.reason))
        return outcome

    def _count(self, reason: str) -> None:
        with self._lock:
            self._refused[reason] = self._refused.get(reason, 0) + 1

    # ---- the thread -----------------------------------------------------------------------
    def _every_second(self) -> None:
        while not self._stop.wait(_FLUSH_EVERY):
            try:
                self._write_refusals()
                self._sweep(int(time.time() * 1_000_000))
            except (psycopg.Error, PoolTimeout, CampaignStoreError):
                continue  # the next second will do

    def _write_refusals(self) -> None:
        with self._lock:
            pending, self._refused = self._refused, {}
        if not pending:
            return
        try:
            with self._pool_or_raise().connection() as conn, conn.transaction():
                conn.cursor().executemany(
                    "INSERT INTO budget_refusals (reason, refused) VALUES (%s, %s) ON CONFLICT (reason) "
                    "DO UPDATE SET refused = budget_refusals.refused + excluded.refused", sorted(pending.items()))
        except BaseException:
            with self._lock:  # not written: counted again with the next ones
                for reason, count in pending.items():
                    self._refused[reason] = self._refused.get(reason, 0) + count
            raise

    def _sweep(self, now_us: int) -> None:
        """Forget a slice of full buckets, past windows and expired tokens."""
        with self._pool_or_raise().connection() as conn:
            for table, key, stale in (("budget_buckets", "subject", "full_us <= %s"),
                                      ("budget_quotas", "subject", f"window_us + {_DAY_US} <= %s"),
                                      ("budget_spent", "token", "expires_us <= %s")):
                conn.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {stale} "
                             f"LIMIT {_SWEEP_ROWS} FOR UPDATE SKIP LOCKED)", (now_us,))

    def close(self) -> None:
        self._stop.set()
        if self._flusher.is_alive() and self._flusher is not threading.current_thread():
            self._flusher.join(2 * _FLUSH_EVERY)
        try:
            if self._pool is not None:
                self._write_refusals()
        except (psycopg.Error, PoolTimeout, CampaignStoreError):
            pass
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    # ---- reading --------------------------------------------------------------------------
    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            with self._pool_or_raise().connection() as conn:
                return conn.execute(sql, params).fetchall()
        except (psycopg.Error, PoolTimeout) as exc:
            raise CampaignStoreError(f"the budgets are not readable now: {str(exc).splitlines()[0]}") from None

    def level(self, rule: Bucket, value: str, now_us: int) -> float:
        """The tokens a bucket holds at ``now_us`` (``rule.burst`` when it was never used)."""
        rows = self._rows("SELECT tokens, at_us FROM budget_buckets WHERE subject = %s",
                          (self.subject(rule.name, value),))
        if not rows:
            return float(rule.burst)
        tokens, at_us = rows[0]
        return min(float(rule.burst), float(tokens) + max(0, now_us - int(at_us)) / 1e6 * rule.rate)

    def refusals(self) -> dict[str, int]:
        """How many requests each rule refused, over every worker of every host."""
        counts = {str(r): int(n) for r, n in self._rows("SELECT reason, refused FROM budget_refusals", ())}
        with self._lock:
            for reason, count in self._refused.items():
                counts[reason] = counts.get(reason, 0) + count
        return counts

    def last_used(self, key_ids: Sequence[str]) -> dict[str, int]:
        """When each of ``key_ids`` was last used (epoch microseconds); absent: never."""
        if not key_ids:
            return {}
        rows = self._rows("SELECT key_id, last_used_us FROM api_key_usage WHERE key_id = ANY(%s)", (list(key_ids),))
        return {str(k): int(v) for k, v in rows}
