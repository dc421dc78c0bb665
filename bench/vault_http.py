"""A controller's answer through the vault over HTTP, in and out, and the server's memory meanwhile.

    python bench/vault_http.py [--size-mib 2048] [--dir /tmp] [--json]

Starts ``breachindex serve`` (one worker, loopback, the default Argon2id cost) on a sandbox
(``server.testing.make_sandbox``), verifies a person through the page's routes (the code read
from the console sender's line), sets up their vault, then:

* ``upload``: ``PUT /v1/admin/vault/items`` with ``--size-mib`` MiB streamed from a generator
  (chunked transfer, never held whole), encrypted by the server as it arrives;
* ``download``: ``POST /v1/vault/items/{id}/open``, streamed, decrypted by the server, hashed
  by the client and compared with the SHA-256 of what was sent.

The server's resident memory is read from ``/proc/PID/status`` (VmHWM: its peak) after a
warm-up open of a small item (so the Argon2id unwrap's 64 MiB is in the baseline), after the
upload and after the download: constant memory means the peak does not grow with the size.
Throughput is MB/s (10^6 bytes a second) of plaintext, client and server on the same machine.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from breachindex.server.testing import make_sandbox, with_puzzle

PASSPHRASE = "correct horse battery staple"
PHONE = "+31612340001"
MIB = 1 << 20
_CODE = re.compile(r"\b(\d{6})\b")


def _status(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``breachindex serve`` in a subprocess; its stderr is read for the console sender's codes."""

    def __init__(self, folder: Path) -> None:
        self.sandbox = make_sandbox(folder / "sandbox")
        self.port = _free_port()
        sb = self.sandbox
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "breachindex", "serve", str(sb.index_path), "--key", str(sb.key_path),
             "--campaign", str(sb.campaign_path), "--api-keys", str(sb.api_keys_path),
             "--webhook-secret", str(sb.webhook_secret_path), "--vault", str(folder / "vault"),
             "--sms-sender", "console", "--insecure-cookies", "--port", str(self.port), "--log-level", "warning",
             "--vault-upload-limit", str(1 << 40)],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.codes: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if "[breachindex SMS" in line:
                found = _CODE.search(line.split("]", 1)[1])
                if found:
                    self.codes.append(found.group(1))

    def memory(self) -> dict[str, int]:
        return _status(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def _pieces(size: int, block: bytearray, digest: Any) -> Iterator[bytes]:
    for i in range(size // MIB):
        block[:8] = i.to_bytes(8, "little")
        piece = bytes(block)
        digest.update(piece)
        yield piece


def run(size_mib: int, folder: Path) -> dict[str, Any]:
    server = Server(folder)
    try:
        with httpx.Client(base_url=server.base, timeout=600) as c:
            started = c.post("/v1/verification/start", json=with_puzzle(c, "/v1/verification/start",
                                                                          {"phone": PHONE}))
            started.raise_for_status()
            deadline = time.monotonic() + 10
            while not server.codes and time.monotonic() < deadline:
                time.sleep(0.05)
            c.post("/v1/verification/confirm",
                   json={"challenge": started.json()["challenge"], "code": server.codes[-1]}).raise_for_status()
            c.post("/v1/vault/setup", json={"passphrase": PASSPHRASE}).raise_for_status()
            participant = _participant(server)
            admin = {**server.sandbox.auth("admin"), "Content-Type": "application/octet-stream"}
            params = {"participant": participant, "controller": "meta"}
            small = c.put("/v1/admin/vault/items", params=params, content=b"warm-up", headers=admin).json()
            c.post(f"/v1/vault/items/{small['id']}/open", json={"passphrase": PASSPHRASE}).raise_for_status()
            baseline = server.memory()

            sent = hashlib.sha256()
            block = bytearray(os.urandom(MIB))
            t0 = time.perf_counter()
            stored = c.put("/v1/admin/vault/items", params=params, content=_pieces(size_mib * MIB, block, sent),
                           headers=admin)
            upload_s = time.perf_counter() - t0
            stored.raise_for_status()
            after_upload = server.memory()

            got, received = hashlib.sha256(), 0
            t0 = time.perf_counter()
            with c.stream("POST", f"/v1/vault/items/{stored.json()['id']}/open",
                          json={"passphrase": PASSPHRASE}) as answer:
                answer.raise_for_status()
                for piece in answer.iter_bytes(MIB):
                    got.update(piece)
                    received += len(piece)
            download_s = time.perf_counter() - t0
            after_download = server.memory()
    finally:
        server.stop()
    size = size_mib * MIB
    return {
        "size_mib": size_mib, "same_bytes": received == size and got.digest() == sent.digest(),
        "upload_mb_s": round(size / upload_s / 1e6, 1), "download_mb_s": round(size / download_s / 1e6, 1),
        "server_rss_mib": {"baseline_peak": round(baseline["VmHWM"] / MIB, 1),
                           "peak_after_upload": round(after_upload["VmHWM"] / MIB, 1),
                           "peak_after_download": round(after_download["VmHWM"] / MIB, 1)},
        "peak_growth_mib": round((after_download["VmHWM"] - baseline["VmHWM"]) / MIB, 1),
    }


def _participant(server: Server) -> str:
    from breachindex import Key
    from breachindex.campaign.pseudonyms import CampaignKeys

    return CampaignKeys(Key.load(server.sandbox.key_path)).participant_id(PHONE)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mib", type=int, default=2048)
    p.add_argument("--dir", default=None, help="where the sandbox and the vault go (default: a temporary folder)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        result = run(args.size_mib, Path(tmp))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        m = result["server_rss_mib"]
        print(f"{result['size_mib']} MiB through the vault over HTTP: same bytes {result['same_bytes']}; "
              f"upload {result['upload_mb_s']} MB/s, download {result['download_mb_s']} MB/s; server peak RSS "
              f"{m['baseline_peak']} -> {m['peak_after_upload']} -> {m['peak_after_download']} MiB "
              f"(+{result['peak_growth_mib']} MiB)")
    return 0 if result["same_bytes"] else 1


if __name__ == "__main__":
    sys.exit(main())
