"""Many phone numbers to many index keys: the C fast path in one call, the reference for the rest."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from .._core import PHONE_REASONS, check_status, ffi, lib
from ..errors import InvalidPhoneNumber
from .phone import _check_region, calling_code, normalize_reference, rules
from .secret import KeyLike, as_key

__all__ = ["KeyedBatch", "Numbers", "count_numbers", "key_numbers", "phone_keys", "hash_e164_digits",
           "check_threads", "usable_cores"]

E164_WIDTH = lib.BI_E164_MAX

#: what a batch of numbers may be: an iterable of ``str``, a numpy ``U``/``S`` array, or a
#: bytes-like buffer of lines
Numbers: TypeAlias = "Iterable[str] | np.ndarray | bytes | bytearray | memoryview"


#: numbers a list or a bytes buffer is packed and keyed by at a time: a batch holds little
#: beside its result whatever its size, and a part's text and offsets stay in the cache
CHUNK = 1 << 16


@dataclass
class KeyedBatch:
    """The result of keying a batch: ``keys`` is valid where ``ok``; ``failed`` maps the
    position of each number that is not possible to its InvalidPhoneNumber reason."""

    keys: np.ndarray  # uint64
    ok: np.ndarray  # bool
    failed: dict[int, str]
    check: np.ndarray | None = None  # uint64: the collision check hash (build only)
    e164: np.ndarray | None = None  # 'S20': E.164 digits without '+' (build only)
    cc: np.ndarray | None = None  # uint16: country calling code (build only)

    @property
    def reasons(self) -> list[str | None]:
        """Per number: None, or the reason it is not possible."""
        reasons: list[str | None] = [None] * len(self.keys)
        for i, reason in self.failed.items():
            reasons[i] = reason
        return reasons


def usable_cores() -> int:
    """The cores this process may run on (its affinity), at most ``BI_MAX_THREADS``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, lib.BI_MAX_THREADS))


def check_threads(threads: int | None) -> int:
    """``threads`` as a count: None is ``usable_cores()``; ValueError outside 1..BI_MAX_THREADS."""
    if threads is None:
        return usable_cores()
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= lib.BI_MAX_THREADS:
        raise ValueError(f"threads must be None or an int from 1 to {lib.BI_MAX_THREADS}")
    return threads


class _Outputs:
    """A batch's result arrays, and the C pointers to rows ``a..b`` of them."""

    def __init__(self, n: int, *, check: bool, e164: bool, cc: bool) -> None:
        self.keys = np.zeros(n, dtype=np.uint64)
        self.status = np.empty(n, dtype=np.uint8)
        self.check = np.zeros(n, dtype=np.uint64) if check else None
        self.e164 = np.zeros(n, dtype=f"S{E164_WIDTH}") if e164 else None
        self.cc = np.zeros(n, dtype=np.uint16) if cc else None

    def pointers(self, a: int, b: int) -> tuple[Any, ...]:
        """keys, check, status, e164, cc: the order of the C calls' last arguments."""
        return (ffi.from_buffer("uint64_t[]", self.keys[a:b]),
                ffi.NULL if self.check is None else ffi.from_buffer("uint64_t[]", self.check[a:b]),
                ffi.from_buffer("uint8_t[]", self.status[a:b]),
                ffi.NULL if self.e164 is None else ffi.from_buffer("char[]", self.e164[a:b]),
                ffi.NULL if self.cc is None else ffi.from_buffer("uint16_t[]", self.cc[a:b]))


#: one part of a batch: its rows a..b, the C call that keys them and that call's input
#: arguments, and the text of the part's number j (None: not text), for the few the fast path
#: leaves to the reference
_Part = tuple[int, int, Any, tuple[Any, ...], Callable[[int], "str | None"]]


def _pack(numbers: list[Any]) -> tuple[bytes, np.ndarray, Callable[[int], str | None]]:
    """The numbers as one buffer of UTF-8 text and their offsets into it (a number that is not
    text is empty there), and a function giving number ``i`` as ``str`` (None: not text).

    A list of ASCII ``str`` is joined and measured in C, without a loop in Python."""
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


