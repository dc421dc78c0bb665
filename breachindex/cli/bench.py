"""``breachindex bench``: breachindex beside the obvious tools, on the same keys and queries.

For each size it writes (or reuses, with ``--dir``) a keyed table of that many keys: uniform
64-bit PRF outputs plus the genuine keys of synthetic phone numbers, so the E.164 path finds
real rows. Then, on the same random queries (half present, half absent, random order), it
measures every method, after checking that each one gives the same answers:

- breachindex batch ``lookup_keys`` on 1 and 2 threads;
- breachindex single calls from Python: ``lookup_key(int)`` and ``lookup(E.164 str)``;
- ``numpy.searchsorted`` on the same sorted, memory-mapped uint64 array (queries as uint64);
- ``np.sort(queries)`` then ``searchsorted``;
- SQLite (a real file, ``INTEGER PRIMARY KEY``): batched ``IN`` queries and point queries;
- a Python ``set``, at the sizes where it fits (``--set-max``);
- the floor: a random 8-byte gather from an array the size of the key file, on 1 thread and on
  2 (numpy releases the GIL), so that the 2-thread batch can be set beside what two threads of
  plain random reads get on this machine in the same round.

The index is read once (``Index.prefault(reload=True)``) before the warm timings, as a
long-running service opened with ``prefault="reload"`` would be; the table reports the share of
the key file and directory the kernel then maps with 2 MB pages.

Times are medians over ``--repeat`` runs, after untimed runs, with their spread; what
matters are the ratios. The batch methods first run untimed until they stop getting faster
(``--settle``, at most 120 s): on this virtual machine memory just read or allocated is slow for
a minute or two. The methods a ratio compares take turns: each round runs every one of
them once (the order reversed every other round), and a ratio is the median of its per-round
ratios, because this machine's speed drifts between stretches of minutes and methods timed one
after another would be compared across stretches. Single calls (``lookup_key``, ``lookup``,
SQLite point queries) take fresh queries in each round, so none finds the previous round's lines
in the cache.
Results go to a table, a JSON file and a PNG plot (ns per lookup against size, log scale). The
JSON also has lookups a second for every method (``*_per_s``), every timed round
(``rounds_ns``), and bytes a key on disk and in memory: breachindex's key file and directory
(resident in the page cache, shared by every process that maps them), numpy's sorted array, the
Python set's table and int objects, SQLite's file.
Cold-cache latency (first queries after the page cache is dropped) is measured where the
machine allows writing /proc/sys/vm/drop_caches, and reported as unavailable elsewhere.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sqlite3
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import format as fmt
from ..builder.files import auto_dir_bits
from ..builder.writer import SortedChunk, write_sorted_chunks
from ..errors import IndexCorrupted
from ..index.reader import Index, open_index
from ..keying.keys import phone_keys
from ..keying.secret import Key
from ..synth.synthetic import synthetic_numbers

__all__ = ["main", "run"]

_SIGN = np.uint64(1 << 63)


def parse_size(text: str) -> int:
    """'10M' -> 10_000_000, '1.5M', '533M', or a plain integer."""
    text = text.strip().upper()
    if text.endswith("M"):
        return int(float(text[:-1]) * 10**6)
    if text.endswith("K"):
        return int(float(text[:-1]) * 10**3)
    return int(text)


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Median and half-range of ``repeat`` timed runs, after one untimed run: what the method
    before left in the caches and TLB (numpy's pass over a 4 GB array) is not its cost."""
    result = fn()
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), (max(runs) - min(runs)) / 2, result


def _each(fn: Callable[[Any], Any], items: list[Any]) -> None:
    """One call per item, results dropped as a service drops each answer once sent: the
    single-call methods are timed this way, after their answers were checked separately
    (collecting 20,000 results into a list would time the allocator too)."""
    for item in items:
        fn(item)


