"""Signed tree heads: the foundation's Ed25519 signature over the audit log's Merkle root.

A tree head says "the audit log had ``tree_size`` entries and this RFC 6962 root at this
time". The signed message is fixed-width, so no two heads share one::

    b"breachindex audit tree head v1\\x00" || tree_size (8 bytes, big-endian)
        || timestamp_us (8 bytes, big-endian, microseconds since the Unix epoch, UTC)
        || root_hash (32 bytes)

The key: by default the Ed25519 private key is the 32-byte subkey ``bi.audit-ed25519`` of
the campaign secret (``Key.subkey``), used as the RFC 8032 seed. That needs no second secret
to keep, and whoever holds the campaign secret can already rewrite the store. A foundation
that wants the signing key apart (an offline key, a hardware token's export) passes its own
``Ed25519PrivateKey``. Either way the *public* key (raw 32 bytes, or PEM) is what third
parties need: publish it, and every manifest repeats it.

The same key signs the log's C2SP checkpoints (``checkpoints``: signed notes, whose texts
can never hold the 0x00 byte of the message above).
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..keying.secret import Key
from .clock import from_us

__all__ = ["AuditSigner", "TreeHead", "key_id_of", "tree_head_message"]

_DOMAIN = b"breachindex audit tree head v1\x00"
_SUBKEY_PURPOSE = b"bi.audit-ed25519"


def tree_head_message(tree_size: int, timestamp_us: int, root_hash: bytes) -> bytes:
    """The exact bytes a tree head's signature covers."""
    if len(root_hash) != 32:
        raise ValueError("a root hash has 32 bytes")
    return _DOMAIN + struct.pack(">QQ", tree_size, timestamp_us) + bytes(root_hash)


def key_id_of(public_key: bytes) -> str:
    """The id of a raw Ed25519 public key: SHA-256 of its 32 bytes, hex."""
    return hashlib.sha256(bytes(public_key)).hexdigest()


@dataclass(frozen=True)
class TreeHead:
    """A signed statement of the audit log's size and root (see the module documentation)."""

    tree_size: int
    root_hash: bytes
    timestamp_us: int
    signature: bytes = field(repr=False)
    key_id: str

    @property
    def signed_at(self) -> datetime:
        return from_us(self.timestamp_us)

    def message(self) -> bytes:
        return tree_head_message(self.tree_size, self.timestamp_us, self.root_hash)

    def verify(self, public_key: bytes) -> bool:
        """True if the signature holds under ``public_key`` (raw 32 bytes) and names its key."""
        if len(public_key) != 32 or key_id_of(public_key) != self.key_id:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(self.signature, self.message())
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_json(self) -> dict[str, Any]:
        """The head as JSON-ready values (hex for bytes)."""
        return {"tree_size": self.tree_size, "root_hash": self.root_hash.hex(), "timestamp_us": self.timestamp_us,
                "signed_at": self.signed_at.isoformat().replace("+00:00", "Z"), "signature": self.signature.hex(),
                "key_id": self.key_id, "algorithm": "Ed25519"}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> TreeHead:
        """A head from ``to_json``'s form (e.g. a manifest's ``audit_log`` section)."""
        try:
            return cls(int(value["tree_size"]), bytes.fromhex(value["root_hash"]), int(value["timestamp_us"]),
                       bytes.fromhex(value["signature"]), str(value["key_id"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError("not a tree head: needs tree_size, root_hash, timestamp_us, signature, key_id") from None


class AuditSigner:
    """The foundation's Ed25519 key for tree heads. ``repr`` shows only the key id."""

    __slots__ = ("_private", "public_key", "key_id")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError("the audit key must be a cryptography Ed25519PrivateKey")
        self._private = private_key
        #: the raw 32-byte public key
        self.public_key = private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                                serialization.PublicFormat.Raw)
        self.key_id = key_id_of(self.public_key)

    @classmethod
    def from_secret(cls, key: Key) -> AuditSigner:
        """The key derived from the campaign secret (the default)."""
        return cls(Ed25519PrivateKey.from_private_bytes(key.subkey(_SUBKEY_PURPOSE)))

    @property
    def public_key_pem(self) -> str:
        """The public key as PEM (SubjectPublicKeyInfo), for ``openssl pkeyutl -verify``."""
        pem = self._private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
        return pem.decode("ascii")

    def sign(self, tree_size: int, root_hash: bytes, timestamp_us: int) -> TreeHead:
        signature = self._private.sign(tree_head_message(tree_size, timestamp_us, root_hash))
        return TreeHead(tree_size, bytes(root_hash), timestamp_us, signature, self.key_id)

    def sign_note_text(self, text: bytes) -> bytes:
        """The raw Ed25519 signature over a signed note's text (``checkpoints``). Only texts a
        note can hold are signed: UTF-8 ending in a newline, no control character but newline.
        A tree-head message always holds 0x00, so no signature of one passes for the other."""
        try:
            decoded = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("a note text is UTF-8") from None
        if not decoded.endswith("\n") or any(ord(ch) < 0x20 and ch != "\n" for ch in decoded):
            raise ValueError("a note text ends in a newline and holds no control character but newline")
        return self._private.sign(bytes(text))

    def __repr__(self) -> str:
        return f"AuditSigner(key_id={self.key_id[:16]}...)"
