"""Moving a campaign from one store to another (SQLite to PostgreSQL, or back): every row of
every table, in one transaction on the destination, checked on both sides.

``transfer(source, destination, secret=...)``:

1. opens the source as a ``Campaign`` (the secret must be its own) and verifies its audit
   log: a source whose hash chain or stored checkpoints do not hold is refused;
2. opens the destination (created and migrated to the same schema) and refuses it unless it
   is empty: nothing is ever merged;
3. copies the tables in an order that satisfies their foreign keys, from one snapshot of the
   source, in one transaction of the destination (all or nothing), with their ids; on
   PostgreSQL the identity columns then continue after the largest id copied;
4. verifies the destination's audit log and compares it with the source's: the same number of
   entries, the same head (tree size and root), and the same number of rows in every table.

The vault's item files stay where they are: both stores name them the same way. Stop the
servers (or keep them from writing) for the move: writes to the source after its snapshot
are not in the copy, and the comparison in step 4 would refuse the result.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import CampaignStoreError
from ..keying.secret import KeyLike
from .campaign import Campaign
from .db import CampaignDb, Db
from .merkle import root_of
from .sms import RecordingSender
from .store import Store, is_postgresql_url, open_store

__all__ = ["TABLES", "Transfer", "transfer"]

#: every table of the schema but ``schema_version``, parents before children
TABLES = ("campaign_settings", "participants", "challenges", "code_failures", "rate_events", "rate_spans",
          "identity_checks", "audit_log", "audit_checkpoints", "mandate_texts", "mandates",
          "mandate_scopes", "batches", "requests", "request_events", "request_pauses", "vault_keys", "vault_wraps",
          "vault_items", "budget_buckets", "budget_quotas", "budget_spent", "budget_refusals", "api_key_usage",
          "api_keys", "contact_preferences", "notifications")

_CHUNK = 1000  # rows a statement inserts at a time


@dataclass(frozen=True)
class Transfer:
    """What ``transfer`` moved: rows per table, and the audit log's size and root on both sides."""

    rows: dict[str, int]
    audit_entries: int
    audit_root: str

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _tables_of(store: CampaignDb, db: Db) -> set[str]:
    if isinstance(store, Store):
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    else:
        rows = db.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {str(r[0]) for r in rows.fetchall()} - {"schema_version"}


def _columns(store: CampaignDb, db: Db, table: str) -> list[str]:
    """The table's columns, in their order."""
    if isinstance(store, Store):
        return [str(r[1]) for r in db.execute(f"PRAGMA table_info({table})").fetchall()]
    return [str(r[0]) for r in db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ? ORDER BY ordinal_position", (table,)).fetchall()]


def _rows(db: Db, table: str, columns: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    cur = db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {columns[0]}")
    chunk: list[tuple[Any, ...]] = []
    for row in cur:
        chunk.append(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row))
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _counts(store: CampaignDb) -> dict[str, int]:
    with store.read() as db:
        return {t: int(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TABLES}


def _head(campaign: Campaign) -> tuple[int, str]:
    report = campaign.verify_audit_log()
    if not report.consistent:
        raise CampaignStoreError(f"the audit log does not hold: {report.problem}")
    with campaign.context.store.read() as db:
        leaves = [bytes(r[0]) for r in db.execute("SELECT entry_hash FROM audit_log ORDER BY seq").fetchall()]
    return report.entries, root_of(leaves).hex() if leaves else ""


def transfer(source: str | os.PathLike[str], destination: str | os.PathLike[str], *, secret: KeyLike) -> Transfer:
    """Copy the campaign at ``source`` into the empty store at ``destination`` (see the module
    documentation); CampaignStoreError if either side does not verify or the destination is
    not empty. Returns what was moved."""
    if not is_postgresql_url(str(destination)) and os.path.exists(os.fspath(destination)):
        raise CampaignStoreError("the destination store exists already: give a new file")
    with Campaign(source, secret=secret, sender=RecordingSender()) as origin:
        entries, root = _head(origin)
        counts = _counts(origin.context.store)
        target = open_store(destination)
        try:
            with target.read() as db:
                if any(db.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() for t in TABLES):
                    raise CampaignStoreError("the destination store is not empty: nothing is ever merged")
            with origin.context.store.read() as src, target.transaction() as dst:
                missing = _tables_of(origin.context.store, src) ^ set(TABLES)
                if missing:
                    raise CampaignStoreError(f"tables this transfer does not know: {', '.join(sorted(missing))}")
                for table in TABLES:
                    columns = _columns(origin.context.store, src, table)
                    insert = (f"INSERT INTO {table} ({', '.join(columns)}) "
                              f"VALUES ({', '.join('?' * len(columns))})")
                    for chunk in _rows(src, table, columns):
                        dst.executemany(insert, chunk)
                if not isinstance(target, Store):
                    from .pgstore import continue_identities

                    continue_identities(dst)
            if not isinstance(target, Store):
                target.analyze()  # type: ignore[attr-defined]
        finally:
            target.close()
    with Campaign(destination, secret=secret, sender=RecordingSender()) as moved:
        if _head(moved) != (entries, root):
            raise CampaignStoreError("the destination's audit log differs from the source's")
        copied = _counts(moved.context.store)
    if copied != counts:
        differ = sorted(t for t in TABLES if copied[t] != counts[t])
        raise CampaignStoreError(f"the destination's rows differ from the source's in {', '.join(differ)}")
    return Transfer(copied, entries, root)