def _in_turns(methods: dict[str, Callable[[int], Any]], repeat: int,
              settle: float = 0.0) -> tuple[dict[str, list[float]], float]:
    """Seconds of each method in each of ``repeat`` rounds, and the seconds spent settling.

    Untimed rounds come first (round 0: what the method before left in the caches and TLB is not
    its cost). With ``settle`` > 0 they go on until no method runs more than 5 % faster than in
    all its untimed runs before, or ``settle`` seconds have passed: on this virtual machine memory that was just
    read or allocated runs several times slower for a minute or two, until the host maps it with
    large pages (docs/benchmarks.md, "The harness"), and a benchmark should time the steady state a service
    runs in. Then each timed round runs every method once, in reversed order every other round:
    the speed also drifts by 10-30 % between stretches of minutes, and in turns two methods in
    one round run in the same stretch. A method is called with the round number, so that single
    calls can take fresh queries each round."""
    names = list(methods)
    started = time.perf_counter()
    best: dict[str, float] = {}
    while True:
        steady = True
        for name in names:
            t = time.perf_counter()
            methods[name](0)
            took = time.perf_counter() - t
            # steady once a run is no longer more than 5 % faster than every run before it
            steady = steady and name in best and took >= 0.95 * best[name]
            best[name] = min(took, best.get(name, took))
        if steady or time.perf_counter() - started >= settle:
            break
    settled = time.perf_counter() - started
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(1, repeat + 1):
        for name in names if i % 2 else reversed(names):
            t = time.perf_counter()
            methods[name](i)
            times[name].append(time.perf_counter() - t)
    return times, settled


def _gather_on_two_threads(array: np.ndarray, halves: tuple[np.ndarray, np.ndarray]) -> None:
    """``array[half]`` for both halves at once, one on a second thread: numpy's fancy indexing
    runs without the GIL, so the two gathers overlap as the 2-thread batch lookups do."""
    second = threading.Thread(target=array.__getitem__, args=(halves[1],))
    second.start()
    array[halves[0]]
    second.join()


def _ratio(over: list[float], under: list[float]) -> float:
    """Median of the per-round ratios ``over[i] / under[i]``: each compares one stretch."""
    return statistics.median(a / b for a, b in zip(over, under, strict=True))


def _median_spread(times: list[float], count: int) -> tuple[float, float]:
    """Median and half-range, in ns per item of ``count`` items a run."""
    return (statistics.median(times) / count * 1e9, (max(times) - min(times)) / 2 / count * 1e9)


