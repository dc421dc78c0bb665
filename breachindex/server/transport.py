"""uvicorn's HTTP protocol (httptools), with the writes of one turn of the event loop sent together.

uvicorn writes a response's status line and headers, then its body, as two calls to the
transport, and each is a ``send`` of its own on a connection with ``TCP_NODELAY``: two system
calls, two packets and two wake-ups of the client for an answer of a few hundred bytes. On
loopback under load that second send was a fifth of a worker's time for ``POST /v1/check``.
``CorkedHttpToolsProtocol`` hands uvicorn a transport that keeps what is written until the
event loop's next turn (``call_soon``) and then sends it in one call, so a response leaves in
one send (several, from pipelined requests, too), a few microseconds later. Closing or
aborting the connection, and anything else uvicorn asks of the transport, goes to the real one
(a close sends what is kept first). Once 64 KiB are kept they are sent at once, so a streamed
download still meets the transport's flow control. ``breachindex serve`` uses it;
``CORKED_HTTP`` is its import path for uvicorn's ``http`` setting.
"""
from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CorkedTransport", "CorkedHttpToolsProtocol", "CORKED_HTTP"]

CORKED_HTTP = f"{__name__}:CorkedHttpToolsProtocol"
#: bytes kept at most: more is sent at once (a streamed download keeps the transport's flow control)
FLUSH_AT = 64 * 1024


class CorkedTransport:
    """A transport whose writes wait for the event loop's next turn, then leave in one call."""

    __slots__ = ("_transport", "_loop", "_pending", "_size")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))  # a copy: a caller may reuse a bytearray
        self._size += len(data)
        if self._size >= FLUSH_AT:  # a large body goes now, so the transport's flow control sees it
            self.flush()

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Send what is kept, now (the event loop calls it once a turn in which something was written)."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._size = 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # pause_reading, get_extra_info, is_closing, ...
        return getattr(self._transport, name)


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a ``CorkedTransport``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CorkedTransport(transport, self.loop))  # type: ignore[arg-type]
