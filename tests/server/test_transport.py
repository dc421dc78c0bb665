"""``CorkedTransport`` and ``CorkedHttpToolsProtocol``: the writes of one turn of the event loop
reach the real transport as one write, after the turn; a large write goes at once (flow control
sees it); close, abort and write_eof keep their meaning; the rest is the real transport's. And
end to end, under uvicorn with ``http=CORKED_HTTP``: pipelined requests, a response in one
send, a streamed megabyte byte-exact."""
from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httptools")
import uvicorn

from breachindex.server import transport as transport_module
from breachindex.server.transport import CORKED_HTTP, FLUSH_AT, CorkedHttpToolsProtocol, CorkedTransport


class FakeTransport:
    """Records what is asked of it, as a real ``asyncio.Transport`` would receive it."""

    def __init__(self, buffered: int = 0) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.closing = False
        self.buffered = buffered

    @property
    def writes(self) -> list[bytes]:
        return [call[1] for call in self.calls if call[0] == "write"]

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close",))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort",))
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append(("write_eof",))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("192.0.2.1", 4321)}.get(name, default)

    def pause_reading(self) -> None:
        self.calls.append(("pause_reading",))


class CountingLoop:
    """The running loop, with its ``call_soon`` calls counted."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.scheduled = 0

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> Any:
        self.scheduled += 1
        return self.loop.call_soon(callback, *args)


def run(test: Callable[[FakeTransport, CorkedTransport, CountingLoop], Any], buffered: int = 0) -> None:
    """Run the coroutine function ``test`` on a fresh event loop with a fake and its corked transport."""

    async def main() -> None:
        fake = FakeTransport(buffered)
        loop = CountingLoop(asyncio.get_running_loop())
        await test(fake, CorkedTransport(fake, loop), loop)  # type: ignore[arg-type]

    asyncio.run(main())


async def turn() -> None:
    """Let the event loop run what was scheduled before now (``call_soon`` is FIFO)."""
    await asyncio.sleep(0)


# ---- one write a turn ------------------------------------------------------------------------

def test_the_writes_of_one_turn_leave_as_one_write_after_the_turn() -> None:
    async def test(fake: FakeTransport, corked: CorkedTransport, loop: CountingLoop) -> None:
        corked.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
        corked.write(memoryview(b"hello"))
        corked.writelines([b" and", b" more"])
        assert fake.calls == []  # nothing goes out while the turn lasts
        assert loop.scheduled == 1  # one flush for the whole turn
        await turn()
        assert fake.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello and more"]
        await turn()
        assert len(fake.writes) == 1  # nothing twice

    run(test)


def test_writes_in_different_turns_are_separate_writes() -> None:
    async def test(fake: FakeTransport, corked: CorkedTransport, loop: CountingLoop) -> None:
        corked.write(b"first")
        await turn()
        corked.write(b"second")
        assert fake.writes == [b"first"]
        await turn()
        assert fake.writes == [b"first", b"second"]
        assert loop.scheduled == 2

    run(test)


def test_a_bytearray_changed_after_the_write_is_sent_as_it_was() -> None:
    async def test(fake: FakeTransport, corked: CorkedTransport, loop: CountingLoop) -> None:
        buffer = bytearray(b"abc")
        corked.write(buffer)  # alone in its turn: the one-chunk path sends it without a join
        buffer[:] = b"XYZ"
        await turn()
        buffer[:] = b"def"
        corked.write(buffer)
        buffer[:] = b"123"
        corked.write(buffer)
        buffer[:] = b"!!!"
        await turn()
        assert fake.writes == [b"abc", b"def123"]

    run(test)


def test_an_empty_write_is_ignored_and_schedules_nothing() -> None:
    async def test(fake: FakeTransport, corked: CorkedTransport, loop: CountingLoop) -> None:
        corked.write(b"")
        corked.write(bytearray())
        corked.writelines([b"", memoryview(b"")])
        assert loop.scheduled == 0
        assert corked.get_write_buffer_size() == 0
        await turn()
        corked.flush()
        assert fake.calls == []

    run(test)


# ---- large writes and flow control ---------------------------------------------------------------

def test_flush_at_or_more_bytes_goes_at_once() -> None:
    async def test(fake: FakeTransport, corked: CorkedTransport, loop: CountingLoop) -> None:
        corked.write(b"h" * 100)
        assert fake.writes == []
        chunk = b"x" * (FLUSH_AT - 100)  # together exactly FLUSH_AT
        corked.write(chunk)
        assert fake.writes == [b"h" * 100 + chunk]  # synchronously: the real transport's buffer sees it
        assert corked.get_write_buffer_size() == 0
        big = b"y" * (FLUSH_AT + 1)
        corked.write(big)  # alone, over the limit
        assert fake.writes[-1] == big and len(fake.writes) == 2
        corked.write(b"z" * (FLUSH_AT - 1))  # just under: kept
        assert len(fake.writes) == 2
        await turn()
        assert fake.writes[-1] == b"z" * (FLUSH_AT - 1) and len(fake.writes) == 3
        await turn()  # the flushes scheduled for the turns that sent at once find nothing
        assert len(fake.writes) == 3

    run(test)


def test_the_write_buffer_size_counts_what_is_kept_and_the_real_transports_buffer() -> None:
    async def test(fake: FakeTransport, corked: CorkedTransport, loop: CountingLoop) -> None:
        assert corked.get_write_buffer_size() == 1000
        corked.write(b"a" * 10)
        corked.write(bytearray(b"b" * 5))
        assert corked.get_write_buffer_size() == 1015
        fake.buffered = 2000
        assert corked.get_write_buffer_size() == 2015
        await turn()
        assert corked.get_write_buffer_size() == 2000

    run(test, buffered=1000)


# ---- close, abort, write_eof ---------------------------------------------------------------------

def test_close_sends_what_is_kept_then_closes() -> None:
    async def test(fake: FakeTransport, corked: CorkedTransport, loop: CountingLoop) -> None:
        corked.write(b"last ")
        corked.write(b"words")
        corked.close()
        assert fake.calls == [("write", b"last words"), ("close",)]
        await turn()
        assert fake.calls == [("write", b"last words"), ("close",)]  # the scheduled flush sends nothing again

    run(test)


def test_abort_drops_what_is_kept() -> None:
    async def test(fake: FakeTransport, corked: CorkedTransport, loop: CountingLoop) -> None:
        corked.write(b"never sent")
        corked.abort()
        assert fake.calls == [("abort",)]
        assert corked.get_write_buffer_size() == 0
        await turn()
        assert fake.calls == [("abort",)]

    run(test)


def test_write_eof_sends_what_is_kept_first() -> None:
    async def test(fake: FakeTransport, corked: CorkedTransport, loop: CountingLoop) -> None:
        corked.write(b"the end")
        corked.write_eof()
        assert fake.calls == [("write", b"the end"), ("write_eof",)]
        await turn()
        assert fake.writes == [b"the end"]

    run(test)


def test_a_flush_onto_a_closing_transport_writes_nothing() -> None:
    async def test(fake: FakeTransport, corked: CorkedTransport, loop: CountingLoop) -> None:
        corked.write(b"too late")
        fake.closing = True  # the peer went away during the turn
        await turn()
        assert fake.writes == []
        assert corked.get_write_buffer_size() == 0  # dropped, not kept for ever
        fake.closing = False
        corked.flush()
        assert fake.writes == []

    run(test)


def test_what_the_corked_transport_does_not_define_is_the_real_ones() -> None:
    async def test(fake: FakeTransport, corked: CorkedTransport, loop: CountingLoop) -> None:
        assert corked.get_extra_info("peername") == ("192.0.2.1", 4321)
        assert corked.get_extra_info("sslcontext") is None
        assert corked.is_closing() is False
        corked.pause_reading()
        assert fake.calls == [("pause_reading",)]
        fake.closing = True
        assert corked.is_closing() is True
        with pytest.raises(AttributeError):
            corked.no_such_method  # noqa: B018

    run(test)


def test_the_protocol_hands_uvicorn_a_corked_transport() -> None:
    assert CORKED_HTTP == "breachindex.server.transport:CorkedHttpToolsProtocol"
    assert uvicorn.importer.import_from_string(CORKED_HTTP) is CorkedHttpToolsProtocol


# ---- end to end, under uvicorn -----------------------------------------------------------------------

MEBIBYTE = 1 << 20
CHUNK = 64 * 1024
STREAMED = bytes(i * 7 % 251 for i in range(MEBIBYTE))  # not periodic in the chunk size


async def tiny_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    if scope["type"] != "http":
        return
    while True:  # read the (empty) body
        message = await receive()
        if not message.get("more_body", False):
            break
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream"),
                                (b"content-length", str(len(STREAMED)).encode())]})
        for start in range(0, len(STREAMED), CHUNK):
            await send({"type": "http.response.body", "body": STREAMED[start:start + CHUNK], "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = f"hello from {scope['path']}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode()),
                            (b"x-path", scope["path"].encode())]})
    await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def corked_server() -> Iterator[int]:
    """uvicorn with ``http=CORKED_HTTP`` on a free loopback port, in a thread; yields the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(tiny_app, host="127.0.0.1", port=port, http=CORKED_HTTP, lifespan="off",
                            log_config=None, access_log=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-corked-uvicorn",
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    try:
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert not thread.is_alive()


@pytest.fixture
def real_writes(monkeypatch: pytest.MonkeyPatch) -> list[list[bytes]]:
    """Per connection, the writes that reached the real (socket) transport under the corked one."""
    connections: list[list[bytes]] = []
    corked = transport_module.CorkedTransport

    class Spy:
        def __init__(self, real: asyncio.Transport) -> None:
            self.real, self.writes = real, []
            connections.append(self.writes)

        def write(self, data: bytes) -> None:
            self.writes.append(bytes(data))
            self.real.write(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    monkeypatch.setattr(transport_module, "CorkedTransport",
                        lambda real, loop: corked(Spy(real), loop))  # type: ignore[arg-type]
    return connections


def connect(port: int) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def read_responses(client: socket.socket, count: int) -> list[tuple[bytes, dict[bytes, bytes], bytes]]:
    """``count`` responses with a Content-Length: (status line, headers, body)."""
    data, out = b"", []
    deadline = time.monotonic() + 10
    while len(out) < count:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            status, *lines = head.split(b"\r\n")
            headers = {name.strip().lower(): value.strip() for name, _, value in (x.partition(b":") for x in lines)}
            length = int(headers[b"content-length"])
            if len(rest) >= length:
                out.append((status, headers, rest[:length]))
                data = rest[length:]
                continue
        assert time.monotonic() < deadline, "the responses did not arrive"
        chunk = client.recv(1 << 20)
        assert chunk, f"the server closed the connection after {len(out)} response(s)"
        data += chunk
    assert data == b""
    return out


def test_pipelined_requests_both_get_their_whole_answer(real_writes: list[list[bytes]]) -> None:
    with corked_server() as port, connect(port) as client:
        client.sendall(b"GET /one HTTP/1.1\r\nHost: test\r\n\r\nGET /two HTTP/1.1\r\nHost: test\r\n\r\n")
        answers = read_responses(client, 2)
    assert [status for status, _, _ in answers] == [b"HTTP/1.1 200 OK"] * 2
    assert [headers[b"x-path"] for _, headers, _ in answers] == [b"/one", b"/two"]
    assert [body for _, _, body in answers] == [b"hello from /one", b"hello from /two"]
    assert b"".join(real_writes[0]).count(b"HTTP/1.1 200 OK") == 2


def test_a_response_leaves_in_one_send(real_writes: list[list[bytes]]) -> None:
    with corked_server() as port, connect(port) as client:
        client.sendall(b"GET /single HTTP/1.1\r\nHost: test\r\n\r\n")
        time.sleep(0.2)  # the whole answer is there by now, whatever the number of sends
        first = client.recv(1 << 16)
        client.sendall(b"GET /again HTTP/1.1\r\nHost: test\r\n\r\n")
        (status, headers, body), = read_responses(client, 1)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nx-path: /single\r\n" in first
    assert first.endswith(b"\r\n\r\nhello from /single")  # status line, headers and body in the first recv
    assert (status, headers[b"x-path"], body) == (b"HTTP/1.1 200 OK", b"/again", b"hello from /again")
    # the recv above would hold both parts even if they had left in two sends; what the socket was
    # given shows they did not: each answer (headers, then body: two ASGI messages) in one write
    (writes,) = real_writes
    assert len(writes) == 2, writes
    assert writes[0] == first and writes[1].endswith(b"\r\n\r\nhello from /again")


def test_a_streamed_mebibyte_arrives_whole_and_byte_exact(real_writes: list[list[bytes]]) -> None:
    with corked_server() as port, connect(port) as client:
        client.sendall(b"GET /stream HTTP/1.1\r\nHost: test\r\n\r\n")
        (status, headers, body), = read_responses(client, 1)
    assert status == b"HTTP/1.1 200 OK"
    assert int(headers[b"content-length"]) == MEBIBYTE
    assert body == STREAMED
    writes = real_writes[0]
    assert b"".join(writes).endswith(STREAMED)
    # the chunks went as they came (each reached FLUSH_AT): not one megabyte kept and sent at the end
    assert len(writes) >= MEBIBYTE // CHUNK
    assert max(len(w) for w in writes) < 2 * CHUNK