def _rounds(items: list[Any], count: int, size: int) -> list[list[Any]]:
    """``count`` disjoint slices of ``items``, ``size`` long (shorter if items run out)."""
    size = min(size, len(items) // count)
    return [items[i * size:(i + 1) * size] for i in range(count)]


def _drop_caches() -> bool:
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def _reusable(folder: Path, dir_bits: int | None) -> bool:
    """A table kept from an earlier run, in this version's format and directory size (a table
    written under another ``auto_dir_bits`` would time the old layout)."""
    try:
        manifest = fmt.read_manifest(folder)
    except IndexCorrupted:
        return False
    wanted = dir_bits if dir_bits is not None else auto_dir_bits(int(manifest["rows"]))
    return bool(manifest.get("dir_bits") == wanted)


_RANGE_BITS = 16  # the key space is drawn in 2^16 ranges, each sorted on its own


def uniform_sorted_chunks(n: int, real: np.ndarray, seed: int, *, rows_per_chunk: int = 1 << 21
                          ) -> Iterator[SortedChunk]:
    """About n distinct uniform 64-bit keys (what a PRF gives) plus the keys ``real``, in
    ascending chunks of ``write_sorted_chunks`` rows, in bounded memory: the count of keys in
    each of 2^16 ranges is drawn first (multinomial), then each range's keys on their own."""
    rng = np.random.default_rng(seed)
    ranges = 1 << _RANGE_BITS
    shift = np.uint64(64 - _RANGE_BITS)
    counts = rng.multinomial(max(n - len(real), 0), np.full(ranges, 1 / ranges))
    real = np.unique(np.asarray(real, dtype=np.uint64))
    real_bounds = np.append(np.searchsorted(real, np.arange(ranges, dtype=np.uint64) << shift), len(real))
    per_chunk = max(1, rows_per_chunk * ranges // max(n, 1))
    for first in range(0, ranges, per_chunk):
        parts = []
        for r in range(first, min(ranges, first + per_chunk)):
            low = rng.integers(0, 1 << (64 - _RANGE_BITS), counts[r], dtype=np.uint64)
            parts.append((np.uint64(r) << shift) | low)
            parts.append(real[real_bounds[r]:real_bounds[r + 1]])
        keys = np.sort(np.concatenate(parts))
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys  # unique, sorted
        if len(keys):
            classes = rng.integers(0, 64, len(keys), dtype=np.uint32) | np.uint32(1)
            yield keys, np.ones(len(keys), np.uint32), classes, np.full(len(keys), 31, np.uint16)


class _Table:
    """The keyed table of one size, on disk, and the queries against it."""

    def __init__(self, folder: Path, n: int, key: Key, seed: int, singles: int,
                 dir_bits: int | None = None) -> None:
        self.folder = folder
        numbers = synthetic_numbers(2 * singles, seed=seed)
        self.present_numbers, self.absent_numbers = numbers[:singles], numbers[singles:]
        if not _reusable(folder / "index", dir_bits):
            real = phone_keys(self.present_numbers, key=key)
            write_sorted_chunks(folder / "index", uniform_sorted_chunks(n, real, seed),
                                breach_names=["synthetic"], class_names=[f"class_{i}" for i in range(6)],
                                key=key, overwrite=True, dir_bits=dir_bits)
        self.key = key

    def open(self) -> Index:
        return open_index(self.folder / "index", key=self.key)

    def sqlite(self, keys: np.ndarray) -> Path:
        path = self.folder / "keys.sqlite"
        if path.exists():
            return path
        tmp = path.with_suffix(".building")
        tmp.unlink(missing_ok=True)
        con = sqlite3.connect(tmp)
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE k (key INTEGER PRIMARY KEY) WITHOUT ROWID")
        step = 1 << 20
        signed = (keys ^ _SIGN).view(np.int64)  # SQLite integers are signed: keep the order
        for start in range(0, len(signed), step):
            con.executemany("INSERT INTO k VALUES (?)", ((int(v),) for v in signed[start:start + step]))
        con.commit()
        con.close()
        tmp.rename(path)
        return path


def _huge_share(index: Index) -> float | None:
    """The share of the key file and directory this process maps with 2 MB entries."""
    report = index.page_report()
    if not report:
        return None
    parts = [report[name] for name in (fmt.KEYS_FILE, fmt.DIRECTORY_FILE) if name in report]
    resident = sum(p.resident for p in parts)
    return round(sum(p.huge for p in parts) / resident, 3) if resident else 0.0


def _resident_bytes(index: Index) -> int | None:
    """Bytes of the key file and directory resident in this process's mappings: what key
    lookups hold in memory (page cache, shared by every process that maps the index)."""
    report = index.page_report()
    if not report:
        return None
    return sum(report[name].resident for name in (fmt.KEYS_FILE, fmt.DIRECTORY_FILE) if name in report)


def _set_bytes(as_set: set[int], sample: int = 10_000) -> float:
    """A set's table plus its int objects, the objects' sizes estimated from a sample."""
    items = list(itertools.islice(as_set, sample))
    per_item = sum(sys.getsizeof(x) for x in items) / max(len(items), 1)
    return sys.getsizeof(as_set) + per_item * len(as_set)


def _with_rates(r: dict[str, Any]) -> None:
    """Lookups a second beside each method's median ns a lookup."""
    for field in [f for f, v in r.items() if f.endswith("_ns") and not f.endswith("_spread_ns")
                  and isinstance(v, (int, float)) and v > 0]:
        r[field[:-3] + "_per_s"] = round(1e9 / r[field])


def _bench_size(n: int, args: argparse.Namespace, workdir: Path, key: Key) -> dict[str, Any]:
    folder = workdir / f"table-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    table = _Table(folder, n, key, args.seed, args.singles)
    r: dict[str, Any] = {"keys": n, "prepare_s": round(time.perf_counter() - started, 1)}

    table.open().close()  # the first open may find the files cold; open_ms is a warm open
    t = time.perf_counter()
    index = table.open()
    r["open_ms"] = round((time.perf_counter() - t) * 1e3, 2)
    # bring the files in as a service does with prefault="reload": pages the table's writer or
    # an earlier run left in small folios are read back 2 MB at a time, so that every run maps
    # the index the same way (docs/benchmarks.md, "Huge pages")
    t = time.perf_counter()
    index.prefault(reload=True)
    r["prefault_s"] = round(time.perf_counter() - t, 2)
    r["huge_page_share"] = _huge_share(index)
    keys = index._live().keys()  # the full keys, rebuilt from the compact key file
    rng = np.random.default_rng(args.seed + 1)
    half = args.queries // 2
    queries = np.concatenate([rng.choice(keys, half),
                              rng.integers(0, 2**64, args.queries - half, dtype=np.uint64)])
    rng.shuffle(queries)
    expected = index.lookup_keys(queries)
    pos = np.searchsorted(keys, queries)
    hit = (pos < len(keys)) & (keys[np.minimum(pos, len(keys) - 1)] == queries)
    if not np.array_equal(np.where(hit, pos, -1), expected):
        raise AssertionError("breachindex and numpy.searchsorted disagree")
    q = len(queries)

    def per(seconds: float, count: int = q) -> float:
        return seconds / count * 1e9

    # the floor: random 8-byte reads from an array as large as the key file
    files = folder / "index"
    floor = np.arange((files / fmt.KEYS_FILE).stat().st_size // 8, dtype=np.uint64)
    gather = rng.integers(0, len(floor), q)
    gather_halves = (gather[:q // 2], gather[q // 2:])
    rows2 = index.lookup_keys(queries, threads=2)
    assert np.array_equal(rows2, expected)
    batch, r["settle_s"] = _in_turns({
        "breachindex_batch_1t": lambda i: index.lookup_keys(queries),
        "breachindex_batch_2t": lambda i: index.lookup_keys(queries, threads=2),
        "numpy_searchsorted": lambda i: np.searchsorted(keys, queries),
        "numpy_sort_searchsorted": lambda i: np.searchsorted(keys, np.sort(queries)),
        "floor_gather": lambda i: floor[gather],
        "floor_gather_2t": lambda i: _gather_on_two_threads(floor, gather_halves),
    }, args.repeat, settle=args.settle)
    r["settle_s"] = round(r["settle_s"], 1)
    # every timed round as well, so that a slow stretch of the machine shows in the JSON
    r["rounds_ns"] = {}
    for name, times in batch.items():
        r[f"{name}_ns"], r[f"{name}_spread_ns"] = _median_spread(times, q)
        r["rounds_ns"][name] = [round(per(t), 1) for t in times]
    r["speedup_batch_vs_numpy"] = _ratio(batch["numpy_searchsorted"], batch["breachindex_batch_1t"])
    r["batch_vs_floor"] = _ratio(batch["breachindex_batch_1t"], batch["floor_gather"])
    r["speedup_2t_vs_1t"] = _ratio(batch["breachindex_batch_1t"], batch["breachindex_batch_2t"])
    r["floor_speedup_2t_vs_1t"] = _ratio(batch["floor_gather"], batch["floor_gather_2t"])

    # single calls: repeat + 1 rounds of fresh queries each (round 0 untimed)
    singles = [int(x) for x in queries[:args.singles * (args.repeat + 1)]]
    if [index.lookup_key(k) for k in singles] != expected[:len(singles)].tolist():
        raise AssertionError("lookup_key and lookup_keys disagree")
    key_rounds = _rounds(singles, args.repeat + 1, args.singles)
    strings = ["+" + s for s in table.present_numbers + table.absent_numbers]
    np.random.default_rng(args.seed + 2).shuffle(strings)
    found = sum(index.lookup(s) is not None for s in strings)
    if found != len(table.present_numbers):
        raise AssertionError(f"E.164 lookups found {found}, expected {len(table.present_numbers)}")
    string_rounds = _rounds(strings, args.repeat + 1, len(strings))
    lookup_key, lookup = index.lookup_key, index.lookup
    single: dict[str, Callable[[int], Any]] = {
        "breachindex_single_key": lambda i: _each(lookup_key, key_rounds[i]),
        "breachindex_single_e164": lambda i: _each(lookup, string_rounds[i]),
    }
    single_counts = {"breachindex_single_key": len(key_rounds[0]),
                     "breachindex_single_e164": len(string_rounds[0])}

    key_bytes = sum((files / name).stat().st_size for name in (fmt.KEYS_FILE, fmt.DIRECTORY_FILE))
    r["breachindex_bytes_per_key"] = key_bytes / n
    resident = _resident_bytes(index)
    r["breachindex_resident_bytes_per_key"] = resident / n if resident is not None else None
    r["numpy_bytes_per_key"] = keys.nbytes / n  # the sorted array numpy searches, in memory only

    if n <= args.set_max:
        as_set = set(keys.tolist())
        probe = queries.tolist()
        med, spread, got = _timed(lambda: [x in as_set for x in probe], args.repeat)
        if not np.array_equal(np.array(got), expected >= 0):
            raise AssertionError("set and breachindex disagree")
        r["python_set_ns"], r["python_set_spread_ns"] = per(med), per(spread)
        r["python_set_bytes_per_key"] = _set_bytes(as_set) / n
        del as_set

    con = None
    if n <= args.sqlite_max:
        path = table.sqlite(np.asarray(keys))
        r["sqlite_bytes_per_key"] = path.stat().st_size / n
        t = time.perf_counter()
        con = sqlite3.connect(path)
        con.execute("SELECT 1 FROM k WHERE key = 0").fetchall()
        r["sqlite_open_ms"] = round((time.perf_counter() - t) * 1e3, 2)
        signed = (queries ^ _SIGN).view(np.int64).tolist()
        point = signed[:len(singles)]  # the same keys, in the same rounds, as lookup_key

        cur = con.cursor()
        got = [cur.execute("SELECT 1 FROM k WHERE key = ?", (v,)).fetchone() is not None for v in point]
        if not np.array_equal(np.array(got), expected[:len(point)] >= 0):
            raise AssertionError("SQLite point queries and breachindex disagree")
        point_rounds = _rounds(point, args.repeat + 1, args.singles)

        def point_queries(i: int) -> None:  # inline, not through _each: no extra call
            for v in point_rounds[i]:
                cur.execute("SELECT 1 FROM k WHERE key = ?", (v,)).fetchone()

        single["sqlite_point"] = point_queries
        single_counts["sqlite_point"] = len(point_rounds[0])

    turns, _ = _in_turns(single, args.repeat)
    for name, times in turns.items():
        r[f"{name}_ns"] = statistics.median(times) / single_counts[name] * 1e9
        r["rounds_ns"][name] = [round(per(t, single_counts[name]), 1) for t in times]
    if "sqlite_point" in turns:
        r["speedup_single_key_vs_sqlite_point"] = _ratio(
            [t / single_counts["sqlite_point"] for t in turns["sqlite_point"]],
            [t / single_counts["breachindex_single_key"] for t in turns["breachindex_single_key"]])

    if con is not None:
        chunk_size = 500

        def in_queries() -> int:
            cur, hits = con.cursor(), 0
            for s in range(0, len(signed), chunk_size):
                chunk = signed[s:s + chunk_size]
                sql = f"SELECT count(*) FROM k WHERE key IN ({','.join('?' * len(chunk))})"
                hits += cur.execute(sql, chunk).fetchone()[0]
            return hits

        med, spread, hits = _timed(in_queries, max(1, args.repeat // 2))
        present = expected >= 0  # IN matches each distinct key of a chunk once
        distinct_hits = sum(len({v for v, p in zip(signed[s:s + chunk_size], present[s:s + chunk_size].tolist(),
                                                   strict=True) if p})
                            for s in range(0, len(signed), chunk_size))
        if hits != distinct_hits:
            raise AssertionError("SQLite IN queries and breachindex disagree")
        r["sqlite_batch_in_ns"], r["sqlite_batch_in_spread_ns"] = per(med), per(spread)
        con.close()

    if args.cold:
        index.close()
        cold_keys = singles[:1000]
        if _drop_caches():
            t = time.perf_counter()
            cold = open_index(files, key=key)
            r["open_cold_ms"] = round((time.perf_counter() - t) * 1e3, 2)
            t = time.perf_counter()
            for k in cold_keys:
                cold.lookup_key(k)
            r["breachindex_cold_single_us"] = (time.perf_counter() - t) / len(cold_keys) * 1e6
            cold.close()
        else:  # this machine does not let us drop the page cache
            r["open_cold_ms"] = r["breachindex_cold_single_us"] = None
    _with_rates(r)
    return r


_PLOTTED = [
    ("breachindex_batch_1t_ns", "breachindex batch, 1 thread"),
    ("breachindex_batch_2t_ns", "breachindex batch, 2 threads"),
    ("breachindex_single_key_ns", "breachindex lookup_key() from Python"),
    ("breachindex_single_e164_ns", "breachindex lookup(E.164) from Python"),
    ("numpy_searchsorted_ns", "numpy.searchsorted"),
    ("numpy_sort_searchsorted_ns", "np.sort + searchsorted"),
    ("python_set_ns", "Python set"),
    ("sqlite_point_ns", "SQLite point query"),
    ("sqlite_batch_in_ns", "SQLite IN (500)"),
]


def _plot(results: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(12, 5.5))
    for field, label in _PLOTTED:
        points = [(r["keys"], r[field]) for r in results if r.get(field)]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=label)
    floor = [(r["keys"], r["floor_gather_ns"]) for r in results]
    ax.plot(*zip(*floor, strict=True), "k--", label="floor: random 8-byte gather")
    floor_2t = [(r["keys"], r["floor_gather_2t_ns"]) for r in results if r.get("floor_gather_2t_ns")]
    if floor_2t:
        ax.plot(*zip(*floor_2t, strict=True), "k:", label="floor, 2 threads")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("keys in the index")
    ax.set_ylabel("ns per lookup (median)")
    ax.set_title("breachindex lookups beside the obvious tools (same keys, same queries)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _print_table(results: list[dict[str, Any]]) -> None:
    cols = [("keys", "keys", "{:,}"), ("breachindex_batch_1t_ns", "batch 1t ns", "{:.1f}"),
            ("breachindex_batch_2t_ns", "batch 2t ns", "{:.1f}"), ("floor_gather_ns", "floor ns", "{:.1f}"),
            ("numpy_searchsorted_ns", "numpy ns", "{:.0f}"), ("numpy_sort_searchsorted_ns", "sort+np ns", "{:.0f}"),
            ("python_set_ns", "set ns", "{:.0f}"), ("sqlite_batch_in_ns", "sqlite IN ns", "{:.0f}"),
            ("sqlite_point_ns", "sqlite pt ns", "{:.0f}"), ("breachindex_single_key_ns", "key 1x ns", "{:.0f}"),
            ("breachindex_single_e164_ns", "E.164 1x ns", "{:.0f}"),
            ("speedup_batch_vs_numpy", "x numpy", "{:.0f}"), ("batch_vs_floor", "/ floor", "{:.1f}"),
            ("speedup_2t_vs_1t", "2t / 1t", "{:.2f}"), ("floor_speedup_2t_vs_1t", "floor 2t/1t", "{:.2f}"),
            ("speedup_single_key_vs_sqlite_point", "key x sql pt", "{:.1f}"),
            ("breachindex_bytes_per_key", "B/key", "{:.2f}"),
            ("breachindex_resident_bytes_per_key", "B/key in RAM", "{:.2f}"),
            ("huge_page_share", "2MB-mapped", "{:.0%}"),
            ("open_ms", "open ms", "{:.1f}"),
            ("open_cold_ms", "cold open ms", "{:.1f}"), ("breachindex_cold_single_us", "cold 1x us", "{:.0f}")]
    print("  ".join(f"{title:>12}" for _, title, _ in cols))
    for r in results:
        cells = [(fmt_.format(r[k]) if r.get(k) is not None else "-") for k, _, fmt_ in cols]
        print("  ".join(f"{c:>12}" for c in cells), flush=True)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    workdir = Path(args.dir)
    workdir.mkdir(parents=True, exist_ok=True)
    key_path = workdir / "bench.key"
    if not key_path.exists():
        Key.generate().save(key_path)
    key = Key.load(key_path)
    results = []
    for size in args.sizes.split(","):
        r = _bench_size(parse_size(size), args, workdir, key)
        results.append(r)
        _print_table(results[-1:] if len(results) > 1 else results)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": sys.version.split()[0], "machine": platform.machine(), "cores": os.cpu_count()}
    out.write_text(json.dumps({"machine": machine, "queries": args.queries, "repeat": args.repeat,
                               "results": results}, indent=1))
    plotted = _plot(results, out.with_suffix(".png"))
    print(f"results: {out}" + (f", plot: {out.with_suffix('.png')}" if plotted else
                               " (install matplotlib for the plot)"))
    return results


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="breachindex bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1M,10M,100M,533M")
    p.add_argument("--queries", type=int, default=2_000_000)
    p.add_argument("--singles", type=int, default=20_000, help="single lookups per method")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--settle", type=float, default=120.0, metavar="SECONDS",
                   help="untimed rounds of the batch methods until they stop getting faster by 5%% "
                        "(at most this long): the steady state, not memory just read in (default 120)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--set-max", type=parse_size, default=parse_size("50M"),
                   help="largest size for the Python set (memory)")
    p.add_argument("--sqlite-max", type=parse_size, default=parse_size("100M"),
                   help="largest size for SQLite (build time)")
    p.add_argument("--cold", action="store_true", help="also measure cold-cache single lookups")
    p.add_argument("--dir", default="bench/tables", help="where tables are kept and reused")
    p.add_argument("--json", default="bench/results/bench.json")
    return p


def main(argv: list[str] | None = None) -> int:
    run(build_parser().parse_args(argv))
    return 0
