"""A bounded load test of ``POST /v1/check`` on loopback: wrk against the HTTP server, side by side.

    python bench/load_check.py [--rows 1000000] [--workers 2] [--connections 32] [--duration 20]
    python bench/load_check.py --server serve --server uvicorn --server granian --turns 3
    python bench/load_check.py --base /tmp/base --turns 3      # this checkout against another

It builds (once, in --work) a keyed index of --rows synthetic numbers, a key file, --keys API
keys with scope ``check`` (wrk sends them in turn: one key's budget is at most 10,000 calls a
second), an ID provider's webhook secret and an empty campaign store. Then, for each turn and
each set-up in turn, it starts a server on 127.0.0.1 as the README's ``serve`` line does (API
keys, webhook secret, the ``console`` SMS sender, --workers workers; logs, JSON lines, go to a
file in --work), checks a few answers, and runs wrk (Debian's ``wrk``; ``apt-get install -y
wrk``) with a Lua script that POSTs JSON bodies, half numbers in the index and half not: a
warm-up of --warmup seconds, then --duration seconds measured.

A set-up is a server (--server, repeatable) and a checkout (this one, and --base if given):
``serve`` is ``breachindex serve`` itself (uvicorn with the checkout's own protocol); ``uvicorn``
is plain uvicorn (``--http httptools``) and ``granian`` is granian's ASGI server (``pip install
granian``), both serving the same app (``app_from_environment``) with the same configuration.
Before each run it times a fixed pure-Python loop (``cpu_ms``): on a shared machine that figure
moves with the throughput, and tells a slow spell from a slow change.

It prints each run (requests/s, the latency percentiles wrk measured: 50/90/99/99.9 %, every
error: connect, read, write, timeout, non-2xx; and how the connections were spread over the
workers), then each set-up's median and its ratio to the first set-up's. Servers are stopped at
the end of each run, whatever happens; every run is bounded in time (warm-up + duration) and
only ever targets 127.0.0.1. Exit code 0 if every run of the first set-up met the targets
(--target-rps, --target-p99-ms, zero errors), 1 if not, 2 if it could not run.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
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
THIS_CHECKOUT = Path(__file__).resolve().parent.parent
SERVERS = ("serve", "uvicorn", "granian")

LUA = r"""
-- POST /v1/check with the bodies in BODIES and the API keys in TOKENS, in turn
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {__BODIES__}
local tokens = {__TOKENS__}
local i = 0
request = function()
  i = i + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1]
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


def prepare(work: Path, rows: int, seed: int, keys: int) -> dict[str, Any]:
    """The index, key, API keys, webhook secret and sample numbers in ``work`` (built once, reused after)."""
    work.mkdir(parents=True, exist_ok=True)
    key_path, index_path = work / "secret.key", work / f"index-{rows}"
    numbers_path, tokens_path = work / f"sample-{rows}.json", work / f"tokens-{keys}"
    secret_path = work / "webhook.secret"
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
    if not secret_path.exists():
        fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32).hex().encode())
    if not tokens_path.exists():
        # each key's quotas are the largest a key can have: this measures the server, not a quota
        tokens = [create_api_key(work / "api-keys.json", name=f"load test {i}", scopes=["check"],
                                 per_second=10_000.0, per_day=1_000_000_000) for i in range(keys)]
        fd = os.open(tokens_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(tokens))
    return {"key": key_path, "index": index_path, "api_keys": work / "api-keys.json", "webhook": secret_path,
            "tokens": tokens_path.read_text().split(), "sample": json.loads(numbers_path.read_text()),
            "campaign": work / "campaign.db"}


def serve_args(setup: dict[str, Any], workers: int) -> list[str]:
    """The README's ``serve`` line for this set-up (API keys, webhook secret, an SMS sender)."""
    return [str(setup["index"]), "--key", str(setup["key"]), "--campaign", str(setup["campaign"]),
            "--api-keys", str(setup["api_keys"]), "--webhook-secret", str(setup["webhook"]),
            "--sms-sender", "console", "--workers", str(workers),
            "--export-dir", str(Path(setup["index"]).parent / "exports")]


