"""A small, complete server set-up in one folder, for the tests, the load test and demos.

``make_sandbox(folder)`` writes a key file, a tiny leak (three synthetic people, two breaches)
built into an index with ``--details``, a campaign store path, an API key file with one key
per scope, and an ID-provider webhook secret. Nothing here is meant for production: the
numbers are in real mobile ranges (never text them: use a ``RecordingSender``).
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..builder.ingest import Source, build_index
from ..campaign.identity import sign_webhook
from ..keying.secret import Key
from .auth import create_api_key
from .config import ServerConfig
from .puzzles import solve

__all__ = ["Sandbox", "make_sandbox", "rebuild_index", "serve_in_thread", "page_client", "with_puzzle", "solved",
           "PEOPLE", "ABSENT_NUMBER", "GENEROUS_BUDGETS"]

#: (E.164, leak line fields after the phone in the fb12 layout): synthetic people
PEOPLE: dict[str, str] = {
    "+31612340001": "100001:Anneke:Voorbeeld:female:Utrecht:::::anneke@example.org:",
    "+31612340002": "100002:Bram:Testpersoon:male:Zwolle::::::",
    "+4915112340003": "100003:Carla:Beispiel:female:Berlin::::::",
}
ABSENT_NUMBER = "+31612349999"


@dataclass
class Sandbox:
    """The files of a test server and the API keys made for it (scope -> key)."""

    folder: Path
    key_path: Path
    index_path: Path
    campaign_path: Path | str
    api_keys_path: Path
    webhook_secret_path: Path
    webhook_secret: bytes
    tokens: dict[str, str] = field(default_factory=dict)

    def config(self, **overrides: Any) -> ServerConfig:
        """A ServerConfig for this sandbox (plain-HTTP cookies, fast generation checks, a vault, and
        page budgets large enough for a test's many calls from one address: the tests of the
        limits set their own, or ``defaults=True`` keeps the production defaults)."""
        defaults = bool(overrides.pop("defaults", False))
        base = ServerConfig(index=str(self.index_path), key=str(self.key_path), campaign=str(self.campaign_path),
                            api_keys=str(self.api_keys_path), webhook_secret=str(self.webhook_secret_path),
                            export_dir=str(self.folder / "exports"), secure_cookies=False, reload_interval=0.05,
                            # a vault with Argon2id made cheap: a sandbox's passphrases protect nothing real
                            vault=str(self.folder / "vault"), vault_kdf_time_cost=1, vault_kdf_memory_kib=8,
                            vault_kdf_parallelism=1, page_url="http://127.0.0.1/",
                            letters_sender=str(self.folder / "letters-sender.json"))
        if not defaults:
            base = replace(base, **GENEROUS_BUDGETS)
        return replace(base, **overrides)

    def auth(self, scope: str) -> dict[str, str]:
        """The Authorization header of the sandbox's key with ``scope``."""
        return {"Authorization": f"Bearer {self.tokens[scope]}"}

    def webhook(self, participant: str, status: str = "approved", *, reference: str = "case-1",
                timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        """A signed ID-provider webhook: (raw body, headers)."""
        body = json.dumps({"participant": participant, "provider": "idcheck-test", "reference": reference,
                           "status": status}).encode("utf-8")
        header = sign_webhook(body, self.webhook_secret, int(time.time()) if timestamp is None else timestamp)
        return body, {"Signature": header, "Content-Type": "application/json"}


#: page budgets a test's hundreds of calls from one address never reach
GENEROUS_BUDGETS: dict[str, Any] = {
    f"{name}_{part}": value for name in ("check_ip", "check_site", "check_network", "check_global", "check_number",
                                         "person_ip", "person_network")
    for part, value in (("rate", 1000.0), ("burst", 100_000))}

#: the page's calls that need a solved puzzle, and its purpose for each
PUZZLE_PATHS: dict[str, str] = {"/v1/check": "check", "/v1/verification/start": "verification"}


def solved(client: Any, purpose: str) -> dict[str, str]:
    """A puzzle fetched from the server through ``client`` and solved as the page does."""
    answer = client.post("/v1/puzzles", json={"purpose": purpose})
    if answer.status_code != 200:
        raise RuntimeError(f"no puzzle: {answer.status_code} {answer.text}")
    issued = answer.json()
    return {"challenge": issued["challenge"], "solution": solve(issued["challenge"], issued["bits"])}


def with_puzzle(client: Any, path: str, body: Any, headers: Any = None) -> Any:
    """``body`` with a solved puzzle added when ``path`` is a page call that needs one (no
    Authorization header, a JSON object without a puzzle)."""
    purpose = PUZZLE_PATHS.get(path)
    keyed = headers is not None and any(str(k).lower() == "authorization" for k in dict(headers))
    if purpose is None or keyed or not isinstance(body, dict) or "puzzle" in body:
        return body
    return {**body, "puzzle": solved(client, purpose)}


def page_client(app: Any, host: str = "203.0.113.9", **kwargs: Any) -> Any:
    """A Starlette TestClient that calls like the page: from ``host``, and solving a puzzle
    before each check and code request (as ``static/app.js`` does)."""
    from starlette.testclient import TestClient

    class PageClient(TestClient):
        def post(self, url: Any, *args: Any, **kw: Any) -> Any:  # type: ignore[override]
            if "json" in kw:
                kw["json"] = with_puzzle(self, str(url).split("?", 1)[0], kw["json"], kw.get("headers"))
            return super().post(url, *args, **kw)

    return PageClient(app, client=(host, 50000), **kwargs)


def _write_leak(path: Path, people: dict[str, str]) -> None:
    path.write_text("".join(f"{e164[1:]}:{rest}\n" for e164, rest in people.items()), encoding="utf-8")


def rebuild_index(sandbox: Sandbox, people: dict[str, str], *, breach: str = "facebook-2021") -> None:
    """Replace the sandbox's index by a new build of ``people`` (a new generation)."""
    leak = sandbox.folder / "leak-next"
    leak.mkdir(exist_ok=True)
    _write_leak(leak / "people.txt", people)
    build_index(sandbox.index_path, [Source(breach, [leak / "people.txt"])], key=sandbox.key_path,
                overwrite=True, details=True, memory=64 << 20,
                rejects_path=sandbox.folder / "rejects-next.tsv")


def make_sandbox(folder: str | os.PathLike[str], *, people: dict[str, str] | None = None,
                 campaign: str | os.PathLike[str] | None = None) -> Sandbox:
    """Write a complete set-up into ``folder`` (see the module documentation); ``campaign``:
    the campaign store (a path or URL; default ``campaign.db`` in ``folder``)."""
    base = Path(folder)
    base.mkdir(parents=True, exist_ok=True)
    key_path = base / "secret.key"
    Key.generate().save(key_path)
    chosen = PEOPLE if people is None else people
    leak = base / "leak"
    leak.mkdir()
    _write_leak(leak / "people.txt", chosen)
    second = base / "leak-other"
    second.mkdir()
    first = next(iter(chosen))
    (second / "other.txt").write_text(f"{first[1:]}:200001:::::::::other@example.org:\n", encoding="utf-8")
    build_index(base / "index", [Source("facebook-2021", [leak / "people.txt"]),
                                 Source("other-2019", [second / "other.txt"])],
                key=key_path, details=True, memory=64 << 20, rejects_path=base / "rejects.tsv")
    secret = os.urandom(24).hex().encode("ascii")
    secret_path = base / "webhook.secret"
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret + b"\n")
    store = base / "campaign.db" if campaign is None else campaign if isinstance(campaign, str) else Path(campaign)
    sandbox = Sandbox(base, key_path, base / "index", store, base / "api-keys.json", secret_path, secret)
    (base / "letters-sender.json").write_text(json.dumps({  # a made-up sender: sandbox letters go nowhere
        "name": "Stichting Voorbeeld", "address": ["Postbus 1", "1000 AA Amsterdam"], "city": "Amsterdam",
        "email": "post@example.org"}), encoding="utf-8")
    for scope in ("check", "workflow", "admin"):  # quotas no test reaches (the quota tests make their own keys)
        sandbox.tokens[scope] = create_api_key(sandbox.api_keys_path, name=f"test {scope}", scopes=[scope],
                                               per_second=10_000.0, per_day=100_000_000)
    return sandbox


@contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", timeout: float = 20.0) -> Iterator[str]:
    """Run ``app`` under uvicorn in a thread on a free port of ``host``; yields the base URL and
    stops the server when the block ends."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                           lifespan="on", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
