"""merge_rows with ``presorted``: the build's partitions come sorted from C and are not sorted
again; the rows must be those of a merge that sorts for itself, and keys out of order refused."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breachindex.builder.ingest import merged_partitions
from breachindex.builder.merge import KeyCollision, merge_rows
from breachindex.builder.records import NO_DETAILS
from breachindex.builder.spill import SpillingCollector
from breachindex.errors import BuildError

records = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 2**16 - 1)), max_size=200)


def columns(recs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys = np.array([k for k, _ in recs], np.uint64)
    meta = np.array([m for _, m in recs], np.uint64)
    return keys, meta, keys * np.uint64(7919)  # one check per key: equal keys, one number


@settings(max_examples=200, deadline=None)
@given(records)
def test_presorted_gives_the_rows_of_a_sorting_merge(recs: list[tuple[int, int]]) -> None:
    keys, meta, check = columns(sorted(recs))
    got = merge_rows(keys, united=[meta], first=[meta], check=check, presorted=True)
    want = merge_rows(keys, united=[meta], first=[meta], check=check, stable=True)
    assert np.array_equal(got.keys, want.keys)
    assert np.array_equal(got.united[0], want.united[0])
    assert np.array_equal(got.first[0], want.first[0])  # sorted input: the first record is the same one
    assert got.folded == want.folded == len(recs) - len({k for k, _ in recs})
    model: dict[int, int] = {}
    for k, m in recs:
        model[k] = model.get(k, 0) | m
    assert got.keys.tolist() == sorted(model) and got.united[0].tolist() == [model[k] for k in sorted(model)]


@settings(max_examples=100, deadline=None)
@given(records)
def test_presorted_refuses_keys_out_of_order(recs: list[tuple[int, int]]) -> None:
    keys, meta, check = columns(recs)
    if np.all(keys[1:] >= keys[:-1]):
        merge_rows(keys, united=[meta], check=check, presorted=True)  # in order: accepted
    else:
        with pytest.raises(BuildError, match="out of order"):
            merge_rows(keys, united=[meta], check=check, presorted=True)


def test_presorted_still_finds_a_collision() -> None:
    keys = np.array([1, 2, 2, 3], np.uint64)
    with pytest.raises(KeyCollision):
        merge_rows(keys, united=[keys], check=np.array([9, 8, 7, 6], np.uint64), presorted=True)


def test_presorted_details_keep_their_order() -> None:
    keys = np.array([1, 1, 2], np.uint64)
    got = merge_rows(keys, united=[keys], details=[[b"a"], [b"b"], [b"c"]], presorted=True)
    assert got.details == [[b"a", b"b"], [b"c"]]


@pytest.mark.parametrize("width", [3, 4])
def test_partitions_read_ahead_leave_each_rows_intact_while_they_are_used(tmp_path: Path, width: int) -> None:
    """merged_partitions reads one partition ahead on a thread and merges one on another while
    the caller holds a third: a slow caller must still see every partition's rows exactly."""
    rng = np.random.default_rng(width)
    recs = rng.integers(0, 2**64, (30_000, width), dtype=np.uint64, endpoint=False)
    recs[:, 0] = recs[rng.integers(0, len(recs), len(recs)), 0]  # duplicates, to fold
    recs[:, 1] = recs[:, 0] * np.uint64(3)  # one check per key
    recs[:, 2] &= np.uint64(0xFF)
    if width == 4:
        recs[:, 3] = NO_DETAILS
    collector = SpillingCollector(tmp_path, 1 << 10, width)
    for block in np.array_split(recs, 40):
        collector.add(block)
    assert collector.spilled_bytes > 0
    model: dict[int, int] = {}
    for k, m in zip(recs[:, 0].tolist(), recs[:, 2].tolist(), strict=True):
        model[k] = model.get(k, 0) | m
    got_keys: list[int] = []
    got_meta: list[int] = []
    for rows in merged_partitions(collector, None):
        if rows is None:
            continue
        time.sleep(0.002)  # let the reader and the merge run ahead, if they could
        got_keys += rows.keys.tolist()
        got_meta += rows.united[0].tolist()
    assert got_keys == sorted(model)
    assert got_meta == [model[k] for k in sorted(model)]
