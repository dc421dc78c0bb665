"""Prefaulting an index and reporting how the kernel maps it (breachindex.index.memory)."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import breachindex as bi
from breachindex import format as fmt
from breachindex.builder.writer import write_sorted
from breachindex.index import memory as pages

KEY = bi.Key(b"pages-tests-secret-0123456789abcd")
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A table whose key file spans a few hundred pages."""
    rng = np.random.default_rng(11)
    keys = np.unique(rng.integers(0, 2**64, 400_000, dtype=np.uint64))
    n = len(keys)
    path = tmp_path_factory.mktemp("pages") / "idx"
    write_sorted(path, keys, np.ones(n, np.uint32), np.ones(n, np.uint32), np.full(n, 31, np.uint16),
                 breach_names=["b"], class_names=["c"], key=KEY)
    return path


def resident(index: bi.Index, name: str) -> int:
    report = index.page_report()
    assert report is not None
    return report[name].resident


@linux_only
@pytest.mark.parametrize("prefault", [True, "reload"])
def test_prefault_maps_every_page(folder, prefault):
    with bi.open(folder, key=KEY) as cold:
        # opening reads headers and two directory entries, never the keys
        assert resident(cold, fmt.KEYS_FILE) < (folder / fmt.KEYS_FILE).stat().st_size // 2
    with bi.open(folder, key=KEY, prefault=prefault) as index:
        report = index.page_report()
        assert report is not None
        for name in (fmt.KEYS_FILE, fmt.DIRECTORY_FILE, fmt.PROFILES_FILE):
            pages_ = report[name]
            assert pages_.resident == pages_.size >= (folder / name).stat().st_size
            assert 0.0 <= pages_.huge_share <= 1.0 and pages_.huge <= pages_.resident


@linux_only
def test_prefault_without_populate_or_huge_pages_still_maps_everything(folder, monkeypatch):
    """Kernels before 5.14 have no MADV_POPULATE_READ; THP may be off: read, then touch."""
    monkeypatch.setattr(pages, "MADV_POPULATE_READ", None)
    monkeypatch.setattr(pages, "_MADV_HUGEPAGE", None)
    with bi.open(folder, key=KEY) as index:
        index.prefault()
        assert resident(index, fmt.KEYS_FILE) == index.page_report()[fmt.KEYS_FILE].size


@linux_only
def test_populate_failure_falls_back_to_touching(folder, monkeypatch):
    monkeypatch.setattr(pages, "MADV_POPULATE_READ", 0x7FFF)  # an advice no kernel knows: EINVAL
    with bi.open(folder, key=KEY) as index:
        index.prefault(reload=True)
        assert resident(index, fmt.KEYS_FILE) == index.page_report()[fmt.KEYS_FILE].size
        rng = np.random.default_rng(2)
        q = rng.integers(0, 2**64, 1000, dtype=np.uint64)
        with bi.open(folder, key=KEY) as plain:
            assert np.array_equal(index.lookup_keys(q), plain.lookup_keys(q))


def test_prefault_value_is_checked(folder):
    with pytest.raises(ValueError, match="prefault must be"):
        bi.open(folder, key=KEY, prefault="yes")


def test_page_report_needs_an_open_index(folder):
    index = bi.open(folder, key=KEY)
    index.close()
    with pytest.raises(ValueError, match="closed"):
        index.page_report()


def test_huge_share_of_nothing_is_zero():
    assert pages.MappingPages(size=0, resident=0, huge=0).huge_share == 0.0
    assert pages.MappingPages(size=8192, resident=4096, huge=2048).huge_share == 0.5


@linux_only
def test_server_generations_prefault_each_index(folder):
    """``serve --prefault``: the index a server opens is resident before it answers."""
    from breachindex.server.cli import config_from_args, serve_parser
    from breachindex.server.generations import IndexGenerations

    args = serve_parser().parse_args([str(folder), "--key", "k", "--campaign", "c.db", "--prefault"])
    assert config_from_args(args).prefault is True
    generations = IndexGenerations(folder, key=KEY, prefault=True)
    with generations.lease() as index:
        keys = index.page_report()[fmt.KEYS_FILE]
        assert keys.resident == keys.size


def locked_bytes() -> int:
    """This process's locked memory (VmLck), in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmLck:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmLck in /proc/self/status")


def can_lock(size: int) -> bool:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    return os.geteuid() == 0 or soft == resource.RLIM_INFINITY or soft >= size


@linux_only
def test_lock_pins_every_mapped_file_until_close(folder):
    import gc

    before = locked_bytes()
    index = bi.open(folder, key=KEY)
    sizes = {name: mm_len for name, mm_len in ((n, len(m)) for n, m in index._live().maps.items())}
    total = sum(sizes.values())
    if not can_lock(before + total):
        pytest.skip("this process may not lock the index (RLIMIT_MEMLOCK)")
    index.lock()
    # every page of every file: locked, resident and mapped
    assert locked_bytes() - before >= total - 4096 * len(sizes)
    report = index.page_report()
    assert all(report[name].resident == report[name].size for name in sizes)
    assert index.lookup_keys(np.zeros(4, np.uint64)).shape == (4,)
    index.close()
    gc.collect()
    assert locked_bytes() == before  # unmapping released the lock


@linux_only
def test_open_with_lock_and_the_server_flag(folder):
    from breachindex.server.cli import config_from_args, serve_parser
    from breachindex.server.generations import IndexGenerations

    args = serve_parser().parse_args([str(folder), "--key", "k", "--campaign", "c.db", "--lock"])
    assert config_from_args(args).lock is True
    with bi.open(folder, key=KEY) as probe:
        total = sum(len(m) for m in probe._live().maps.values())
    if not can_lock(locked_bytes() + total):
        pytest.skip("this process may not lock the index (RLIMIT_MEMLOCK)")
    before = locked_bytes()
    with bi.open(folder, key=KEY, prefault=True, lock=True) as index:
        assert locked_bytes() - before >= total - 4 * 4096
        assert len(index) > 0
    generations = IndexGenerations(folder, key=KEY, lock=True)
    with generations.lease():
        assert locked_bytes() - before >= total - 4 * 4096


@linux_only
def test_a_refused_lock_says_what_to_raise(folder, monkeypatch):
    """RLIMIT_MEMLOCK too low (root ignores it, so the refusal is simulated at the libc call)."""
    import ctypes
    import errno
    import types

    def refusing_mlock(address: object, length: object) -> int:
        ctypes.set_errno(errno.ENOMEM)
        return -1

    monkeypatch.setattr(pages, "_libc", lambda: types.SimpleNamespace(mlock=refusing_mlock))
    with bi.open(folder, key=KEY) as index, pytest.raises(OSError) as info:
        index.lock()
    assert info.value.errno == errno.ENOMEM
    message = str(info.value)
    assert "RLIMIT_MEMLOCK" in message and "CAP_IPC_LOCK" in message and "ulimit -l" in message
    assert fmt.KEYS_FILE in message or fmt.DIRECTORY_FILE in message or fmt.PROFILES_FILE in message
