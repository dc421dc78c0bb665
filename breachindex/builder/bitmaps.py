"""Roaring bitmaps of a build's rows, made from whole containers rather than row by row.

Adding rows one at a time (``BitMap.update``) placed each in its container, and with the
numpy indexing that fed it was the largest part of a build's merge stage. Here a chunk of
rows becomes the Roaring portable serialization directly (for each 2^16 rows: an array of
its low 16 bits when it holds at most 4096 rows, else a bitset of 8 KiB, the same choice
CRoaring makes), which ``BitMap.deserialize`` reads whole. The writer unites the chunks;
``run_optimize`` before writing makes the files identical to a bitmap built row by row.
"""
from __future__ import annotations

import numpy as np
from pyroaring import BitMap

__all__ = ["bitmap_of_mask", "bitmap_of_rows"]

_NO_RUNS_COOKIE = 12346  # the portable format without run containers
_SPAN = 1 << 16  # rows a container covers
_ARRAY_MAX = 4096  # a container with more rows is a bitset


def _deserialized(keys: list[int], cards: list[int], payloads: list[bytes]) -> BitMap:
    """The bitmap of containers given by key, cardinality and serialized content."""
    if not keys:
        return BitMap()
    count = len(keys)
    header = np.empty((count, 2), dtype="<u2")
    header[:, 0] = keys
    header[:, 1] = np.asarray(cards) - 1
    sizes = np.fromiter(map(len, payloads), dtype=np.int64, count=count)
    offsets = 8 + 8 * count + np.concatenate(([0], np.cumsum(sizes)[:-1]))
    data = b"".join([np.array([_NO_RUNS_COOKIE, count], dtype="<u4").tobytes(), header.tobytes(),
                     offsets.astype("<u4").tobytes(), *payloads])
    return BitMap.deserialize(data)


def bitmap_of_mask(first: int, member: np.ndarray) -> BitMap:
    """The rows ``first + i`` for which ``member[i]`` (bool) is true."""
    n = len(member)
    if n == 0:
        return BitMap()
    pad = first % _SPAN
    spans = -(-(pad + n) // _SPAN)
    flat = np.zeros(spans * _SPAN, dtype=bool)
    flat[pad:pad + n] = member
    bits = flat.reshape(spans, _SPAN)
    cards = np.count_nonzero(bits, axis=1).tolist()
    packed = np.packbits(bits, axis=1, bitorder="little")  # a Roaring bitset, little-endian
    keys, kept, payloads = [], [], []
    for i, card in enumerate(cards):
        if card == 0:
            continue
        keys.append(first // _SPAN + i)
        kept.append(card)
        payloads.append(packed[i].tobytes() if card > _ARRAY_MAX
                        else np.flatnonzero(bits[i]).astype("<u2").tobytes())
    return _deserialized(keys, kept, payloads)


def bitmap_of_rows(rows: np.ndarray) -> BitMap:
    """The rows of an ascending array of distinct row numbers (below 2^32)."""
    rows = np.asarray(rows, dtype=np.uint32)
    if len(rows) == 0:
        return BitMap()
    high = rows >> np.uint32(16)
    starts = np.flatnonzero(np.concatenate(([True], high[1:] != high[:-1])))
    ends = np.append(starts[1:], len(rows))
    lows = (rows & np.uint32(_SPAN - 1)).astype("<u2")
    keys, cards, payloads = [], [], []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        keys.append(int(high[a]))
        cards.append(b - a)
        if b - a > _ARRAY_MAX:
            bits = np.zeros(_SPAN, dtype=bool)
            bits[lows[a:b]] = True
            payloads.append(np.packbits(bits, bitorder="little").tobytes())
        else:
            payloads.append(lows[a:b].tobytes())
    return _deserialized(keys, cards, payloads)
