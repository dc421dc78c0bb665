"""Loads the compiled core and turns its statuses into exceptions: the one error path.

Every entry point of the C core returns a ``bi_status`` (native/breachindex.h): ``BI_OK``,
``BI_FALLBACK`` (no failure: the reference normalizer decides) or a named failure. ``error``
is the only place that turns a failure into the library's exception, for the cffi calls
(``check_status``) and for the single-lookup module, which calls it back itself.
"""
from __future__ import annotations

from typing import Any

from .errors import IndexCorrupted, InvalidPhoneNumber, NativeError
from .format import DIRECTORY_FILE, KEYS_FILE, PROFILES_FILE

#: the ABI this package was written for: the compiled modules must say the same (a stale build
#: fails here, not in a call); tests/native/test_native_edge.py checks it against the header
ABI_VERSION = 5

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

for _abi in (lib.BI_ABI_VERSION, lib.bi_abi_version(), _FASTCALL_ABI):
    if _abi != ABI_VERSION:  # pragma: no cover - only on a stale build
        raise NativeError(
            f"compiled core has ABI version {_abi}, this package needs {ABI_VERSION}; "
            "rebuild with `pip install .`"
        )

__all__ = ["ffi", "lib", "new_reason", "error", "check_status", "single_lookups", "Lookups", "PHONE_REASONS",
           "STATUS_MESSAGES"]

#: each status's fixed text, from the core (what a failure without a reason says)
STATUS_MESSAGES: dict[int, str] = {
    status: ffi.string(lib.bi_status_message(status)).decode("ascii") for status in range(lib.BI_N_STATUS)
}
#: the file a corruption status blames
_CORRUPT_FILES: dict[int, str] = {
    lib.BI_ERR_CORRUPT_DIRECTORY: DIRECTORY_FILE,
    lib.BI_ERR_CORRUPT_KEYS: KEYS_FILE,
    lib.BI_ERR_CORRUPT_PROFILES: PROFILES_FILE,
}
#: InvalidPhoneNumber.reason of the fast path's rejections (also per item, in batches)
PHONE_REASONS: dict[int, str] = {
    lib.BI_ERR_PHONE_TOO_SHORT: "too_short",
    lib.BI_ERR_PHONE_TOO_LONG: "too_long",
    lib.BI_ERR_PHONE_INVALID_LENGTH: "invalid_length",
}


def error(status: int, reason: Any = None) -> Exception:
    """The library's exception for a failure status of the C core, with the reason the call
    wrote (a ``new_reason`` buffer) or else the status's fixed text: IndexCorrupted naming the
    damaged file, InvalidPhoneNumber, ValueError for an argument out of range, NativeError for
    anything else."""
    text = ffi.string(reason).decode("utf-8", "replace") if reason is not None else ""
    text = text or STATUS_MESSAGES.get(status, "")
    file = _CORRUPT_FILES.get(status)
    if file is not None:
        return IndexCorrupted(file, text)
    phone = PHONE_REASONS.get(status)
    if phone is not None:
        return InvalidPhoneNumber(phone, text)
    if status == lib.BI_ERR_ARG:
        return ValueError(text)
    return NativeError(f"C core failed with status {status}: {text}")


def check_status(status: int, reason: Any = None) -> None:
    """Raise ``error(status, reason)`` unless the call succeeded."""
    if status != lib.BI_OK:
        raise error(status, reason)


def new_reason() -> Any:
    """A zeroed buffer the C core writes its reason into."""
    return ffi.new("char[]", lib.BI_REASON_LEN)


def _address(cdata: Any) -> int:
    return int(ffi.cast("uintptr_t", cdata))


_LOOKUP = _address(ffi.addressof(lib, "bi_lookup"))
_LOOKUP_PHONE = _address(ffi.addressof(lib, "bi_lookup_phone_ctx"))


def single_lookups(owner: Any, table: Any, ctx: Any) -> Lookups:
    """The single-lookup calls over a ``bi_table`` and ``bi_phone_ctx`` that ``owner`` keeps
    alive: ``.key(k)`` and ``.phone(utf8, flags)``, as ``bi_lookup`` and
    ``bi_lookup_phone_ctx`` but without cffi's per-call cost (native/fastcall.c says why); their
    failures go through ``error``."""
    return Lookups(owner, error, _address(table), _address(ctx), _LOOKUP, _LOOKUP_PHONE)
