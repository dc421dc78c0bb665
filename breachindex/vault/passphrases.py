"""The person's own secrets as text: the passphrase policy, and one-time recovery codes.

Passphrases are Unicode, normalized to NFKC before use (NIST SP 800-63B, 5.1.1.2), so the same
passphrase typed on another keyboard or system opens the same key; their length is counted in
characters after normalization. The policy (``PassphrasePolicy``) applies when a passphrase is
chosen, never when one is checked: raising the minimum later does not lock anyone out.

A recovery code is 150 random bits written as 30 Crockford base32 characters in six groups
(``7KQ2M-0XW4T-...``). Reading one back forgives case, spaces and hyphens, and reads O as 0
and I or L as 1. Only a key wrapped under it is stored, never the code.
"""
from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass

from ..errors import WeakPassphrase, WrongRecoveryCode

__all__ = ["PassphrasePolicy", "RECOVERY_CODE_LENGTH", "encode_passphrase", "new_recovery_code",
           "parse_recovery_code"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_READ = {**{c: c for c in _CROCKFORD}, "O": "0", "I": "1", "L": "1"}
#: characters in a recovery code (5 bits each: 150 bits)
RECOVERY_CODE_LENGTH = 30
_GROUP = 5
_LONGEST_CHECKED = 4096  # a passphrase longer than this cannot be right: no Argon2 run for it


@dataclass(frozen=True)
class PassphrasePolicy:
    """What a new passphrase must be: ``min_length`` to ``max_length`` characters (NFKC).

    The minimum is 12 by default and cannot be set below 8: the passphrase is all that stands
    between a copy of the database and the person's data, guessed offline at the Argon2 rate.
    """

    min_length: int = 12
    max_length: int = 1024

    def __post_init__(self) -> None:
        if isinstance(self.min_length, bool) or not isinstance(self.min_length, int) or self.min_length < 8:
            raise ValueError("min_length must be an int of at least 8")
        if (isinstance(self.max_length, bool) or not isinstance(self.max_length, int)
                or not self.min_length <= self.max_length <= _LONGEST_CHECKED):
            raise ValueError(f"max_length must be an int from min_length to {_LONGEST_CHECKED}")

    def check(self, passphrase: object) -> bytes:
        """The encoded passphrase if the policy accepts it; WeakPassphrase (with ``reason``) if not."""
        if not isinstance(passphrase, str):
            raise WeakPassphrase("not_text", "a passphrase must be text (str)")
        normalized = unicodedata.normalize("NFKC", passphrase)
        if len(normalized) < self.min_length or not normalized.strip():
            raise WeakPassphrase("too_short", f"a passphrase needs at least {self.min_length} characters")
        if len(normalized) > self.max_length:
            raise WeakPassphrase("too_long", f"a passphrase may have at most {self.max_length} characters")
        return normalized.encode("utf-8")


def encode_passphrase(passphrase: object) -> bytes | None:
    """The bytes an offered passphrase is checked with (NFKC, UTF-8); None if it cannot be right."""
    if not isinstance(passphrase, str) or len(passphrase) > _LONGEST_CHECKED:
        return None
    return unicodedata.normalize("NFKC", passphrase).encode("utf-8")


def new_recovery_code() -> str:
    """A fresh recovery code, grouped for reading aloud and writing down."""
    raw = "".join(secrets.choice(_CROCKFORD) for _ in range(RECOVERY_CODE_LENGTH))
    return "-".join(raw[i:i + _GROUP] for i in range(0, RECOVERY_CODE_LENGTH, _GROUP))


def parse_recovery_code(code: object) -> bytes:
    """The canonical bytes of a recovery code as typed; WrongRecoveryCode if it is malformed."""
    if isinstance(code, str) and len(code) <= 4 * RECOVERY_CODE_LENGTH:
        letters = [_CROCKFORD_READ.get(c) for c in code.upper() if c not in " -\t"]
        if len(letters) == RECOVERY_CODE_LENGTH and all(letters):
            return "".join(c for c in letters if c).encode("ascii")
    raise WrongRecoveryCode("that is not a recovery code: it has 30 letters and digits, in six groups")
