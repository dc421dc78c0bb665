"""Completed verifications a second (a code sent, then confirmed), SQLite and PostgreSQL side by side.

    python bench/verifications.py [--processes 4] [--seconds 10] [--limits off|on] [--busy-day N] [--rounds N]
                                  [--json]

Each store gets the same load: ``--processes`` processes, each its own ``Campaign`` (as each
server worker has), each looping over fresh numbers: ``start_verification`` (limits checked,
the challenge and the send recorded) then ``confirm_verification`` with the code the recording
sender kept (the participant verified, an audit entry appended). The sender records instead of
sending: what is measured is the store's work.

``--limits off`` (the default) switches the send limits off. ``--limits on`` keeps every
limit at its default, checked and counted, with the two campaign-wide caps raised so that the
run does not reach them; each verification then comes from its own address (a random IPv6
/48) for a random Dutch mobile number, as a campaign's crowd would, so that no requester's or
number's limit refuses one. ``--busy-day N`` first records N codes sent over the last 24 hours
(the campaign-wide caps count them; the caps are raised above N), as at the end of a busy day.

``--rounds N`` measures both stores N times in turn (SQLite, PostgreSQL, SQLite, ...), each round on fresh
stores, and prints every figure, every round's ratio and their median: on a noisy machine the ratios of one
round compare, the absolute figures of different runs less so.

PostgreSQL runs as a production server would: a cluster made for the run in a temporary
folder (``initdb``; as the ``postgres`` user under root), on a Unix socket, with its durable
defaults (``fsync`` and ``synchronous_commit`` on). SQLite is the campaign's file in the same
folder (WAL, ``synchronous = FULL``). Both on this machine's disk.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.postgres import Cluster
from helpers.processes import at_once

from breachindex import Key
from breachindex.campaign import Campaign, Limits, RecordingSender
from breachindex.campaign.limits import record_event
from breachindex.campaign.store import is_postgresql_url

KEY = Key(bytes(range(32)))
#: every limit at its default but the campaign-wide caps, raised beyond what a run sends
LIMITS_ON = Limits(country_per_day_overrides={31: 10_000_000}, total_per_day=10_000_000)


def _worker(store: str, worker: int, seconds: float, limits_on: bool, start, out) -> None:  # type: ignore[no-untyped-def]
    sender = RecordingSender()
    rng = random.Random(worker)
    done = 0
    with Campaign(store, secret=KEY, sender=sender, limits=LIMITS_ON if limits_on else Limits.off()) as c:
        start.wait(60)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if limits_on:  # 06-1... to 06-5...: Dutch mobile numbers; 2001:db8::/32, documentation addresses
                phone = f"+316{rng.randint(10_000_000, 59_999_999)}"
                ip = str(ipaddress.IPv6Address((0x2001_0DB8 << 96) | (rng.getrandbits(16) << 80) | 1))
            else:
                phone, ip = f"+3162{worker:01d}{done:06d}", None
            challenge = c.start_verification(phone, ip=ip)
            c.confirm_verification(challenge.id, sender.last_code(phone), ip=ip)
            done += 1
    out.put(done)


def busy_day(store: str, sends: int) -> None:
    """Record ``sends`` codes sent to Dutch numbers over the last 24 hours (each counts for the
    country and the total, as a real send does).

    They are recorded in one transaction, which leaves every minute and hour row of the caps
    with as many dead versions as it had sends (thousands for an hour) and their index with an
    entry for most of them: a day of real sends, each its own transaction, would have left
    none of them, as autovacuum vacuums so small and busy a table every minute or so and every
    read prunes what it can. On PostgreSQL the rate tables are therefore vacuumed afterwards,
    as autovacuum would have, and analyzed."""
    with Campaign(store, secret=KEY, sender=RecordingSender()) as c:
        day = 86_400_000_000
        start = time.time_ns() // 1000 - day
        with c._store.transaction() as db:
            for i in range(sends):
                record_event(db, {"send:country": "31", "send:all": "all"}, start + i * (day // sends))
    if is_postgresql_url(store):
        import psycopg

        with psycopg.connect(store, autocommit=True) as conn:  # rate_minutes: the code before migration 13,
            # which verifications_ab.py may run this module with
            tables = conn.execute("SELECT string_agg(relname, ', ') FROM pg_class WHERE relkind = 'r' "
                                  "AND relname IN ('rate_events', 'rate_spans', 'rate_minutes')").fetchone()
            conn.execute(f"VACUUM (ANALYZE) {tables[0]}".encode())


def measure(store: str, processes: int, seconds: float, limits_on: bool, busy: int = 0) -> float:
    Campaign(store, secret=KEY, sender=RecordingSender()).close()  # create and migrate first
    if busy:
        busy_day(store, busy)
    argsets = [(store, i, seconds, limits_on) for i in range(processes)]
    # 2 s for every process to open its campaign
    return sum(at_once(_worker, argsets, settle=2.0, timeout=seconds + 120)) / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--limits", choices=("off", "on"), default="off",
                    help="the send limits off, or on at their defaults (see above)")
    ap.add_argument("--busy-day", type=int, default=0, metavar="N",
                    help="first record N codes sent over the last 24 hours")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-fsync", action="store_true",
                    help="PostgreSQL without fsync (an upper bound, never a deployment)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure both stores this many times, in turn, each round on fresh stores")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-verif-"))
    cluster = Cluster(durable=not args.no_fsync)
    on = args.limits == "on"
    rounds: list[dict[str, float]] = []
    try:
        for r in range(max(1, args.rounds)):
            url = cluster.new_database()
            rounds.append({"sqlite": measure(str(folder / f"campaign-{r}.db"), args.processes, args.seconds, on,
                                             args.busy_day),
                           "postgresql": measure(url, args.processes, args.seconds, on, args.busy_day)})
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)  # the SQLite campaigns
    ratios = [x["postgresql"] / x["sqlite"] for x in rounds]
    result = {"processes": args.processes, "seconds": args.seconds, "limits": args.limits, "busy_day": args.busy_day,
              "cpus": os.cpu_count(),
              "verifications_per_s": {k: [round(x[k], 1) for x in rounds] for k in ("sqlite", "postgresql")},
              "postgresql_vs_sqlite": [round(x, 3) for x in ratios],
              "median_ratio": round(statistics.median(ratios), 3)}
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
