"""A transaction on PostgreSQL whose statements travel in batches: ``BatchedConnection``.

The one-time codes' sends and confirmations are short transactions of about a dozen small
statements each, read in two to four places. Sent through psycopg one by one, even in its
pipeline, each statement costs the client a cursor, a conversion, a poll and a send of its own:
more CPU than the server spends running it. Here a statement is only queued; when a result is
needed (a row, a rowcount, the commit), everything queued goes out at once in libpq's pipeline
mode, with one sync, and every statement's result comes back in the same round trip.

* **Prepared, server side.** Each statement is prepared once per connection (a protocol-level
  prepared statement, under a name this module numbers) and then only bound and run: the server
  plans it once, as for psycopg's own prepared statements.
* **Values travel apart from the SQL**, as parameters dumped by psycopg's own adapters
  (``Transformer.dump_sequence``): the same types and formats psycopg sends, and no value is
  ever written into a statement's text. Rows are loaded by psycopg's loaders, as a cursor would.
* **Errors** surface at the next read or at the commit, as in psycopg's pipeline: the server
  skips the rest of the batch and the caller's transaction rolls back. A statement counts as
  prepared only once the server said so; a name whose preparing failed or never went out is
  forgotten, so none is used unprepared.

Statements prepared in a session stay there for the connection's life, one per statement text and
parameter types: the campaign's SQL has a bounded set of texts (a list of placeholders grows only
with a fixed count, never with data). Behind a pooler, use session pooling (as psycopg's own
prepared statements need, see docs/operations.md).
"""
from __future__ import annotations

import select
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer

from ..errors import CampaignStoreError
from .db import Rows

__all__ = ["BatchedConnection", "split_placeholders"]

#: a batch goes out when this many statements are queued, whether or not a result is read
_MAX_QUEUED = 256

_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_FATAL_ERROR = pq.ExecStatus.FATAL_ERROR
_PIPELINE_SYNC = pq.ExecStatus.PIPELINE_SYNC
_SQLSTATE = pq.DiagnosticField.SQLSTATE


@lru_cache(maxsize=4096)
def split_placeholders(sql: str) -> tuple[bytes, ...]:
    """``sql`` cut at its ``?`` placeholders outside quoted literals (n placeholders: n + 1
    pieces, UTF-8); CampaignStoreError for a ``;`` outside quotes (two statements in one)."""
    pieces: list[str] = []
    quoted, start = False, 0
    for i, ch in enumerate(sql):
        if ch == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "?":
            pieces.append(sql[start:i])
            start = i + 1
        elif ch == ";":
            raise CampaignStoreError("a batched statement may not hold a ';' outside quotes")
    pieces.append(sql[start:])
    return tuple(p.encode("utf-8") for p in pieces)


@lru_cache(maxsize=4096)
def _numbered(sql: str) -> tuple[bytes, int]:
    """``sql`` with ``$1``, ``$2``, ... for its placeholders, and how many it has."""
    pieces = split_placeholders(sql)
    return pieces[0] + b"".join(b"$%d" % (i + 1) + piece for i, piece in enumerate(pieces[1:])), len(pieces) - 1


_Key = tuple[str, tuple[int, ...]]
#: the statements each session holds prepared, by statement and parameter types
_sessions: weakref.WeakKeyDictionary[psycopg.Connection[Any], dict[_Key, bytes]] = weakref.WeakKeyDictionary()
_sessions_lock = threading.Lock()
_names = iter(range(1 << 62))  # names are never reused in a process, even after a failed prepare


def _session(conn: psycopg.Connection[Any]) -> dict[_Key, bytes]:
    with _sessions_lock:
        session = _sessions.get(conn)
        if session is None:
            session = _sessions[conn] = {}
        return session


class _Deferred:
    """One queued statement's result: filled in when its batch comes back."""

    __slots__ = ("_batch", "_rows", "_count", "_next", "_ready")

    def __init__(self, batch: BatchedConnection) -> None:
        self._batch = batch
        self._rows: list[Any] = []
        self._count, self._next, self._ready = -1, 0, False

    def _fill(self, count: int, rows: list[Any]) -> None:
        self._count, self._rows, self._ready = count, rows, True

    def _wait(self) -> None:
        if not self._ready:
            self._batch.flush()
            if not self._ready:  # the batch failed before it, or it belongs to a transaction that ended
                raise CampaignStoreError("a statement's result was read after its transaction ended")

    @property
    def rowcount(self) -> int:
        self._wait()
        return self._count

    def fetchone(self) -> Any:
        self._wait()
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        self._wait()
        rest, self._next = self._rows[self._next:], len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class _Total:
    """The result of ``executemany``: its statements' rowcounts added up, no rows."""

    __slots__ = ("_parts",)

    def __init__(self, parts: list[_Deferred]) -> None:
        self._parts = parts

    @property
    def rowcount(self) -> int:
        return sum(part.rowcount for part in self._parts)

    def fetchone(self) -> Any:
        return None

    def fetchall(self) -> list[Any]:
        return []

    def __iter__(self) -> Iterator[Any]:
        return iter(())


class _Prepare:
    """A statement to prepare (its parameter types are its key's): its name is the session's
    once the server has it."""

    __slots__ = ("key", "name", "text")

    def __init__(self, key: _Key, name: bytes, text: bytes) -> None:
        self.key, self.name, self.text = key, name, text


