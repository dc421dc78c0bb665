"""The spilling collector against a plain model: whatever the budget, the block sizes and the
order they come in, every partition yields exactly its records, and a partition read back from
disk stays intact while the next two are read (the merge stage holds that many)."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breachindex.builder.records import REC_BYTES
from breachindex.builder.spill import PARTITION_BITS, SpillingCollector


def blocks_of(sizes: list[int], width: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i, n in enumerate(sizes):
        block = rng.integers(0, 2**64, (n, width), dtype=np.uint64, endpoint=False)
        block[:, 1] = i  # which block, so a record torn or lost would show
        out.append(block)
    return out


def by_partition(records: np.ndarray) -> dict[int, list[tuple[int, ...]]]:
    model: dict[int, list[tuple[int, ...]]] = {}
    for rec in records.tolist():
        model.setdefault(rec[0] >> (64 - PARTITION_BITS), []).append(tuple(rec))
    return {p: sorted(recs) for p, recs in model.items()}


def spills(sizes: list[int], capacity: int) -> bool:
    """The rule, plainly: two buffers of ``capacity`` records; blocks fill one, then the
    other; a block that fits in neither (or is larger than one) spills."""
    used, filling = [0, 0], 0
    for n in sizes:
        if n > capacity:
            return True
        if n and used[filling] + n > capacity:
            if used[1 - filling]:
                return True
            filling = 1 - filling
        used[filling] += n
    return False


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 3000), max_size=12), st.sampled_from([3, 4]),
       st.sampled_from([1 << 10, 1 << 16, 1 << 17, 1 << 30]), st.integers(0, 2**32 - 1))
def test_every_partition_yields_its_records(tmp_path_factory: pytest.TempPathFactory, sizes: list[int],
                                            width: int, memory: int, seed: int) -> None:
    work = tmp_path_factory.mktemp("spill")
    collector = SpillingCollector(work, memory, width)
    blocks = blocks_of(sizes, width, seed)
    for block in blocks:
        collector.add(block.copy())
    model = by_partition(np.concatenate(blocks) if blocks else np.empty((0, width), np.uint64))
    held: list[tuple[int, np.ndarray, list[tuple[int, ...]]]] = []
    seen = 0
    for p, part in collector.partitions():
        assert part.shape[1] == width
        assert sorted(map(tuple, part.tolist())) == model.get(p, []), p
        if len(part):
            held.append((p, part, model[p]))
            for q, older, want in held[-3:]:  # this one and the two read before it
                assert sorted(map(tuple, older.tolist())) == want, (p, q)
        seen += len(part)
    assert seen == sum(sizes)
    assert (collector.spilled_bytes > 0) == spills(sizes, max(memory // 4, REC_BYTES * 1024) // (16 * width))
    assert collector.spilled_bytes in (0, sum(sizes) * width * 8)  # once spilled, everything is
    assert list(Path(work).iterdir()) == []  # every partition file is gone


def test_a_block_larger_than_the_budget_is_spilled_whole(tmp_path: Path) -> None:
    collector = SpillingCollector(tmp_path, 1 << 10, 3)  # the floor: 1024 records of room
    blocks = blocks_of([100, 5000, 100], 3, seed=1)
    for block in blocks:
        collector.add(block)
    assert collector.spilled_bytes == 5100 * 24  # the first two; the last is still in memory
    got = {p: sorted(map(tuple, part.tolist())) for p, part in collector.partitions() if len(part)}
    assert got == by_partition(np.concatenate(blocks))


def test_a_spill_is_written_by_another_thread_while_blocks_keep_coming(tmp_path: Path) -> None:
    collector = SpillingCollector(tmp_path, 1 << 10, 3)  # buffers of 512 records
    writers: list[str] = []
    write = collector._write

    def recording(blocks: list[tuple[np.ndarray, np.ndarray]]) -> None:
        writers.append(threading.current_thread().name)
        write(blocks)

    collector._write = recording  # type: ignore[method-assign]
    blocks = blocks_of([400] * 10, 3, seed=2)
    for block in blocks:
        collector.add(block)
    # the first spill writes the older buffer itself; later ones go to the writer thread
    assert writers[0] == threading.current_thread().name
    assert len(writers) >= 5 and all(name.startswith("spill") for name in writers[1:])
    got = {p: sorted(map(tuple, part.tolist())) for p, part in collector.partitions() if len(part)}
    assert got == by_partition(np.concatenate(blocks))
    assert collector.spilled_bytes == 4000 * 24


@pytest.mark.parametrize("when", ["add", "partitions"])
def test_a_failed_spill_is_raised_not_lost(tmp_path: Path, when: str) -> None:
    collector = SpillingCollector(tmp_path, 1 << 10, 3)
    write = collector._write

    def failing(blocks: list[tuple[np.ndarray, np.ndarray]]) -> None:
        if threading.current_thread().name.startswith("spill"):
            raise OSError(28, "No space left on device")
        write(blocks)

    collector._write = failing  # type: ignore[method-assign]
    blocks = blocks_of([400] * (6 if when == "add" else 3), 3, seed=3)
    with pytest.raises(OSError, match="No space"):
        for block in blocks:  # the third starts the first background write, the fourth waits on it
            collector.add(block)
        if when == "add":
            pytest.fail("six blocks went in without the failed write being seen")
        for _ in collector.partitions():
            pass
    collector.close()
