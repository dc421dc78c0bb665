"""Leaked field values, kept only with ``--details``: sealed per record, readable per number.

Without ``--details`` an index knows only *which* data classes a number has. With it, each
record's non-empty fields (never the phone number itself) are packed with msgpack and sealed
with ChaCha20-Poly1305 under a key derived from the secret *and* the number (BLAKE2b), with a
fresh random nonce. So the files reveal nothing without the secret, and even with it a record
opens only for the number it belongs to: the app shows a person their own data after they have
proved they own the number.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any

import msgpack
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ..errors import IndexCorrupted
from ..keying.secret import Key

__all__ = ["DetailsSealer", "DETAILS_FILE", "DETAILS_OFFSETS_FILE"]

DETAILS_FILE = "details.bin"
DETAILS_OFFSETS_FILE = "details.off"
_AAD = b"breachindex details v1"
_NONCE = 12


class DetailsSealer:
    """Seals and opens detail records for one index (its key and tweak)."""

    def __init__(self, key: Key, tweak: int) -> None:
        self._master = key.details_key(tweak)

    def _record_key(self, e164_digits: bytes) -> bytes:
        return hashlib.blake2b(e164_digits, key=self._master, digest_size=32,
                               person=b"bi.detail-rec").digest()

    def seal(self, e164_digits: bytes, breach: str, fields: dict[str, str]) -> bytes:
        """nonce || ciphertext of {"breach": ..., "fields": {...}} for this number."""
        nonce = os.urandom(_NONCE)
        plain = msgpack.packb({"breach": breach, "fields": fields}, use_bin_type=True)
        return nonce + ChaCha20Poly1305(self._record_key(e164_digits)).encrypt(nonce, plain, _AAD)

    def open(self, e164_digits: bytes, sealed: bytes) -> dict[str, Any]:
        """The record sealed for this number; IndexCorrupted if it does not open."""
        try:
            plain = ChaCha20Poly1305(self._record_key(e164_digits)).decrypt(
                sealed[:_NONCE], sealed[_NONCE:], _AAD)
            record = msgpack.unpackb(plain, raw=False)
        except (InvalidTag, ValueError, msgpack.UnpackException):
            raise IndexCorrupted(DETAILS_FILE, "a detail record does not open for its number") from None
        if not isinstance(record, dict):
            raise IndexCorrupted(DETAILS_FILE, "a detail record is malformed")
        return record


def pack_row(sealed: list[bytes]) -> bytes:
    """One row's payload: the msgpack array of its sealed records."""
    return msgpack.packb(sealed, use_bin_type=True) if sealed else b""


def unpack_row(payload: bytes) -> list[bytes]:
    if not payload:
        return []
    try:
        items = msgpack.unpackb(payload, raw=True)
    except (ValueError, msgpack.UnpackException):
        raise IndexCorrupted(DETAILS_FILE, "a row's detail payload is malformed") from None
    if not isinstance(items, list) or not all(isinstance(b, bytes) for b in items):
        raise IndexCorrupted(DETAILS_FILE, "a row's detail payload is malformed")
    return items