def _text_parts(numbers: list[Any]) -> Iterator[_Part]:
    """A list, packed and keyed CHUNK numbers at a time."""
    for a in range(0, len(numbers), CHUNK):
        part = numbers if len(numbers) <= CHUNK else numbers[a:a + CHUNK]
        buf, offsets, text_of = _pack(part)
        yield (a, a + len(part), lib.bi_phone_keys,
               (buf, ffi.from_buffer("uint64_t[]", offsets[:-1]),
                ffi.from_buffer("uint64_t[]", offsets[1:]), len(part)), text_of)


def _ascii(cell: bytes) -> str | None:
    return cell.decode("ascii") if cell.isascii() else None


def _cell_parts(array: np.ndarray) -> Iterator[_Part]:
    """A numpy ``S`` or ``U`` array, read in place by C: one part, with nothing packed."""
    if array.dtype.itemsize == 0:  # only empty strings
        array = array.astype(f"{array.dtype.kind}1")
    if not array.dtype.isnative:  # UCS-4 in the other byte order
        array = array.astype(array.dtype.newbyteorder("="))
    array = np.ascontiguousarray(array)
    char_size = 1 if array.dtype.kind == "S" else 4
    text_of: Callable[[int], str | None] = (
        (lambda i: _ascii(array[i])) if char_size == 1 else (lambda i: str(array[i])))
    yield (0, len(array), lib.bi_phone_keys_cells,
           (ffi.from_buffer("uint8_t[]", array.view(np.uint8)), array.dtype.itemsize // char_size,
            char_size, len(array)), text_of)


def _utf8(line: bytes) -> str | None:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _line_parts(data: bytes | bytearray | memoryview) -> Iterator[_Part]:
    """A bytes-like buffer of lines, split in C and keyed in place, CHUNK lines at a time."""
    view = memoryview(data).cast("B")  # TypeError unless C-contiguous
    buf = ffi.from_buffer("char[]", view)
    starts = np.empty(CHUNK, dtype=np.uint64)
    ends = np.empty(CHUNK, dtype=np.uint64)
    starts_c, ends_c = ffi.from_buffer("uint64_t[]", starts), ffi.from_buffer("uint64_t[]", ends)
    lines, used = ffi.new("size_t *"), ffi.new("size_t *")
    a = at = 0
    while at < len(view):
        check_status(lib.bi_line_spans(buf + at, len(view) - at, CHUNK, starts_c, ends_c, lines, used))
        k = int(lines[0])

        def text_of(j: int, base: int = at) -> str | None:
            return _utf8(bytes(view[base + int(starts[j]):base + int(ends[j])]))

        yield a, a + k, lib.bi_phone_keys, (buf + at, starts_c, ends_c, k), text_of
        a += k
        at += used[0]


def count_numbers(numbers: bytes | bytearray | memoryview) -> int:
    """How many numbers a bytes-like buffer of lines holds (as ``key_numbers`` reads it)."""
    view = memoryview(numbers).cast("B")
    lines = ffi.new("size_t *")
    check_status(lib.bi_count_lines(ffi.from_buffer("char[]", view), len(view), lines))
    return int(lines[0])


def _parts(numbers: Any) -> tuple[int, Iterator[_Part]]:
    if isinstance(numbers, (bytes, bytearray, memoryview)):
        return count_numbers(numbers), _line_parts(numbers)
    if isinstance(numbers, np.ndarray) and numbers.ndim == 1 and numbers.dtype.kind in "SU":
        return len(numbers), _cell_parts(numbers)
    if isinstance(numbers, str):
        raise TypeError("numbers must be a collection of numbers, not one str")
    if not isinstance(numbers, list):  # a tuple, a generator, another kind of array
        numbers = list(numbers)
    return len(numbers), _text_parts(numbers)


