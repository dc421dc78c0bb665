"""Argon2id: the key that wraps a participant's private key, derived from their own secret.

The default is RFC 9106's second recommended option (section 4), for when 2 GiB per guess is
too much: Argon2id, t=3 passes, p=4 lanes, m=64 MiB, a 16-byte random salt, a 32-byte tag
(``RFC9106_LOW_MEMORY``). The parameters are stored beside every wrap, so they can be raised
later while wraps made under older ones still open; a wrap is remade under the current ones
whenever the passphrase changes.

Stored parameters are read back from the database, which is outside data: they are checked
against bounds (``KdfParams.check``) before Argon2 runs, so an edited row cannot ask for a
terabyte of memory.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from argon2.low_level import ARGON2_VERSION, Type, hash_secret_raw

from ..errors import VaultCorrupted

__all__ = ["KDF_NAME", "KdfParams", "RFC9106_LOW_MEMORY", "derive_key"]

#: the name stored with every wrap: Argon2id, version 0x13 (19)
KDF_NAME = f"argon2id-v{ARGON2_VERSION}"
_KEY_BYTES = 32
_MAX_TIME_COST = 64
_MAX_MEMORY_KIB = 4 * 1024 * 1024  # 4 GiB
_MAX_PARALLELISM = 64


@dataclass(frozen=True)
class KdfParams:
    """Argon2id costs: ``time_cost`` passes, ``memory_kib`` KiB, ``parallelism`` lanes, and the
    salt length in bytes. ValueError if out of bounds (Argon2 needs memory >= 8 KiB per lane)."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4
    salt_bytes: int = 16

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem is not None:
            raise ValueError(f"Argon2id parameters: {problem}")

    def problem(self) -> str | None:
        """What is out of bounds, or None."""
        for name in ("time_cost", "memory_kib", "parallelism", "salt_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{name} must be an int"
        if not 1 <= self.time_cost <= _MAX_TIME_COST:
            return f"time_cost must be 1 to {_MAX_TIME_COST}"
        if not 1 <= self.parallelism <= _MAX_PARALLELISM:
            return f"parallelism must be 1 to {_MAX_PARALLELISM}"
        if not 8 * self.parallelism <= self.memory_kib <= _MAX_MEMORY_KIB:
            return f"memory_kib must be from 8 per lane to {_MAX_MEMORY_KIB}"
        if not 16 <= self.salt_bytes <= 64:
            return "salt_bytes must be 16 to 64"
        return None

    @classmethod
    def stored(cls, kdf: str, time_cost: int, memory_kib: int, parallelism: int, salt: bytes) -> KdfParams:
        """The parameters of a stored wrap; VaultCorrupted (``bad_kdf_params``) if unusable."""
        if kdf != KDF_NAME:
            raise VaultCorrupted("bad_kdf_params", f"a wrapped key names an unknown key derivation ({kdf!r})")
        try:
            return cls(int(time_cost), int(memory_kib), int(parallelism), len(salt))
        except (TypeError, ValueError) as exc:
            raise VaultCorrupted("bad_kdf_params", f"a wrapped key has unusable parameters: {exc}") from None

    def new_salt(self) -> bytes:
        return os.urandom(self.salt_bytes)


#: RFC 9106, section 4, second recommended option: t=3, p=4, m=64 MiB, 128-bit salt
RFC9106_LOW_MEMORY = KdfParams(time_cost=3, memory_kib=64 * 1024, parallelism=4, salt_bytes=16)


def derive_key(secret: bytes, salt: bytes, params: KdfParams) -> bytes:
    """The 32-byte Argon2id key of ``secret`` (already normalized and encoded) under ``salt``."""
    if len(salt) != params.salt_bytes:
        raise ValueError("the salt length does not match the parameters")
    return hash_secret_raw(secret, salt, time_cost=params.time_cost, memory_cost=params.memory_kib,
                           parallelism=params.parallelism, hash_len=_KEY_BYTES, type=Type.ID,
                           version=ARGON2_VERSION)
