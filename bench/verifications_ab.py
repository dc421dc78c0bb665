"""Two versions of the code verifying at the same time, on one PostgreSQL: which does more?

    python bench/verifications_ab.py --base PATH [--new PATH] [--rounds 4] [--per-side 2] [--seconds 8]
                                     [--busy-day N]

This machine's speed moves by a third from minute to minute, so two versions measured one after
the other (``verifications.py`` from a worktree, then from here) differ by more than most changes
are worth. Here both run at once and share every slow spell: each round, ``--per-side`` processes
run the ``base`` code and as many the ``new`` code, each side on its own database of one durable
cluster, with the send limits on (``verifications.py``'s workload). The two cores are shared, so
the side that spends less CPU on a verification completes more of them: the ratio new/base of a
round compares the versions' cost, the absolute figures do not compare with other runs.
``--busy-day N`` first records N sends over the last 24 hours on each side, with that side's
code (``verifications.py --busy-day``).

``--base`` and ``--new`` are checkouts of this repository with the C core built in place
(``git worktree add /tmp/base COMMIT`` then ``pip install -e /tmp/base`` in a throw-away
environment, or copy ``breachindex/*.so`` over from a built checkout); ``--new`` defaults to
this one. Each worker imports ``breachindex`` from its side's folder and checks that it did.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from helpers.postgres import Cluster  # noqa: E402 (after the path to the tests' helpers)
from helpers.processes import at_once  # noqa: E402


def _use(folder: str) -> Any:
    """``bench/verifications.py`` with ``breachindex`` imported from ``folder``."""
    sys.path.insert(0, folder)
    sys.path.insert(0, str(HERE))
    import verifications

    import breachindex

    if not Path(breachindex.__file__).resolve().is_relative_to(Path(folder).resolve()):
        raise RuntimeError(f"breachindex came from {breachindex.__file__}, not from {folder}")
    return verifications


def _prepare(folder: str, url: str, busy: int) -> None:
    v = _use(folder)
    v.Campaign(url, secret=v.KEY, sender=v.RecordingSender()).close()  # create and migrate
    if busy:
        v.busy_day(url, busy)


class _Tagged:
    """What a worker puts on the queue, with its side."""

    def __init__(self, side: str, out: Any) -> None:
        self._side, self._out = side, out

    def put(self, done: int) -> None:
        self._out.put((self._side, done))


def _worker(side: str, folder: str, url: str, worker: int, seconds: float, start: Any, out: Any) -> None:
    _use(folder)._worker(url, worker, seconds, True, start, _Tagged(side, out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="the checkout to compare against")
    ap.add_argument("--new", default=str(HERE.parent), help="the checkout measured (default: this one)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--per-side", type=int, default=2, help="processes running each side's code")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--busy-day", type=int, default=0, metavar="N",
                    help="first record N codes sent over the last 24 hours on each side")
    args = ap.parse_args()
    folders = {"base": str(Path(args.base).resolve()), "new": str(Path(args.new).resolve())}
    ctx = multiprocessing.get_context("spawn")
    cluster = Cluster(durable=True)
    rounds: list[dict[str, float]] = []
    try:
        for _ in range(max(1, args.rounds)):
            urls = {side: cluster.new_database() for side in folders}
            for side, folder in folders.items():  # in a process of its own: this one imports neither side
                p = ctx.Process(target=_prepare, args=(folder, urls[side], args.busy_day))
                p.start()
                p.join(600)
                if p.exitcode != 0:
                    raise SystemExit(f"the {side} side could not open its campaign (exit {p.exitcode})")
            sides = [side for side in folders for _ in range(args.per_side)]
            argsets = [(side, folders[side], urls[side], 100 + i, args.seconds) for i, side in enumerate(sides)]
            done = at_once(_worker, argsets, settle=3.0, timeout=args.seconds + 120)
            rounds.append({side: sum(n for s, n in done if s == side) / args.seconds for side in folders})
    finally:
        cluster.stop()
    ratios = [r["new"] / r["base"] for r in rounds]
    print(json.dumps({"base": folders["base"], "new": folders["new"], "per_side": args.per_side,
                      "seconds": args.seconds, "busy_day": args.busy_day,
                      "verifications_per_s": {side: [round(r[side], 1) for r in rounds] for side in folders},
                      "new_vs_base": [round(x, 3) for x in ratios], "median": round(statistics.median(ratios), 3)},
                     indent=2))


if __name__ == "__main__":
    main()
