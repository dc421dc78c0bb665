"""API keys for service-to-service calls: stored hashed, each with scopes, quotas and an expiry.

A key is ``bik_<id>_<secret>`` (the id: 12 hex digits; the secret: 32 random bytes, URL-safe
base64). The key file (JSON, mode 0600) keeps per key its id, a label, its scopes, when it was
made, its quotas and when it expires, and the SHA-256 of the whole key, never the key itself:
a key is shown once, when it is created. Keys are long random strings, so a plain SHA-256 (as
GitHub does for its tokens) is enough; the id finds the entry and ``hmac.compare_digest``
compares the hashes.

The keys can instead live in the campaign store (``key_records``: give its URL where a key
file's path goes), so that every host sharing the store accepts the same keys and a revoked
key stops working on all of them within a second.

Scopes: ``check`` (``POST /v1/check``), ``workflow`` (codes, mandates, requests for a
participant the calling service identified), ``admin`` (batches, exports, request transitions;
it includes the other two). Callers send ``Authorization: Bearer <key>``. The file is re-read
when it changes (checked at most once a second), so keys can be added or removed without a
restart.

The key file is private: written 0600 (``fchmod``, whatever the umask), in folders made 0700
when missing. A key file open to the group or others is refused with a ValueError that says
``chmod 600`` it: by ``ApiKeyStore`` (so the server does not start) and by ``create``, ``list``
and ``revoke`` (the ``api-key`` CLI). A server that re-reads a file that became open meanwhile
keeps the keys it had, as for any file it cannot read.

Quotas: every key has a budget a second (``per_second``, 10 by default) and a quota per UTC
day (``per_day``, 10,000), shared by every worker (``budgets``), so a leaked key is not an
enumeration tool either: at the default quota a ``check`` key reaches 10^8 numbers in 27
years. A key expires (``expires_at``; 365 days after it is made by default, refused after);
when it was last used is kept in the campaign store (``api-key list --campaign``).
"""
from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import os
import secrets
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from ..errors import BreachIndexError
from ..private_files import is_open, make_private_folders
from .key_records import KeyTable, in_store

__all__ = ["SCOPES", "ApiKey", "ApiKeyStore", "create_api_key", "revoke_api_key", "list_api_keys",
           "DEFAULT_PER_SECOND", "DEFAULT_PER_DAY", "DEFAULT_EXPIRY"]

T = TypeVar("T")
SCOPES: tuple[str, ...] = ("check", "workflow", "admin")
_PREFIX = "bik_"
_FILE_VERSION = 1
_TIME = "%Y-%m-%dT%H:%M:%SZ"


#: the defaults of a new key: requests a second, requests a UTC day, days until it expires
DEFAULT_PER_SECOND = 10.0
DEFAULT_PER_DAY = 10_000
DEFAULT_EXPIRY = timedelta(days=365)
_MAX_PER_SECOND = 10_000.0
_MAX_PER_DAY = 1_000_000_000


@dataclass(frozen=True)
class ApiKey:
    """A key's entry: ``id``, ``name`` (a label), ``scopes``, ``created_at`` (ISO text), its
    quotas ``per_second`` and ``per_day``, and ``expires_at`` (ISO text; None: never)."""

    id: str
    name: str
    scopes: frozenset[str]
    created_at: str
    per_second: float = DEFAULT_PER_SECOND
    per_day: int = DEFAULT_PER_DAY
    expires_at: str | None = None

    def allows(self, scope: str) -> bool:
        """True if the key may call an operation that needs ``scope`` (admin may call all)."""
        return scope in self.scopes or "admin" in self.scopes

    def expired(self, now: datetime | None = None) -> bool:
        """True once ``expires_at`` has passed."""
        if self.expires_at is None:
            return False
        if now is None:  # every keyed call asks: a float compare, not a date parsed each time
            return time.time() >= _expiry_seconds(self.expires_at)
        return now >= datetime.strptime(self.expires_at, _TIME).replace(tzinfo=timezone.utc)


@functools.lru_cache(maxsize=1024)
def _expiry_seconds(expires_at: str) -> float:
    """``expires_at`` (``_TIME``, UTC) as Unix seconds."""
    return datetime.strptime(expires_at, _TIME).replace(tzinfo=timezone.utc).timestamp()


def _key_of(entry: dict[str, Any]) -> ApiKey:
    """A key file entry as an ``ApiKey`` (entries written before quotas get the defaults)."""
    return ApiKey(entry["id"], entry["name"], frozenset(entry["scopes"]), entry["created_at"],
                  float(entry.get("per_second", DEFAULT_PER_SECOND)), int(entry.get("per_day", DEFAULT_PER_DAY)),
                  entry.get("expires_at"))


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
    """The key file's content (no file: no keys); ValueError if it is open to other users or malformed."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return {"version": _FILE_VERSION, "keys": []}
    with os.fdopen(fd, "r", encoding="utf-8") as f:
        mode = os.fstat(f.fileno()).st_mode
        if is_open(mode):
            raise ValueError(f"the API key file {str(path)!r} is open to other users (mode "
                             f"{stat.S_IMODE(mode):o}); make it private first: chmod 600 {path}")
        raw = f.read()
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("version") != _FILE_VERSION or not isinstance(data.get("keys"), list):
        raise ValueError(f"{str(path)!r} is not a breachindex API key file")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write the key file atomically with mode 0600 (missing folders are made 0700)."""
    make_private_folders(path.parent)
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


