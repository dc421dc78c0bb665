"""What an idle spell costs a service's first checks, with and without ``Index.lock()``.

    python bench/bench_idle.py INDEX_FOLDER KEY_FILE [--idle 150] [--lock] [--calls 2000]

Opens the index with ``prefault=True`` (and ``lock()`` with ``--lock``), times ``--calls``
``lookup_key`` calls on fresh random keys, sleeps ``--idle`` seconds, then times ``--calls``
more twice: the first batch after the pause and the one after it. Also prints the resident size
of the mapped files and the kernel's fault and reclaim counters (/proc/vmstat) over the pause
and over the first batch after it. Run each mode in its own process; run them one after another,
on an otherwise idle machine. Linux only (reads /proc).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import breachindex as bi

COUNTERS = ("pgfault", "pgmajfault", "workingset_refault_file", "pgsteal_kswapd", "pgsteal_direct")


def vmstat() -> dict[str, int]:
    values = {}
    with open("/proc/vmstat") as f:
        for line in f:
            name, value = line.split()
            if name in COUNTERS:
                values[name] = int(value)
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("key", type=Path)
    parser.add_argument("--idle", type=float, default=150.0, help="seconds without a lookup (150)")
    parser.add_argument("--calls", type=int, default=2000, help="lookup_key calls a batch (2000)")
    parser.add_argument("--lock", action="store_true", help="pin the index with Index.lock()")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(11)
    with bi.open(args.index, key=bi.Key.load(args.key), prefault=True, lock=args.lock) as index:

        def calls() -> float:
            keys = [int(k) for k in rng.integers(0, 2**64, args.calls, dtype=np.uint64)]
            started = time.perf_counter()
            for k in keys:
                index.lookup_key(k)
            return (time.perf_counter() - started) / len(keys) * 1e6

        def resident_mb() -> float:
            report = index.page_report() or {}
            return sum(p.resident for p in report.values()) / 2**20

        mode = "locked" if args.lock else "not locked"
        print(f"{mode}: {calls():.2f} us a lookup_key before the pause, {resident_mb():,.0f} MB resident")
        before = vmstat()
        time.sleep(args.idle)
        after = vmstat()
        print(f"over {args.idle:.0f} s idle: {resident_mb():,.0f} MB resident; "
              + ", ".join(f"{k} +{after[k] - before[k]:,}" for k in COUNTERS if k in after))
        first = calls()
        counted = vmstat()
        second = calls()
        print(f"after the pause: {first:.2f} us a lookup_key, then {second:.2f}; during the first batch: "
              + ", ".join(f"{k} +{counted[k] - after[k]:,}" for k in COUNTERS if k in after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