class BatchedConnection:
    """A ``Db`` over a psycopg connection (autocommit, outside a transaction, psycopg's own
    preparing off: after a rollback it deallocates every statement of the session) whose
    statements are queued and sent in batches (see the module documentation). The caller
    queues BEGIN (``statement``) first and ends with ``commit``, or rolls back after an error
    (what was still queued is dropped with this object)."""

    __slots__ = ("_conn", "_pgconn", "_session", "_tx", "_queue", "_preparing")

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn, self._pgconn = conn, conn.pgconn
        self._session = _session(conn)
        self._tx = Transformer(conn)
        # what goes out with the next batch: (name, values, formats, result), a _Prepare, or
        # (statement text, None, None, result) for one without values that is not prepared
        self._queue: list[Any] = []
        self._preparing: dict[_Key, bytes] = {}  # names queued to be prepared, not yet confirmed

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows:
        text, count = _numbered(sql)
        if count != len(parameters):
            raise CampaignStoreError(f"a statement has {count} placeholders but {len(parameters)} values were given")
        tx = self._tx
        values = [int(v) if type(v) is bool else v for v in parameters]  # flags are integers, as in SQLite
        dumped = tx.dump_sequence(values, [PyFormat.AUTO] * len(values)) if values else []
        key: _Key = (sql, tuple(tx.types or ()) if values else ())
        name = self._session.get(key) or self._preparing.get(key)
        if name is None:
            name = b"bi_%d" % next(_names)
            self._preparing[key] = name
            self._queue.append(_Prepare(key, name, text))
        rows = _Deferred(self)
        self._queue.append((name, dumped, tx.formats if values else None, rows))
        if len(self._queue) >= _MAX_QUEUED:
            self.flush()
        return rows

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Rows:
        return _Total([self.execute(sql, p) for p in parameters])  # type: ignore[misc]

    ask = execute  # every read is deferred here: its rows come with the next batch

    def statement(self, sql: bytes) -> Rows:
        """Queue a statement that takes no values and is not prepared (BEGIN, COMMIT)."""
        rows = _Deferred(self)
        self._queue.append((sql, None, None, rows))
        return rows

    def commit(self) -> None:
        self.statement(b"COMMIT")
        self.flush()

    def flush(self) -> None:
        """Send everything queued in one pipeline with one sync, and hand each statement its
        result; the first error the server reported is raised once the batch is read through."""
        queue, self._queue = self._queue, []
        if not queue:
            return
        pg = self._pgconn
        try:
            pg.enter_pipeline_mode()
            for item in queue:
                if type(item) is _Prepare:
                    pg.send_prepare(item.name, item.text, param_types=item.key[1])
                elif item[1] is None:
                    pg.send_query_params(item[0], None)
                else:
                    pg.send_query_prepared(item[0], item[1], param_formats=item[2])
            pg.pipeline_sync()
            self._send()
            error = self._read(queue)
            pg.exit_pipeline_mode()
        except BaseException:
            # a broken connection, or an interrupt with results still coming: nobody can tell
            # where the session stands, so it is closed and the pool opens another
            self._conn.close()
            raise
        if error is not None:
            raise error

    def _read(self, queue: list[Any]) -> psycopg.Error | None:
        error: psycopg.Error | None = None
        tx = self._tx
        for item in queue:
            result = self._result()
            status = result.status
            if status == _FATAL_ERROR and error is None:
                error = self._error(result)
            if type(item) is _Prepare:
                if status == _COMMAND_OK:
                    self._session[item.key] = item.name
                self._preparing.pop(item.key, None)
            elif status == _TUPLES_OK:
                tx.set_pgresult(result)
                item[3]._fill(result.ntuples, tx.load_rows(0, result.ntuples, tuple))
            elif status == _COMMAND_OK:
                count = result.command_tuples
                item[3]._fill(-1 if count is None else count, [])
            if self._result_or_none() is not None:
                raise CampaignStoreError("a batch came back with more results than statements")
        if self._result().status != _PIPELINE_SYNC:
            raise CampaignStoreError("a batch came back without its sync")
        return error

    def _send(self) -> None:
        pg = self._pgconn
        if not pg.flush():
            return
        waiting = select.poll()  # poll, not select: a socket's descriptor may be above FD_SETSIZE
        waiting.register(pg.socket, select.POLLIN | select.POLLOUT)
        while True:  # read meanwhile, so that neither side's buffer fills up
            if any(events & select.POLLIN for _, events in waiting.poll()):
                pg.consume_input()
            if not pg.flush():  # 0: everything sent
                return

    def _result_or_none(self) -> pq.abc.PGresult | None:
        pg = self._pgconn
        if pg.is_busy():
            waiting = select.poll()
            waiting.register(pg.socket, select.POLLIN)
            while True:
                waiting.poll()
                pg.consume_input()
                if not pg.is_busy():
                    break
        return pg.get_result()

    def _result(self) -> pq.abc.PGresult:
        result = self._result_or_none()
        if result is None:
            raise CampaignStoreError("a batch came back with fewer results than statements")
        return result

    def _error(self, result: pq.abc.PGresult) -> psycopg.Error:
        """The psycopg exception of the SQLSTATE the server reported (its first line only)."""
        state = (result.error_field(_SQLSTATE) or b"").decode("ascii", "replace")
        try:
            kind: type[psycopg.Error] = psycopg.errors.lookup(state)
        except KeyError:
            kind = psycopg.DatabaseError
        message = result.error_message.decode(self._conn.info.encoding, "replace").strip()
        return kind(message.splitlines()[0] if message else state)
