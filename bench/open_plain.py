"""What a plain ``breachindex.open()`` gives at full scale, beside the tuned settings.

    python bench/open_plain.py INDEX KEYFILE --prepare            # the queries, once
    python bench/open_plain.py INDEX KEYFILE --mode plain         # then each mode in a new process
    python bench/open_plain.py INDEX KEYFILE --mode reload
    python bench/open_plain.py INDEX KEYFILE --reference          # numpy.searchsorted and the floor
    python bench/open_plain.py INDEX KEYFILE --side-by-side 9     # all three in turns, one process

Issue 18's worst realistic case: right after a build (the index's pages as its writer left them
in the page cache, or not cached at all), a new process opens the index and looks up. Each
mode runs in its own process: ``plain`` is ``open(path, key=...)`` with the defaults;
``prefault``/``reload`` pass ``prefault=True``/``"reload"``; ``settle`` is ``plain`` with a wait
of ``--settle`` seconds after the open, for whatever the open started in the background.

Batch: ``lookup_keys`` of 1M keys (half of them present), its first call and the best of 5,
in ns a key. Single: ``lookup`` of 100,000 numbers of the index, as E.164 text, each once, in
µs a call; then 100,000 others after the batches. ``--reference`` times ``numpy.searchsorted``
on the sorted keys in memory and the floor (a random 8-byte gather from an array the size of
the key file) for the same 1M queries. ``--side-by-side R`` opens the index plainly and times its
batch, ``numpy.searchsorted`` and the floor in turns for R rounds in one process (the machine's
speed drifts by 10-20 % over minutes, so only ratios taken side by side compare): each round's
ratios, and their median, min and max. Printed as JSON.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import breachindex as bi
from breachindex.keying.keys import key_numbers


def _queries_path(index: str) -> Path:
    return Path(index.rstrip("/") + ".queries.npz")


def prepare(index: str, keyfile: str, rows: int) -> None:
    """1M queries (half keys of the index) and 200,000 numbers of the index, saved beside it."""
    from breachindex.synth.leak import synthetic_key_source

    rng = np.random.default_rng(18)
    with bi.open(index, key=keyfile) as ix:
        n = len(ix)
        present = ix._live().keys(0, n)[rng.integers(0, n, 500_000)]
        key = bi.Key.load(keyfile)
        numbers: list[str] = []
        for values, _ in synthetic_key_source(rows, seed=2021):
            text = ["+" + str(v) for v in values[:400_000].tolist()]
            batch = key_numbers(text, siphash_key=key.siphash_key(ix.key_tweak))
            numbers += [t for i, t in enumerate(text) if i not in batch.failed]
            break
    found = numbers
    queries = np.concatenate([present, rng.integers(0, 2**64, 500_000, dtype=np.uint64)])
    rng.shuffle(queries)
    picked = rng.choice(len(found), 200_000, replace=False)
    np.savez(_queries_path(index), queries=queries, numbers=np.array([found[i] for i in picked]))


def run(index: str, keyfile: str, mode: str, settle: float) -> dict:
    saved = np.load(_queries_path(index))
    queries, numbers = saved["queries"], saved["numbers"].tolist()
    prefault = {"plain": None, "settle": None, "prefault": True, "reload": "reload"}[mode]
    t = time.perf_counter()
    ix = bi.open(index, key=keyfile) if prefault is None else bi.open(index, key=keyfile, prefault=prefault)
    out: dict = {"mode": mode, "open_s": round(time.perf_counter() - t, 3)}
    if mode == "settle":
        time.sleep(settle)
        out["settle_s"] = settle
    t = time.perf_counter()
    found = sum(ix.lookup(s) is not None for s in numbers[:100_000])
    out["single_first_us"] = round((time.perf_counter() - t) / 100_000 * 1e6, 2)
    out["single_found"] = found
    t = time.perf_counter()
    rows = ix.lookup_keys(queries)
    out["batch_first_ns"] = round((time.perf_counter() - t) / len(queries) * 1e9, 1)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        ix.lookup_keys(queries)
        best = min(best, time.perf_counter() - t)
    out["batch_ns"] = round(best / len(queries) * 1e9, 1)
    out["present"] = int((rows >= 0).sum())
    t = time.perf_counter()
    for s in numbers[100_000:]:
        ix.lookup(s)
    out["single_after_us"] = round((time.perf_counter() - t) / 100_000 * 1e6, 2)
    report = ix.page_report() or {}
    out["pages"] = {name: {"resident": p.resident, "huge_share": round(p.huge_share, 3)}
                    for name, p in report.items()}
    ix.close()
    return out


def reference(index: str, keyfile: str) -> dict:
    saved = np.load(_queries_path(index))
    queries = saved["queries"]
    with bi.open(index, key=keyfile) as ix:
        keys = ix._live().keys(0, len(ix))
        key_bytes = (Path(index) / "keys.bin").stat().st_size
    out: dict = {}
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        np.searchsorted(keys, queries)
        best = min(best, time.perf_counter() - t)
    out["numpy_ns"] = round(best / len(queries) * 1e9, 1)
    del keys
    floor = np.arange(key_bytes // 8, dtype=np.uint64)
    gather = np.random.default_rng(1).integers(0, len(floor), len(queries))
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        floor[gather]
        best = min(best, time.perf_counter() - t)
    out["floor_ns"] = round(best / len(queries) * 1e9, 1)
    return out


def side_by_side(index: str, keyfile: str, rounds: int) -> dict:
    """Plain open()'s batch, numpy.searchsorted and the floor, in turns: per-round ratios."""
    import statistics

    queries = np.load(_queries_path(index))["queries"]
    ix = bi.open(index, key=keyfile)
    keys = ix._live().keys(0, len(ix))
    floor = np.arange((Path(index) / "keys.bin").stat().st_size // 8, dtype=np.uint64)
    gather = np.random.default_rng(1).integers(0, len(floor), len(queries))
    rows = ix.lookup_keys(queries)
    at = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    if not np.array_equal(rows >= 0, keys[at] == queries):
        raise SystemExit("the index and numpy disagree on which keys are present")
    timed = {"batch": lambda: ix.lookup_keys(queries), "numpy": lambda: np.searchsorted(keys, queries),
             "floor": lambda: floor[gather]}
    per_round: list[dict[str, float]] = []
    for r in range(rounds):
        names = list(timed)
        names = names[r % 3:] + names[:r % 3]  # each one first in turn
        got = {}
        for name in names:
            t = time.perf_counter()
            timed[name]()
            got[name] = (time.perf_counter() - t) / len(queries) * 1e9
        per_round.append(got)
    ix.close()
    vs_numpy = [g["numpy"] / g["batch"] for g in per_round]
    vs_floor = [g["batch"] / g["floor"] for g in per_round]
    return {
        "rounds": [{k: round(v, 1) for k, v in g.items()} for g in per_round],
        "numpy_over_batch": {"median": round(statistics.median(vs_numpy), 1), "min": round(min(vs_numpy), 1),
                             "max": round(max(vs_numpy), 1)},
        "batch_over_floor": {"median": round(statistics.median(vs_floor), 2), "min": round(min(vs_floor), 2),
                             "max": round(max(vs_floor), 2)},
        "batch_ns_median": round(statistics.median(g["batch"] for g in per_round), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("index")
    ap.add_argument("key")
    ap.add_argument("--prepare", action="store_true")
    ap.add_argument("--rows", type=int, default=533_000_000, help="with --prepare: the synthetic build's rows")
    ap.add_argument("--mode", choices=["plain", "settle", "prefault", "reload"])
    ap.add_argument("--settle", type=float, default=30.0)
    ap.add_argument("--reference", action="store_true")
    ap.add_argument("--side-by-side", type=int, metavar="ROUNDS")
    args = ap.parse_args()
    if args.prepare:
        prepare(args.index, args.key, args.rows)
    elif args.side_by_side:
        print(json.dumps(side_by_side(args.index, args.key, args.side_by_side)))
    elif args.reference:
        print(json.dumps(reference(args.index, args.key)))
    else:
        print(json.dumps(run(args.index, args.key, args.mode or "plain", args.settle)))


if __name__ == "__main__":
    main()
