"""Bringing an index's files into memory, and seeing how the kernel maps them.

A random lookup over a multi-GB file costs a TLB miss as well as a cache miss. When the page
cache holds a file in 2 MB folios (ext4 and xfs do on Linux 6.x, if free memory allows) and the
mapping is aligned, the kernel maps it with 2 MB page-table entries, and lookups run about a
fifth faster (docs/benchmarks.md, "Huge pages"). Which folios the page cache holds depends on how the pages
were read:

* a fault in a ``MADV_HUGEPAGE`` mapping reads 2 MB at a time (into a 2 MB folio);
* a sequential ``read()`` ramps readahead up to 2 MB folios;
* a fault in a ``MADV_RANDOM`` mapping reads one 4 KB page, and pages written by the builder
  may stay in small folios too.

Pages already cached stay as they are until evicted. ``populate(reload=True)`` first asks the
kernel to drop the file's cached pages that no process maps (``POSIX_FADV_DONTNEED``: clean
pages only, nothing is lost), so that they are read back in large folios.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import mmap
import os
import resource
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._core import ffi

__all__ = ["MappingPages", "populate", "mapping_pages", "lock", "Warming", "auto_prefault", "proc_bytes"]

# Linux 5.14+: fault every page of a range in, read-only. Not in the mmap module before 3.13.
MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22 if sys.platform.startswith("linux") else None)
_MADV_HUGEPAGE = getattr(mmap, "MADV_HUGEPAGE", None)
_THP_ENABLED = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _thp_possible() -> bool:
    """False where transparent huge pages are switched off (then a 2 MB fault is no use)."""
    try:
        return "[never]" not in _THP_ENABLED.read_text()
    except OSError:
        return False


def _read_through(path: Path) -> None:
    """A sequential read of the whole file: readahead fills the page cache in large folios."""
    buffer = bytearray(1 << 24)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buffer):
            pass


def populate(mm: mmap.mmap, path: Path, *, reload: bool = False) -> None:
    """Bring the file behind ``mm`` into the page cache and map all of it into this process.

    With huge pages available, the mapping is marked ``MADV_HUGEPAGE`` (it stays so: pages the
    kernel evicts later come back 2 MB at a time) and populated with ``MADV_POPULATE_READ``;
    otherwise the file is read sequentially, then populated. ``reload`` drops the file's
    unmapped cached pages first, so that they come back in large folios.
    """
    if reload and hasattr(os, "posix_fadvise"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    huge = False
    if _MADV_HUGEPAGE is not None and _thp_possible():
        try:
            mm.madvise(_MADV_HUGEPAGE)
            huge = True
        except OSError:
            pass
    if not huge:
        # under MADV_RANDOM a fault reads one page: read the file in order first
        _read_through(path)
    if MADV_POPULATE_READ is not None:
        try:
            mm.madvise(MADV_POPULATE_READ)
            return
        except OSError:  # a kernel older than 5.14 (EINVAL): fault the pages in by touching them
            pass
    if huge:
        _read_through(path)
    _touch(mm)


def _touch(mm: mmap.mmap) -> None:
    """Read one byte of every page, which maps the (cached) pages into this process."""
    if len(mm):
        np.frombuffer(mm, dtype=np.uint8)[::mmap.PAGESIZE].sum()


@dataclass(frozen=True)
class MappingPages:
    """How one mapped file sits in this process: bytes mapped, resident, and mapped with 2 MB
    page-table entries (``huge``). ``huge_share`` is ``huge / resident``."""

    size: int
    resident: int
    huge: int

    @property
    def huge_share(self) -> float:
        return self.huge / self.resident if self.resident else 0.0


def _address(mm: mmap.mmap) -> int:
    return int(ffi.cast("uintptr_t", ffi.from_buffer(mm)))


def mapping_pages(maps: dict[str, mmap.mmap]) -> dict[str, MappingPages] | None:
    """Per file name, its ``MappingPages`` from ``/proc/self/smaps``; None off Linux."""
    try:
        with open("/proc/self/smaps") as f:
            smaps = f.read()
    except OSError:
        return None
    # a mapping may span several VMAs (a partial madvise splits one): match by overlap
    wanted = [(_address(mm), _address(mm) + len(mm), name) for name, mm in maps.items()]
    found: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    for line in smaps.splitlines():
        head = line.split(None, 1)[0]
        if "-" in head and not head.endswith(":"):
            start, end = (int(x, 16) for x in head.split("-"))
            current = None
            for lo, hi, name in wanted:
                if start < hi and lo < end:
                    current = found.setdefault(name, {"size": 0, "resident": 0, "huge": 0})
            continue
        if current is not None:
            field = {"Size:": "size", "Rss:": "resident", "FilePmdMapped:": "huge"}.get(head)
            if field is not None:
                with contextlib.suppress(ValueError, IndexError):
                    current[field] += int(line.split()[1]) * 1024
    return {name: MappingPages(**v) for name, v in found.items()}


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def lock(mm: mmap.mmap, name: str) -> None:
    """Pin every page of ``mm`` in memory (``mlock(2)``): read in if not yet, then kept resident
    and mapped until the mapping goes, whatever the kernel's reclaim does meanwhile: an index
    that sits idle between checks is not paged out (docs/benchmarks.md, "Locking the index in memory"; on a
    virtual machine the host may still slow idle memory down, which no guest call prevents).

    Raises ``PermissionError``/``OSError`` with what to change when the system refuses: locked
    memory is limited per process (``RLIMIT_MEMLOCK``, often 8 MB) unless the process may raise
    it (``CAP_IPC_LOCK``, root).
    """
    if not len(mm):
        return
    if not sys.platform.startswith("linux"):
        raise OSError(errno.ENOSYS, "locking the index in memory is supported on Linux only")
    address = int(ffi.cast("uintptr_t", ffi.from_buffer(mm)))
    libc = _libc()
    libc.mlock.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    if libc.mlock(ctypes.c_void_p(address), ctypes.c_size_t(len(mm))) == 0:
        return
    code = ctypes.get_errno()
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    limit = "unlimited" if soft == resource.RLIM_INFINITY else f"{soft:,} bytes"
    raise OSError(code, f"cannot lock {name} ({len(mm):,} bytes) in memory: {os.strerror(code)}; "
                        f"this process may lock {limit} (RLIMIT_MEMLOCK): raise it (ulimit -l, "
                        "systemd LimitMEMLOCK=) or run with CAP_IPC_LOCK")


#: an index smaller than this is not warmed by itself: it stays in the cache's reach anyway
AUTO_PREFAULT_MIN = 64 << 20
_WARM_CHUNK = 32 << 20  # bytes populated per call: how soon a closed index's warming stops


def proc_bytes(path: str, field: str) -> int | None:
    """The ``field:  N kB`` line of a Linux /proc file (``/proc/meminfo``, ``/proc/self/status``),
    in bytes; None where the system does not say."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _available_memory() -> int | None:
    return proc_bytes("/proc/meminfo", "MemAvailable")


