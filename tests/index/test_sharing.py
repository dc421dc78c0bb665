"""Many processes share one copy of an index: its files are mapped read-only, never copied.

Linux only: it reads the kernel's per-mapping accounting in /proc/self/smaps.
"""
from __future__ import annotations

import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np
import pytest

import breachindex as bi
from breachindex.builder.writer import write_sorted

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc/self/smaps")

KEY = bi.Key(b"sharing-test-secret-0123456789ab")


def _mapping_stats(path: Path) -> dict[str, int]:
    """kB counters of this process's mapping of ``path``."""
    stats: dict[str, int] = {}
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5:  # a mapping's first line
                inside = len(head) >= 6 and head[-1] == str(path)
                continue
            if inside and line.endswith("kB\n"):
                stats[head[0].rstrip(":")] = stats.get(head[0].rstrip(":"), 0) + int(head[1])
    return stats


def _hold_open(folder: str, ready, done) -> None:  # runs in the child
    index = bi.open(folder, key=KEY)
    index._live().keys()  # touch every page of the key file through the mapping
    ready.set()
    done.wait(60)
    index.close()


def test_two_processes_share_the_key_file(tmp_path):
    rng = np.random.default_rng(1)
    keys = np.unique(rng.integers(0, 2**64, 400_000, dtype=np.uint64))
    n = len(keys)
    folder = tmp_path / "idx"
    write_sorted(folder, keys, np.ones(n, np.uint32), np.ones(n, np.uint32), np.full(n, 31, np.uint16),
                 breach_names=["b"], class_names=["c"], key=KEY)
    path = (folder / "keys.bin").resolve()
    size_kb = path.stat().st_size // 1024

    ctx = mp.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_open, args=(str(folder), ready, done))
    child.start()
    try:
        assert ready.wait(60), "the child did not open the index"
        with bi.open(folder, key=KEY) as index:
            assert np.array_equal(index._live().keys(), keys)
            stats = _mapping_stats(path)
            assert stats["Rss"] >= 0.9 * size_kb, stats  # the whole file is mapped in ...
            assert stats["Shared_Clean"] >= 0.9 * stats["Rss"], stats  # ... and shared with the child
            assert stats.get("Private_Dirty", 0) == 0 and stats.get("Anonymous", 0) == 0, stats
    finally:
        done.set()
        child.join(60)
    assert child.exitcode == 0
