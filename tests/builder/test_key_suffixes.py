"""The key file's writer (``bi_key_suffixes``) against the plain numpy model it replaced: the
same bytes and the same directory, however the keys are cut into pieces, and unsorted keys
refused rather than written."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breachindex._core import ffi, lib
from breachindex.builder.files import key_width


def model(keys: np.ndarray, bits: int) -> tuple[bytes, np.ndarray]:
    width = key_width(bits)
    suffixes = (keys & np.uint64((1 << (64 - bits)) - 1)).astype("<u8").view(np.uint8).reshape(-1, 8)
    counts = np.bincount((keys >> np.uint64(64 - bits)).astype(np.int64), minlength=1 << bits)
    directory = np.zeros((1 << bits) + 1, np.uint32)
    np.cumsum(counts, out=directory[1:])
    return np.ascontiguousarray(suffixes[:, :width]).tobytes(), directory


def written(keys: np.ndarray, bits: int, cuts: list[int]) -> tuple[bytes, np.ndarray]:
    width = key_width(bits)
    directory = np.zeros((1 << bits) + 1, np.uint32)
    next_bucket = ffi.new("uint64_t *", 1)
    out = b""
    edges = [0, *sorted(c % (len(keys) + 1) for c in cuts), len(keys)]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        piece = np.ascontiguousarray(keys[lo:hi])
        buf = np.full(len(piece) * width, 0xAA, np.uint8)
        assert lib.bi_key_suffixes(ffi.from_buffer("uint64_t[]", piece), len(piece), bits, lo,
                                   ffi.from_buffer("uint8_t[]", buf), ffi.from_buffer("uint32_t[]", directory),
                                   next_bucket) == lib.BI_OK
        out += buf.tobytes()
    directory[next_bucket[0]:] = len(keys)
    return out, directory


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), max_size=300, unique=True), st.integers(1, 12),
       st.lists(st.integers(0, 400), max_size=4), st.booleans())
def test_pieces_give_the_models_bytes_and_directory(values: list[int], bits: int, cuts: list[int],
                                                     crowded: bool) -> None:
    keys = np.array(sorted(values), np.uint64)
    if crowded:  # many keys in few buckets, and empty buckets between them
        keys = np.unique(keys >> np.uint64(3) | np.uint64(0xF000000000000000))
    data, directory = written(keys, bits, cuts)
    want_data, want_directory = model(keys, bits)
    assert data == want_data
    assert np.array_equal(directory, want_directory)


@pytest.mark.parametrize("bits", [1, 7, 8, 9, 16, 24])
def test_widths_at_the_byte_edges(bits: int) -> None:
    rng = np.random.default_rng(bits)
    keys = rng.integers(0, 2**64 - 1, 5000, dtype=np.uint64, endpoint=True)
    keys = np.unique(np.append(keys, np.uint64(2**64 - 1)))  # the last key, written byte by byte: all kept
    data, directory = written(keys, bits, [1, 2, 2500])
    want_data, want_directory = model(keys, bits)
    assert data == want_data and np.array_equal(directory, want_directory)


@pytest.mark.parametrize("keys", [[5, 5], [9, 3], [1 << 63, 1]])
def test_keys_out_of_order_are_refused(keys: list[int]) -> None:
    arr = np.array(keys, np.uint64)
    directory = np.zeros((1 << 4) + 1, np.uint32)
    buf = np.zeros(len(arr) * 8, np.uint8)
    status = lib.bi_key_suffixes(ffi.from_buffer("uint64_t[]", arr), len(arr), 4, 0,
                                 ffi.from_buffer("uint8_t[]", buf), ffi.from_buffer("uint32_t[]", directory),
                                 ffi.new("uint64_t *", 1))
    assert status == lib.BI_ERR_ARG


def test_a_piece_behind_the_last_bucket_is_refused() -> None:
    directory = np.zeros((1 << 4) + 1, np.uint32)
    buf = np.zeros(16, np.uint8)
    next_bucket = ffi.new("uint64_t *", 1)
    for key, want in ((0xF << 60, lib.BI_OK), (0x3 << 60, lib.BI_ERR_ARG)):
        arr = np.array([key], np.uint64)
        assert lib.bi_key_suffixes(ffi.from_buffer("uint64_t[]", arr), 1, 4, 0, ffi.from_buffer("uint8_t[]", buf),
                                   ffi.from_buffer("uint32_t[]", directory), next_bucket) == want


@pytest.mark.parametrize("bits", [0, 33])
def test_directory_bits_out_of_range_are_refused(bits: int) -> None:
    arr = np.array([1], np.uint64)
    status = lib.bi_key_suffixes(ffi.from_buffer("uint64_t[]", arr), 1, bits, 0, ffi.new("uint8_t[16]"),
                                 ffi.new("uint32_t[4]"), ffi.new("uint64_t *", 1))
    assert status == lib.BI_ERR_ARG
