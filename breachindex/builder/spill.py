"""Bounded memory for a build: records collected up to a budget, then spilled to 256 key-range
partitions on disk, read back one partition at a time in key order; sealed detail records
appended to a file of their own as they are read."""
from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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


def _pieces(blocks: list[tuple[np.ndarray, np.ndarray]], p: int) -> list[np.ndarray]:
    """Partition p's records in each block (records by partition, bounds) that has any."""
    return [recs[bounds[p]:bounds[p + 1]] for recs, bounds in blocks if bounds[p + 1] > bounds[p]]


def _nbytes(blocks: list[tuple[np.ndarray, np.ndarray]]) -> int:
    return sum(recs.nbytes for recs, _ in blocks)


class _Arena:
    """One of a collector's two buffers: records split by partition as they came."""

    def __init__(self) -> None:
        self.data: np.ndarray | None = None
        self.used = 0  # records of data in use
        self.blocks: list[tuple[np.ndarray, np.ndarray]] = []  # (records by partition, bounds)
        self.writing: Future[None] | None = None  # its spill, while a thread writes it

    def clear(self) -> None:
        self.blocks, self.used = [], 0


class SpillingCollector:
    """Collects records within a memory budget, spilling to key-range partitions on disk.

    The budget is two buffers of half its size. Each block of records is split by partition as
    it comes (in C, one counting pass) into the buffer being filled. When that one is full, a
    thread writes it out (every partition's pieces in turn, no copy of the whole buffer) while
    the other fills: parsing goes on during a spill. Buffers are used again, so their pages are
    faulted in once (fresh memory costs the kernel a zeroed page per 4 KiB). Until the first
    spill both buffers hold records, so a build whose records fit in the two never touches the
    disk, and joins only one partition's pieces at a time. Partitions read back from disk share
    three buffers: each is valid until two more have been read."""

    def __init__(self, workdir: Path, memory: int, width: int = REC_WIDTH) -> None:
        self.workdir = workdir
        self.width = width
        self.limit = max(memory // 4, REC_BYTES * 1024)
        self._capacity = self.limit // (16 * width)  # records a buffer holds
        self._arenas = (_Arena(), _Arena())
        self._filling = self._arenas[0]
        self._files: dict[int, Any] = {}
        self._writer: ThreadPoolExecutor | None = None
        self.spilled_bytes = 0  # counted as a spill is handed to the writer

    def add(self, recs: np.ndarray) -> None:
        n = len(recs)
        if n == 0:
            return
        if n > self._capacity:  # a block larger than a buffer is split into its own array and spilled
            self._spill_all_now(partition_records(recs, PARTITION_BITS))
            return
        if self._filling.used + n > self._capacity:
            self._next_arena()
        arena = self._filling
        if arena.data is None:
            arena.data = np.empty((self._capacity, self.width), np.uint64)
        out = arena.data[arena.used:arena.used + n]
        arena.used += n
        arena.blocks.append(partition_records(recs, PARTITION_BITS, out))

    def _next_arena(self) -> None:
        """The buffer being filled is full: fill the other one, writing this one out meanwhile
        (and, at the first spill, the other one's records first)."""
        full = self._filling
        other = self._arenas[1] if full is self._arenas[0] else self._arenas[0]
        self._wait(other)
        if other.blocks:  # the first spill: both buffers hold records
            self._write(other.blocks)
            self.spilled_bytes += _nbytes(other.blocks)
            other.clear()
        elif not self.spilled_bytes:  # nothing spilled yet: keep these records in memory
            self._filling = other
            return
        self.spilled_bytes += _nbytes(full.blocks)
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spill")
        full.writing = self._writer.submit(self._write, full.blocks)
        self._filling = other

    def _wait(self, arena: _Arena) -> None:
        """Until the arena's spill, if any, is written (its error raised here)."""
        if arena.writing is not None:
            done, arena.writing = arena.writing, None
            done.result()
            arena.clear()

    def _spill_all_now(self, extra: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Every record held in memory (and ``extra``) written out before this returns."""
        for arena in self._arenas:
            self._wait(arena)
        held = [block for arena in self._arenas for block in arena.blocks] + ([extra] if extra is not None else [])
        self._write(held)
        self.spilled_bytes += _nbytes(held)
        for arena in self._arenas:
            arena.clear()

    def _write(self, blocks: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Append every partition's pieces of these blocks to its file (opened at its first)."""
        for p in range(1 << PARTITION_BITS):
            pieces = _pieces(blocks, p)
            if not pieces:
                continue
            f = self._files.get(p)
            if f is None:
                f = self._files[p] = open(self.workdir / f"part-{p:03d}.rec", "ab")  # noqa: SIM115
            for piece in pieces:
                f.write(piece.data)

    def close(self) -> None:
        """Stop the writer and close the partition files (after partitions(), or on failure:
        a write under way is finished, its error left to the failure being handled)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        for arena in self._arenas:
            arena.writing = None
        for f in self._files.values():
            f.close()

    def partitions(self) -> Iterator[tuple[int, np.ndarray]]:
        """(partition, its records) for every key range, in ascending key order."""
        empty = np.empty((0, self.width), np.uint64)
        if not self.spilled_bytes:  # everything fitted in memory
            for p in range(1 << PARTITION_BITS):
                pieces = [piece for arena in self._arenas for piece in _pieces(arena.blocks, p)]
                yield p, (pieces[0] if len(pieces) == 1 else np.concatenate(pieces) if pieces else empty)
            for arena in self._arenas:
                arena.clear()
                arena.data = None
            return
        self._spill_all_now()
        self.close()
        for arena in self._arenas:
            arena.data = None
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
