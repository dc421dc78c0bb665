"""The record word of a spilling build: what travels from the parser through the partitions.

A record is three little-endian uint64: key, check hash, and meta = data classes (bits 0-15)
| breaches (bits 16-47) | calling code (bits 48-63). With ``--details`` a fourth word refers
to the record's sealed field values. Equal keys merge by OR-ing meta: the calling code of one
number is one value, so OR leaves it as it is.
"""
from __future__ import annotations

import numpy as np

from .._core import check_status, ffi, lib
from .files import region_ids
from .layouts import DATA_CLASSES
from .limits import LIMITS

__all__ = ["REC_WIDTH", "REC_BYTES", "NO_DETAILS", "pack", "unpack", "partition_records", "sort_records",
           "value_records"]

REC_WIDTH = 3
REC_BYTES = 8 * REC_WIDTH
#: the fourth word of a record without sealed details (a synthetic one)
NO_DETAILS = (1 << 64) - 1

_CLASS_MASK = np.uint64((1 << LIMITS.record_classes) - 1)
_BREACH_SHIFT = np.uint64(LIMITS.record_classes)
_BREACH_MASK = np.uint64((1 << LIMITS.breaches) - 1)
_CC_SHIFT = np.uint64(LIMITS.record_classes + LIMITS.breaches)

# the leak layouts' classes are the ones a record word carries
assert len(DATA_CLASSES) <= LIMITS.record_classes and int(_CC_SHIFT) + 16 == 64


def pack(keys: np.ndarray, check: np.ndarray, classes: np.ndarray, cc: np.ndarray, breach_bit: int,
         refs: np.ndarray | None = None) -> np.ndarray:
    """Records of one breach (``breach_bit``: its mask) from the parser's columns."""
    recs = np.empty((len(keys), REC_WIDTH if refs is None else REC_WIDTH + 1), np.uint64)
    if refs is not None:
        recs[:, 3] = refs
    recs[:, 0] = keys
    recs[:, 1] = check
    recs[:, 2] = (classes.astype(np.uint64) | (np.uint64(breach_bit) << _BREACH_SHIFT)
                  | (cc.astype(np.uint64) << _CC_SHIFT))
    return recs


def value_records(rules: object, siphash_key: bytes, check_key: bytes, values: np.ndarray,
                  classes: np.ndarray, breach_bit: int, width: int = REC_WIDTH,
                  threads: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Records of leak-form numbers given as integers (the synthetic leak's), keyed and packed
    in C on ``threads`` threads: the records of the possible numbers, in order, and every
    number's status (``BI_OK`` or why not). A fourth word, if any, is ``NO_DETAILS``."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    classes = np.ascontiguousarray(classes, dtype=np.uint32)
    n = len(values)
    recs = np.empty((n, width), np.uint64)
    status = np.empty(n, np.uint8)
    kept = ffi.new("size_t *")
    check_status(lib.bi_value_records(
        rules, siphash_key, check_key, ffi.from_buffer("int64_t[]", values),
        ffi.from_buffer("uint32_t[]", classes), n, int(np.uint64(breach_bit) << _BREACH_SHIFT),
        int(_CC_SHIFT), width, NO_DETAILS, threads, ffi.from_buffer("uint64_t[]", recs),
        ffi.from_buffer("uint8_t[]", status), kept))
    return recs[:kept[0]], status


def unpack(meta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(breach masks, class masks over ``DATA_CLASSES``, region ids) of record words."""
    return (((meta >> _BREACH_SHIFT) & _BREACH_MASK).astype(np.uint32),
            (meta & _CLASS_MASK).astype(np.uint32), region_ids(meta >> _CC_SHIFT))


def partition_records(recs: np.ndarray, bits: int, out: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The records ordered by the top ``bits`` bits of their keys (in C, one counting pass), in
    ``out`` if given (C-contiguous, of their shape), and where each partition starts in them
    (``2**bits + 1`` bounds)."""
    recs = np.ascontiguousarray(recs, dtype=np.uint64)
    if out is None:
        out = np.empty_like(recs)
    elif not (out.flags.c_contiguous and out.dtype == np.uint64 and out.shape == recs.shape):
        raise ValueError("out must be a C-contiguous uint64 array of the records' shape")
    counts = np.empty(1 << bits, dtype=np.uint64)
    check_status(lib.bi_partition_records(ffi.from_buffer("uint64_t[]", recs), len(recs), recs.shape[1],
                                          bits, ffi.from_buffer("uint64_t[]", out),
                                          ffi.from_buffer("uint64_t[]", counts)))
    bounds = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    return out, bounds


def sort_records(recs: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    """The records (a C-contiguous uint64 array of rows) sorted in place by key, in C; returned.
    The order of equal keys is unspecified. ``scratch``: room for at least as many records,
    reused between calls (fresh memory costs a page fault per 4 KiB)."""
    if not (recs.flags.c_contiguous and recs.dtype == np.uint64 and recs.ndim == 2):
        raise ValueError("records must be a C-contiguous 2-D uint64 array")
    if scratch is None or scratch.size < recs.size or scratch.dtype != np.uint64:
        scratch = np.empty_like(recs)
    counts = np.empty((1 << lib.BI_SORT_BUCKET_BITS) + 1, dtype=np.uint64)
    check_status(lib.bi_sort_records(ffi.from_buffer("uint64_t[]", recs), len(recs), recs.shape[1],
                                     ffi.from_buffer("uint64_t[]", scratch),
                                     ffi.from_buffer("uint64_t[]", counts)))
    return recs
