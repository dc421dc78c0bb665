"""Index generations: a newly built index is picked up without downtime or a failed request.

``serve INDEX`` may name a folder that a build replaces (``breachindex build --overwrite``
renames a complete folder into place) or a symlink that is switched to a new folder. At most
every ``interval`` seconds the watcher stats the folder and its ``manifest.json`` (device,
inode, mtime, size, following symlinks). When they change it opens the new index in a worker
thread, checks that the folder did not change again while it was being opened (else it tries
at the next tick), and swaps one reference. Requests hold a *lease* on the generation they
started with (``with generations.lease() as index``); the old index is closed when its last
lease is returned, so no request ever sees a closed or half-replaced index. If the folder is
briefly missing (between the two renames of a replacement) or the new index cannot be opened,
the current generation keeps serving and the failure is logged (no path, no number).
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BreachIndexError
from ..index.reader import Index, open_index
from ..keying.secret import KeyLike, as_key
from .logs import LOGGER_NAME, log_event

__all__ = ["Generation", "IndexGenerations", "folder_stamp"]

log = logging.getLogger(LOGGER_NAME)

Stamp = tuple[int, ...]


def folder_stamp(path: Path) -> Stamp | None:
    """What identifies the index generation at ``path`` now (None if it is not there)."""
    try:
        folder = os.stat(path)
        manifest = os.stat(path / "manifest.json")
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (folder.st_dev, folder.st_ino, manifest.st_ino, manifest.st_mtime_ns, manifest.st_size)


@dataclass
class Generation:
    """One opened index: its ``number`` (1, 2, ... in this process), the ``index``, how many
    requests hold it, and whether a newer generation replaced it."""

    number: int
    index: Index
    stamp: Stamp
    opened_at: float
    users: int = 0
    retired: bool = False
    info: dict[str, Any] = field(default_factory=dict)


class IndexGenerations:
    """The current index of a server, replaced when a new build appears (see module doc)."""

    def __init__(self, path: str | os.PathLike[str], *, key: KeyLike, access: str = "random",
                 interval: float = 1.0, prefault: bool = False, lock: bool = False) -> None:
        self.path = Path(path)
        self._key = as_key(key)
        self._access = access
        # each generation is read in before it serves; without it, warmed while it serves
        self._prefault: bool | str = prefault or "auto"
        self._pin = lock  # and pinned in memory (mlock) for as long as it serves
        self.interval = interval
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self.swaps = 0
        self.failures = 0
        stamp = folder_stamp(self.path)
        index = open_index(self.path, key=self._key, access=access, prefault=self._prefault,
                           lock=lock)  # fails loudly at start-up
        self._current = self._generation(1, index, stamp or ())

    @staticmethod
    def _generation(number: int, index: Index, stamp: Stamp) -> Generation:
        manifest = index.manifest
        info = {"generation": number, "rows": len(index), "created_at": manifest.get("created_at"),
                "breaches": list(index.breaches), "details": index.has_details}
        return Generation(number, index, stamp, time.time(), info=info)

    @property
    def current(self) -> Generation:
        return self._current

    @contextmanager
    def lease(self) -> Iterator[Index]:
        """The current index, kept open until the block ends even if a new generation arrives."""
        with self._lock:
            generation = self._current
            generation.users += 1
        try:
            yield generation.index
        finally:
            with self._lock:
                generation.users -= 1
                close = generation.retired and generation.users == 0
            if close:
                generation.index.close()

    def refresh(self) -> bool:
        """Open and swap in a new generation if the folder changed; True if it swapped."""
        with self._reload_lock:  # one opener at a time
            stamp = folder_stamp(self.path)
            if stamp is None or stamp == self._current.stamp:
                return False
            try:
                index = open_index(self.path, key=self._key, access=self._access, prefault=self._prefault,
                                   lock=self._pin)
            except (BreachIndexError, OSError) as exc:
                self.failures += 1
                log_event(log, logging.WARNING, "index_reload_failed", error=type(exc).__name__)
                return False
            if folder_stamp(self.path) != stamp:  # replaced again while opening: retry next tick
                index.close()
                return False
            with self._lock:
                old = self._current
                self._current = self._generation(old.number + 1, index, stamp)
                old.retired = True
                close_now = old.users == 0
                self.swaps += 1
            if close_now:
                old.index.close()
            log_event(log, logging.INFO, "index_generation_loaded", generation=self._current.number,
                      rows=len(index))
            return True

    async def watch(self) -> None:
        """Call ``refresh`` every ``interval`` seconds (in a thread) until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception as exc:  # never let the watcher die: the old generation keeps serving
                self.failures += 1
                log_event(log, logging.ERROR, "index_watch_error", error=type(exc).__name__)

    def close(self) -> None:
        """Close the current index (at shutdown)."""
        with self._lock:
            generation = self._current
            generation.retired = True
            close = generation.users == 0
        if close:
            generation.index.close()
