"""``open()``'s default warming (``prefault="auto"``): a large index is mapped with 2 MB pages
and read in by a background thread while queries run; a small one, or one the machine has no
room for, is left alone; closing stops the thread."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import breachindex as bi
from breachindex import Key
from breachindex.index import memory
from breachindex.synth.synthetic import synthetic_numbers

KEY = Key.generate()
LINUX_THP = (sys.platform.startswith("linux") and memory._MADV_HUGEPAGE is not None
             and memory._thp_possible() and memory.MADV_POPULATE_READ is not None)


@pytest.fixture(scope="module")
def index_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    nums = synthetic_numbers(60_000, seed=4)
    folder = tmp_path_factory.mktemp("warm") / "idx"
    bi.build(folder, [(n, "b", ["name"]) for n in nums], key=KEY)
    return folder, nums


def test_a_small_index_is_left_to_the_page_cache(index_folder: tuple[Path, list[str]]) -> None:
    with bi.open(index_folder[0], key=KEY) as index:  # well under 64 MiB
        assert index._warming is None and index.warmed(0)


@pytest.mark.skipif(not LINUX_THP, reason="needs Linux with transparent huge pages")
def test_a_large_index_is_read_in_while_queries_run(index_folder: tuple[Path, list[str]],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    folder, nums = index_folder
    with bi.open(folder, key=KEY, prefault=False) as cold:
        want = cold.rows_of(nums, threads=1)
    monkeypatch.setattr(memory, "AUTO_PREFAULT_MIN", 0)
    monkeypatch.setattr(memory, "_WARM_CHUNK", 64 << 10)  # many chunks, so queries meet the thread
    with bi.open(folder, key=KEY) as index:
        assert index._warming is not None
        assert index.warmed(timeout=60)
        report = index.page_report()  # before any query touched a page
        assert report is not None
        for name, pages in report.items():
            assert pages.resident == pages.size, name  # every page read in and mapped
    with bi.open(folder, key=KEY) as index:
        during = index.rows_of(nums, threads=1)  # while it warms
        assert index.warmed(timeout=60)
        assert np.array_equal(during, want) and np.array_equal(index.rows_of(nums, threads=1), want)


@pytest.mark.skipif(not LINUX_THP, reason="needs Linux with transparent huge pages")
def test_closing_stops_the_warming(index_folder: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "AUTO_PREFAULT_MIN", 0)
    monkeypatch.setattr(memory, "_WARM_CHUNK", 4096)
    index = bi.open(index_folder[0], key=KEY)
    warming = index._warming
    assert warming is not None
    index.close()
    assert warming.wait(timeout=30)
    assert index.warmed(0)


def test_no_warming_without_room_or_huge_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_available_memory", lambda: 3 << 30)
    monkeypatch.setattr(memory, "_thp_possible", lambda: True)
    if not LINUX_THP:
        assert not memory.auto_prefault(1 << 30)
        return
    assert memory.auto_prefault(1 << 30)  # fits twice in 3 GiB
    assert not memory.auto_prefault(2 << 30)  # does not
    assert not memory.auto_prefault(memory.AUTO_PREFAULT_MIN - 1)  # too small to bother
    monkeypatch.setattr(memory, "_available_memory", lambda: None)
    assert not memory.auto_prefault(1 << 30)  # the system does not say: leave it
    monkeypatch.setattr(memory, "_available_memory", lambda: 3 << 30)
    monkeypatch.setattr(memory, "_thp_possible", lambda: False)
    assert not memory.auto_prefault(1 << 30)


def test_prefault_takes_auto_and_refuses_anything_else(index_folder: tuple[Path, list[str]]) -> None:
    with bi.open(index_folder[0], key=KEY, prefault="auto"):
        pass
    with pytest.raises(ValueError, match='"auto", False, True or "reload"'):
        bi.open(index_folder[0], key=KEY, prefault="always")
