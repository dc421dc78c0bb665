"""What the campaign's modules need of a database, whichever it is: ``Db`` (a connection in a
transaction) and ``CampaignDb`` (the store that hands them out).

SQLite's ``sqlite3.Connection`` is a ``Db`` as it is; on PostgreSQL, ``pgstore`` wraps a
psycopg connection so that the same SQL, with ``?`` placeholders, runs unchanged. Rows are
tuples; BLOB/BYTEA values come back as ``bytes``; SQLite and PostgreSQL errors come out of the
stores as ``CampaignStoreError``.

A write transaction excludes every other writer unless it names the rows it stands for
(``transaction(locks=...)``): on PostgreSQL such a *scoped* transaction runs beside others of
different names, and takes more names as it goes with ``hold``; on SQLite every write
transaction excludes the others anyway, and ``hold`` does nothing.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

__all__ = ["AUDIT_TAIL", "Db", "Rows", "CampaignDb", "ask", "hold", "try_hold"]

#: the name an append to the audit log holds: its hash chain has one tail
AUDIT_TAIL = "audit-tail"


class Rows(Protocol):
    """The result of one statement: its rows, or how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Db(Protocol):
    """A connection inside a transaction of the campaign store."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Rows: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Rows: ...


class CampaignDb(Protocol):
    """The campaign store: SQLite (``store.Store``) or PostgreSQL (``pgstore.PgStore``)."""

    #: what names the store in messages and ``repr``: the file path, or the URL without password
    @property
    def name(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    @property
    def schema_version(self) -> int: ...

    def transaction(self, locks: Collection[str] | None = None) -> AbstractContextManager[Db]:
        """A write transaction; ``locks`` names what it reads and writes (see the module
        documentation), None makes it exclusive."""

    def read(self) -> AbstractContextManager[Db]: ...

    def close(self) -> None: ...

    def bind_setting(self, name: str, value: str) -> str: ...

    def checkpoint_wal(self) -> bool: ...

    @property
    def max_writers(self) -> int | None:
        """The most write transactions that can be open at once (PostgreSQL: its
        ``max_connections``); None where they run one at a time (SQLite)."""


def hold(db: Db, *names: str, shared: bool = False) -> None:
    """Hold ``names``, one after the other, until ``db``'s transaction ends, waiting for a
    transaction that holds one (in a scoped transaction on PostgreSQL; elsewhere the transaction
    is exclusive already). Every transaction that holds two names must take them in one order.
    ``shared``: held beside others that hold them shared, excluding only those that hold
    them alone."""
    method = getattr(db, "hold", None)
    if method is not None and names:
        method(*names, shared=shared)


def try_hold(db: Db, name: str) -> Rows:
    """Hold ``name`` if no other transaction does: one row, whose one value is true if this
    transaction now holds it (read it late: on PostgreSQL the answer comes with the next read)."""
    method = getattr(db, "try_hold", None)
    return _Read([(True,)]) if method is None else method(name)  # type: ignore[no-any-return]


def ask(db: Db, sql: str, parameters: Sequence[Any] = ()) -> Rows:
    """A read whose rows are needed later. On PostgreSQL it is queued and goes out with the
    next read, so several asked in a row cost one round trip; on SQLite it is
    read at once, so that no statement stays open past the transaction (a pending SELECT
    would keep its snapshot, and the connection's next write would fail as busy)."""
    method = getattr(db, "ask", None)
    if method is not None:
        return method(sql, parameters)  # type: ignore[no-any-return]
    return _Read(db.execute(sql, parameters).fetchall())


class _Read:
    """Rows already read (what ``ask`` gives where a read costs no round trip)."""

    __slots__ = ("_rows", "_next")

    def __init__(self, rows: list[Any]) -> None:
        self._rows, self._next = rows, 0

    @property
    def rowcount(self) -> int:
        return -1

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        rest, self._next = self._rows[self._next:], len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())
