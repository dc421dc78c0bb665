"""Bitmaps from whole containers (``bitmap_of_mask``, ``bitmap_of_rows``) against pyroaring
building the same rows one by one: the same set, and after ``run_optimize`` the same bytes, so
an index's bitmap files do not depend on how they were made."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from breachindex.builder.bitmaps import bitmap_of_mask, bitmap_of_rows


def same(got: BitMap, rows: list[int]) -> None:
    want = BitMap(rows)
    assert got == want
    got, want = BitMap(got), BitMap(want)
    got.run_optimize()
    want.run_optimize()
    assert got.serialize() == want.serialize()


# chunks that start anywhere in a container, cross container edges, and fill containers to
# either side of the array/bitset line (4096 rows)
@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 200_000), st.integers(0, 200_000),
       st.sampled_from([0.0, 0.01, 0.06, 0.0625, 0.07, 0.5, 1.0]), st.integers(0, 2**32 - 1))
def test_a_mask_gives_its_rows(first: int, n: int, share: float, seed: int) -> None:
    member = np.random.default_rng(seed).random(n) < share
    same(bitmap_of_mask(first, member), (np.flatnonzero(member) + first).tolist())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), max_size=300), st.integers(0, 5),
       st.integers(0, 2**32 - 1))
def test_sorted_rows_give_themselves(scattered: list[int], dense_spans: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = set(scattered)
    for _ in range(dense_spans):  # whole spans around 4096 rows, and full ones
        base = int(rng.integers(0, 2**16)) << 16
        rows.update((base + rng.choice(1 << 16, int(rng.choice([4096, 4097, 30_000, 65_536])),
                                        replace=False)).tolist())
    ordered = sorted(rows)
    same(bitmap_of_rows(np.array(ordered, dtype=np.uint32)), ordered)


def test_exactly_the_array_limit_and_one_more() -> None:
    for card in (4095, 4096, 4097):
        member = np.zeros(1 << 16, dtype=bool)
        member[:2 * card:2] = True  # no runs: run_optimize leaves array or bitset as they are
        same(bitmap_of_mask(3 << 16, member), list(range(3 << 16, (3 << 16) + 2 * card, 2)))
        same(bitmap_of_rows(np.arange(card, dtype=np.uint32) * 2 + 7), list(range(7, 7 + 2 * card, 2)))


def test_chunks_united_are_the_whole() -> None:
    rng = np.random.default_rng(5)
    member = rng.random(500_000) < 0.3
    united = BitMap()
    for a in range(0, len(member), 77_777):  # chunk edges inside containers
        united |= bitmap_of_mask(a + 1000, member[a:a + 77_777])
    same(united, (np.flatnonzero(member) + 1000).tolist())


def test_nothing_is_an_empty_bitmap() -> None:
    assert bitmap_of_mask(12, np.zeros(0, dtype=bool)) == BitMap()
    assert bitmap_of_mask(12, np.zeros(70_000, dtype=bool)) == BitMap()
    assert bitmap_of_rows(np.zeros(0, dtype=np.uint32)) == BitMap()
