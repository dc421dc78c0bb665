"""Completed verifications a second (a code sent, then confirmed), SQLite and PostgreSQL side by side.

    python bench/verifications.py [--processes 4] [--seconds 10] [--json]

Each store gets the same load: ``--processes`` processes, each its own ``Campaign`` (as each
server worker has), each looping over fresh numbers: ``start_verification`` (limits checked,
the challenge and the send recorded) then ``confirm_verification`` with the code the recording
sender kept (the participant verified, an audit entry appended). The send limits are off and
the sender records instead of sending: what is measured is the store's work.

PostgreSQL runs as a production server would: a cluster made for the run in a temporary
folder (``initdb``; as the ``postgres`` user under root), on a Unix socket, with its durable
defaults (``fsync`` and ``synchronous_commit`` on). SQLite is the campaign's file in the same
folder (WAL, ``synchronous = FULL``). Both on this machine's disk.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.postgres import Cluster

from breachindex import Key
from breachindex.campaign import Campaign, Limits, RecordingSender

KEY = Key(bytes(range(32)))


def _worker(store: str, worker: int, seconds: float, start, out) -> None:  # type: ignore[no-untyped-def]
    sender = RecordingSender()
    done = 0
    with Campaign(store, secret=KEY, sender=sender, limits=Limits.off()) as c:
        start.wait(60)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            phone = f"+3162{worker:01d}{done:06d}"  # 06-2...: Dutch mobile numbers
            challenge = c.start_verification(phone)
            c.confirm_verification(challenge.id, sender.last_code(phone))
            done += 1
    out.put(done)


def measure(store: str, processes: int, seconds: float) -> float:
    Campaign(store, secret=KEY, sender=RecordingSender()).close()  # create and migrate first
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(store, i, seconds, start, out)) for i in range(processes)]
    for p in procs:
        p.start()
    time.sleep(2.0)  # every process has opened its campaign
    start.set()
    total = sum(out.get(timeout=seconds + 120) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-fsync", action="store_true",
                    help="PostgreSQL without fsync (an upper bound, never a deployment)")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-verif-"))
    cluster = Cluster(durable=not args.no_fsync)
    try:
        url = cluster.new_database()
        rates = {"sqlite": measure(str(folder / "campaign.db"), args.processes, args.seconds),
                 "postgresql": measure(url, args.processes, args.seconds)}
    finally:
        cluster.stop()
    result = {"processes": args.processes, "seconds": args.seconds, "cpus": os.cpu_count(),
              "verifications_per_s": {k: round(v, 1) for k, v in rates.items()},
              "postgresql_vs_sqlite": round(rates["postgresql"] / rates["sqlite"], 3)}
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
