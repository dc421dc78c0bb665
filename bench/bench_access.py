"""Page-cache hints: cold open, cold single lookups and warm batch lookups per ``access=``.

    python bench/bench_access.py INDEX KEYFILE [--modes random,normal,hugepage]

Needs root (it drops the page cache before each mode with /proc/sys/vm/drop_caches). Queries
are keys of the index itself (present) and random keys (absent), taken once before timing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import breachindex as bi


def drop_caches() -> None:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index")
    parser.add_argument("key")
    parser.add_argument("--modes", default="random,normal,hugepage")
    parser.add_argument("--cold", type=int, default=2000, help="cold single lookups")
    parser.add_argument("--queries", type=int, default=2_000_000)
    parser.add_argument("--prefault", action="store_true",
                        help="open with prefault=True (a sequential read of every file)")
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    with bi.open(args.index, key=args.key) as index:
        n = len(index)
        present = index._live().keys(0, n)[rng.integers(0, n, args.queries // 2)]
    batch = np.concatenate([present, rng.integers(0, 2**64, args.queries - len(present), dtype=np.uint64)])
    rng.shuffle(batch)
    singles = [int(k) for k in batch[:args.cold]]
    for mode in args.modes.split(","):
        drop_caches()
        started = time.perf_counter()
        index = bi.open(args.index, key=args.key, access=mode, prefault=args.prefault)
        open_ms = (time.perf_counter() - started) * 1e3
        started = time.perf_counter()
        for k in singles:
            index.lookup_key(k)
        cold_us = (time.perf_counter() - started) / len(singles) * 1e6
        index.lookup_keys(batch)  # warm everything the batch touches
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            index.lookup_keys(batch)
            runs.append(time.perf_counter() - started)
        index.close()
        label = mode + (" prefault" if args.prefault else "")
        print(f"{label:18s} cold open {open_ms:6.1f} ms, cold single lookup {cold_us:7.1f} us, "
              f"warm batch {statistics.median(runs) / len(batch) * 1e9:5.1f} ns", flush=True)


if __name__ == "__main__":
    main()
