"""A bounded load test of ``POST /v1/check`` on loopback: wrk against ``breachindex serve``.

    python bench/load_check.py [--rows 1000000] [--workers 2] [--connections 32] [--duration 20]

It builds (once, in --work) a keyed index of --rows synthetic numbers, a key file, an API key
with scope ``check`` and an empty campaign store; starts ``python -m breachindex.server serve``
with --workers uvicorn workers on 127.0.0.1 (logs, JSON lines, go to a file in --work); checks
a few answers for correctness; then runs wrk (Debian's ``wrk``; ``apt-get install -y wrk``)
with a Lua script that POSTs JSON bodies, half numbers in the index and half not, with the
API key: a warm-up of --warmup seconds, then --duration seconds measured. It prints requests/s,
the latency percentiles wrk measured (50/90/99/99.9 %), and every error (connect, read, write,
timeout, non-2xx). The server is stopped at the end, whatever happens; the run is bounded in
time (warm-up + duration) and only ever targets 127.0.0.1. Exit code 0 if the targets hold
(--target-rps, --target-p99-ms, zero errors), 1 if not, 2 if it could not run.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import serving

import breachindex
from breachindex.server.auth import create_api_key
from breachindex.synth.synthetic import synthetic_numbers

__all__ = ["main"]

HOST = "127.0.0.1"  # loopback only, by construction

LUA = r"""
-- POST /v1/check with the bodies in BODIES, in turn; the API key in the header
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer __TOKEN__"
local bodies = {__BODIES__}
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, "/v1/check", nil, bodies[(i % #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "lat_mean_us": %.1f, "lat_max_us": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "p999_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
"""


def prepare(work: Path, rows: int, seed: int) -> dict[str, Any]:
    """The index, key, API key and sample numbers in ``work`` (built once, reused after)."""
    work.mkdir(parents=True, exist_ok=True)
    key_path, index_path = work / "secret.key", work / f"index-{rows}"
    numbers_path, token_path = work / f"sample-{rows}.json", work / "token"
    if not key_path.exists():
        breachindex.Key.generate().save(key_path)
    if not index_path.exists() or not numbers_path.exists():
        numbers = synthetic_numbers(rows + 2000, seed=seed)
        present, absent = numbers[:rows], numbers[rows:]
        started = time.perf_counter()
        breachindex.build(index_path, ((n, "facebook-2021", ["phone_number", "name"]) for n in present),
                          key=key_path, overwrite=True)
        print(f"built an index of {rows:,} numbers in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        rng = random.Random(seed)
        sample = {"present": ["+" + n for n in rng.sample(present, 1000)], "absent": ["+" + n for n in absent[:1000]]}
        numbers_path.write_text(json.dumps(sample))
    if not token_path.exists():
        # the key's quotas are the largest a key can have: this measures the server, not a quota
        token = create_api_key(work / "api-keys.json", name="load test", scopes=["check"], per_second=10_000.0,
                               per_day=1_000_000_000)
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
    return {"key": key_path, "index": index_path, "api_keys": work / "api-keys.json",
            "token": token_path.read_text().strip(), "sample": json.loads(numbers_path.read_text()),
            "campaign": work / "campaign.db"}


def start_server(setup: dict[str, Any], workers: int, log_path: Path,
                 server_path: str | None = None) -> serving.Served:
    args = [str(setup["index"]), "--key", str(setup["key"]), "--campaign", str(setup["campaign"]),
            "--api-keys", str(setup["api_keys"]), "--workers", str(workers),
            "--export-dir", str(Path(setup["index"]).parent / "exports")]
    env = dict(os.environ)
    if server_path is not None:  # another checkout of breachindex (its compiled parts in place): an A/B
        env["PYTHONPATH"] = os.pathsep.join([server_path, *filter(None, [env.get("PYTHONPATH")])])
    return serving.start(args, log_path, env=env, host=HOST)


def check_answers(base: str, setup: dict[str, Any]) -> None:
    """A few answers must be right before anything is timed."""
    headers = {"Authorization": f"Bearer {setup['token']}"}
    with httpx.Client(base_url=base, headers=headers, timeout=5) as client:
        for number in setup["sample"]["present"][:20]:
            assert client.post("/v1/check", json={"phone": number}).json()["found"] is True
        for number in setup["sample"]["absent"][:20]:
            assert client.post("/v1/check", json={"phone": number}).json()["found"] is False


def run_wrk(base: str, script: Path, seconds: int, connections: int, threads: int) -> dict[str, Any]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s",
           "-s", str(script), base + "/v1/check"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRK_JSON "))
    result: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    result["command"] = " ".join(cmd)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--duration", type=int, default=20, help="measured seconds (at most 120)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--work", default="/tmp/breachindex-load", help="where the index and keys are kept")
    p.add_argument("--server-path", help="serve from this checkout of breachindex instead (an A/B of two versions)")
    p.add_argument("--target-rps", type=float, default=5000)
    p.add_argument("--target-p99-ms", type=float, default=20)
    p.add_argument("--json", help="also write the result here")
    p.add_argument("--postgresql", action="store_true",
                   help="the campaign store (the shared budgets) on PostgreSQL: a durable cluster made for the run")
    args = p.parse_args(argv)
    if shutil.which("wrk") is None:
        print("load_check: wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    duration = max(1, min(args.duration, 120))  # bounded, whatever was asked
    work = Path(args.work)
    setup = prepare(work, args.rows, args.seed)
    bodies = [json.dumps({"phone": n}) for pair in zip(setup["sample"]["present"], setup["sample"]["absent"],
                                                                 strict=True)
              for n in pair]
    script = work / "check.lua"
    script.write_text(LUA.replace("__TOKEN__", setup["token"])
                      .replace("__BODIES__", ", ".join(json.dumps(b) for b in bodies)))
    log_path = work / "server.log"
    log_path.write_bytes(b"")
    cluster = None
    if args.postgresql:
        from helpers.postgres import Cluster

        cluster = Cluster(durable=True)
        setup = {**setup, "campaign": cluster.new_database()}
    try:
        served = start_server(setup, args.workers, log_path, args.server_path)
    except BaseException:
        if cluster is not None:
            cluster.stop()
        raise
    base = served.base
    try:
        serving.wait_ready(served)
        check_answers(base, setup)
        run_wrk(base, script, args.warmup, args.connections, args.threads)
        result = run_wrk(base, script, duration, args.connections, args.threads)
    finally:
        serving.stop(served)
        if cluster is not None:
            cluster.stop()
    seconds = result["duration_us"] / 1e6
    errors = {k: result[k] for k in ("connect", "read", "write", "status", "timeout")}
    report = {
        "store": "postgresql" if args.postgresql else "sqlite",
        "rows": args.rows, "workers": args.workers, "connections": args.connections, "wrk_threads": args.threads,
        "seconds": round(seconds, 2), "requests": result["requests"], "rps": round(result["requests"] / seconds),
        "p50_ms": result["p50_us"] / 1000, "p90_ms": result["p90_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
        "p999_ms": result["p999_us"] / 1000, "max_ms": result["lat_max_us"] / 1000, "errors": errors,
        "log_lines": sum(1 for _ in log_path.open("rb")), "cores": os.cpu_count(), "wrk": result["command"],
    }
    ok = report["rps"] >= args.target_rps and report["p99_ms"] < args.target_p99_ms and not any(errors.values())
    report["targets_met"] = ok
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