def hash_e164_digits(digits: np.ndarray, siphash_key: bytes) -> np.ndarray:
    """SipHash of each NUL-padded 'S20' slot (E.164 digits without '+')."""
    digits = np.ascontiguousarray(digits, dtype=f"S{E164_WIDTH}")
    keys = np.empty(len(digits), dtype=np.uint64)
    check_status(lib.bi_siphash_slots(siphash_key, ffi.from_buffer(digits), E164_WIDTH, len(digits),
                                      ffi.from_buffer("uint64_t[]", keys)))
    return keys


def key_numbers(
    numbers: Numbers,
    *,
    siphash_key: bytes,
    region: str | None = None,
    check_key: bytes | None = None,
    want_e164: bool = False,
    want_cc: bool = False,
    threads: int | None = None,
) -> KeyedBatch:
    """Normalize and key a batch; numbers that are not possible get a reason, never a key.

    ``numbers`` is a list (or any iterable) of ``str``, a numpy ``U`` or ``S`` array (bytes
    read as ASCII), or a bytes-like buffer of UTF-8 lines (``\\n`` or ``\\r\\n``). ``threads``
    share the C keying (None: every core this process may use; batches under 4096 numbers a
    thread use one).
    """
    region = _check_region(region)
    threads = check_threads(threads)
    r = rules()
    flags = r.flags_for(region)
    n, parts = _parts(numbers)
    out = _Outputs(n, check=check_key is not None, e164=want_e164, cc=want_cc)
    failed: dict[int, str] = {}
    for a, b, call, inputs, text_of in parts:
        check_status(call(r.table, siphash_key, check_key if check_key is not None else ffi.NULL,
                          *inputs, flags, threads, *out.pointers(a, b)))
        _by_reference(out, a, b, text_of, failed, siphash_key, check_key, region)
    return KeyedBatch(keys=out.keys, ok=out.status == lib.BI_OK, failed=failed, check=out.check,
                      e164=out.e164, cc=out.cc)


def _by_reference(out: _Outputs, a: int, b: int, text_of: Callable[[int], str | None],
                  failed: dict[int, str], siphash_key: bytes, check_key: bytes | None,
                  region: str | None) -> None:
    """Rows a..b that the fast path refused or left to the reference: their reasons, or their
    keys from the reference normalizer."""
    status = out.status[a:b]
    for j in np.flatnonzero(status != lib.BI_OK).tolist():
        i = a + j
        st = int(status[j])
        if st != lib.BI_FALLBACK:
            failed[i] = PHONE_REASONS[st]
            continue
        text = text_of(j)
        if text is None:
            failed[i] = "not_text"
            continue
        try:
            digits = normalize_reference(text, region)[1:].encode("ascii")
        except InvalidPhoneNumber as exc:
            failed[i] = exc.reason
            continue
        out.keys[i] = lib.bi_siphash24(siphash_key, digits, len(digits))
        if out.check is not None and check_key is not None:
            out.check[i] = lib.bi_siphash24(check_key, digits, len(digits))
        if out.e164 is not None:
            out.e164[i] = digits
        if out.cc is not None:
            out.cc[i] = calling_code(digits.decode("ascii"))
        status[j] = lib.BI_OK


def phone_keys(
    numbers: Numbers, *, key: KeyLike, region: str | None = None, tweak: int = 0,
    threads: int | None = None,
) -> np.ndarray:
    """The uint64 index keys of many numbers, computed in C with the GIL released.

    ``numbers`` as for ``key_numbers``: a list of ``str``, a numpy ``U``/``S`` array or a buffer
    of lines, all keyed without a loop in Python, on every usable core unless ``threads`` says
    otherwise. For callers that key once and look up many times (``Index.lookup_keys``).
    ``tweak`` must be the index's ``key_tweak`` (0 unless its build met a 64-bit key collision;
    prefer ``Index.phone_keys``). Raises InvalidPhoneNumber, with ``position``, for the first
    number that is not possible.
    """
    batch = key_numbers(numbers, siphash_key=as_key(key).siphash_key(tweak), region=region,
                        threads=threads)
    if batch.failed:
        i = min(batch.failed)
        reason = batch.failed[i]
        raise InvalidPhoneNumber(reason, f"not a possible phone number ({reason})", position=i)
    return batch.keys
