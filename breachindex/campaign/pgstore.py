"""The campaign database on PostgreSQL: psycopg 3 and a connection pool, the same schema and
the same SQL as the SQLite store (``store.Store``), chosen by a ``postgresql://`` URL.

Transactions keep SQLite's guarantees, so the workflow's code is the same on both:

* a write transaction (``transaction()``) runs at READ COMMITTED and first takes one
  transaction-scoped advisory lock, ``WRITE_LOCK``: writers run one at a time, each seeing
  everything committed before it, exactly as SQLite's ``BEGIN IMMEDIATE``. The audit log's
  hash chain and "one active mandate per participant and controller" rest on that. A writer
  waits for a lock at most ``busy_timeout`` seconds (``lock_timeout``), then fails with
  CampaignStoreError as SQLite's busy timeout does. Reads do not take the lock;
* a *scoped* write transaction (``transaction(locks=names)``: the one-time codes' sends and
  confirmations) holds ``WRITE_LOCK`` shared, so it waits for an exclusive writer and excludes
  one, and then one advisory lock per name (``SCOPE_LOCK_CLASS``, in one sorted order, so two
  never wait on each other in a cycle): scoped transactions of different names run side by
  side. Names held later (``db.hold``) are the participant's, taken after the ones from the
  start, and last of all ``AUDIT_LOCK``, which an append to the audit log holds until its
  commit, so the chain keeps one tail and commits in order;
* a read (``read()``) is one REPEATABLE READ, READ ONLY transaction: one consistent snapshot
  for several statements, as a deferred SQLite transaction under WAL;
* the shared budgets (``pgbudgets``) do not take the writers' lock: each charge locks only
  its own subjects.

Each thread gets its own connection from the pool (``pool_size`` at most; a thread waits up to
``busy_timeout`` for one). SQL is written with ``?`` placeholders, as for SQLite; a
transaction's statements are prepared once per connection and sent in batches, one round trip
per read (``pgbatch``). Python ``bool`` parameters are sent as 0 and 1 (the schema's flags are
integers, as in SQLite). Text columns are ``COLLATE "C"``
(``schema.for_postgresql``): text sorts bytewise, as in SQLite, whatever the database's locale.

The audit log is append-only here too: triggers refuse UPDATE, DELETE and TRUNCATE on
``audit_log`` and ``audit_checkpoints`` whoever runs them, and ``grant_app_role`` gives the
role the server connects as only SELECT and INSERT on them (the schema's owner migrates;
the app role cannot drop the triggers it does not own).

Erasure deletes rows; PostgreSQL keeps a deleted row's old version in its page until VACUUM
removes it (and WAL segments hold it until they are recycled). ``checkpoint_wal`` (called
after an erasure, as SQLite's WAL checkpoint is) runs VACUUM on the tables erasure touches, so
the old versions leave the tables at once rather than at autovacuum's next pass; see
docs/operations.md for the WAL, backups and ``VACUUM FULL``.
"""
from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import CampaignStoreError
from .clock import now_us
from .db import AUDIT_TAIL, Db, Rows
from .pgbatch import BatchedConnection
from .schema import MIGRATIONS, Migration, for_postgresql

__all__ = ["PgStore", "WRITE_LOCK", "MIGRATE_LOCK", "AUDIT_LOCK", "SCOPE_LOCK_CLASS",
           "continue_identities", "grant_app_role", "open_pool", "redacted_url", "scope_key"]

#: the advisory lock every write transaction takes (one writer at a time, as in SQLite)
WRITE_LOCK = 0x62_72_65_61_63_68_77  # "breachw"
#: the advisory lock a migration takes (two processes opening a fresh database migrate it once)
MIGRATE_LOCK = 0x62_72_65_61_63_68_6D  # "breachm"
#: the advisory lock an append to the audit log holds in a scoped transaction
AUDIT_LOCK = 0x62_72_65_61_63_68_61  # "breacha"
#: the first key of a scoped transaction's two-key advisory locks (the second: ``scope_key``)
SCOPE_LOCK_CLASS = 0x62_73_63_70  # "bscp"

