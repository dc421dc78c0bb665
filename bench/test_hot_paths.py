"""pytest-benchmark tests of the hot paths, beside numpy on the same keys.

Not part of the default test run (``testpaths`` is ``tests``). Run them with::

    python -m pytest bench/test_hot_paths.py --benchmark-enable
    BREACHINDEX_BENCH_KEYS=100M python -m pytest bench/test_hot_paths.py --benchmark-enable

``--benchmark-group-by=group`` (the default here) puts each hot path beside its peer; compare
ratios within a group, not absolute times across machines.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import breachindex as bi
from breachindex.builder.writer import write_sorted_chunks
from breachindex.cli.bench import parse_size, uniform_sorted_chunks
from breachindex.keying.phone import normalize
from breachindex.synth.synthetic import synthetic_numbers

KEYS = parse_size(os.environ.get("BREACHINDEX_BENCH_KEYS", "1M"))
QUERIES = 200_000
KEY = bi.Key(b"hot-path-benchmark-secret-012345")


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """(index, full keys, uint64 queries half present, E.164 strings half present)."""
    numbers = synthetic_numbers(2000, seed=3)
    present = numbers[:1000]
    folder = tmp_path_factory.mktemp("hot") / "idx"
    write_sorted_chunks(folder, uniform_sorted_chunks(KEYS, bi.phone_keys(present, key=KEY), 3),
                        breach_names=["synthetic"], class_names=[f"class_{i}" for i in range(6)], key=KEY)
    index = bi.open(folder, key=KEY)
    keys = index._live().keys()
    rng = np.random.default_rng(4)
    queries = np.concatenate([rng.choice(keys, QUERIES // 2),
                              rng.integers(0, 2**64, QUERIES - QUERIES // 2, dtype=np.uint64)])
    rng.shuffle(queries)
    strings = ["+" + n for n in numbers]
    rng.shuffle(strings)
    yield index, keys, queries, strings
    index.close()


@pytest.mark.benchmark(group="batch")
@pytest.mark.parametrize("threads", [1, 2])
def test_lookup_keys(benchmark, table, threads):
    index, keys, queries, _ = table
    rows = benchmark(index.lookup_keys, queries, threads=threads)
    assert (rows >= 0).sum() == np.isin(queries, keys).sum()


@pytest.mark.benchmark(group="batch")
def test_numpy_searchsorted(benchmark, table):
    _, keys, queries, _ = table
    pos = benchmark(np.searchsorted, keys, queries)
    assert len(pos) == len(queries)


@pytest.mark.benchmark(group="single")
def test_lookup_key(benchmark, table):
    index, keys, queries, _ = table
    sample = [int(q) for q in queries[:2000]]
    found = benchmark(lambda: sum(index.lookup_key(k) >= 0 for k in sample))
    assert found == np.isin(queries[:2000], keys).sum()


@pytest.mark.benchmark(group="single")
def test_lookup_e164(benchmark, table):
    index, _, _, strings = table
    found = benchmark(lambda: sum(index.lookup(s) is not None for s in strings))
    assert found == 1000


@pytest.mark.benchmark(group="single")
def test_contains_e164(benchmark, table):
    index, _, _, strings = table
    assert benchmark(lambda: sum(s in index for s in strings)) == 1000


@pytest.mark.benchmark(group="normalize")
def test_normalize(benchmark, table):
    strings = table[3]
    assert benchmark(lambda: [normalize(s) for s in strings]) == strings


@pytest.mark.benchmark(group="normalize")
def test_phone_keys_batch(benchmark, table):
    index, _, _, strings = table
    keys = benchmark(index.phone_keys, strings)
    assert (index.lookup_keys(keys) >= 0).sum() == 1000
