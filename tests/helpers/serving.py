"""A real ``breachindex serve`` in a subprocess on a free loopback port, for the tests and the
benchmarks that need the server as a deployment runs it: started, waited for until a route
answers 200, and stopped with SIGTERM (its process group killed if it does not stop). Needs only
httpx, not the server's own modules."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port free on ``host`` now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A running server: its base URL, process and log; ``exit_code`` once stopped."""

    base: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    exit_code: int | None = None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start(args: Sequence[str], log_path: Path, *, env: Mapping[str, str] | None = None,
          host: str = HOST, port: int | None = None, cwd: str | os.PathLike[str] | None = None) -> Served:
    """``python -m breachindex.server serve ARGS --host HOST --port PORT``, its output appended
    to ``log_path``. ``python -m`` imports from ``cwd`` first (this process's folder by default)."""
    port = free_port(host) if port is None else port
    cmd = [sys.executable, "-m", "breachindex.server", "serve", *args, "--host", host, "--port", str(port)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(os.environ if env is None else env), cwd=cwd)
    return Served(f"http://{host}:{port}", proc, log_path)


def wait_ready(served: Served, *, route: str = "/readyz", timeout: float = 60.0) -> None:
    """Until ``route`` answers 200; RuntimeError with the log if the server exits or takes longer."""
    deadline = time.monotonic() + timeout
    while True:
        if served.proc.poll() is not None:
            raise RuntimeError("the server exited before it was ready:\n" + served.log())
        try:
            if httpx.get(served.base + route, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server was not ready within {timeout:.0f} s:\n" + served.log())
        time.sleep(0.1)


def stop(served: Served) -> int:
    """SIGTERM, then SIGKILL to the process group after 20 s; the exit code (also kept)."""
    proc = served.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    served.exit_code = proc.returncode
    return int(proc.returncode)


@contextmanager
def serving(args: Sequence[str], log_path: Path, *, env: Mapping[str, str] | None = None,
            route: str = "/readyz", timeout: float = 60.0) -> Iterator[Served]:
    """A server started and ready; stopped when the block ends (see ``Served.exit_code``)."""
    served = start(args, log_path, env=env)
    try:
        wait_ready(served, route=route, timeout=timeout)
        yield served
    finally:
        stop(served)
