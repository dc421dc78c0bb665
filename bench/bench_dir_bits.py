"""Batch lookup speed and size against the directory size, at one table size.

    python bench/bench_dir_bits.py --keys 100M --bits 23,24,25,26

Writes a table of uniform keys per directory size (into --dir, removed afterwards) and times
``lookup_keys`` on 1 and 2 threads over the same queries (half present), and single
``lookup_key`` calls from Python, each table read back in 2 MB pages first. It chose
``MIN_BUCKET``/``MAX_BUCKET`` in ``breachindex/builder/files.py``.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

import breachindex as bi
from breachindex.builder.files import auto_dir_bits
from breachindex.builder.writer import write_sorted_chunks
from breachindex.cli.bench import parse_size, uniform_sorted_chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=parse_size, default=parse_size("100M"))
    parser.add_argument("--bits", default="23,24,25,26")
    parser.add_argument("--queries", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default="bench/tables/dir-bits")
    args = parser.parse_args()
    n, key = args.keys, bi.Key.generate()
    rng = np.random.default_rng(1)
    print(f"{n:,} keys; auto_dir_bits chooses {auto_dir_bits(n)}")
    for bits in (int(b) for b in args.bits.split(",")):
        folder = Path(args.dir) / f"{n}-{bits}"
        started = time.perf_counter()
        write_sorted_chunks(folder, uniform_sorted_chunks(n, np.empty(0, np.uint64), 5), breach_names=["s"],
                            class_names=[f"c{i}" for i in range(6)], key=key, dir_bits=bits, overwrite=True)
        written = time.perf_counter() - started
        # read back in 2 MB pages, as a service opened with prefault="reload" maps it
        with bi.open(folder, key=key, prefault="reload") as index:
            keys = index._live().keys()
            half = args.queries // 2
            q = np.concatenate([rng.choice(keys, half), rng.integers(0, 2**64, args.queries - half, dtype=np.uint64)])
            rng.shuffle(q)
            del keys
            ns = {}
            for threads in (1, 2):
                index.lookup_keys(q, threads=threads)
                runs = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    index.lookup_keys(q, threads=threads)
                    runs.append(time.perf_counter() - t)
                ns[threads] = statistics.median(runs) / len(q) * 1e9
            singles = [int(k) for k in q[:200_000]]
            lookup_key = index.lookup_key
            runs = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                for k in singles:
                    lookup_key(k)
                runs.append(time.perf_counter() - t)
            single_us = statistics.median(runs) / len(singles) * 1e6
            size = sum((folder / name).stat().st_size for name in ("keys.bin", "directory.u32"))
            print(f"bits {bits}: {n / 2**bits:5.1f} keys a bucket, {index._live().table.key_width} B a key, "
                  f"{size / n:.3f} B/key with directory; 1 thread {ns[1]:.1f} ns, 2 threads {ns[2]:.1f} ns "
                  f"({ns[1] / ns[2]:.2f}x); lookup_key {single_us:.2f} us; written in {written:.0f} s", flush=True)
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
