"""API keys for service-to-service calls: stored hashed, each with scopes.

A key is ``bik_<id>_<secret>`` (the id: 12 hex digits; the secret: 32 random bytes, URL-safe
base64). The key file (JSON, mode 0600) keeps per key its id, a label, its scopes, when it was
made, and the SHA-256 of the whole key, never the key itself: a key is shown once, when it is
created. Keys are long random strings, so a plain SHA-256 (as GitHub does for its tokens)
is enough; the id finds the entry and ``hmac.compare_digest`` compares the hashes.

Scopes: ``check`` (``POST /v1/check``), ``workflow`` (codes, mandates, requests for a
participant the calling service identified), ``admin`` (batches, exports, request transitions;
it includes the other two). Callers send ``Authorization: Bearer <key>``. The file is re-read
when it changes (checked at most once a second), so keys can be added or removed without a
restart.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["SCOPES", "ApiKey", "ApiKeyStore", "create_api_key", "revoke_api_key", "list_api_keys"]

SCOPES: tuple[str, ...] = ("check", "workflow", "admin")
_PREFIX = "bik_"
_FILE_VERSION = 1


@dataclass(frozen=True)
class ApiKey:
    """A key's entry: ``id``, ``name`` (a label), ``scopes``, ``created_at`` (ISO text)."""

    id: str
    name: str
    scopes: frozenset[str]
    created_at: str

    def allows(self, scope: str) -> bool:
        """True if the key may call an operation that needs ``scope`` (admin may call all)."""
        return scope in self.scopes or "admin" in self.scopes


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _split(token: str) -> str | None:
    """The key id of a well-formed token, else None."""
    if not token.startswith(_PREFIX) or len(token) > 128 or not token.isascii():
        return None
    key_id, sep, secret = token[len(_PREFIX):].partition("_")
    if not sep or len(key_id) != 12 or not secret:
        return None
    return key_id


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"version": _FILE_VERSION, "keys": []}
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("version") != _FILE_VERSION or not isinstance(data.get("keys"), list):
        raise ValueError(f"{str(path)!r} is not a breachindex API key file")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write the key file atomically with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_api_key(path: str | os.PathLike[str], *, name: str, scopes: Iterable[str]) -> str:
    """Add a key with ``scopes`` to the key file at ``path`` (created if missing) and return
    the key itself: the only time it is shown."""
    chosen = sorted(set(scopes))
    if not chosen or not set(chosen) <= set(SCOPES):
        raise ValueError(f"scopes must be a non-empty subset of: {', '.join(SCOPES)}")
    if not isinstance(name, str) or not name.strip() or len(name) > 100 or not name.isprintable():
        raise ValueError("a key's name is printable text of 1 to 100 characters")
    p = Path(path)
    data = _read(p)
    key_id = secrets.token_hex(6)
    token = f"{_PREFIX}{key_id}_{base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b'=').decode('ascii')}"
    data["keys"].append({"id": key_id, "name": name, "scopes": chosen, "sha256": _hash(token),
                         "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
    _write(p, data)
    return token


def revoke_api_key(path: str | os.PathLike[str], key_id: str) -> bool:
    """Remove the key with id ``key_id``; True if there was one."""
    p = Path(path)
    data = _read(p)
    kept = [k for k in data["keys"] if k.get("id") != key_id]
    if len(kept) == len(data["keys"]):
        return False
    data["keys"] = kept
    _write(p, data)
    return True


def list_api_keys(path: str | os.PathLike[str]) -> list[ApiKey]:
    """The keys in the file (without their hashes)."""
    return [ApiKey(k["id"], k["name"], frozenset(k["scopes"]), k["created_at"]) for k in _read(Path(path))["keys"]]


class ApiKeyStore:
    """The keys a server accepts, from a key file (None: no key file, every bearer refused)."""

    def __init__(self, path: str | os.PathLike[str] | None, *, recheck_every: float = 1.0) -> None:
        self._path = None if path is None else Path(path)
        self.recheck_every = recheck_every
        self._entries: dict[str, tuple[str, ApiKey]] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._load()

    def _file_stamp(self) -> tuple[int, int, int] | None:
        assert self._path is not None
        try:
            st = self._path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> None:
        if self._path is None:
            return
        stamp = self._file_stamp()
        entries: dict[str, tuple[str, ApiKey]] = {}
        if stamp is not None:
            for k in _read(self._path)["keys"]:
                entries[k["id"]] = (k["sha256"], ApiKey(k["id"], k["name"], frozenset(k["scopes"]), k["created_at"]))
        self._entries, self._stamp = entries, stamp

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if self._path is None or now - self._checked < self.recheck_every:
            return
        with self._lock:
            if now - self._checked < self.recheck_every:
                return
            self._checked = now
            if self._file_stamp() != self._stamp:
                with contextlib.suppress(OSError, ValueError):  # a file rewritten by hand: keep our keys
                    self._load()

    def verify(self, token: str) -> ApiKey | None:
        """The key's entry if ``token`` is a valid key, else None."""
        self._maybe_reload()
        key_id = _split(token)
        if key_id is None:
            return None
        entry = self._entries.get(key_id)
        if entry is None:
            return None
        stored, key = entry
        return key if hmac.compare_digest(stored, _hash(token)) else None

    def __len__(self) -> int:
        return len(self._entries)
