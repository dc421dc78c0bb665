"""The campaign database: one SQLite file (WAL, foreign keys, secure delete) and its schema.

Several processes may open the same file at once: writes run in ``BEGIN IMMEDIATE``
transactions (one writer at a time, others wait up to ``busy_timeout``), reads see a
consistent snapshot thanks to WAL.

The schema is versioned: ``schema_version`` holds one row per applied migration and
``schema.MIGRATIONS`` lists them in order. Opening a database applies the missing ones, each in the
same ``BEGIN IMMEDIATE`` transaction as its version row, so two processes opening a fresh file
at once migrate it exactly once. A database whose version is newer than this code knows is
refused (``CampaignStoreError``), never downgraded. To change the schema, append a
``Migration`` (never edit a released one).

A migration that rebuilds a table other tables refer to (SQLite cannot drop a constraint in
place) follows SQLite's 12-step procedure (https://www.sqlite.org/lang_altertable.html#otheralter):
it sets ``foreign_keys_off``, so foreign keys are switched off around its transaction (the
pragma has no effect inside one), and ``PRAGMA foreign_key_check`` must find nothing broken
before its commit, else it is rolled back.

The files are private: a new database file is created mode 0600 (``os.open`` with ``O_EXCL``,
then ``fchmod``, whatever the umask; the umask itself is never changed, other threads rely on
it), and SQLite gives its ``-wal``, ``-shm`` and ``-journal`` files the database file's mode. A
database file, or an existing ``-wal``, ``-shm`` or ``-journal`` beside it, that the group or
others may read, write or execute is refused (``CampaignStoreError``: ``chmod 600`` it), as key
files are: the store holds the vault's wrapped keys, which a local reader could attack offline.

The SQL is kept portable (see ``schema``): the same statements run on PostgreSQL through
``pgstore.PgStore``, which ``open_store`` picks for a ``postgresql://`` URL.
"""
from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import CampaignStoreError
from ..private_files import is_open
from .audit import audit_entry_hash
from .clock import now_us
from .db import CampaignDb
from .schema import MIGRATIONS, Migration, for_sqlite

__all__ = ["Migration", "MIGRATIONS", "Store", "committed", "is_postgresql_url", "open_store", "sqlite_path"]


@contextmanager
def committed(conn: sqlite3.Connection, failure: str) -> Iterator[None]:
    """Commit the open transaction when the block ends; on any error roll it back, and raise
    SQLite's own errors as CampaignStoreError(``failure``: ...). The caller's exceptions pass
    through unchanged."""
    try:
        yield
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise CampaignStoreError(f"{failure}: {exc}") from None
        raise


def sqlite_path(path_or_url: str | os.PathLike[str]) -> str:
    """The file path of a plain path or a ``sqlite:///path`` URL; other schemes are refused."""
    if isinstance(path_or_url, os.PathLike):
        return os.fspath(path_or_url)
    if not isinstance(path_or_url, str):
        raise TypeError("the campaign store must be a path or a sqlite:/// URL")
    if "://" not in path_or_url:
        return path_or_url
    parts = urlsplit(path_or_url)
    if parts.scheme != "sqlite":
        raise CampaignStoreError(f"unsupported store URL scheme {parts.scheme!r}: a path, sqlite:///path "
                                 "or postgresql://...")
    if parts.netloc not in ("", "localhost") or not parts.path:
        raise CampaignStoreError("a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path")
    # sqlite:///rel.db -> path '/rel.db' (relative), sqlite:////abs.db -> '//abs.db' (absolute)
    path = unquote(parts.path)[1:]
    if path == ":memory:":
        raise CampaignStoreError("an in-memory store cannot be shared: give a file path")
    return path


def _switch_to_wal(conn: sqlite3.Connection, busy_timeout: float) -> str:
    """``PRAGMA journal_mode = WAL``, retried: on a fresh file that another process is setting up
    at the same moment, SQLite can answer "database is locked" at once, without waiting."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


#: the files SQLite keeps beside the database; each gets the database file's mode when created
_SIDE_FILES = ("-wal", "-shm", "-journal")


def _create_private(path: str) -> None:
    """Create the database file, empty and mode 0600, unless it exists (then it is checked)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise CampaignStoreError(f"cannot create the campaign store: {exc.strerror}") from None
    try:
        if os.name == "posix":
            os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask took away
    finally:
        os.close(fd)


def _refuse_open_files(path: str) -> None:
    """CampaignStoreError if the database file, or a -wal, -shm or -journal beside it, has any
    permission for the group or others (as key files are refused, ``secret.Key.load``)."""
    for name in (path, *(path + suffix for suffix in _SIDE_FILES)):
        try:
            mode = os.stat(name).st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise CampaignStoreError(f"cannot check the campaign store's file {name!r}: {exc.strerror}") from None
        if is_open(mode):
            raise CampaignStoreError(
                f"the campaign store's file {name!r} is open to other users (mode {stat.S_IMODE(mode):o}); "
                f"make it private first: chmod 600 {name}")