def create_api_key(path: str | os.PathLike[str], *, name: str, scopes: Iterable[str],
                   per_second: float = DEFAULT_PER_SECOND, per_day: int = DEFAULT_PER_DAY,
                   expires_in: timedelta | None = DEFAULT_EXPIRY, now: datetime | None = None) -> str:
    """Add a key with ``scopes`` to the key file at ``path`` (created if missing) and return
    the key itself: the only time it is shown. ``per_second`` and ``per_day``: its quotas;
    ``expires_in``: how long it is valid (None: until revoked)."""
    chosen = sorted(set(scopes))
    if not chosen or not set(chosen) <= set(SCOPES):
        raise ValueError(f"scopes must be a non-empty subset of: {', '.join(SCOPES)}")
    if not isinstance(name, str) or not name.strip() or len(name) > 100 or not name.isprintable():
        raise ValueError("a key's name is printable text of 1 to 100 characters")
    if isinstance(per_second, bool) or not isinstance(per_second, (int, float)) \
            or not 0 < per_second <= _MAX_PER_SECOND:
        raise ValueError(f"per_second must be above 0 and at most {_MAX_PER_SECOND:g}")
    if isinstance(per_day, bool) or not isinstance(per_day, int) or not 1 <= per_day <= _MAX_PER_DAY:
        raise ValueError(f"per_day must be an int from 1 to {_MAX_PER_DAY}")
    if expires_in is not None and expires_in <= timedelta(0):
        raise ValueError("expires_in must be positive (or None: never)")
    made = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    key_id = secrets.token_hex(6)
    token = f"{_PREFIX}{key_id}_{base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b'=').decode('ascii')}"
    entry = {"id": key_id, "name": name, "scopes": chosen, "sha256": _hash(token), "created_at": made.strftime(_TIME),
             "per_second": float(per_second), "per_day": per_day,
             "expires_at": None if expires_in is None else (made + expires_in).strftime(_TIME)}
    _update(path, lambda data: data["keys"].append(entry))
    return token


def revoke_api_key(path: str | os.PathLike[str], key_id: str) -> bool:
    """Remove the key with id ``key_id``; True if there was one."""
    def remove(data: dict[str, Any]) -> bool:
        kept = [k for k in data["keys"] if k.get("id") != key_id]
        removed = len(kept) != len(data["keys"])
        data["keys"] = kept
        return removed

    return _update(path, remove)


def list_api_keys(path: str | os.PathLike[str]) -> list[ApiKey]:
    """The keys in the file or store (without their hashes)."""
    if in_store(path):
        table = KeyTable(os.fspath(path))
        try:
            return [_key_of(k) for k in table.read()["keys"]]
        finally:
            table.close()
    return [_key_of(k) for k in _read(Path(path))["keys"]]


def _update(path: str | os.PathLike[str], change: Callable[[dict[str, Any]], T]) -> T:
    """``change`` the keys of a key file (read, change, written atomically) or of a store (one
    transaction); what ``change`` returns."""
    if in_store(path):
        table = KeyTable(os.fspath(path))
        try:
            return table.update(change)
        finally:
            table.close()
    p = Path(path)
    data = _read(p)
    answer = change(data)
    _write(p, data)
    return answer


class ApiKeyStore:
    """The keys a server accepts, from a key file or the campaign store (``key_records``; None:
    no keys, every bearer refused). Re-read at most every ``recheck_every`` seconds: a key
    added or revoked on one host is seen by every host within that time."""

    def __init__(self, path: str | os.PathLike[str] | None, *, recheck_every: float = 1.0) -> None:
        self._table = KeyTable(os.fspath(path)) if path is not None and in_store(path) else None
        self._path = None if path is None or self._table is not None else Path(path)
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
        if self._table is not None:
            self._entries = {k["id"]: (k["sha256"], _key_of(k)) for k in self._table.read()["keys"]}
            return
        if self._path is None:
            return
        stamp = self._file_stamp()
        entries: dict[str, tuple[str, ApiKey]] = {}
        if stamp is not None:
            for k in _read(self._path)["keys"]:
                entries[k["id"]] = (k["sha256"], _key_of(k))
        self._entries, self._stamp = entries, stamp

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if (self._path is None and self._table is None) or now - self._checked < self.recheck_every:
            return
        with self._lock:
            if now - self._checked < self.recheck_every:
                return
            self._checked = now
            if self._table is not None:
                with contextlib.suppress(BreachIndexError, ValueError):  # the store unreachable: keep our keys
                    self._load()
            elif self._file_stamp() != self._stamp:
                with contextlib.suppress(OSError, ValueError):  # a file rewritten by hand: keep our keys
                    self._load()

    def close(self) -> None:
        if self._table is not None:
            self._table.close()

    def verify(self, token: str) -> ApiKey | None:
        """The key's entry if ``token`` is a valid key that has not expired, else None."""
        self._maybe_reload()
        key_id = _split(token)
        if key_id is None:
            return None
        entry = self._entries.get(key_id)
        if entry is None:
            return None
        stored, key = entry
        if not hmac.compare_digest(stored, _hash(token)):
            return None
        return None if key.expired() else key

    def __len__(self) -> int:
        return len(self._entries)
