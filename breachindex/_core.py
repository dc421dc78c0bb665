"""Loads the compiled core and turns its status codes into exceptions (the one error path)."""
from __future__ import annotations

from typing import Any, NoReturn

from .errors import IndexCorrupted, NativeError

ABI_VERSION = 4  # must equal BI_ABI_VERSION in native/breachindex.h

try:
    from ._native import ffi, lib
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise NativeError(
        "the compiled core breachindex._native is missing; reinstall with `pip install .`"
    ) from exc

if lib.bi_abi_version() != ABI_VERSION:  # pragma: no cover - only on a stale build
    raise NativeError(
        f"compiled core has ABI version {lib.bi_abi_version()}, this package needs "
        f"{ABI_VERSION}; rebuild with `pip install .`"
    )

__all__ = ["ffi", "lib", "new_reason", "raise_status"]


def new_reason() -> Any:
    """A buffer the C core writes its reason into."""
    return ffi.new("char[]", lib.BI_REASON_LEN)


def raise_status(status: int, reason: Any, *, file: str = "") -> NoReturn:
    """Raise the library exception for a non-OK status from the C core."""
    text = ffi.string(reason).decode("utf-8", "replace")
    if status == lib.BI_ECORRUPT:
        raise IndexCorrupted(file or "index", text)
    if status == lib.BI_EARG:
        raise ValueError(text)
    if status == lib.BI_ENOMEM:
        raise MemoryError(text)
    raise NativeError(f"C core failed with status {status}: {text}")