def start_server(setup: dict[str, Any], workers: int, log_path: Path, server: str,
                 checkout: str | None, metrics_dir: Path) -> serving.Served:
    # the checkout first on the path, and a folder without one as the current one (``python -m``
    # imports from there first): another checkout's compiled parts must be in place (an A/B)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([checkout or str(THIS_CHECKOUT), *filter(None, [env.get("PYTHONPATH")])])
    cwd = Path(setup["index"]).parent
    args = serve_args(setup, workers)
    if server == "serve":
        return serving.start(args, log_path, env=env, host=HOST, cwd=cwd)
    # the same app and configuration under another server, as serve's workers get them
    config = subprocess.run([sys.executable, "-c", "import sys; from breachindex.server.cli import serve_parser, "
                             "config_from_args; print(config_from_args(serve_parser().parse_args(sys.argv[1:]))"
                             ".to_json())", *args], env=env, cwd=cwd, capture_output=True, text=True, check=True).stdout
    env.update({"BREACHINDEX_SERVER_CONFIG": config.strip(), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    port = serving.free_port(HOST)
    factory = "breachindex.server.app:app_from_environment"
    if server == "uvicorn":
        cmd = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", HOST, "--port", str(port),
               "--workers", str(workers), "--http", "httptools", "--no-access-log", "--no-server-header",
               "--timeout-keep-alive", "5"]
    else:
        cmd = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host", HOST, "--port",
               str(port), "--workers", str(workers), "--loop", "uvloop", "--no-ws", factory]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=cwd)
    return serving.Served(f"http://{HOST}:{port}", proc, log_path)


def check_answers(base: str, setup: dict[str, Any]) -> None:
    """A few answers must be right before anything is timed."""
    headers = {"Authorization": f"Bearer {setup['tokens'][0]}"}
    with httpx.Client(base_url=base, headers=headers, timeout=5) as client:
        for number in setup["sample"]["present"][:20]:
            assert client.post("/v1/check", json={"phone": number}).json()["found"] is True
        for number in setup["sample"]["absent"][:20]:
            assert client.post("/v1/check", json={"phone": number}).json()["found"] is False


def run_wrk(base: str, script: Path, seconds: int, connections: int, threads: int,
            watch_port: int | None = None) -> dict[str, Any]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s",
           "-s", str(script), base + "/v1/check"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    spread = None
    if watch_port is not None:  # how the kernel handed the connections to the workers
        time.sleep(min(2.0, seconds / 2))
        spread = connection_spread(watch_port)
    out, _ = proc.communicate(timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode})")
    line = next(ln for ln in out.splitlines() if ln.startswith("WRK_JSON "))
    result: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    result["command"] = " ".join(cmd)
    result["spread"] = spread
    return result


def connection_spread(port: int) -> list[int] | None:
    """Established connections to ``port`` by server process, largest first (None without ``ss``)."""
    if shutil.which("ss") is None:
        return None
    out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"], capture_output=True,
                         text=True).stdout
    counts: dict[str, int] = {}
    for line in out.splitlines():
        pid = line.partition("pid=")[2].partition(",")[0]
        if pid:
            counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def cpu_ms() -> float:
    """A fixed pure-Python loop, in milliseconds: this machine's speed at the moment."""
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i
    return round((time.perf_counter() - started) * 1000, 1)