#: the tables an erasure deletes from (``checkpoint_wal`` vacuums them)
_ERASED_TABLES = ("participants", "challenges", "code_failures", "identity_checks", "vault_keys", "vault_wraps",
                  "vault_items", "contact_preferences", "notifications", "rate_events")

_IDLE = pq.TransactionStatus.IDLE


def scope_key(name: str) -> int:
    """The second key of the advisory lock a scoped transaction holds for ``name``. Two names
    may share one (2**-32): they then wait for each other, which is safe."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=4).digest(), "big", signed=True)


class _StoreBatch(BatchedConnection):
    """A transaction's batches (``pgbatch``) with the store's locks: in a scoped transaction
    ``hold`` and ``try_hold`` take advisory locks; elsewhere the transaction holds
    ``WRITE_LOCK`` alone, or only reads, and they take nothing."""

    __slots__ = ("_scoped",)

    def __init__(self, conn: psycopg.Connection[Any], scoped: bool) -> None:
        super().__init__(conn)
        self._scoped = scoped

    def hold(self, *names: str, shared: bool = False) -> None:
        """Wait for the locks of ``names``, in this order, and hold them to the end of the
        transaction (the wait is the server's: what follows in the batch runs after it);
        ``shared``: beside other shared holders."""
        if not self._scoped or not names:
            return
        take = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        calls, params = [], []
        for name in names:
            if name == AUDIT_TAIL:
                calls.append(f"{take}(?)")
                params.append(AUDIT_LOCK)
            else:
                calls.append(f"{take}(?, ?)")
                params += (SCOPE_LOCK_CLASS, scope_key(name))
        self.execute("SELECT " + ", ".join(calls), params)

    def try_hold(self, name: str) -> Rows:
        """Take ``name``'s lock if it is free: a row (true,) if it is now held."""
        if not self._scoped:
            return self.execute("SELECT true")
        return self.execute("SELECT pg_try_advisory_xact_lock(?, ?)", (SCOPE_LOCK_CLASS, scope_key(name)))


def redacted_url(url: str) -> str:
    """The URL without its password (for messages, logs and ``repr``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def open_pool(url: str, name: str, size: int, timeout: float, failure: str,
              settings: Mapping[str, str] | None = None, *, psycopg_prepares: bool = True) -> ConnectionPool[Any]:
    """An open pool of autocommit connections to ``url`` (at most ``size``, each named
    ``name`` in ``pg_stat_activity``, each with the session ``settings``);
    CampaignStoreError(``failure`` ...) if none opens within ``timeout`` seconds.
    ``psycopg_prepares=False``: psycopg prepares nothing itself (``pgbatch`` does, and psycopg
    would deallocate every statement of the session after a rollback)."""
    chosen = dict(settings or {})

    def configure(conn: psycopg.Connection[Any]) -> None:
        # set once a connection rather than as a startup option: a pooler (PgBouncer) refuses those
        for setting, value in chosen.items():
            conn.execute("SELECT set_config(%s, %s, false)", (setting, value))
    pool: ConnectionPool[Any] = ConnectionPool(url, min_size=1, max_size=size, open=False, timeout=timeout, name=name,
                                               kwargs={"autocommit": True, "application_name": name,
                                                       "prepare_threshold": 5 if psycopg_prepares else None},
                                               configure=configure if chosen else None)
    try:
        pool.open(wait=True, timeout=timeout)
    except (PoolTimeout, psycopg.Error) as exc:
        pool.close()
        raise _store_error(f"{failure} {redacted_url(url)}", exc) from None
    return pool


def _store_error(what: str, exc: BaseException) -> CampaignStoreError:
    # psycopg's message can quote the statement's parameters in a DETAIL line: only its first line
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return CampaignStoreError(f"{what}: {first}")


class PgStore:
    """The campaign store on PostgreSQL (see the module documentation): the same interface as
    ``store.Store``, ``url`` a libpq URL (``postgresql://user@host/db``, or with
    ``?host=/run/postgresql`` for a Unix socket)."""

    def __init__(self, url: str, *, busy_timeout: float = 10.0, migrations: Sequence[Migration] = MIGRATIONS,
                 pool_size: int = 8) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.url = url
        self._name = redacted_url(url)
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._pool: ConnectionPool[Any] | None = open_pool(
            url, "breachindex", pool_size, busy_timeout, "cannot open the campaign store",
            {"lock_timeout": str(max(1, int(busy_timeout * 1000)))},  # a writer waits at most busy_timeout
            psycopg_prepares=False)
        try:
            self._migrate(migrations)
            with self.connection() as conn:
                (connections,) = conn.execute("SELECT current_setting('max_connections')").fetchone() or ("",)
                self._max_writers = int(connections)
        except psycopg.Error as exc:
            self.close()
            raise _store_error(f"cannot open the campaign store {self._name}", exc) from None
        except BaseException:
            self.close()
            raise

    # ---- connections -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def closed(self) -> bool:
        return self._pool is None

    @property
    def max_writers(self) -> int:
        """The server's ``max_connections``: no more transactions than that are ever open at once."""
        return self._max_writers

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the pool in autocommit mode, for what runs outside a transaction."""
        pool = self._pool
        if pool is None:
            raise CampaignStoreError("the campaign store is closed")
        try:
            # taken and given back by hand, not in ``with pool.connection()``: the connection's
            # own ``__exit__`` would only commit again what its user committed or rolled back,
            # and every start and confirmation would pay for it
            conn = pool.getconn()
        except PoolTimeout as exc:
            raise _store_error("no connection to the campaign store is free", exc) from None
        try:
            yield conn
        finally:
            pool.putconn(conn)  # one left in a transaction is rolled back, a broken one replaced

    @contextmanager
    def _in_transaction(self, begin: bytes, locks: tuple[str, Sequence[int]] | None, refused: str, failed: str,
                        scoped: bool = False) -> Iterator[Db]:
        """A transaction whose statements go out in batches (``pgbatch``): one round trip per
        read (a row, a rowcount) rather than per statement, BEGIN and its locks with the first.
        An error surfaces at the next read or at the commit, and rolls the whole transaction
        back."""
        with self.connection() as conn:
            batch = _StoreBatch(conn, scoped)
            try:
                batch.statement(begin)
                if locks is not None:
                    batch.execute(*locks)
                yield batch
                batch.commit()
            except BaseException as exc:
                _rollback(conn)
                if isinstance(exc, psycopg.errors.LockNotAvailable):
                    raise _store_error(refused, exc) from None
                if isinstance(exc, psycopg.Error):
                    raise _store_error(failed, exc) from None
                raise

    def transaction(self, locks: Collection[str] | None = None) -> Any:
        """A write transaction, committed on success, rolled back on error: exclusive
        (``WRITE_LOCK``), or scoped to ``locks`` (see the module documentation). PostgreSQL's
        errors come out as CampaignStoreError; the caller's exceptions pass through unchanged."""
        if locks is None:
            taken: tuple[str, tuple[int, ...]] = ("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))
        else:
            keys = sorted({scope_key(name) for name in locks})
            # one statement: its select list is evaluated left to right, the shared lock first
            calls = ["pg_advisory_xact_lock_shared(?)"] + ["pg_advisory_xact_lock(?, ?)"] * len(keys)
            taken = ("SELECT " + ", ".join(calls), (WRITE_LOCK, *(v for k in keys for v in (SCOPE_LOCK_CLASS, k))))
        return self._in_transaction(b"BEGIN", taken, "the campaign store is not writable now",
                                    "a campaign store transaction failed", scoped=locks is not None)

    def read(self) -> Any:
        """A read transaction: one consistent snapshot (REPEATABLE READ, READ ONLY)."""
        return self._in_transaction(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", None,
                                    "the campaign store is not readable now", "a campaign store read failed")

    # ---- schema ----------------------------------------------------------------------------
    def _version(self, conn: psycopg.Connection[Any]) -> int:
        if conn.execute("SELECT to_regclass('schema_version')").fetchone() == (None,):
            return 0
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        return int(row[0]) if row is not None else 0

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        """Apply the missing migrations, all in one transaction under ``MIGRATE_LOCK`` (DDL is
        transactional here); a store already current takes no lock and runs no DDL, so the app
        role needs no right to create tables."""
        versions = [m.version for m in migrations]
        if versions != list(range(1, len(migrations) + 1)):
            raise CampaignStoreError("migrations must be numbered 1, 2, 3, ... in order")
        with self.connection() as conn:
            try:
                current = self._version(conn)
                if current == len(migrations):
                    return
                if current < len(migrations):
                    with conn.transaction():
                        conn.execute(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK})")
                        conn.execute("""CREATE TABLE IF NOT EXISTS schema_version (
                            version BIGINT PRIMARY KEY,
                            description TEXT NOT NULL,
                            applied_us BIGINT NOT NULL
                        )""")
                        current = self._version(conn)
                        for migration in migrations[current:]:
                            for statement in migration.statements:
                                sql = for_postgresql(statement)
                                if sql is not None:
                                    conn.execute(sql.encode("utf-8"))
                            conn.execute("INSERT INTO schema_version (version, description, applied_us) "
                                         "VALUES (%s, %s, %s)", (migration.version, migration.description,
                                                                 now_us(None)))
            except psycopg.Error as exc:
                raise _store_error("cannot migrate the campaign store", exc) from None
        if current > len(migrations):
            raise CampaignStoreError(
                f"the campaign store has schema version {current}; this breachindex knows up to "
                f"{len(migrations)}: upgrade breachindex")

    @property
    def schema_version(self) -> int:
        with self.read() as db:
            return int(db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    def bind_setting(self, name: str, value: str) -> str:
        """The stored value of a setting, storing ``value`` first if there is none."""
        with self.transaction() as db:
            db.execute("INSERT INTO campaign_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                       (name, value))
            return str(db.execute("SELECT value FROM campaign_settings WHERE name = ?", (name,)).fetchone()[0])

    def analyze(self) -> None:
        """ANALYZE every table: after a bulk load (``transfer``), so that the statements the
        servers prepare are planned for the tables' real sizes, not for an empty database's
        (autovacuum would analyze them too, within minutes)."""
        with self.connection() as conn:
            conn.execute("ANALYZE")

    def checkpoint_wal(self) -> bool:
        """After an erasure: VACUUM the tables it deletes from, so that the deleted rows' old
        versions leave them now (see the module documentation). False if it could not run."""
        try:
            with self.connection() as conn:
                conn.execute("VACUUM " + ", ".join(_ERASED_TABLES))
        except (psycopg.Error, CampaignStoreError):
            return False
        return True


def _rollback(conn: psycopg.Connection[Any]) -> None:
    if conn.closed or conn.info.transaction_status == _IDLE:
        return
    with contextlib.suppress(psycopg.Error):  # a broken connection: the pool discards it
        conn.execute("ROLLBACK")


def continue_identities(db: Db) -> None:
    """Make every identity column continue after the largest id its table holds (after rows
    were inserted with their ids, as ``transfer`` does)."""
    for table, column in db.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND is_identity = 'YES'").fetchall():
        db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                   f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)").fetchall()


def grant_app_role(store: PgStore, role: str) -> None:
    """Let ``role`` (the role the server connects as) use the campaign store: read and write
    every table, but only read and insert the audit log and its checkpoints. Run by the
    schema's owner after the store is created or migrated."""
    ident = psycopg.sql.Identifier(role)
    audit = ("audit_log", "audit_checkpoints")
    with store.connection() as conn, conn.transaction():
        tables = [str(r[0]) for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()]
        conn.execute(psycopg.sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
            psycopg.sql.Identifier(str(conn.execute("SELECT current_schema()").fetchone()[0])), ident))  # type: ignore[index]
        for table in tables:
            name = psycopg.sql.Identifier(table)
            if table in audit:
                conn.execute(psycopg.sql.SQL("REVOKE ALL ON {} FROM {}").format(name, ident))
                conn.execute(psycopg.sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(name, ident))
            else:
                conn.execute(psycopg.sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(name, ident))
        conn.execute(psycopg.sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
            psycopg.sql.Identifier(str(conn.execute("SELECT current_schema()").fetchone()[0])), ident))  # type: ignore[index]
