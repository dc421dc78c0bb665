"""Everything the campaign store keeps instead of personal data: keyed hashes and sealed numbers.

Each use has its own 32-byte subkey derived from the secret (``Key.subkey``), so a value of
one kind says nothing about another:

* participant id: BLAKE2b-128 of the E.164 number, hex (32 characters): stable for a number
  and a secret, not recomputable without the secret;
* code hash: HMAC-SHA256 over challenge id and code (compared with ``hmac.compare_digest``);
* IP and number-prefix subjects of the rate limits: BLAKE2b-128, hex;
* the number itself, where the workflow needs it back (the mandate): ChaCha20-Poly1305, a
  random 96-bit nonce, the participant id as associated data (a sealed number moved to another
  participant's row does not open).
"""
from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ..errors import CampaignStoreError
from ..keying.secret import Key

__all__ = ["CampaignKeys"]

_NONCE = 12
_PHONE_AAD = b"breachindex campaign phone v1:"


class CampaignKeys:
    """The campaign's keyed hashes and its sealing of numbers, under one secret."""

    __slots__ = ("_participant", "_code", "_seal", "_subject", "fingerprint")

    def __init__(self, key: Key) -> None:
        self._participant = key.subkey(b"bi.cmp-particip")
        self._code = key.subkey(b"bi.cmp-code")
        self._seal = ChaCha20Poly1305(key.subkey(b"bi.cmp-seal"))
        self._subject = key.subkey(b"bi.cmp-subject")
        #: a public identifier of the campaign keys (reveals nothing about them)
        self.fingerprint = hashlib.blake2b(b"fingerprint", key=key.subkey(b"bi.cmp-fprint"),
                                           digest_size=16).hexdigest()

    def participant_id(self, e164: str) -> str:
        """The participant id of a normalized number."""
        return hashlib.blake2b(e164.encode("ascii"), key=self._participant, digest_size=16).hexdigest()

    def code_hash(self, challenge_id: str, code: str) -> bytes:
        """HMAC-SHA256 of a code, bound to its challenge."""
        message = challenge_id.encode("ascii") + b"\x00" + code.encode("utf-8", "surrogatepass")
        return hmac.digest(self._code, message, "sha256")

    def subject(self, kind: str, value: str) -> str:
        """A keyed hash naming a rate-limit subject (``kind`` keeps kinds apart)."""
        data = kind.encode("ascii") + b"\x00" + value.encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, key=self._subject, digest_size=16).hexdigest()

    def seal_phone(self, participant: str, e164: str) -> bytes:
        """nonce || ChaCha20-Poly1305 of the number, bound to the participant id."""
        nonce = os.urandom(_NONCE)
        return nonce + self._seal.encrypt(nonce, e164.encode("ascii"), _PHONE_AAD + participant.encode("ascii"))

    def open_phone(self, participant: str, sealed: bytes) -> str:
        """The number sealed for this participant; CampaignStoreError if it does not open."""
        try:
            plain = self._seal.decrypt(bytes(sealed[:_NONCE]), bytes(sealed[_NONCE:]),
                                       _PHONE_AAD + participant.encode("ascii"))
        except (InvalidTag, ValueError):
            raise CampaignStoreError("a sealed number does not open: damaged store or another secret") from None
        return plain.decode("ascii")
