"""The secret key: what turns a phone number into an index key nobody else can recompute.

Phone numbers are few enough to enumerate (a country has at most ~10^10), so a plain hash of a
number is no protection at all. Keys are SipHash-2-4 under a 128-bit key derived from this
secret; without the secret, an index folder's files say nothing about which numbers are in it.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path
from typing import Union

from ..errors import InvalidKey

__all__ = ["Key", "KeyLike", "MIN_SECRET_BYTES", "as_key"]

MIN_SECRET_BYTES = 16
_FILE_HEADER = "# breachindex secret key v1: keep it private; never store it in an index folder"


class Key:
    """A secret of at least 16 bytes, and the keys derived from it.

    ``Key.generate()`` makes a new 32-byte secret; ``Key.load(path)`` and ``key.save(path)``
    read and write the key file (mode 0600). ``repr`` never shows the secret.
    """

    __slots__ = ("_secret", "_derived")

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, (bytes, bytearray)):
            raise InvalidKey("a secret must be bytes")
        if len(secret) < MIN_SECRET_BYTES:
            raise InvalidKey(f"a secret must have at least {MIN_SECRET_BYTES} bytes, got {len(secret)}")
        self._secret = bytes(secret)
        self._derived: dict[tuple[bytes, int], bytes] = {}

    @classmethod
    def generate(cls) -> Key:
        """A new random 32-byte secret from the operating system's CSPRNG."""
        return cls(secrets.token_bytes(32))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Key:
        """Read a key file written by ``save`` (or ``breachindex keygen``)."""
        p = Path(path)
        try:
            st = p.stat()
            text = p.read_text(encoding="ascii")
        except FileNotFoundError:
            raise InvalidKey(f"key file {str(p)!r} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidKey(f"cannot read key file {str(p)!r}: {exc}") from None
        if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InvalidKey(
                f"key file {str(p)!r} is readable by others (mode {stat.S_IMODE(st.st_mode):o}); "
                "chmod 600 it"
            )
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
        if len(lines) != 1:
            raise InvalidKey(f"key file {str(p)!r} is not a breachindex key file")
        try:
            secret = bytes.fromhex(lines[0])
        except ValueError:
            raise InvalidKey(f"key file {str(p)!r} does not hold a hex secret") from None
        return cls(secret)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write the key file with mode 0600; refuses to overwrite, or to write into an index."""
        p = Path(path)
        if any((folder / "manifest.json").exists() for folder in p.resolve().parents):
            raise InvalidKey("refusing to write a key file into an index folder")
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        try:
            fd = os.open(p, flags, 0o600)
        except FileExistsError:
            raise InvalidKey(f"key file {str(p)!r} exists; pass overwrite=True to replace it") from None
        with os.fdopen(fd, "w", encoding="ascii") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(f"{_FILE_HEADER}\n{self._secret.hex()}\n")
            f.flush()
            os.fsync(f.fileno())

    def _derive(self, purpose: bytes, tweak: int) -> bytes:
        """A 16-byte subkey per purpose and tweak: BLAKE2b keyed by the secret."""
        cache_key = (purpose, tweak)
        derived = self._derived.get(cache_key)
        if derived is None:
            secret = self._secret if len(self._secret) <= 64 else hashlib.blake2b(self._secret).digest()
            derived = hashlib.blake2b(
                tweak.to_bytes(8, "little"), key=secret, digest_size=16, person=purpose
            ).digest()
            self._derived[cache_key] = derived
        return derived

    def siphash_key(self, tweak: int = 0) -> bytes:
        """The SipHash key for index keys (tweak: see ``build``)."""
        return self._derive(b"bi.index-key", tweak)

    def check_key(self, tweak: int = 0) -> bytes:
        """A second, independent SipHash key: build() uses it to detect 64-bit key collisions."""
        return self._derive(b"bi.check-key", tweak)

    def details_key(self, tweak: int = 0) -> bytes:
        """The 32-byte master key that detail records are sealed under (with the number)."""
        secret = self._secret if len(self._secret) <= 64 else hashlib.blake2b(self._secret).digest()
        return hashlib.blake2b(tweak.to_bytes(8, "little"), key=secret, digest_size=32,
                               person=b"bi.details-key").digest()

    def subkey(self, purpose: bytes) -> bytes:
        """A 32-byte key for one named purpose (1-16 bytes, e.g. ``b"bi.cmp-code"``).

        BLAKE2b keyed by the secret with ``person=purpose``: independent of every other purpose
        and of the index keys above, and stable for the same secret.
        """
        if not isinstance(purpose, bytes) or not 1 <= len(purpose) <= 16:
            raise ValueError("a subkey purpose must be 1 to 16 bytes")
        secret = self._secret if len(self._secret) <= 64 else hashlib.blake2b(self._secret).digest()
        return hashlib.blake2b(b"bi.subkey", key=secret, digest_size=32, person=purpose).digest()

    @property
    def fingerprint(self) -> str:
        """A public identifier of the secret (it reveals nothing about it)."""
        return self._derive(b"bi.fingerprint", 0).hex()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return f"Key(fingerprint={self.fingerprint[:16]}...)"


KeyLike = Union[Key, bytes, str, "os.PathLike[str]"]


def as_key(key: KeyLike) -> Key:
    """A Key from a Key, raw secret bytes, or the path of a key file."""
    if isinstance(key, Key):
        return key
    if isinstance(key, (bytes, bytearray)):
        return Key(bytes(key))
    if isinstance(key, (str, os.PathLike)):
        return Key.load(key)
    raise InvalidKey(f"key must be a Key, bytes or a key file path, not {type(key).__name__}")
