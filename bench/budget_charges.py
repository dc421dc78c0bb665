"""Budget charges a second (an API key's per-second bucket, daily quota and last use, as a keyed
``POST /v1/check`` charges them), SQLite and PostgreSQL side by side.

    python bench/budget_charges.py [--seconds 4] [--processes 1,2,4] [--json]

For each store and each count of processes: every process opens the budgets of one campaign
store (as each server worker does) and charges in a loop, either all on one key (``one key``:
every charge waits for the one before on that key's lock) or each on its own (``own keys``). The
limits are far above what a run takes, so every charge is allowed and written. PostgreSQL runs
in a cluster made for the run (``initdb``; as the ``postgres`` user under root), on a Unix
socket, with its durable defaults; SQLite is the campaign file in a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.postgres import Cluster
from helpers.processes import at_once

from breachindex import Key
from breachindex.campaign import Campaign, RecordingSender
from breachindex.campaign.budgets import Bucket, Charge, Quota

KEY = Key(bytes(range(32)))
SECOND_BUCKET = Bucket("key:second", 1e9, 1e9)
DAY_QUOTA = Quota("key:day", 10**12)


def _worker(store: str, key: str, seconds: float, start, out) -> None:  # type: ignore[no-untyped-def]
    with Campaign(store, secret=KEY, sender=RecordingSender()) as c:
        budgets = c.open_budgets()
        charge = Charge(buckets=[(SECOND_BUCKET, key)], quotas=[(DAY_QUOTA, key)], touch_key=key)
        start.wait(60)
        done, deadline = 0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            budgets.charge(charge, time.time_ns() // 1000)
            done += 1
        budgets.close()
    out.put(done)


def measure(store: str, processes: int, one_key: bool, seconds: float) -> float:
    argsets = [(store, "k0" if one_key else f"k{i}", seconds) for i in range(processes)]
    # 2 s for every process to open its store
    return sum(at_once(_worker, argsets, settle=2.0, timeout=seconds + 120)) / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--processes", default="1,2,4", help="counts of processes, comma-separated")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    counts = [int(n) for n in args.processes.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="bench-charges-"))
    cluster = Cluster(durable=True)
    try:
        stores = {"sqlite": str(folder / "campaign.db"), "postgresql": cluster.new_database()}
        for store in stores.values():
            Campaign(store, secret=KEY, sender=RecordingSender()).close()  # create and migrate first
        rows = []
        for keys in ("one key", "own keys"):
            for n in counts:
                rates = {name: measure(store, n, keys == "one key", args.seconds) for name, store in stores.items()}
                rows.append({"keys": keys, "processes": n, **{k: round(v) for k, v in rates.items()},
                             "postgresql_vs_sqlite": round(rates["postgresql"] / rates["sqlite"], 2)})
    finally:
        cluster.stop()
    result = {"seconds": args.seconds, "cpus": os.cpu_count(), "charges_per_s": rows}
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
