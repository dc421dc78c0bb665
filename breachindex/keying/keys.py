"""Many phone numbers to many index keys: the C fast path in one call, the reference for the rest."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._core import PHONE_REASONS, check_status, ffi, lib
from ..errors import InvalidPhoneNumber
from .phone import _check_region, calling_code, normalize_reference, rules
from .secret import KeyLike, as_key

__all__ = ["KeyedBatch", "key_numbers", "phone_keys", "hash_e164_digits"]

E164_WIDTH = lib.BI_E164_MAX


@dataclass
class KeyedBatch:
    """The result of keying a batch: ``keys`` is valid where ``reasons`` is None."""

    keys: np.ndarray  # uint64
    ok: np.ndarray  # bool
    reasons: list[str | None]  # per number: None, or the InvalidPhoneNumber reason
    check: np.ndarray | None = None  # uint64: the collision check hash (build only)
    e164: np.ndarray | None = None  # 'S20': E.164 digits without '+' (build only)
    cc: np.ndarray | None = None  # uint16: country calling code (build only)


def _pack(numbers: list[str] | np.ndarray) -> tuple[bytes, np.ndarray, Callable[[int], str | None]]:
    """The numbers as one buffer of UTF-8 text and their offsets into it (a number that is not
    text is empty there), and a function giving number ``i`` as ``str`` (None: not text), for
    the few the C fast path leaves to the reference.

    Without a loop in Python where it can: a numpy array of ``U`` or ``S`` strings is packed
    by numpy, and a list of ASCII ``str`` is joined and measured in C."""
    if isinstance(numbers, np.ndarray) and numbers.ndim == 1 and numbers.dtype.kind in "SU":
        packed = _pack_array(numbers)
        if packed is not None:
            return packed
        # bytes are read as ASCII: an item that is not is not text (None, as any non-str)
        items: list[Any] = [n.decode("ascii") if isinstance(n, bytes) and n.isascii() else
                            n if isinstance(n, str) else None for n in numbers.tolist()]
        numbers = items
    try:
        joined = "".join(numbers)
    except TypeError:  # something that is not text among them
        joined = None
    if joined is not None and joined.isascii():
        offsets = np.zeros(len(numbers) + 1, dtype=np.uint64)
        np.cumsum(np.fromiter(map(len, numbers), dtype=np.uint64, count=len(numbers)), out=offsets[1:])
        return joined.encode("ascii"), offsets, numbers.__getitem__
    encoded: list[bytes] = []
    for s in numbers:
        encoded.append(s.encode("utf-8", "surrogatepass") if isinstance(s, str) else b"")
    offsets = np.zeros(len(encoded) + 1, dtype=np.uint64)
    if encoded:
        np.cumsum(np.fromiter(map(len, encoded), dtype=np.uint64, count=len(encoded)), out=offsets[1:])
    return b"".join(encoded), offsets, lambda i: numbers[i] if isinstance(numbers[i], str) else None


def _pack_array(numbers: np.ndarray) -> tuple[bytes, np.ndarray, Callable[[int], str | None]] | None:
    """``_pack`` of a numpy string array; None if it holds anything but ASCII."""
    if numbers.dtype.kind == "U":
        try:
            data = numbers.astype(f"S{max(1, numbers.dtype.itemsize // 4)}")
        except UnicodeEncodeError:
            return None
    else:
        data = numbers
    data = np.ascontiguousarray(data)
    width = data.dtype.itemsize
    cells = data.view(np.uint8).reshape(len(data), width)  # no copy
    if numbers.dtype.kind == "S" and cells.size and cells.max() >= 0x80:
        return None
    lengths = np.char.str_len(data)  # without the NUL padding
    buf = cells[np.arange(width) < lengths[:, None]].tobytes()
    offsets = np.zeros(len(data) + 1, dtype=np.uint64)
    np.cumsum(lengths, out=offsets[1:])
    return buf, offsets, lambda i: bytes(data[i]).decode("ascii")


def hash_e164_digits(digits: np.ndarray, siphash_key: bytes) -> np.ndarray:
    """SipHash of each NUL-padded 'S20' slot (E.164 digits without '+')."""
    digits = np.ascontiguousarray(digits, dtype=f"S{E164_WIDTH}")
    keys = np.empty(len(digits), dtype=np.uint64)
    check_status(lib.bi_siphash_slots(siphash_key, ffi.from_buffer(digits), E164_WIDTH, len(digits),
                                      ffi.from_buffer("uint64_t[]", keys)))
    return keys


def key_numbers(
    numbers: Iterable[str] | np.ndarray,
    *,
    siphash_key: bytes,
    region: str | None = None,
    check_key: bytes | None = None,
    want_e164: bool = False,
    want_cc: bool = False,
) -> KeyedBatch:
    """Normalize and key a batch; numbers that are not possible get a reason, never a key."""
    region = _check_region(region)
    r = rules()
    if not isinstance(numbers, (list, np.ndarray)):  # a tuple, a generator
        numbers = list(numbers)
    n = len(numbers)
    buf, offsets, text_of = _pack(numbers)
    keys = np.zeros(n, dtype=np.uint64)
    status = np.empty(n, dtype=np.uint8)
    check = np.zeros(n, dtype=np.uint64) if check_key is not None else None
    e164 = np.zeros(n, dtype=f"S{E164_WIDTH}") if want_e164 else None
    cc = np.zeros(n, dtype=np.uint16) if want_cc else None
    check_status(lib.bi_phone_keys(
        r.table, siphash_key, check_key if check_key is not None else ffi.NULL,
        buf, ffi.from_buffer("uint64_t[]", offsets), n, r.flags_for(region),
        ffi.from_buffer("uint64_t[]", keys),
        ffi.from_buffer("uint64_t[]", check) if check is not None else ffi.NULL,
        ffi.from_buffer("uint8_t[]", status),
        ffi.from_buffer("char[]", e164) if e164 is not None else ffi.NULL,
        ffi.from_buffer("uint16_t[]", cc) if cc is not None else ffi.NULL,
    ))
    reasons: list[str | None] = [None] * n
    for i in np.flatnonzero(status != lib.BI_OK).tolist():
        st = int(status[i])
        if st != lib.BI_FALLBACK:
            reasons[i] = PHONE_REASONS[st]
            continue
        text = text_of(i)
        if text is None:
            reasons[i] = "not_text"
            continue
        try:
            digits = normalize_reference(text, region)[1:].encode("ascii")
        except InvalidPhoneNumber as exc:
            reasons[i] = exc.reason
            continue
        keys[i] = lib.bi_siphash24(siphash_key, digits, len(digits))
        if check is not None and check_key is not None:
            check[i] = lib.bi_siphash24(check_key, digits, len(digits))
        if e164 is not None:
            e164[i] = digits
        if cc is not None:
            cc[i] = calling_code(digits.decode("ascii"))
        status[i] = lib.BI_OK
    return KeyedBatch(keys=keys, ok=status == lib.BI_OK, reasons=reasons, check=check, e164=e164,
                      cc=cc)


def phone_keys(
    numbers: Iterable[str] | np.ndarray, *, key: KeyLike, region: str | None = None, tweak: int = 0
) -> np.ndarray:
    """The uint64 index keys of many numbers, computed in C with the GIL released.

    For callers that key once and look up many times (``Index.lookup_keys``). ``tweak`` must
    be the index's ``key_tweak`` (0 unless its build met a 64-bit key collision; prefer
    ``Index.phone_keys``). Raises InvalidPhoneNumber, with ``position``, for the first number
    that is not possible.
    """
    batch = key_numbers(numbers, siphash_key=as_key(key).siphash_key(tweak), region=region)
    if not batch.ok.all():
        i = int(np.argmin(batch.ok))
        reason = batch.reasons[i] or "not_a_number"
        raise InvalidPhoneNumber(reason, f"not a possible phone number ({reason})", position=i)
    return batch.keys
