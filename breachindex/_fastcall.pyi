"""Types of the compiled single-lookup module (native/fastcall.c)."""
from collections.abc import Callable
from typing import Any

ABI_VERSION: int

class Lookups:
    def __init__(self, owner: Any, error: Callable[[int], BaseException], table: int, ctx: int,
                 lookup: int, phone: int) -> None: ...
    def key(self, k: int, /) -> int:
        """The row of a uint64 key, -1 if absent; raises ``error(status)`` on a damaged index."""
    def phone(self, data: bytes, flags: int, /) -> int | None:
        """``(profile << 32) | row`` of UTF-8 phone text, -1 if absent, None where the reference
        must normalize it; raises ``error(status)`` (InvalidPhoneNumber, IndexCorrupted)."""
