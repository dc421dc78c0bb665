"""The campaign database: one SQLite file (WAL, foreign keys, secure delete) and its schema.

Several processes may open the same file at once: writes run in ``BEGIN IMMEDIATE``
transactions (one writer at a time, others wait up to ``busy_timeout``), reads see a
consistent snapshot thanks to WAL.

The schema is versioned: ``schema_version`` holds one row per applied migration and
``MIGRATIONS`` lists them in order. Opening a database applies the missing ones, each in the
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

The SQL is kept portable (``BIGINT``/``TEXT``/``BLOB`` columns, ``ON CONFLICT``, no SQLite-only
functions) so a PostgreSQL store can follow; only ``INTEGER PRIMARY KEY`` (an identity column
there) and the pragmas are SQLite's.
"""
from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import CampaignStoreError
from ..private_files import is_open
from .clock import now_us

__all__ = ["Migration", "MIGRATIONS", "Store", "committed", "sqlite_path"]


@dataclass(frozen=True)
class Migration:
    """One forward step of the schema: its version (1, 2, ...), what it does, its statements;
    ``foreign_keys_off``: run with foreign keys off, checked before commit (a table rebuild)."""

    version: int
    description: str
    statements: tuple[str, ...]
    foreign_keys_off: bool = False


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "participants, one-time codes, rate events, identity checks, settings", (
        # name -> value: the secret's fingerprint, so a store is never used with another secret
        """CREATE TABLE campaign_settings (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        # a participant is a number, known only by its keyed hash
        """CREATE TABLE participants (
            id TEXT PRIMARY KEY,
            created_us BIGINT NOT NULL,
            verified_us BIGINT,
            phone_sealed BLOB,
            failures INTEGER NOT NULL DEFAULT 0,
            wait_until_us BIGINT,
            locked_us BIGINT
        )""",
        # a one-time code: only its keyed hash; the sealed number rides along until it ends
        """CREATE TABLE challenges (
            id TEXT PRIMARY KEY,
            participant TEXT NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
            code_hash BLOB NOT NULL,
            phone_sealed BLOB,
            created_us BIGINT NOT NULL,
            expires_us BIGINT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            used_us BIGINT,
            replaced_us BIGINT
        )""",
        "CREATE INDEX challenges_by_participant ON challenges (participant)",
        "CREATE INDEX challenges_by_expiry ON challenges (expires_us)",
        # one row per counted event and scope; subjects are keyed hashes (or a calling code)
        """CREATE TABLE rate_events (
            scope TEXT NOT NULL,
            subject TEXT NOT NULL,
            at_us BIGINT NOT NULL
        )""",
        "CREATE INDEX rate_events_lookup ON rate_events (scope, subject, at_us)",
        "CREATE INDEX rate_events_by_time ON rate_events (at_us)",
        # the outcome of an ID-document check: never the document itself
        """CREATE TABLE identity_checks (
            id INTEGER PRIMARY KEY,
            participant TEXT NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
            provider TEXT NOT NULL,
            reference TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('approved', 'declined', 'needs_review', 'error')),
            checked_us BIGINT NOT NULL,
            UNIQUE (participant, provider, reference, status)
        )""",
        "CREATE INDEX identity_checks_by_participant ON identity_checks (participant, checked_us)",
    )),
    Migration(2, "audit log and signed checkpoints, mandates, batches, requests and their history", (
        # the hash-chained log of every change of state (see audit.py); append-only
        """CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            at_us BIGINT NOT NULL,
            kind TEXT NOT NULL,
            participant TEXT,
            ref TEXT,
            payload TEXT NOT NULL,
            prev_hash BLOB NOT NULL,
            entry_hash BLOB NOT NULL
        )""",
        "CREATE INDEX audit_log_by_participant ON audit_log (participant)",
        "CREATE INDEX audit_log_by_ref ON audit_log (ref)",
        # signed tree heads over the log (see treehead.py); append-only
        """CREATE TABLE audit_checkpoints (
            id INTEGER PRIMARY KEY,
            tree_size BIGINT NOT NULL,
            root_hash BLOB NOT NULL,
            signed_us BIGINT NOT NULL,
            key_id BLOB NOT NULL,
            signature BLOB NOT NULL
        )""",
        # a guard against mistakes, not against an attacker (who drops it): verification is the proof.
        # (SQLite syntax; a PostgreSQL store revokes UPDATE and DELETE instead.)
        """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
            BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END""",
        """CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
            BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END""",
        # the name the ID check confirmed, when the provider gives one (sealed, see sealing.py)
        "ALTER TABLE identity_checks ADD COLUMN name_sealed BLOB",
        # the exact texts signed, sealed, one row per distinct text
        """CREATE TABLE mandate_texts (
            sha256 TEXT PRIMARY KEY,
            text_sealed BLOB NOT NULL
        )""",
        # a signed mandate and its evidence; never deleted, never reused
        """CREATE TABLE mandates (
            id TEXT PRIMARY KEY,
            participant TEXT NOT NULL REFERENCES participants (id),
            controller TEXT NOT NULL,
            template_version TEXT NOT NULL,
            text_sha256 TEXT NOT NULL REFERENCES mandate_texts (sha256),
            signed_us BIGINT NOT NULL,
            ends_us BIGINT NOT NULL,
            signer_name_sealed BLOB NOT NULL,
            name_source TEXT NOT NULL CHECK (name_source IN ('signed', 'identity_check')),
            ip_sealed BLOB NOT NULL,
            ip_lookup TEXT NOT NULL,
            user_agent_sealed BLOB NOT NULL,
            consents TEXT NOT NULL,
            verified_us BIGINT NOT NULL,
            identity_check INTEGER NOT NULL REFERENCES identity_checks (id),
            evidence_mac TEXT NOT NULL,
            log_seq BIGINT NOT NULL,
            log_hash BLOB NOT NULL,
            revoked_us BIGINT,
            revocation_sealed BLOB
        )""",
        "CREATE INDEX mandates_by_participant ON mandates (participant, controller)",
        "CREATE INDEX mandates_by_controller ON mandates (controller, signed_us)",
        "CREATE INDEX mandates_by_ip ON mandates (ip_lookup)",
        """CREATE TABLE mandate_scopes (
            mandate TEXT NOT NULL REFERENCES mandates (id),
            scope TEXT NOT NULL,
            PRIMARY KEY (mandate, scope)
        )""",
        "CREATE INDEX mandate_scopes_by_scope ON mandate_scopes (scope, mandate)",
        # a collective request to one controller, filed on one date
        """CREATE TABLE batches (
            id TEXT PRIMARY KEY,
            controller TEXT NOT NULL,
            scope TEXT NOT NULL,
            filing_date TEXT NOT NULL,
            created_us BIGINT NOT NULL,
            exported_us BIGINT,
            export_name TEXT,
            tree_size BIGINT
        )""",
        # one participant's request in a batch, and where it stands
        """CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            batch TEXT NOT NULL REFERENCES batches (id),
            participant TEXT NOT NULL REFERENCES participants (id),
            mandate TEXT NOT NULL REFERENCES mandates (id),
            controller TEXT NOT NULL,
            scope TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('draft', 'queued', 'sent', 'extended', 'needs_input', 'fulfilled',
                'partially_fulfilled', 'refused', 'overdue', 'admonished', 'complaint_filed', 'complaint_resolved',
                'closed', 'cancelled')),
            created_us BIGINT NOT NULL,
            updated_us BIGINT NOT NULL,
            received_on TEXT,
            extension_on TEXT,
            notice TEXT CHECK (notice IN ('withdraw_from_filing', 'notify_controller')),
            notice_sent_us BIGINT
        )""",
        "CREATE INDEX requests_by_state ON requests (controller, state)",
        "CREATE INDEX requests_by_mandate ON requests (mandate)",
        "CREATE INDEX requests_by_participant ON requests (participant, controller, scope)",
        "CREATE INDEX requests_by_batch ON requests (batch)",
        # every state change of a request (the note, free text, sealed)
        """CREATE TABLE request_events (
            id INTEGER PRIMARY KEY,
            request TEXT NOT NULL REFERENCES requests (id),
            from_state TEXT,
            to_state TEXT NOT NULL,
            at_us BIGINT NOT NULL,
            on_date TEXT NOT NULL,
            note_sealed BLOB,
            log_seq BIGINT NOT NULL
        )""",
        "CREATE INDEX request_events_by_request ON request_events (request, id)",
        # time spent waiting for information the controller asked for
        """CREATE TABLE request_pauses (
            id INTEGER PRIMARY KEY,
            request TEXT NOT NULL REFERENCES requests (id),
            started_on TEXT NOT NULL,
            ended_on TEXT
        )""",
        "CREATE INDEX request_pauses_by_request ON request_pauses (request, id)",
    )),
    Migration(3, "the encrypted vault: participants' key pairs, their wrapped private keys, stored items", (
        # a participant's vault key pair: only the public key is in clear (see breachindex.vault)
        """CREATE TABLE vault_keys (
            participant TEXT PRIMARY KEY REFERENCES participants (id),
            key_version INTEGER NOT NULL,
            public_key BLOB NOT NULL,
            created_us BIGINT NOT NULL,
            updated_us BIGINT NOT NULL
        )""",
        # the private key wrapped under a key derived from the passphrase, or from the recovery
        # code; the Argon2id parameters beside it, so they can be raised and old wraps still open
        """CREATE TABLE vault_wraps (
            participant TEXT NOT NULL REFERENCES vault_keys (participant) ON DELETE CASCADE,
            slot TEXT NOT NULL CHECK (slot IN ('passphrase', 'recovery')),
            kdf TEXT NOT NULL,
            time_cost INTEGER NOT NULL,
            memory_kib INTEGER NOT NULL,
            parallelism INTEGER NOT NULL,
            salt BLOB NOT NULL,
            nonce BLOB NOT NULL,
            wrapped BLOB NOT NULL,
            created_us BIGINT NOT NULL,
            PRIMARY KEY (participant, slot)
        )""",
        # what a controller returned, encrypted to the participant's public key in a file of the
        # vault folder; the row holds no plaintext (the original name only sealed to that key)
        """CREATE TABLE vault_items (
            id TEXT PRIMARY KEY,
            participant TEXT NOT NULL REFERENCES vault_keys (participant),
            key_version INTEGER NOT NULL,
            controller TEXT NOT NULL,
            request TEXT REFERENCES requests (id),
            partial INTEGER NOT NULL CHECK (partial IN (0, 1)),
            received_us BIGINT NOT NULL,
            size BIGINT NOT NULL,
            stored_size BIGINT NOT NULL,
            sha256 TEXT NOT NULL,
            file_name TEXT NOT NULL UNIQUE,
            name_sealed BLOB,
            log_seq BIGINT NOT NULL
        )""",
        "CREATE INDEX vault_items_by_participant ON vault_items (participant, received_us)",
        "CREATE INDEX vault_items_by_request ON vault_items (request)",
    )),
    Migration(4, "identity checks: every change of an outcome's status is kept (no UNIQUE on the status)", (
        # SQLite's 12-step rebuild: a new table without UNIQUE (participant, provider, reference,
        # status), the rows copied with their ids (mandates.identity_check refers to them), the old
        # table dropped, the new one renamed, its index made again. No trigger or view uses it.
        """CREATE TABLE identity_checks_new (
            id INTEGER PRIMARY KEY,
            participant TEXT NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
            provider TEXT NOT NULL,
            reference TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('approved', 'declined', 'needs_review', 'error')),
            checked_us BIGINT NOT NULL,
            name_sealed BLOB
        )""",
        """INSERT INTO identity_checks_new (id, participant, provider, reference, status, checked_us, name_sealed)
            SELECT id, participant, provider, reference, status, checked_us, name_sealed FROM identity_checks""",
        "DROP TABLE identity_checks",
        "ALTER TABLE identity_checks_new RENAME TO identity_checks",
        "CREATE INDEX identity_checks_by_participant ON identity_checks (participant, checked_us)",
    ), foreign_keys_off=True),
    Migration(5, "requesters of codes and their failures, shared budgets, mandates held for review", (
        # who asked for a challenge (keyed hashes of the requester's host and network, see
        # networks.py): a new code replaces only the same requester's, failures count against it
        "ALTER TABLE challenges ADD COLUMN host TEXT",
        "ALTER TABLE challenges ADD COLUMN network TEXT",
        "CREATE INDEX challenges_by_requester ON challenges (participant, host)",
        # wrong codes per number and requester: a stranger's failures never make the owner wait
        # (participants.failures/wait_until_us/locked_us, per number, are no longer used)
        """CREATE TABLE code_failures (
            participant TEXT NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
            host TEXT NOT NULL,
            failures INTEGER NOT NULL,
            wait_until_us BIGINT,
            locked_us BIGINT,
            updated_us BIGINT NOT NULL,
            PRIMARY KEY (participant, host)
        )""",
        "CREATE INDEX code_failures_by_update ON code_failures (updated_us)",
        # the budgets every worker shares (budgets.py): token buckets and fixed-window quotas per
        # hashed subject, single-use tokens (solved puzzles), refusals by rule, keys' last use.
        # One B-tree each (WITHOUT ROWID, no second index): a charge writes as few pages as it can;
        # what is old is swept in the background, a slice at a time
        """CREATE TABLE budget_buckets (
            subject TEXT PRIMARY KEY,
            tokens DOUBLE PRECISION NOT NULL,
            at_us BIGINT NOT NULL,
            full_us BIGINT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE budget_quotas (
            subject TEXT PRIMARY KEY,
            window_us BIGINT NOT NULL,
            used BIGINT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE budget_spent (
            token TEXT PRIMARY KEY,
            expires_us BIGINT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE budget_refusals (
            reason TEXT PRIMARY KEY,
            refused BIGINT NOT NULL
        )""",
        """CREATE TABLE api_key_usage (
            key_id TEXT PRIMARY KEY,
            last_used_us BIGINT NOT NULL
        )""",
        # a mandate held before any filing (mandates.py): why, the operator's sealed note when
        # cleared, and whether its text was checked against its template (NULL: recorded before
        # this version; Campaign checks those when it opens the store and logs any mismatch)
        "ALTER TABLE mandates ADD COLUMN review TEXT",
        "ALTER TABLE mandates ADD COLUMN review_note_sealed BLOB",
        "ALTER TABLE mandates ADD COLUMN template_checked INTEGER",
    )),
    Migration(6, "deadlines stored, not recomputed: a sent request keeps its statutory due date and calendar", (
        # the last day of the statutory period (one month, three once extended), without pauses
        "ALTER TABLE requests ADD COLUMN statutory_due_on TEXT",
        # calendars.FrozenCalendar as JSON: source, who chose it, holidays version, the days
        "ALTER TABLE requests ADD COLUMN deadline_calendar TEXT",
    )),
    Migration(7, "notifications: how a participant wants to be told, and every message sent or skipped", (
        # the person's choices: an e-mail address (sealed), channels allowed, language
        """CREATE TABLE contact_preferences (
            participant TEXT PRIMARY KEY REFERENCES participants (id) ON DELETE CASCADE,
            email_sealed BLOB,
            sms_allowed INTEGER NOT NULL DEFAULT 1,
            email_allowed INTEGER NOT NULL DEFAULT 1,
            lang TEXT NOT NULL DEFAULT 'nl' CHECK (lang IN ('nl', 'en')),
            updated_us BIGINT NOT NULL
        )""",
        # one row per event a participant is told of (kind + ref: the item, request or breach),
        # so that an event is told once; the outcome per channel is in the audit log
        """CREATE TABLE notifications (
            participant TEXT NOT NULL,
            kind TEXT NOT NULL,
            ref TEXT NOT NULL,
            at_us BIGINT NOT NULL,
            outcome TEXT NOT NULL,
            PRIMARY KEY (participant, kind, ref)
        )""",
    )),
)


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
        raise CampaignStoreError(f"unsupported store URL scheme {parts.scheme!r}: only SQLite (a path or "
                                 "sqlite:///path) is supported for now")
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

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error.

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
                        db.execute(statement)
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
