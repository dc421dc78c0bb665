"""``breachindex demo``: a seeded synthetic leak, built, opened, queried and timed.

Everything here is synthetic (``breachindex.synth.synthetic``); numbers are printed masked anyway,
because a demo's habits end up in real code.
"""
from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TextIO, TypeVar

import numpy as np

from ..builder.writer import build
from ..index.reader import Index, open_index
from ..keying.phone import region_of
from ..keying.secret import Key
from ..synth.synthetic import synthetic_records

__all__ = ["run_demo", "mask"]

T = TypeVar("T")

SECOND_BREACH = "demo-scrape-2019"


def mask(e164: str) -> str:
    """'+31612345678' -> '+316•••••678': enough to recognise, not enough to use."""
    return e164[:4] + "•" * max(0, len(e164) - 7) + e164[-3:]


def _timed(fn: Callable[[], T], repeat: int = 3) -> tuple[float, T]:
    best, result = float("inf"), fn()
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def run_demo(
    size: int = 1_000_000,
    *,
    seed: int = 2021,
    out: str | None = None,
    queries: int = 100_000,
    stream: TextIO = sys.stdout,
) -> int:
    """Run the demo; returns a process exit code (0 when every answer was right)."""

    def say(text: str = "") -> None:
        print(text, file=stream, flush=True)

    started = time.perf_counter()
    absent_count = max(queries // 2, 1000)
    say(f"breachindex demo: a synthetic leak of {size:,} numbers (seed {seed})")

    t = time.perf_counter()
    records = synthetic_records(size + absent_count, seed=seed)
    leak, outsiders = records[:size], [r[0] for r in records[size:]]
    rng = random.Random(seed)
    # a second, smaller breach that shares 5% of the numbers, written in '+' form
    shared = rng.sample(range(size), size // 20)
    extra = [("+" + leak[i][0], SECOND_BREACH, ("phone_number", "email_address")) for i in shared]
    junk = [("", "facebook-2021", ("phone_number",)), ("12", "facebook-2021", ("phone_number",)),
            ("not a number", "facebook-2021", ("name",))]
    all_records = leak + extra + junk
    countries = Counter(region_of("+" + r[0]) for r in rng.sample(leak, min(size, 20_000)))
    say(f"  generated {len(all_records):,} records in {time.perf_counter() - t:.2f} s; "
        f"top countries: " + ", ".join(f"{c} {n / min(size, 20_000):.0%}"
                                      for c, n in countries.most_common(6)))

    tmp = None
    if out is None:
        tmp = tempfile.mkdtemp(prefix="breachindex-demo-")
        folder = Path(tmp) / "demo.idx"
    else:
        folder = Path(out)
    key = Key.generate()
    try:
        report = build(folder, all_records, key=key, overwrite=out is not None)
        say(f"  built: {report.summary()}")
        say(f"         {report.bytes / max(report.rows, 1):.2f} bytes per number on disk; "
            f"key tweak {report.key_tweak}")
        if out is not None:
            key_path = folder.parent / (folder.name + ".key")
            key.save(key_path, overwrite=True)
            say(f"  key saved beside the index (never inside it): {key_path}")

        t = time.perf_counter()
        index = open_index(folder, key=key)
        say(f"  opened in {(time.perf_counter() - t) * 1e3:.2f} ms: {len(index):,} numbers, "
            f"breaches {', '.join(index.breaches)}")
        ok = _query(index, leak, outsiders, shared, queries, rng, say)
        t = time.perf_counter()
        index.verify()
        say(f"  verify(): every checksum and the key order checked in {time.perf_counter() - t:.2f} s")
        index.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    say(f"demo {'passed' if ok else 'FAILED'} in {time.perf_counter() - started:.1f} s")
    return 0 if ok else 1


def _query(index: Index, leak: list[tuple[str, str, frozenset[str]]], outsiders: list[str],
           shared: list[int], queries: int, rng: random.Random,
           say: Callable[[str], None]) -> bool:
    n_in = min(queries // 2, len(leak))
    present = ["+" + leak[i][0] for i in rng.sample(range(len(leak)), n_in)]
    absent = ["+" + p for p in outsiders[:queries - n_in]]
    ok = True

    example = leak[shared[0]] if shared else leak[0]
    match = index.lookup("+" + example[0])
    say(f"  lookup({mask('+' + example[0])!r}) -> "
        f"{'in the leak' if match else 'not found'}: breaches {match.breaches if match else ()}, "
        f"country {match.country if match else None}, data {sorted(match.data_classes) if match else []}")
    if match is None or set(match.breaches) != {"facebook-2021", SECOND_BREACH}:
        ok = False

    sample = present[:10_000] + absent[:10_000]
    seconds, found = _timed(lambda: [index.lookup(s) is not None for s in sample], repeat=2)
    per = seconds / len(sample) * 1e6
    hits = sum(found)
    say(f"  single lookup(E.164 str): {per:.2f} µs each, {hits:,} of {len(sample):,} found "
        f"(expected {min(10_000, len(present)):,})")
    ok = ok and hits == min(10_000, len(present))

    mixed = present + absent
    rng.shuffle(mixed)
    seconds, flags = _timed(lambda: index.contains_many(mixed), repeat=2)
    present_set = set(present)
    expected = np.fromiter((m in present_set for m in mixed), dtype=bool, count=len(mixed))
    right = bool(np.array_equal(flags, expected))
    say(f"  contains_many({len(mixed):,} numbers): {seconds * 1e3:.1f} ms, "
        f"{len(mixed) / seconds / 1e6:.2f} M numbers/s (normalize + key + search), "
        f"{'all answers right' if right else 'WRONG ANSWERS'}")
    ok = ok and right

    keys = index.phone_keys(mixed)
    seconds, rows = _timed(lambda: index.lookup_keys(keys), repeat=5)
    say(f"  lookup_keys({len(keys):,} keys): {seconds / len(keys) * 1e9:.0f} ns per key, "
        f"{len(keys) / seconds / 1e6:.1f} M lookups/s")
    ok = ok and bool(np.array_equal(rows >= 0, expected))
    return ok
