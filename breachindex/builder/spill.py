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
from .records import NO_DETAILS, REC_BYTES, REC_WIDTH, partition_records

__all__ = ["PARTITION_BITS", "SpillingCollector", "DetailsSpill", "partition_start"]

PARTITION_BITS = 8


def partition_start(partition: int) -> int:
    """The smallest key of a partition."""
    return partition << (64 - PARTITION_BITS)


def _read_into(path: Path, out: np.ndarray) -> None:
    """The whole file into ``out`` (bytes, its size)."""
    view = out.data.cast("B")
    with open(path, "rb", buffering=0) as f:
        done = 0
        while done < len(view):
            got = f.readinto(view[done:])
            if not got:
                raise OSError(f"{path} was cut short while the build read it")
            done += got


class SpillingCollector:
    """Collects records within a memory budget, spilling to key-range partitions on disk.

    Each block of records is split by partition as it comes (in C, one counting pass) into one
    buffer of the budget's size: a spill then writes every partition's pieces in turn, with no
    copy of the whole buffer, and the buffer is used again, so its pages are faulted in once
    (fresh memory costs the kernel a zeroed page per 4 KiB). A build that fits in memory joins
    only one partition's pieces at a time. Partitions read back from disk share three
    buffers: each is valid until two more have been read."""

    def __init__(self, workdir: Path, memory: int, width: int = REC_WIDTH) -> None:
        self.workdir = workdir
        self.width = width
        self.limit = max(memory // 4, REC_BYTES * 1024)
        self._capacity = self.limit // (8 * width)  # records the buffer holds
        self._arena: np.ndarray | None = None
        self._used = 0  # records of the arena in use
        self._buffer: list[tuple[np.ndarray, np.ndarray]] = []  # (records by partition, bounds)
        self._files: dict[int, Any] = {}
        self.spilled_bytes = 0

    def add(self, recs: np.ndarray) -> None:
        n = len(recs)
        if n == 0:
            return
        if self._used + n > self._capacity:
            self._spill()
        out = None
        if n <= self._capacity:  # a larger block gets an array of its own, spilled at once
            if self._arena is None:
                self._arena = np.empty((self._capacity, self.width), np.uint64)
            out = self._arena[self._used:self._used + n]
            self._used += n
        self._buffer.append(partition_records(recs, PARTITION_BITS, out))
        if out is None:
            self._spill()

    def _pieces(self, p: int) -> list[np.ndarray]:
        return [recs[bounds[p]:bounds[p + 1]] for recs, bounds in self._buffer if bounds[p + 1] > bounds[p]]

    def _spill(self) -> None:
        if not self._buffer:
            return
        for p in range(1 << PARTITION_BITS):
            pieces = self._pieces(p)
            if not pieces:
                continue
            f = self._files.get(p)
            if f is None:
                f = self._files[p] = open(self.workdir / f"part-{p:03d}.rec", "ab")  # noqa: SIM115
            for piece in pieces:
                f.write(piece.data)
                self.spilled_bytes += piece.nbytes
        self._buffer, self._used = [], 0

    def partitions(self) -> Iterator[tuple[int, np.ndarray]]:
        """(partition, its records) for every key range, in ascending key order."""
        empty = np.empty((0, self.width), np.uint64)
        if not self._files:  # everything fitted in memory
            for p in range(1 << PARTITION_BITS):
                pieces = self._pieces(p)
                yield p, (pieces[0] if len(pieces) == 1 else np.concatenate(pieces) if pieces else empty)
            self._buffer, self._used, self._arena = [], 0, None
            return
        self._spill()
        for f in self._files.values():
            f.close()
        self._arena = None
        buffers: list[np.ndarray] = [np.empty(0, np.uint64)] * 3
        reads = 0
        for p in range(1 << PARTITION_BITS):
            path = self.workdir / f"part-{p:03d}.rec"
            if p not in self._files:
                yield p, empty
                continue
            slot = reads % 3
            reads += 1
            words = path.stat().st_size // 8
            if buffers[slot].size < words:
                buffers[slot] = np.empty(words * 9 // 8, np.uint64)
            recs = buffers[slot][:words]
            _read_into(path, recs.view(np.uint8))
            path.unlink()
            yield p, recs.reshape(-1, self.width)


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