def one_run(setup: dict[str, Any], args: argparse.Namespace, server: str, checkout: str | None,
            script: Path, work: Path) -> dict[str, Any]:
    log_path = work / "server.log"
    log_path.write_bytes(b"")
    speed = cpu_ms()
    with tempfile.TemporaryDirectory(prefix="load-metrics-") as metrics_dir:
        served = start_server(setup, args.workers, log_path, server, checkout, Path(metrics_dir))
        try:
            serving.wait_ready(served)
            check_answers(served.base, setup)
            run_wrk(served.base, script, args.warmup, args.connections, args.threads)
            result = run_wrk(served.base, script, args.duration, args.connections, args.threads,
                             watch_port=int(served.base.rpartition(":")[2]))
        finally:
            serving.stop(served)
    seconds = result["duration_us"] / 1e6
    errors = {k: result[k] for k in ("connect", "read", "write", "status", "timeout")}
    return {
        "server": server, "checkout": checkout or "this", "rps": round(result["requests"] / seconds),
        "p50_ms": result["p50_us"] / 1000, "p90_ms": result["p90_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
        "p999_ms": result["p999_us"] / 1000, "max_ms": result["lat_max_us"] / 1000, "errors": errors,
        "requests": result["requests"], "seconds": round(seconds, 2), "spread": result["spread"], "cpu_ms": speed,
        "log_lines": sum(1 for _ in log_path.open("rb")), "wrk": result["command"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--duration", type=int, default=20, help="measured seconds (at most 120)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keys", type=int, default=4, help="API keys, used in turn (each at most 10,000 calls a second)")
    p.add_argument("--server", action="append", choices=SERVERS,
                   help="serve (breachindex serve, the default), uvicorn or granian; repeat to compare")
    p.add_argument("--base", help="also serve from this checkout of breachindex (its compiled parts in place)")
    p.add_argument("--turns", type=int, default=1, help="rounds over every set-up, interleaved")
    p.add_argument("--work", default="/tmp/breachindex-load", help="where the index and keys are kept")
    p.add_argument("--target-rps", type=float, default=10_000)
    p.add_argument("--target-p99-ms", type=float, default=10)
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--postgresql", action="store_true",
                   help="the campaign store (the shared budgets) on PostgreSQL: a durable cluster made for the run")
    args = p.parse_args(argv)
    if shutil.which("wrk") is None:
        print("load_check: wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    servers = args.server or ["serve"]
    if "granian" in servers and shutil.which("granian") is None:
        print("load_check: granian is not installed (pip install granian)", file=sys.stderr)
        return 2
    args.duration = max(1, min(args.duration, 120))  # bounded, whatever was asked
    work = Path(args.work)
    setup = prepare(work, args.rows, args.seed, max(1, args.keys))
    bodies = [json.dumps({"phone": n}) for pair in zip(setup["sample"]["present"], setup["sample"]["absent"],
                                                                 strict=True)
              for n in pair]
    script = work / "check.lua"
    script.write_text(LUA.replace("__TOKENS__", ", ".join(json.dumps(t) for t in setup["tokens"]))
                      .replace("__BODIES__", ", ".join(json.dumps(b) for b in bodies)))
    setups = [(server, checkout) for checkout in [None, *([args.base] if args.base else [])] for server in servers]
    cluster = None
    if args.postgresql:
        from helpers.postgres import Cluster

        cluster = Cluster(durable=True)
        setup = {**setup, "campaign": cluster.new_database()}
    runs: list[dict[str, Any]] = []
    try:
        for _ in range(max(1, args.turns)):
            for server, checkout in setups:
                run = one_run(setup, args, server, checkout, script, work)
                runs.append(run)
                print(f"{run['server']:8s} {run['checkout']:24s} {run['rps']:7,d}/s  p50 {run['p50_ms']:6.2f}  "
                      f"p99 {run['p99_ms']:6.2f}  p99.9 {run['p999_ms']:6.2f} ms  errors {sum(run['errors'].values())}"
                      f"  connections {run['spread']}  cpu {run['cpu_ms']} ms", file=sys.stderr, flush=True)
    finally:
        if cluster is not None:
            cluster.stop()
    summary = []
    first = None
    for server, checkout in setups:
        mine = [r for r in runs if r["server"] == server and r["checkout"] == (checkout or "this")]
        median = statistics.median(r["rps"] for r in mine)
        first = median if first is None else first
        summary.append({"server": server, "checkout": checkout or "this", "median_rps": median,
                        "ratio": round(median / first, 3), "p99_ms": [r["p99_ms"] for r in mine],
                        "rps": [r["rps"] for r in mine]})
    first_runs = [r for r in runs if (r["server"], r["checkout"]) == (setups[0][0], setups[0][1] or "this")]
    ok = all(r["rps"] >= args.target_rps and r["p99_ms"] <= args.target_p99_ms and not any(r["errors"].values())
             for r in first_runs)
    report = {"store": "postgresql" if args.postgresql else "sqlite", "rows": args.rows, "workers": args.workers,
              "connections": args.connections, "wrk_threads": args.threads, "keys": args.keys, "cores": os.cpu_count(),
              "summary": summary, "runs": runs, "targets_met": ok}
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