def auto_prefault(total_bytes: int) -> bool:
    """Whether ``open()``'s default warms an index of this size here: on Linux with huge pages
    and ``MADV_POPULATE_READ``, for an index of at least ``AUTO_PREFAULT_MIN`` that fits twice
    in the memory available (warming must not push the machine into reclaim)."""
    if not sys.platform.startswith("linux") or _MADV_HUGEPAGE is None or MADV_POPULATE_READ is None:
        return False
    if total_bytes < AUTO_PREFAULT_MIN or not _thp_possible():
        return False
    available = _available_memory()
    return available is not None and 2 * total_bytes <= available


class Warming:
    """Maps files with 2 MB pages in a background thread: each mapping is marked
    ``MADV_HUGEPAGE`` at once (no I/O), then populated ``MADV_POPULATE_READ`` a chunk at a time
    by a daemon thread, through ``ctypes`` (which releases the GIL), so that queries run
    meanwhile and a script that exits early does not wait. ``owner`` (what keeps the mappings
    alive) is held until the thread ends; ``stop()`` ends it at the next chunk."""

    def __init__(self, maps: dict[str, mmap.mmap], owner: object) -> None:
        self._stop = threading.Event()
        self.done = threading.Event()
        ranges = []
        for mm in maps.values():
            if len(mm):
                with contextlib.suppress(OSError):
                    mm.madvise(_MADV_HUGEPAGE)  # type: ignore[arg-type]
                ranges.append((_address(mm), len(mm)))
        self._thread = threading.Thread(target=self._run, args=(owner, ranges), daemon=True,
                                        name="breachindex-warming")
        self._thread.start()

    def _run(self, owner: object, ranges: list[tuple[int, int]]) -> None:
        try:
            libc = _libc()
            libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
            for address, size in ranges:
                for offset in range(0, size, _WARM_CHUNK):
                    if self._stop.is_set():
                        return
                    # a hint: a page the kernel cannot bring in now is faulted in when read
                    libc.madvise(ctypes.c_void_p(address + offset),
                                 ctypes.c_size_t(min(_WARM_CHUNK, size - offset)), MADV_POPULATE_READ)
        finally:
            del owner
            self.done.set()

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once every mapping is populated (or the warming stopped)."""
        return self.done.wait(timeout)
