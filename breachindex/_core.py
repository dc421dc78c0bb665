"""Loads the compiled core and turns its status codes into exceptions (the one error path)."""
from __future__ import annotations

from typing import Any, NoReturn

from .errors import IndexCorrupted, NativeError
from .format import DIRECTORY_FILE, PROFILES_FILE

ABI_VERSION = 4  # must equal BI_ABI_VERSION in native/breachindex.h

try:
    from ._native import ffi, lib
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise NativeError(
        "the compiled core breachindex._native is missing; reinstall with `pip install .`"
    ) from exc

try:
    from ._fastcall import ABI_VERSION as _FASTCALL_ABI
    from ._fastcall import Lookups
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise NativeError(
        "the compiled module breachindex._fastcall is missing; reinstall with `pip install .`"
    ) from exc

for _abi in (lib.bi_abi_version(), _FASTCALL_ABI):
    if _abi != ABI_VERSION:  # pragma: no cover - only on a stale build
        raise NativeError(
            f"compiled core has ABI version {_abi}, this package needs {ABI_VERSION}; "
            "rebuild with `pip install .`"
        )

__all__ = ["ffi", "lib", "new_reason", "raise_status", "single_lookups", "Lookups", "CORRUPT_MESSAGES"]

#: what a single lookup's corruption code means: (file, reason)
CORRUPT_MESSAGES: dict[int, tuple[str, str]] = {
    lib.BI_ROW_CORRUPT: (DIRECTORY_FILE, "a directory bucket points outside the key file"),
    lib.BI_LOOKUP_CORRUPT_DIR: (DIRECTORY_FILE, "a directory bucket points outside the key file"),
    lib.BI_LOOKUP_CORRUPT: (PROFILES_FILE, "a row has a profile id out of range"),
}


def _corrupt(code: int) -> IndexCorrupted:
    return IndexCorrupted(*CORRUPT_MESSAGES[code])


def _address(cdata: Any) -> int:
    return int(ffi.cast("uintptr_t", cdata))


_LOOKUP = _address(ffi.addressof(lib, "bi_lookup"))
_LOOKUP_PHONE = _address(ffi.addressof(lib, "bi_lookup_phone_ctx"))


def single_lookups(owner: Any, table: Any, ctx: Any) -> Lookups:
    """The single-lookup calls over a ``bi_table`` and ``bi_phone_ctx`` that ``owner`` keeps
    alive: ``.key(k)`` and ``.phone(utf8, flags)``, as ``bi_lookup`` and
    ``bi_lookup_phone_ctx`` but without cffi's per-call cost (native/fastcall.c says why)."""
    return Lookups(owner, _corrupt, _address(table), _address(ctx), _LOOKUP, _LOOKUP_PHONE)


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
