"""The C lookup kernels at every edge, against numpy.searchsorted as the oracle.

Tables are written with ``write_sorted`` from crafted keys (not from phone numbers), so the
extremes of the key space, empty and one-key tables, and every directory size can be reached.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import breachindex as bi
from breachindex._core import lib
from breachindex.builder.writer import write_sorted

KEY = bi.Key(b"kernel-tests-secret-0123456789ab")
MAX = 2**64 - 1


def oracle(keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(keys, queries)
    hit = (pos < len(keys)) & (keys[np.minimum(pos, max(len(keys) - 1, 0))] == queries) if len(keys) else \
        np.zeros(len(queries), bool)
    return np.where(hit, pos, -1)


def table(tmp_path_factory: pytest.TempPathFactory, keys: np.ndarray, dir_bits: int | None = None) -> bi.Index:
    keys = np.unique(np.asarray(keys, dtype=np.uint64))
    folder = tmp_path_factory.mktemp("kernel") / "idx"
    n = len(keys)
    write_sorted(folder, keys, np.ones(n, np.uint32), np.ones(n, np.uint32), np.full(n, 31, np.uint16),
                 breach_names=["b"], class_names=["c"], key=KEY, dir_bits=dir_bits)
    return bi.open(folder, key=KEY)


def neighbours(keys: np.ndarray) -> np.ndarray:
    """Every key, and the values just before and after each (absent unless adjacent)."""
    k = keys.astype(object)
    around = {0, MAX, 1, MAX - 1}
    for x in k:
        around.update({x, max(x - 1, 0), min(x + 1, MAX)})
    return np.array(sorted(around), dtype=np.uint64)


def check(index: bi.Index, keys: np.ndarray, queries: np.ndarray) -> None:
    keys = np.unique(keys.astype(np.uint64))
    expected = oracle(keys, queries)
    for threads in (1, 2, 3):
        assert np.array_equal(index.lookup_keys(queries, threads=threads), expected), threads
    assert [index.lookup_key(int(q)) for q in queries] == expected.tolist()
    # the compact key file gives back every full key, and ranks like searchsorted
    mapped = index._live()
    assert np.array_equal(mapped.keys(), keys)
    n = len(keys)
    for a, b in {(0, 0), (0, n), (n, n), (n // 3, n // 2), (max(n - 1, 0), n)}:
        assert np.array_equal(mapped.keys(a, b), keys[a:b]), (a, b)
    sample = queries[:: max(1, len(queries) // 200)]
    assert [mapped.lower_bound(int(q)) for q in sample] == np.searchsorted(keys, sample).tolist()


@pytest.mark.parametrize("keys", [
    [], [0], [MAX], [0, MAX], [1], [MAX - 1], [2**63], [2**63 - 1, 2**63],
    list(range(10)), [MAX - i for i in range(10)],
])
@pytest.mark.parametrize("dir_bits", [None, 1, 2, 5, 8, 9, 16, 17])  # key widths 8, 8, 8, 7, 7, 6, 6
def test_edges(tmp_path_factory, keys, dir_bits):
    keys = np.array(keys, dtype=np.uint64)
    index = table(tmp_path_factory, keys, dir_bits)
    check(index, keys, neighbours(keys))


@pytest.mark.parametrize("batch", [0, 1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 4095, 4096, 4097, 20_001])
def test_batch_sizes_around_the_prefetch_window(tmp_path_factory, batch):
    rng = np.random.default_rng(batch)
    keys = rng.integers(0, 2**64, 5000, dtype=np.uint64, endpoint=False)
    index = table(tmp_path_factory, keys)
    present = rng.choice(np.unique(keys), batch // 2)
    queries = np.concatenate([present, rng.integers(0, 2**64, batch - batch // 2, dtype=np.uint64,
                                                    endpoint=False)])
    rng.shuffle(queries)
    check(index, keys, queries)


CHUNK = lib.BI_LOOKUP_CHUNK  # threads claim at most this many queries at a time, a quarter of a
# thread's share in smaller batches


@pytest.mark.parametrize("batch", [8191, 8192, 8193, 12_289, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK,
                                   3 * CHUNK + 1, 8 * CHUNK - 1, 8 * CHUNK + 5, 13 * CHUNK - 7])
def test_threaded_batches_around_the_chunk_size(tmp_path_factory, batch):
    """Threads share a batch in chunks: every query is answered once, whatever the batch's length
    against the chunk, including more threads than chunks."""
    rng = np.random.default_rng(batch)
    keys = np.unique(rng.integers(0, 2**64, 40_000, dtype=np.uint64, endpoint=False))
    index = table(tmp_path_factory, keys)
    queries = np.concatenate([rng.choice(keys, batch // 2),
                              rng.integers(0, 2**64, batch - batch // 2, dtype=np.uint64, endpoint=False)])
    rng.shuffle(queries)
    expected = oracle(keys, queries)
    for threads in (1, 2, 3, 7):
        assert np.array_equal(index.lookup_keys(queries, threads=threads), expected), threads


def test_clustered_keys_fill_few_buckets(tmp_path_factory):
    # keys are PRF outputs in practice, but the kernel must stay right when buckets are skewed
    keys = np.concatenate([np.arange(1000, dtype=np.uint64) * np.uint64(3),
                           np.uint64(2**63) + np.arange(500, dtype=np.uint64),
                           np.array([MAX], dtype=np.uint64)])
    for dir_bits in (1, 4, 12, 20):
        index = table(tmp_path_factory, keys, dir_bits)
        check(index, keys, neighbours(keys))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, MAX), max_size=300), st.lists(st.integers(0, MAX), max_size=200),
       st.sampled_from([None, 1, 3, 8, 14]))
def test_random_tables_against_searchsorted(tmp_path_factory, keys, extra, dir_bits):
    keys = np.array(keys, dtype=np.uint64)
    index = table(tmp_path_factory, keys, dir_bits)
    queries = np.concatenate([neighbours(np.unique(keys)), np.array(extra, dtype=np.uint64)])
    check(index, keys, queries)


@pytest.mark.parametrize("access", ["random", "hugepage", "normal"])
@pytest.mark.parametrize("prefault", [False, True, "reload"])
def test_access_hints_do_not_change_answers(tmp_path_factory, access, prefault):
    rng = np.random.default_rng(3)
    keys = np.unique(rng.integers(0, 2**64, 3000, dtype=np.uint64, endpoint=False))
    plain = table(tmp_path_factory, keys)
    hinted = bi.open(plain.path, key=KEY, access=access, prefault=prefault)
    queries = neighbours(keys[:200])
    assert np.array_equal(hinted.lookup_keys(queries), plain.lookup_keys(queries))
    check(hinted, keys, queries)


def test_unknown_access_hint_is_refused(tmp_path_factory):
    index = table(tmp_path_factory, np.array([1, 2, 3], dtype=np.uint64))
    with pytest.raises(ValueError, match="access must be one of"):
        bi.open(index.path, key=KEY, access="sequential-please")


@pytest.mark.parametrize(("dir_bits", "width"), [(1, 8), (7, 8), (8, 7), (15, 7), (16, 6), (20, 6), (24, 5)])
def test_every_key_width(tmp_path_factory, dir_bits, width):
    """Each stored width (8 down to 5 bytes), with and without spare bits in the top byte."""
    rng = np.random.default_rng(dir_bits)
    keys = np.unique(np.concatenate([rng.integers(0, 2**64, 3000, dtype=np.uint64, endpoint=False),
                                     np.array([0, 1, MAX - 1, MAX], dtype=np.uint64)]))
    index = table(tmp_path_factory, keys, dir_bits)
    assert index._live().table.key_width == width
    queries = np.concatenate([keys, keys + np.uint64(1), keys - np.uint64(1),
                              rng.integers(0, 2**64, 3000, dtype=np.uint64, endpoint=False)])
    check(index, keys, queries)
    assert index.verify().rows == len(keys)


def test_out_of_range_arguments_of_the_key_accessors(tmp_path_factory):
    index = table(tmp_path_factory, np.arange(10, dtype=np.uint64) << np.uint64(60))
    mapped = index._live()
    for a, b in ((0, 11), (5, 4), (-1, 3), (11, 11)):
        with pytest.raises(ValueError):
            mapped.keys(a, b)
    assert mapped.lower_bound(MAX) == 10 and mapped.lower_bound(0) == 0


@pytest.mark.parametrize("rows", [7, 96, 97, 100, 10**4, 10**6, 10**7, 10**8, 533_000_000, 2**32 - 1])
def test_auto_dir_bits_keeps_buckets_small_and_files_smallest(rows):
    from breachindex.builder.files import MAX_BUCKET, MIN_BUCKET, auto_dir_bits, table_bytes

    bits = auto_dir_bits(rows)
    if rows <= 2 * MIN_BUCKET:  # too few keys for even two buckets of MIN_BUCKET
        assert bits == 1
        return
    assert MIN_BUCKET <= rows / 2**bits <= MAX_BUCKET
    others = [b for b in range(1, 31) if MIN_BUCKET <= rows / 2**b <= MAX_BUCKET]
    assert table_bytes(rows, bits) == min(table_bytes(rows, b) for b in others)


def test_the_whole_leak_takes_under_six_bytes_a_key():
    from breachindex.builder.files import auto_dir_bits, table_bytes

    assert table_bytes(533_000_000, auto_dir_bits(533_000_000)) / 533_000_000 < 5.6
