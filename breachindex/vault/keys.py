"""A participant's key pair, and the private key wrapped under keys only the person can derive.

Each participant has an X25519 key pair (libsodium ``crypto_box``). The public key is stored in
clear: anything SOMI receives for the person is sealed to it. The private key is stored only
wrapped: XChaCha20-Poly1305 (``crypto_aead_xchacha20poly1305_ietf``, random 192-bit nonce)
under a 32-byte key derived by Argon2id (``kdf``) from the person's passphrase or from their
recovery code, each with its own salt. The associated data binds a wrap to its participant,
its slot (``passphrase`` or ``recovery``), the key version and the public key, so a wrap
copied to another participant or slot does not open.

Changing the passphrase rewraps this one 32-byte key: the items sealed to the public key are
untouched. The key version names the key pair; it is recorded in every item (a later key
rotation would raise it).

Python cannot wipe memory reliably (bytes are immutable and may be copied): the private key
lives in the process only while an item is opened, and is never written anywhere but wrapped.
"""
from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
)
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey

from ..errors import VaultCorrupted
from .kdf import KDF_NAME, KdfParams, derive_key

__all__ = ["SLOTS", "Wrap", "new_key_pair", "unwrap_private_key", "wrap_private_key"]

#: the two ways to a participant's private key
SLOTS: tuple[str, ...] = ("passphrase", "recovery")
_AAD = b"breachindex vault key wrap v1\x00"
_NONCE = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
_PRIVATE_KEY = 32


@dataclass(frozen=True)
class Wrap:
    """A private key wrapped under a derived key: what ``vault_wraps`` holds for one slot."""

    slot: str
    params: KdfParams
    salt: bytes
    nonce: bytes
    wrapped: bytes
    kdf: str = KDF_NAME

    def __repr__(self) -> str:
        return f"Wrap(slot={self.slot!r}, kdf={self.kdf!r}, params={self.params!r})"


def new_key_pair() -> tuple[PrivateKey, bytes]:
    """A fresh X25519 key pair: the private key and the raw 32-byte public key."""
    private_key = PrivateKey.generate()
    return private_key, bytes(private_key.public_key)


def _aad(participant: str, slot: str, key_version: int, public_key: bytes) -> bytes:
    if slot not in SLOTS:
        raise ValueError(f"a wrap slot is one of {', '.join(SLOTS)}")
    return (_AAD + participant.encode("ascii") + b"\x00" + slot.encode("ascii") + b"\x00"
            + key_version.to_bytes(4, "big") + public_key)


def wrap_private_key(private_key: PrivateKey, secret: bytes, *, participant: str, slot: str, key_version: int,
                     public_key: bytes, params: KdfParams) -> Wrap:
    """Wrap the private key under the Argon2id key of ``secret`` (fresh salt and nonce)."""
    salt, nonce = params.new_salt(), os.urandom(_NONCE)
    kek = derive_key(secret, salt, params)
    wrapped = crypto_aead_xchacha20poly1305_ietf_encrypt(
        bytes(private_key), _aad(participant, slot, key_version, public_key), nonce, kek)
    return Wrap(slot, params, salt, nonce, wrapped)


def unwrap_private_key(wrap: Wrap, secret: bytes, *, participant: str, key_version: int,
                       public_key: bytes) -> PrivateKey | None:
    """The private key if ``secret`` opens the wrap, None if it does not (a wrong secret and an
    altered wrap look alike). VaultCorrupted if it opens to a key that is not the public key's."""
    if len(wrap.nonce) != _NONCE or len(wrap.wrapped) != _PRIVATE_KEY + 16:
        return None
    kek = derive_key(secret, wrap.salt, wrap.params)
    try:
        raw = crypto_aead_xchacha20poly1305_ietf_decrypt(
            wrap.wrapped, _aad(participant, wrap.slot, key_version, public_key), wrap.nonce, kek)
    except CryptoError:
        return None
    private_key = PrivateKey(raw)
    if not hmac.compare_digest(bytes(private_key.public_key), public_key):
        raise VaultCorrupted("key_mismatch", "the unwrapped private key does not match the stored public key")
    return private_key
