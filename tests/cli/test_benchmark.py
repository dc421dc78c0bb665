"""The benchmark harness at a tiny size: every method runs, agrees with the others (the harness
raises if not) and lands in the JSON."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers import REPO

from breachindex.builder.files import auto_dir_bits, table_bytes
from breachindex.cli.bench import build_parser, parse_size, run

ROOT = REPO


def test_parse_size():
    assert parse_size("10M") == 10_000_000
    assert parse_size("1.5M") == 1_500_000
    assert parse_size("20K") == 20_000
    assert parse_size("533") == 533


def test_harness_runs_every_method_and_they_agree(tmp_path):
    args = build_parser().parse_args([
        "--sizes", "20K", "--queries", "4000", "--singles", "300", "--repeat", "1", "--settle", "5",
        "--dir", str(tmp_path / "tables"), "--json", str(tmp_path / "bench.json"),
    ])
    results = run(args)
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["results"] == json.loads(json.dumps(results))
    r = results[0]
    for field in ("breachindex_batch_1t_ns", "breachindex_batch_2t_ns", "numpy_searchsorted_ns",
                  "numpy_sort_searchsorted_ns", "floor_gather_ns", "floor_gather_2t_ns",
                  "python_set_ns", "sqlite_point_ns",
                  "sqlite_batch_in_ns", "breachindex_single_key_ns", "breachindex_single_e164_ns"):
        assert r[field] > 0, field
    # lookups a second beside each median, and bytes a key in memory beside those on disk
    assert r["breachindex_batch_1t_per_s"] == round(1e9 / r["breachindex_batch_1t_ns"])
    assert r["sqlite_point_per_s"] == round(1e9 / r["sqlite_point_ns"])
    assert "rounds_per_s" not in r and "floor_gather_spread_per_s" not in r
    assert r["numpy_bytes_per_key"] == 8.0
    assert 8 < r["python_set_bytes_per_key"] < 200  # a hash table of pointers plus an int object a key
    if r["breachindex_resident_bytes_per_key"] is not None:  # Linux: read in by prefault(reload=True)
        assert r["breachindex_resident_bytes_per_key"] == pytest.approx(r["breachindex_bytes_per_key"], rel=0.05)
    # every timed round is kept, and the median reported is the median of those rounds
    for field in ("breachindex_batch_1t", "floor_gather", "breachindex_single_key", "sqlite_point"):
        assert len(r["rounds_ns"][field]) == 1, field
        assert r["rounds_ns"][field][0] == pytest.approx(r[f"{field}_ns"], abs=0.1), field
    on_disk = table_bytes(20_000, auto_dir_bits(20_000)) + 2 * 64 + 8  # two headers, the key padding
    assert r["keys"] == 20_000 and r["breachindex_bytes_per_key"] == pytest.approx(on_disk / 20_000, abs=1e-3)
    assert r["breachindex_bytes_per_key"] < 8
    # a second run reuses the tables it wrote
    assert run(args)[0]["keys"] == 20_000


def test_methods_take_turns_and_ratios_compare_within_a_round():
    from breachindex.cli.bench import _in_turns, _ratio

    calls: list[tuple[str, int]] = []
    times, _ = _in_turns({"a": lambda i: calls.append(("a", i)), "b": lambda i: calls.append(("b", i))}, 4)
    # one untimed call each, then rounds 1..4, the order reversed every other round
    assert calls == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("b", 2), ("a", 2), ("a", 3), ("b", 3),
                     ("b", 4), ("a", 4)]
    assert [len(t) for t in times.values()] == [4, 4]
    # a slow stretch that slows both methods of a round leaves their ratio alone
    assert _ratio([10.0, 20.0, 40.0], [1.0, 2.0, 4.0]) == 10.0
    assert _ratio([3.0, 10.0, 1.0], [1.0, 1.0, 1.0]) == 3.0  # a median, not a mean


@pytest.mark.skipif(shutil.which("cc") is None or shutil.which("git") is None, reason="needs cc and git")
def test_kernel_ab_builds_variants_and_checks_they_agree(tmp_path):
    """bench/kernel_ab.py on a small table: two copies of the kernel agree and get timed; a
    variant that answers differently is caught."""
    import breachindex as bi
    from breachindex.synth.synthetic import synthetic_numbers

    folder = tmp_path / "idx"
    bi.build(folder, [(n, "b", ["name"]) for n in synthetic_numbers(3000, seed=3)], key=bi.Key.generate())
    script = [sys.executable, str(ROOT / "bench" / "kernel_ab.py"), str(folder)]
    same = subprocess.run([*script, str(ROOT / "native" / "table.c"), str(ROOT / "native" / "table.c")],
                          capture_output=True, text=True, timeout=300)
    assert same.returncode == 0, same.stderr
    assert same.stdout.count("best") == 2 and "round 11:" in same.stdout
    # the summary compares each variant with the first: the first's ratio to itself is exactly 1
    summary = [line for line in same.stdout.splitlines() if "best" in line]
    assert "1.000x the first" in summary[0] and "median" in summary[1]
    wrong = tmp_path / "wrong.c"  # a kernel that never finds anything
    wrong.write_text((ROOT / "native" / "table.c").read_text().replace(
        "rows[k] = scan_from(t, q[k] & mask, lo, hi, g_r[r]);", "rows[k] = -1;"))
    assert "rows[k] = -1;" in wrong.read_text()
    caught = subprocess.run([*script, str(ROOT / "native" / "table.c"), str(wrong)],
                            capture_output=True, text=True, timeout=300)
    assert caught.returncode == 1 and "answers differently" in caught.stderr


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs cc")
def test_kernel_parts_times_each_part_beside_the_floor_and_the_whole(tmp_path):
    """bench/kernel_ab.py --parts on a small table: the five parts are timed in turns, each with
    its ratios to the floor and to the whole lookup (each exactly 1 against itself); --parts with
    variants is refused."""
    import breachindex as bi
    from breachindex.synth.synthetic import synthetic_numbers

    folder = tmp_path / "idx"
    bi.build(folder, [(n, "b", ["name"]) for n in synthetic_numbers(3000, seed=4)], key=bi.Key.generate())
    script = [sys.executable, str(ROOT / "bench" / "kernel_ab.py"), str(folder)]
    run = subprocess.run([*script, "--parts"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "KERNEL_AB_ROUNDS": "3"})
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["round  0", "round  1", "round  2"]
    summary = {line[:13].strip(): line for line in lines[3:]}
    assert list(summary) == ["floor", "floor, ahead", "directory", "+ key lines", "whole"]
    assert "1.00x the floor" in summary["floor"] and "1.00x the whole" in summary["whole"]
    assert all("median" in line and "(medians of rounds 1-2)" in line for line in summary.values())
    both = subprocess.run([*script, str(ROOT / "native" / "table.c"), "--parts"], capture_output=True,
                          text=True, timeout=60)
    assert both.returncode == 2 and "give variants to compare, or --parts" in both.stderr


def test_settling_runs_untimed_rounds_until_the_times_agree(monkeypatch):
    """A method that runs slowly at first (memory just read in) is not timed until it is steady.
    A fake clock that each call advances by its cost keeps this exact."""
    from breachindex.cli import bench as benchmark

    clock = [0.0]
    monkeypatch.setattr(benchmark.time, "perf_counter", lambda: clock[0])
    costs = iter([8.0, 4.0, 2.0, 1.0, 0.98, 1.0, 1.0])
    rounds: list[int] = []

    def slow_then_steady(i: int) -> None:
        rounds.append(i)
        clock[0] += next(costs)

    times, settled = benchmark._in_turns({"m": slow_then_steady}, 2, settle=100.0)
    assert rounds == [0, 0, 0, 0, 0, 1, 2]  # the fifth untimed run was within 5 % of the best
    assert times["m"] == [1.0, 1.0] and settled == 8 + 4 + 2 + 1 + 0.98

    # the budget ends settling even if the times never agree
    clock[0], rounds[:] = 0.0, []
    costs = iter([8.0, 4.0, 2.0, 1.0, 1.0, 1.0])  # still getting faster when the budget ends
    times, settled = benchmark._in_turns({"m": slow_then_steady}, 1, settle=10.0)
    assert rounds == [0, 0, 1] and settled == 12.0
    # without settle, one untimed round only
    rounds[:] = []
    benchmark._in_turns({"m": lambda i: rounds.append(i)}, 2)
    assert rounds == [0, 1, 2]