class Store:
    """A connection to the campaign database, migrated to the latest schema on open.

    ``transaction()`` runs a ``BEGIN IMMEDIATE`` write transaction; ``read()`` a deferred one
    (a consistent snapshot). One connection per Store, guarded by a lock so threads may share it.
    """

    def __init__(self, path_or_url: str | os.PathLike[str], *, busy_timeout: float = 10.0,
                 migrations: Sequence[Migration] = MIGRATIONS) -> None:
        path = sqlite_path(path_or_url)
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise CampaignStoreError("the folder of the campaign store does not exist")
        _create_private(path)
        _refuse_open_files(path)
        self._lock = threading.RLock()
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise CampaignStoreError(f"cannot open the campaign store: {exc}") from None
        try:
            conn = self._conn
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            mode = _switch_to_wal(conn, busy_timeout)
            if str(mode).lower() != "wal":
                raise CampaignStoreError(f"the campaign store cannot use WAL (journal mode {mode})")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA secure_delete = ON")
            conn.create_function("audit_entry_hash", 3, audit_entry_hash, deterministic=True)
            self._migrate(migrations)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise CampaignStoreError(f"not a usable campaign store: {exc}") from None
        except BaseException:
            self.close()
            raise

    # ---- connection ------------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise CampaignStoreError("the campaign store is closed")
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def closed(self) -> bool:
        return self._conn is None

    @property
    def max_writers(self) -> None:
        """None: SQLite's write transactions run one at a time (``BEGIN IMMEDIATE``)."""
        return None

    @property
    def name(self) -> str:
        return str(self.path)

    @contextmanager
    def transaction(self, locks: Collection[str] | None = None) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error.
        It excludes every other writer, so ``locks`` (see ``db``) changes nothing here.

        SQLite's own errors (a lock held past ``busy_timeout``, a full disk) come out as
        CampaignStoreError; the caller's exceptions pass through unchanged.
        """
        with self._lock:
            conn = self.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise CampaignStoreError(f"the campaign store is not writable now: {exc}") from None
            with committed(conn, "a campaign store transaction failed"):
                yield conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for several statements."""
        with self._lock:
            conn = self.conn
            try:
                conn.execute("BEGIN")
            except sqlite3.Error as exc:
                raise CampaignStoreError(f"the campaign store is not readable now: {exc}") from None
            try:
                yield conn
            except sqlite3.Error as exc:
                raise CampaignStoreError(f"a campaign store read failed: {exc}") from None
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

    # ---- schema ----------------------------------------------------------------------------
    def _migrate(self, migrations: Sequence[Migration]) -> None:
        versions = [m.version for m in migrations]
        if versions != list(range(1, len(migrations) + 1)):
            raise CampaignStoreError("migrations must be numbered 1, 2, 3, ... in order")
        with self.transaction() as conn:
            conn.execute("""CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER PRIMARY KEY,
                description TEXT NOT NULL,
                applied_us BIGINT NOT NULL
            )""")
            current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            if current > len(migrations):
                raise CampaignStoreError(
                    f"the campaign store has schema version {current}; this breachindex knows up to "
                    f"{len(migrations)}: upgrade breachindex")
        for migration in migrations[current:]:
            self._apply(migration)

    def _apply(self, migration: Migration) -> None:
        """One migration and its version row in one transaction, unless another process applied
        it meanwhile; with ``foreign_keys_off``, foreign keys are off around the transaction and
        ``PRAGMA foreign_key_check`` must find nothing before the commit."""
        with self._lock:
            conn = self.conn
            if migration.foreign_keys_off:
                conn.execute("PRAGMA foreign_keys = OFF")
            try:
                with self.transaction() as db:
                    current = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
                    if current >= migration.version:
                        return
                    for statement in migration.statements:
                        sql = for_sqlite(statement)
                        if sql is not None:
                            db.execute(sql)
                    if migration.foreign_keys_off:
                        broken = db.execute("PRAGMA foreign_key_check").fetchone()
                        if broken is not None:
                            raise CampaignStoreError(f"migration {migration.version} would break a foreign key "
                                                     f"of the table {broken[0]}: rolled back")
                    db.execute("INSERT INTO schema_version (version, description, applied_us) VALUES (?, ?, ?)",
                               (migration.version, migration.description, now_us(None)))
            finally:
                if migration.foreign_keys_off:
                    conn.execute("PRAGMA foreign_keys = ON")

    def checkpoint_wal(self) -> bool:
        """Fold the write-ahead log into the database and truncate it (so that what a change
        overwrote leaves the WAL now); False if a reader kept it busy."""
        with self._lock:
            try:
                row = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error:
                return False
        return row is not None and int(row[0]) == 0

    @property
    def schema_version(self) -> int:
        with self.read() as conn:
            return int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    def bind_setting(self, name: str, value: str) -> str:
        """The stored value of a setting, storing ``value`` first if there is none."""
        with self.transaction() as conn:
            conn.execute("INSERT INTO campaign_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                         (name, value))
            return str(conn.execute("SELECT value FROM campaign_settings WHERE name = ?", (name,)).fetchone()[0])


def is_postgresql_url(path_or_url: object) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return isinstance(path_or_url, str) and path_or_url.split("://", 1)[0].lower() in ("postgresql", "postgres") \
        and "://" in path_or_url


def open_store(path_or_url: str | os.PathLike[str], *, busy_timeout: float = 10.0, **kw: Any) -> CampaignDb:
    """The campaign store a path or URL names: ``Store`` (SQLite) for a path or ``sqlite:///``,
    ``pgstore.PgStore`` for ``postgresql://`` (needs ``pip install 'breachindex[postgresql]'``).
    ``kw`` goes to the store (``pool_size`` for PostgreSQL)."""
    if is_postgresql_url(path_or_url):
        try:
            from .pgstore import PgStore  # psycopg is optional
        except ImportError as exc:
            raise CampaignStoreError(f"a postgresql:// campaign store needs {exc.name or 'psycopg'}: "
                                     "pip install 'breachindex[postgresql]'") from None
        return PgStore(str(path_or_url), busy_timeout=busy_timeout, **kw)
    return Store(path_or_url, busy_timeout=busy_timeout, **kw)
