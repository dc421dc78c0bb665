"""The vault's tests: key derivation cheap enough to run often."""
from __future__ import annotations

from breachindex.vault import KdfParams

#: Argon2id made cheap (1 pass, 8 KiB, 1 lane): for tests, never for a vault in use
FAST = KdfParams(time_cost=1, memory_kib=8, parallelism=1)
