"""Types of the compiled single-lookup module (native/fastcall.c)."""
from collections.abc import Callable
from typing import Any

ABI_VERSION: int

class Lookups:
    def __init__(self, owner: Any, corrupt: Callable[[int], BaseException], table: int, ctx: int,
                 lookup: int, phone: int) -> None: ...
    def key(self, k: int, /) -> int: ...
    def phone(self, data: bytes, flags: int, /) -> int: ...
