"""The benchmark harness at a tiny size: every method runs, agrees with the others (the harness
raises if not) and lands in the JSON."""
from __future__ import annotations

import json

import pytest

from breachindex.benchmark import build_parser, parse_size, run
from breachindex.indexfiles import auto_dir_bits, table_bytes


def test_parse_size():
    assert parse_size("10M") == 10_000_000
    assert parse_size("1.5M") == 1_500_000
    assert parse_size("20K") == 20_000
    assert parse_size("533") == 533


def test_harness_runs_every_method_and_they_agree(tmp_path):
    args = build_parser().parse_args([
        "--sizes", "20K", "--queries", "4000", "--singles", "300", "--repeat", "1",
        "--dir", str(tmp_path / "tables"), "--json", str(tmp_path / "bench.json"),
    ])
    results = run(args)
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["results"] == json.loads(json.dumps(results))
    r = results[0]
    for field in ("breachindex_batch_1t_ns", "breachindex_batch_2t_ns", "numpy_searchsorted_ns",
                  "numpy_sort_searchsorted_ns", "floor_gather_ns", "python_set_ns", "sqlite_point_ns",
                  "sqlite_batch_in_ns", "breachindex_single_key_ns", "breachindex_single_e164_ns"):
        assert r[field] > 0, field
    on_disk = table_bytes(20_000, auto_dir_bits(20_000)) + 2 * 64 + 8  # two headers, the key padding
    assert r["keys"] == 20_000 and r["breachindex_bytes_per_key"] == pytest.approx(on_disk / 20_000, abs=1e-3)
    assert r["breachindex_bytes_per_key"] < 8
    # a second run reuses the tables it wrote
    assert run(args)[0]["keys"] == 20_000
