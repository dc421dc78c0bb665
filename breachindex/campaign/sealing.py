"""Evidence that must come back for a court but never sit in clear: sealed values and MACs.

A mandate's evidence holds personal data (the signer's name, the IP address) that SOMI must be
able to produce later, so it is encrypted, not hashed: ChaCha20-Poly1305 under the subkey
``bi.cmp-evseal``, a random 96-bit nonce, and as associated data the kind of value and the
record it belongs to (a sealed name copied to another mandate's row does not open).

The audit log names such values only by an HMAC-SHA256 under the subkey ``bi.cmp-evmac``
(``mac``): the log stays free of personal data, a guessable value (a name) cannot be confirmed
from the log without the secret, and SOMI, opening the sealed values, shows they are the ones
the log recorded. To let an expert check that without the campaign secret, SOMI can hand over
this one subkey (``Key.subkey(b"bi.cmp-evmac")``): it opens nothing and signs nothing.

``ip_lookup`` is a keyed hash of an exact IP address, so the mandates signed from one address
can be found (fraud review) without storing it in clear.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ..errors import CampaignStoreError
from ..keying.secret import Key
from .audit import canonical_json

__all__ = ["EvidenceKeys", "normalize_ip"]

_NONCE = 12
_AAD = b"breachindex campaign evidence v1:"


def normalize_ip(ip: object) -> str:
    """The canonical text of an IPv4 or IPv6 address (IPv4-mapped IPv6 as IPv4); ValueError else."""
    try:
        address = ipaddress.ip_address(str(ip).strip()) if isinstance(ip, str) else None
    except ValueError:
        address = None
    if address is None:
        raise ValueError("ip is not an IPv4 or IPv6 address")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


class EvidenceKeys:
    """Sealing, MACs and lookups for evidence, under subkeys of the campaign secret."""

    __slots__ = ("_seal", "_mac", "_lookup")

    def __init__(self, key: Key) -> None:
        self._seal = ChaCha20Poly1305(key.subkey(b"bi.cmp-evseal"))
        self._mac = key.subkey(b"bi.cmp-evmac")
        self._lookup = key.subkey(b"bi.cmp-evlookup")

    @staticmethod
    def _aad(kind: str, owner: str) -> bytes:
        return _AAD + kind.encode("ascii") + b":" + owner.encode("ascii")

    def seal(self, kind: str, owner: str, text: str) -> bytes:
        """nonce || ChaCha20-Poly1305 of ``text``, bound to its kind and owner (a record id)."""
        nonce = os.urandom(_NONCE)
        return nonce + self._seal.encrypt(nonce, text.encode("utf-8"), self._aad(kind, owner))

    def open(self, kind: str, owner: str, sealed: bytes) -> str:
        """The text sealed for this kind and owner; CampaignStoreError if it does not open."""
        try:
            plain = self._seal.decrypt(bytes(sealed[:_NONCE]), bytes(sealed[_NONCE:]), self._aad(kind, owner))
        except (InvalidTag, ValueError):
            raise CampaignStoreError(f"a sealed {kind} does not open: damaged store or another secret") from None
        return plain.decode("utf-8")

    def mac(self, kind: str, value: Any) -> str:
        """HMAC-SHA256 (hex) of the canonical JSON of ``value``, bound to its kind."""
        message = kind.encode("ascii") + b"\x00" + canonical_json(value).encode("ascii")
        return hmac.new(self._mac, message, hashlib.sha256).hexdigest()

    def ip_lookup(self, ip: str) -> str:
        """A keyed hash (BLAKE2b-128, hex) of an exact, normalized IP address."""
        return hashlib.blake2b(normalize_ip(ip).encode("ascii"), key=self._lookup, digest_size=16).hexdigest()
