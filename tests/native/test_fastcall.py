"""The single-lookup calls of ``breachindex._fastcall``: the same answers as the cffi entry
points they replace, the same argument errors, failures through the one decoder
(``breachindex._core.error``), and the mapping's lifetime kept by the caller.
"""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import breachindex as bi
from breachindex._core import error, ffi, lib, single_lookups
from breachindex._fastcall import Lookups
from breachindex.errors import IndexCorrupted, InvalidPhoneNumber
from breachindex.synth.synthetic import synthetic_numbers

KEY = bi.Key(b"fastcall-tests-secret-0123456789")
NUMBERS = synthetic_numbers(400, seed=11)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("fastcall") / "idx"
    bi.build(path, [(n, "b", ["name", "email_address"]) for n in NUMBERS[:200]], key=KEY)
    return path


@pytest.fixture
def index(folder):
    with bi.open(folder, key=KEY) as opened:
        yield opened


def cffi_lookup(table, key: int) -> int:
    row = ffi.new("int64_t *")
    assert lib.bi_lookup(table, key, row) == lib.BI_OK
    return int(row[0])


def cffi_phone(ctx, data: bytes, flags: int):
    """What ``Lookups.phone`` must give: the packed row and profile, -1, None, or the decoder's
    exception (returned, to compare)."""
    row, profile = ffi.new("int64_t *"), ffi.new("uint32_t *")
    status = lib.bi_lookup_phone_ctx(ctx, data, len(data), flags, row, profile)
    if status == lib.BI_OK:
        return (profile[0] << 32) | row[0] if row[0] >= 0 else -1
    if status == lib.BI_FALLBACK:
        return None
    return error(status)


def test_lookup_key_agrees_with_the_cffi_call(index):
    mapped = index._live()
    keys = [int(k) for k in index.phone_keys(NUMBERS)] + [0, 1, 2**63, 2**64 - 1]
    expected = [cffi_lookup(mapped.table, k) for k in keys]
    assert [index.lookup_key(k) for k in keys] == expected
    assert sum(r >= 0 for r in expected) == 200


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.sampled_from(NUMBERS), st.text(max_size=24),
                      st.from_regex(r"\+?[0-9 ()-]{0,22}", fullmatch=True)),
       flags=st.sampled_from([0, lib.BI_ACCEPT_BARE, lib.BI_ACCEPT_00, 3]))
def test_phone_agrees_with_the_cffi_call(folder, text, flags):
    with bi.open(folder, key=KEY) as index:
        data = text.encode("utf-8", "surrogatepass")
        expected = cffi_phone(index._live().phone_ctx, data, flags)
        if isinstance(expected, Exception):
            with pytest.raises(type(expected)) as info:
                index._single.phone(data, flags)
            assert str(info.value) == str(expected)
            assert isinstance(expected, InvalidPhoneNumber)
            assert info.value.reason == expected.reason
        else:
            assert index._single.phone(data, flags) == expected


def test_phone_answers_found_absent_fallback_and_rejection(index):
    """The four outcomes of one call: a packed row and profile, -1, None, an exception."""
    found = index._single.phone(("+" + NUMBERS[0]).encode(), lib.BI_ACCEPT_BARE)
    assert found >= 0 and found & 0xFFFFFFFF == index.lookup(NUMBERS[0]).row
    assert index._single.phone(("+" + NUMBERS[300]).encode(), lib.BI_ACCEPT_BARE) == -1
    assert index._single.phone(b"+31 6 12345678", lib.BI_ACCEPT_BARE) is None
    with pytest.raises(InvalidPhoneNumber) as info:
        index._single.phone(b"+3161", lib.BI_ACCEPT_BARE)
    assert info.value.reason == "too_short"


def test_numpy_integers_are_keys(index):
    key = index.phone_keys(NUMBERS[:1])[0]
    row = index.lookup_key(int(key))
    assert row >= 0
    assert index.lookup_key(key) == row  # numpy.uint64
    assert index.lookup_key(np.int64(5)) == index.lookup_key(5)


@pytest.mark.parametrize("bad", [-1, 2**64, 2**80, 1.5, "12", None, b"12", np.float64(3.0)])
def test_lookup_key_refuses_what_is_not_a_uint64(index, bad):
    with pytest.raises(ValueError, match="unsigned 64-bit integer"):
        index.lookup_key(bad)
    assert index.lookup_key(0) in (-1, 0)  # no error left pending


def test_closed_index_refuses_lookup_key(folder):
    index = bi.open(folder, key=KEY)
    index.close()
    with pytest.raises(ValueError, match="closed"):
        index.lookup_key(1)


def test_a_call_in_flight_keeps_the_mapping_and_closing_frees_it(folder):
    index = bi.open(folder, key=KEY)
    key = int(index.phone_keys(NUMBERS[:1])[0])
    mapping = weakref.ref(index._live())
    single = index._single
    index.close()
    assert single.key(key) >= 0  # still mapped: the calls hold it
    del single
    # no reference cycle: the mapping goes with its last reference, not at the next collection
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        assert mapping() is None
    finally:
        if was_enabled:
            gc.enable()


def test_construction_checks_its_arguments(index):
    mapped = index._live()
    table = int(ffi.cast("uintptr_t", mapped.table))
    with pytest.raises(ValueError, match="null"):
        Lookups(mapped, IndexCorrupted, 0, table, 1, 1)
    with pytest.raises(TypeError, match="callable"):
        Lookups(mapped, None, table, table, 1, 1)
    with pytest.raises(TypeError, match="callable"):
        Lookups(owner=mapped, error=None, table=table, ctx=table, lookup=1, phone=1)
    with pytest.raises(TypeError):
        Lookups(mapped, IndexCorrupted, table)


def test_phone_checks_its_arguments(index):
    single = index._single
    with pytest.raises(TypeError):
        single.phone("+31612345678", 1)  # bytes, not str
    with pytest.raises(TypeError):
        single.phone(b"+31612345678")
    with pytest.raises(OverflowError):
        single.phone(b"+31612345678", -1)


def test_a_bad_bucket_raises_index_corrupted_from_lookup_key(tmp_path):
    """A directory entry pushed past the key file: the lookup refuses to read there and the
    error names the directory, through the module's one error path."""
    folder = tmp_path / "idx"
    bi.build(folder, [(n, "b", ["name"]) for n in NUMBERS[:50]], key=KEY)
    with bi.open(folder, key=KEY) as index:
        key = int(index.phone_keys(NUMBERS[:1])[0])
        bits = index.manifest["dir_bits"]
        mapped = index._live()
        # a private copy of the table struct with a damaged directory: the files stay intact
        entries = 2**bits + 1
        damaged = ffi.new("uint32_t[]", entries)
        ffi.memmove(damaged, mapped.table.dir, 4 * entries)
        bucket = key >> (64 - bits)
        damaged[bucket + 1] = 0xFFFFFFF0
        table = ffi.new("bi_table *", mapped.table[0])
        table.dir = damaged
        single = single_lookups((mapped, damaged, table), table, mapped.phone_ctx)
        with pytest.raises(IndexCorrupted) as info:
            single.key(key)
        assert info.value.file == "directory.u32"
        assert single.key(key ^ (1 << 63)) >= -1  # other buckets still answer
