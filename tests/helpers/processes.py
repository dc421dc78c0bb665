"""Several processes started at once (``spawn``), for races in tests and loads in benchmarks."""
from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any


def at_once(target: Callable[..., None], argsets: Iterable[Sequence[Any]], *, settle: float = 0.0,
            timeout: float = 120.0) -> list[Any]:
    """Run ``target(*args, start, out)`` in one process per ``args``: each waits for the
    ``start`` event (set ``settle`` seconds after they are started, so that all have opened
    what they need) and puts one result on ``out``. The results, in the order they came;
    AssertionError if a process did not exit cleanly."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, start, out)) for args in argsets]
    for p in procs:
        p.start()
    time.sleep(settle)
    start.set()
    results = [out.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0, f"a process exited with {p.exitcode}"
    return results
