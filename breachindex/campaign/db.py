"""What the campaign's modules need of a database, whichever it is: ``Db`` (a connection in a
transaction) and ``CampaignDb`` (the store that hands them out).

SQLite's ``sqlite3.Connection`` is a ``Db`` as it is; on PostgreSQL, ``pgstore`` wraps a
psycopg connection so that the same SQL, with ``?`` placeholders, runs unchanged. Rows are
tuples; BLOB/BYTEA values come back as ``bytes``; SQLite and PostgreSQL errors come out of the
stores as ``CampaignStoreError``.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

__all__ = ["Db", "Rows", "CampaignDb"]


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

    def transaction(self) -> AbstractContextManager[Db]: ...

    def read(self) -> AbstractContextManager[Db]: ...

    def close(self) -> None: ...

    def bind_setting(self, name: str, value: str) -> str: ...

    def checkpoint_wal(self) -> bool: ...
