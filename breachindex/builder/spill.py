"""Bounded memory for a build: records collected up to a budget, then spilled to 256 key-range
partitions on disk, read back one partition at a time in key order; sealed detail records
appended to a file of their own as they are read."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..index.details import DetailsSealer
from .records import NO_DETAILS, REC_BYTES, REC_WIDTH

__all__ = ["PARTITION_BITS", "SpillingCollector", "DetailsSpill", "partition_start"]

PARTITION_BITS = 8
_SPILL_SHIFT = np.uint64(64 - PARTITION_BITS)


def partition_start(partition: int) -> int:
    """The smallest key of a partition."""
    return partition << (64 - PARTITION_BITS)


def _by_partition(recs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Records ordered by partition, and each partition's bounds in them."""
    part = (recs[:, 0] >> _SPILL_SHIFT).astype(np.uint16)
    order = np.argsort(part, kind="stable")  # a radix sort for 16-bit values
    recs, part = recs[order], part[order]
    return recs, np.searchsorted(part, np.arange((1 << PARTITION_BITS) + 1))


class SpillingCollector:
    """Collects records within a memory budget, spilling to key-range partitions on disk."""

    def __init__(self, workdir: Path, memory: int, width: int = REC_WIDTH) -> None:
        self.workdir = workdir
        self.width = width
        self.limit = max(memory // 4, REC_BYTES * 1024)
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._files: dict[int, Any] = {}
        self.spilled_bytes = 0

    def add(self, recs: np.ndarray) -> None:
        if len(recs) == 0:
            return
        self._buffer.append(recs)
        self._buffered += recs.nbytes
        if self._buffered >= self.limit:
            self._spill()

    def _spill(self) -> None:
        if not self._buffer:
            return
        recs, bounds = _by_partition(np.concatenate(self._buffer))
        self._buffer, self._buffered = [], 0
        for p in np.flatnonzero(bounds[1:] > bounds[:-1]).tolist():
            f = self._files.get(p)
            if f is None:
                f = self._files[p] = open(self.workdir / f"part-{p:03d}.rec", "ab")  # noqa: SIM115
            chunk = recs[bounds[p]:bounds[p + 1]].tobytes()
            f.write(chunk)
            self.spilled_bytes += len(chunk)

    def partitions(self) -> Iterator[tuple[int, np.ndarray]]:
        """(partition, its records) for every key range, in ascending key order."""
        empty = np.empty((0, self.width), np.uint64)
        if not self._files:  # everything fitted in memory: split it here
            recs, bounds = _by_partition(np.concatenate(self._buffer) if self._buffer else empty)
            self._buffer, self._buffered = [], 0
            for p in range(1 << PARTITION_BITS):
                yield p, recs[bounds[p]:bounds[p + 1]]
            return
        self._spill()
        for f in self._files.values():
            f.close()
        for p in range(1 << PARTITION_BITS):
            path = self.workdir / f"part-{p:03d}.rec"
            if p not in self._files:
                yield p, empty
                continue
            recs = np.fromfile(path, dtype="<u8").reshape(-1, self.width)
            path.unlink()
            yield p, recs


class DetailsSpill:
    """Sealed detail records, appended as they are read; a record's reference is
    (offset << 24) | length in this file."""

    def __init__(self, path: Path, sealer: DetailsSealer) -> None:
        self.sealer = sealer
        self._f = open(path, "wb+")  # noqa: SIM115 - closed in close()
        self._pos = 0

    def add(self, e164_digits: bytes, breach: str, fields: dict[str, str]) -> int:
        blob = self.sealer.seal(e164_digits, breach, fields)
        self._f.write(blob)
        ref = (self._pos << 24) | len(blob)
        self._pos += len(blob)
        return ref

    def read(self, ref: int) -> bytes:
        return os.pread(self._f.fileno(), ref & 0xFFFFFF, ref >> 24)

    def blobs(self, refs: np.ndarray) -> list[list[bytes]]:
        """Per record, its sealed detail record (none for a synthetic one)."""
        return [[self.read(r)] if r != NO_DETAILS else [] for r in refs.tolist()]

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()
