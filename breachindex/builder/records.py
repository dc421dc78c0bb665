"""The record word of a spilling build: what travels from the parser through the partitions.

A record is three little-endian uint64: key, check hash, and meta = data classes (bits 0-15)
| breaches (bits 16-47) | calling code (bits 48-63). With ``--details`` a fourth word refers
to the record's sealed field values. Equal keys merge by OR-ing meta: the calling code of one
number is one value, so OR leaves it as it is.
"""
from __future__ import annotations

import numpy as np

from .files import region_ids
from .layouts import DATA_CLASSES
from .limits import LIMITS

__all__ = ["REC_WIDTH", "REC_BYTES", "NO_DETAILS", "pack", "unpack"]

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


def unpack(meta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(breach masks, class masks over ``DATA_CLASSES``, region ids) of record words."""
    return (((meta >> _BREACH_SHIFT) & _BREACH_MASK).astype(np.uint32),
            (meta & _CLASS_MASK).astype(np.uint32), region_ids(meta >> _CC_SHIFT))
