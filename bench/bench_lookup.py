"""Lookups at 10M and 100M keys: breachindex beside numpy.searchsorted, in one run.

    python bench/bench_lookup.py --sizes 10M,100M

For each size it writes a keyed table of that many keys (uniform PRF outputs, the shape of a
real index, plus the genuine keys of synthetic phone numbers so that the E.164 path finds
real rows), then measures on the same random queries (half present, half absent, in random
order): batch lookups (1 and 2 threads), numpy.searchsorted on the same mapped sorted keys,
and single lookups from Python by uint64 key and by E.164 string. The answers of the methods
are compared before anything is timed. Times are the median of --repeat runs; what matters
are the ratios, printed beside them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import breachindex
from breachindex.builder.writer import write_sorted
from breachindex.cli.bench import _timed as timed
from breachindex.cli.bench import parse_size
from breachindex.synth.synthetic import synthetic_numbers


def make_table(folder: Path, n: int, key: breachindex.Key, numbers: list[str], seed: int) -> np.ndarray:
    """Write an index of n keys: random uint64 plus the keys of ``numbers``."""
    rng = np.random.default_rng(seed)
    real = breachindex.phone_keys(numbers, key=key)
    keys = np.unique(np.concatenate([rng.integers(0, 2**64, n - len(real), dtype=np.uint64,
                                                  endpoint=False), real]))
    # a few dozen profiles, like a real leak: a random data-class mask per row
    classes = rng.integers(0, 64, len(keys), dtype=np.uint32)
    write_sorted(folder, keys, np.ones(len(keys), np.uint32), classes, np.full(len(keys), 31, np.uint16),
                 breach_names=["synthetic"], class_names=[f"class_{i}" for i in range(6)],
                 key=key, overwrite=True)
    return keys


def bench_size(n: int, args: argparse.Namespace, workdir: Path) -> dict:  # type: ignore[type-arg]
    key = breachindex.Key.generate()
    numbers = synthetic_numbers(2 * args.singles, seed=args.seed)
    present_numbers, absent_numbers = numbers[:args.singles], numbers[args.singles:]
    folder = workdir / f"bench-{n}.idx"
    t = time.perf_counter()
    keys = make_table(folder, n, key, present_numbers, args.seed)
    build_s = time.perf_counter() - t

    t = time.perf_counter()
    index = breachindex.open(folder, key=key)
    open_ms = (time.perf_counter() - t) * 1e3
    rng = np.random.default_rng(args.seed + 1)
    half = args.queries // 2
    queries = np.concatenate([rng.choice(keys, half),
                              rng.integers(0, 2**64, args.queries - half, dtype=np.uint64)])
    rng.shuffle(queries)
    mapped_keys = index._live().keys()  # the full keys, rebuilt from the compact key file

    # same answers first
    rows = index.lookup_keys(queries)
    pos = np.searchsorted(mapped_keys, queries)
    hit = (pos < len(mapped_keys)) & (mapped_keys[np.minimum(pos, len(mapped_keys) - 1)] == queries)
    np_rows = np.where(hit, pos, -1)
    assert np.array_equal(rows, np_rows), "breachindex and numpy disagree"
    assert np.array_equal(index.lookup_keys(queries, threads=2), rows)

    r: dict = {"keys": n, "build_s": round(build_s, 1), "open_ms": round(open_ms, 2)}  # type: ignore[type-arg]
    med, spread, _ = timed(lambda: index.lookup_keys(queries), args.repeat)
    r["batch_1t_ns"], r["batch_1t_spread_ns"] = med / len(queries) * 1e9, spread / len(queries) * 1e9
    med, spread, _ = timed(lambda: index.lookup_keys(queries, threads=2), args.repeat)
    r["batch_2t_ns"], r["batch_2t_spread_ns"] = med / len(queries) * 1e9, spread / len(queries) * 1e9
    med, spread, _ = timed(lambda: np.searchsorted(mapped_keys, queries), args.repeat)
    r["numpy_searchsorted_ns"], r["numpy_spread_ns"] = med / len(queries) * 1e9, spread / len(queries) * 1e9

    singles_q = queries[: args.singles]
    single_keys = [int(q) for q in singles_q]
    med, _, _ = timed(lambda: [index.lookup_key(k) for k in single_keys], args.repeat)
    r["single_key_us"] = med / len(single_keys) * 1e6
    strings = ["+" + s for s in present_numbers] + ["+" + s for s in absent_numbers]
    np.random.default_rng(args.seed + 2).shuffle(strings)
    found = sum(index.lookup(s) is not None for s in strings)
    assert found == len(present_numbers), (found, len(present_numbers))
    med, _, _ = timed(lambda: [index.lookup(s) for s in strings], args.repeat)
    r["single_lookup_e164_us"] = med / len(strings) * 1e6
    med, _, _ = timed(lambda: [s in index for s in strings], args.repeat)
    r["single_contains_e164_us"] = med / len(strings) * 1e6

    r["bytes_per_key_keys_and_directory"] = (
        os.path.getsize(folder / "keys.bin") + os.path.getsize(folder / "directory.u32")) / n
    r["speedup_batch_vs_numpy"] = r["numpy_searchsorted_ns"] / r["batch_1t_ns"]
    r["speedup_2t_vs_1t"] = r["batch_1t_ns"] / r["batch_2t_ns"]
    index.close()
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return r


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10M,100M")
    parser.add_argument("--queries", type=int, default=2_000_000)
    parser.add_argument("--singles", type=int, default=20_000, help="single lookups per method")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", help="work folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the built tables")
    parser.add_argument("--json", default="bench/results/lookup.json")
    args = parser.parse_args(argv)
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="breachindex-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    print(f"{'keys':>12} {'batch 1t':>9} {'batch 2t':>9} {'numpy ss':>9} {'batch/np':>9} "
          f"{'key 1x':>8} {'E.164 1x':>9} {'in 1x':>7} {'B/key':>6} {'open':>8}")
    print(f"{'':>12} {'ns':>9} {'ns':>9} {'ns':>9} {'x faster':>9} {'µs':>8} {'µs':>9} {'µs':>7} {'':>6} {'ms':>8}")
    for text in args.sizes.split(","):
        r = bench_size(parse_size(text), args, workdir)
        results.append(r)
        print(f"{r['keys']:>12,} {r['batch_1t_ns']:>9.1f} {r['batch_2t_ns']:>9.1f} "
              f"{r['numpy_searchsorted_ns']:>9.1f} {r['speedup_batch_vs_numpy']:>9.1f} "
              f"{r['single_key_us']:>8.2f} {r['single_lookup_e164_us']:>9.2f} "
              f"{r['single_contains_e164_us']:>7.2f} {r['bytes_per_key_keys_and_directory']:>6.2f} "
              f"{r['open_ms']:>8.2f}", flush=True)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": sys.version.split()[0], "cpu": platform.processor() or platform.machine(),
               "cores": os.cpu_count()}
    out.write_text(json.dumps({"machine": machine, "queries": args.queries, "repeat": args.repeat,
                               "results": results}, indent=1))
    print(f"results written to {out}")
    if not args.dir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
