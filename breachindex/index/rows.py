"""An index's rows as a build writes them, a key range at a time: what ``add`` merges a new
breach into, without the index's sources. ``Index.export_rows`` is the way in."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pyroaring import BitMap

from .. import format as fmt
from ..errors import IndexCorrupted
from .details import DETAILS_OFFSETS_FILE, unpack_row

if TYPE_CHECKING:
    from .reader import Index

__all__ = ["RowBlock", "export_rows"]


@dataclass
class RowBlock:
    """The rows of one key range, keys ascending. Masks are over ``Index.breaches`` and
    ``Index.data_classes`` (bit i: the i-th name), ``countries`` indexes ``Index.countries``."""

    #: the range's first row number
    start: int
    keys: np.ndarray  # uint64
    breaches: np.ndarray  # uint32
    data_classes: np.ndarray  # uint32
    countries: np.ndarray  # uint16
    #: per row, its sealed detail records (``details=True`` only)
    details: list[list[bytes]] | None = None


def export_rows(index: Index, *, ranges: int = 1, details: bool = False) -> Iterator[RowBlock]:
    """Every row, in ``ranges`` blocks that split the 64-bit key space evenly (a power of two:
    block p holds the keys whose top bits are p), one block at a time."""
    if ranges < 1 or ranges & (ranges - 1) or ranges > 1 << 16:
        raise ValueError("ranges must be a power of two from 1 to 65536")
    if details and not index.has_details:
        raise ValueError("this index was built without --details: it holds no field values")
    table = index._live()
    profiles = index.manifest["profiles"]
    profile_b = np.array([sum(1 << i for i in b) for b, _ in profiles] or [0], dtype=np.uint32)
    profile_c = np.array([sum(1 << i for i in c) for _, c in profiles] or [0], dtype=np.uint32)
    countries = [index.rows_in(country=c) for c in index.countries]  # read once, used per block
    maps = index._details_maps() if details else None
    shift = 64 - (ranges.bit_length() - 1)
    bounds = [0 if p == 0 else table.lower_bound(p << shift) for p in range(ranges)] + [len(index)]
    for p in range(ranges):
        lo, hi = int(bounds[p]), int(bounds[p + 1])
        ids = np.asarray(table.profiles[lo:hi]).astype(np.intp)
        country = np.zeros(hi - lo, dtype=np.uint16)
        window = BitMap(range(lo, hi))
        for i, bitmap in enumerate(countries):
            country[np.array((bitmap & window).to_array(), dtype=np.int64) - lo] = i
        yield RowBlock(lo, table.keys(lo, hi), profile_b[ids], profile_c[ids], country,
                       None if maps is None else _detail_rows(maps, lo, hi))


def _detail_rows(maps: tuple[np.ndarray, object], lo: int, hi: int) -> list[list[bytes]]:
    offsets, blob = maps
    size = len(blob) - fmt.HEADER_SIZE  # type: ignore[arg-type]
    rows = []
    for r in range(lo, hi):
        start, end = int(offsets[r]), int(offsets[r + 1])
        if not start <= end <= size:
            raise IndexCorrupted(DETAILS_OFFSETS_FILE, f"offsets of row {r} out of range")
        rows.append(unpack_row(bytes(blob[fmt.HEADER_SIZE + start:fmt.HEADER_SIZE + end])))  # type: ignore[index]
    return rows
