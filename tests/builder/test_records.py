"""A build's records in C: split by key range (``partition_records``) and sorted by key
(``sort_records``), held to numpy's stable sorts on every width, size and key shape."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breachindex._core import lib
from breachindex.builder.records import partition_records, sort_records


def records(keys: list[int], width: int) -> np.ndarray:
    """Records whose other words number them, so a record torn apart would show."""
    recs = np.empty((len(keys), width), np.uint64)
    recs[:, 0] = np.array(keys, dtype=np.uint64)
    for w in range(1, width):
        recs[:, w] = np.arange(len(keys), dtype=np.uint64) * np.uint64(w + 1)
    return recs


def as_rows(recs: np.ndarray) -> list[tuple[int, ...]]:
    return sorted(map(tuple, recs.tolist()))


# keys of every shape: uniform, in a tiny range, all equal, at the ends of the range
KEYS = st.one_of(st.lists(st.integers(0, 2**64 - 1), max_size=300),
                 st.lists(st.integers(0, 40), max_size=300),
                 st.lists(st.sampled_from([0, 1, 2**63, 2**64 - 2, 2**64 - 1]), max_size=300),
                 st.integers(0, 300).map(lambda n: [7] * n))


@settings(max_examples=300, deadline=None)
@given(KEYS, st.integers(1, lib.BI_MAX_RECORD_WIDTH))
def test_sorting_orders_by_key_and_keeps_every_record_whole(keys: list[int], width: int) -> None:
    recs = records(keys, width)
    got = sort_records(recs.copy())
    assert got[:, 0].tolist() == sorted(keys)
    assert as_rows(got) == as_rows(recs)


@settings(max_examples=300, deadline=None)
@given(KEYS, st.integers(1, lib.BI_MAX_RECORD_WIDTH), st.integers(1, 16))
def test_partitioning_is_a_stable_sort_by_the_top_bits(keys: list[int], width: int, bits: int) -> None:
    recs = records(keys, width)
    parts = recs[:, 0] >> np.uint64(64 - bits)
    got, bounds = partition_records(recs, bits)
    assert np.array_equal(got, recs[np.argsort(parts, kind="stable")])
    assert len(bounds) == (1 << bits) + 1 and bounds[0] == 0 and bounds[-1] == len(keys)
    for p in np.unique(parts).tolist():
        assert (got[bounds[p]:bounds[p + 1], 0] >> np.uint64(64 - bits) == p).all()


def test_a_large_batch_and_one_scratch_for_many() -> None:
    rng = np.random.default_rng(3)
    scratch = np.empty((300_000, 3), np.uint64)
    for n in (300_000, 1_000, 200_000):  # the bucket sort's big, small and reused cases
        recs = records(rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False).tolist(), 3)
        recs[: n // 10, 0] = recs[n // 10: n // 5, 0]  # duplicate keys
        want = recs[np.argsort(recs[:, 0], kind="stable")]
        got = sort_records(recs.copy(), scratch)
        assert np.array_equal(got[:, 0], want[:, 0])
        assert as_rows(got) == as_rows(want)


def test_a_bucket_an_adversary_filled_is_sorted_too() -> None:
    # keys packed at both ends of the range: nearly all land in two buckets, which go to qsort
    keys = [5 + i for i in range(5_000)] + [2**64 - 1 - i for i in range(5_000)] + [2**63]
    recs = records(keys, 4)
    got = sort_records(recs[::-1].copy())
    assert got[:, 0].tolist() == sorted(keys) and as_rows(got) == as_rows(recs)


@pytest.mark.parametrize("width", [0, lib.BI_MAX_RECORD_WIDTH + 1])
def test_widths_out_of_range_are_refused(width: int) -> None:
    recs = np.zeros((4, max(width, 1)), np.uint64)
    with pytest.raises(ValueError):
        partition_records(recs[:, :width] if width else np.zeros((4, 0), np.uint64), 8)
    with pytest.raises(ValueError):
        sort_records(np.zeros((4, width), np.uint64))


@pytest.mark.parametrize("bits", [0, 17])
def test_partition_bits_out_of_range_are_refused(bits: int) -> None:
    with pytest.raises(ValueError):
        partition_records(np.zeros((4, 3), np.uint64), bits)


def test_only_a_contiguous_uint64_table_is_sorted_in_place() -> None:
    with pytest.raises(ValueError, match="C-contiguous"):
        sort_records(np.zeros((4, 3), np.uint64)[:, :2])
    with pytest.raises(ValueError, match="C-contiguous"):
        sort_records(np.zeros((4, 3), np.int64))
