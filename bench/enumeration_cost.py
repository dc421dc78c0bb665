"""What enumerating 10^8 numbers through the public check costs under the default limits.

    python bench/enumeration_cost.py [--numbers 100000000] [--browser] [--json out.json]

Measures, on this machine, in one run:

* the server's cost per page check outside the lookup: issuing a puzzle, checking a solved one,
  and the shared-budget transaction that takes a check's six tokens (median of many);
* SHA-256 rates for solving puzzles: Python's hashlib in a loop, native code (``openssl speed
  -bytes 64 sha256``, one core), and with ``--browser`` the page's own solver in headless
  Chromium (Web Crypto, batches of 256, as static/app.js does);
* a bounded attack on loopback: a real ``breachindex serve`` (2 workers) behind a trusted proxy
  address, one attacker spreading its checks over the /64s of one IPv6 /48 with puzzles solved in
  Python, for --attack-seconds; it counts answers by status.

From those and the defaults (``ServerConfig``, ``PuzzleRules``, API-key quotas) it computes the
cost of walking --numbers numbers: requests, hashes and core-hours of puzzles at the base and the
highest difficulty, networks (/24 or /48) needed to finish in a day, a week, a month, the floor
the global budget sets whatever the addresses, and the years a leaked check key needs. The
figures and the command go into docs/security.md. Only 127.0.0.1 is ever contacted.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from breachindex.campaign import Campaign, RecordingSender
from breachindex.campaign.budgets import Bucket, Charge
from breachindex.campaign.clock import now_us
from breachindex.campaign.networks import origin_of
from breachindex.server.auth import DEFAULT_PER_DAY
from breachindex.server.config import ServerConfig
from breachindex.server.puzzles import PuzzleRules, Puzzles, solve
from breachindex.server.testing import make_sandbox

DAY = 86_400


def _median_us(fn: Any, rounds: int = 2000) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - started)
    return statistics.median(times) / 1000


def server_costs(folder: Path) -> dict[str, float]:
    """Microseconds (median) the server spends on a page check's puzzle and budgets."""
    puzzles = Puzzles(b"k" * 32)
    issued = [puzzles.issue("check", 8) for _ in range(2000)]
    solved = iter([(p.challenge, solve(p.challenge, 8)) for p in issued])
    issue_us = _median_us(lambda: puzzles.issue("check", 12))
    check_us = _median_us(lambda: puzzles.check(*next(solved), "check"))
    sandbox = make_sandbox(folder / "sandbox")
    with Campaign(sandbox.campaign_path, secret=sandbox.key_path, sender=RecordingSender()) as campaign:
        store = campaign.open_budgets()
        config = ServerConfig(index="", key="", campaign="")
        rules = [Bucket("check:host", config.check_ip_rate, config.check_ip_burst),
                 Bucket("check:site", config.check_site_rate, config.check_site_burst),
                 Bucket("check:network", config.check_network_rate, config.check_network_burst),
                 Bucket("check:everyone", 1e9, 1e9), Bucket("check:number", 1e9, 1e9)]
        counter = iter(range(10**9))
        check, everyone, number = rules[:3], rules[3], rules[4]

        def charge() -> None:  # a fresh /64 and nonce each time: the writes a real check does
            i = next(counter)
            origin = origin_of(f"2001:db8:{i % 65536:x}:{i // 65536:x}::1")
            buckets = [(rule, str(origin.subject(rule.name.split(":")[1]))) for rule in check]
            buckets += [(everyone, "all"), (number, f"number-{i}")]
            store.charge(Charge(buckets=buckets, token=(f"n{i}", now_us(None) + 10**8)), now_us(None))

        charge_us = _median_us(charge, 3000)
        spent = Bucket("check:network", 1e-9, 1)
        store.charge(Charge(buckets=[(spent, "attacker")]), now_us(None))

        def refused() -> None:  # what an attacker past its budget costs the server
            i = next(counter)
            store.charge(Charge(buckets=[(spent, "attacker"), (everyone, "all"), (number, f"number-{i}")],
                                token=(f"n{i}", now_us(None) + 10**8)), now_us(None))

        refused_us = _median_us(refused, 3000)
        store.close()
    return {"puzzle_issue_us": round(issue_us, 1), "puzzle_check_us": round(check_us, 1),
            "budget_charge_allowed_us": round(charge_us, 1), "budget_charge_refused_us": round(refused_us, 1)}


def hashlib_rate(seconds: float = 1.5) -> float:
    prefix = b"p1.check.12.1733212345.AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB."
    started, n = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        for i in range(10_000):
            hashlib.sha256(prefix + str(n + i).encode()).digest()
        n += 10_000
    return n / (time.perf_counter() - started)


def native_rate() -> float | None:
    """SHA-256 of 64-byte messages a second on one core (``openssl speed``), or None."""
    if shutil.which("openssl") is None:
        return None
    out = subprocess.run(["openssl", "speed", "-seconds", "2", "-bytes", "64", "sha256"], capture_output=True,
                         text=True, timeout=60).stdout
    for line in out.splitlines():
        if line.startswith("sha256"):
            return float(line.split()[1].rstrip("k")) * 1000 / 64
    return None


def browser_rate() -> float | None:
    """Digests a second of the page's own solver in headless Chromium (None without it)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    if not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()):
        return None
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu"):
        options.add_argument(arg)
    import http.server
    import threading

    folder = Path(tempfile.mkdtemp(prefix="breachindex-solver-"))
    (folder / "index.html").write_text("<!doctype html><title>solver</title>")
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder), **kw)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:  # 127.0.0.1 is a secure context: Web Crypto is there, as on the HTTPS page
        driver.get(f"http://127.0.0.1:{httpd.server_address[1]}/index.html")
        driver.set_script_timeout(120)
        return float(driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            (async () => {
              const enc = new TextEncoder(); const prefix = "p1.check.12.1733212345.AAAA.BBBB.";
              const t0 = performance.now(); let n = 0;
              while (performance.now() - t0 < 3000) {
                await Promise.all(Array.from({length: 256}, (_, i) =>
                  crypto.subtle.digest("SHA-256", enc.encode(prefix + (n + i)))));
                n += 256;
              }
              done(n / ((performance.now() - t0) / 1000));
            })();"""))
    finally:
        driver.quit()
        httpd.shutdown()
        shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def attack(folder: Path, seconds: float) -> dict[str, Any]:
    """One attacker on a /48, through a trusted proxy on loopback, against a real server."""
    sandbox = make_sandbox(folder / "attack")
    port = _free_port()
    cmd = [sys.executable, "-m", "breachindex.server", "serve", str(sandbox.index_path), "--key",
           str(sandbox.key_path), "--campaign", str(sandbox.campaign_path), "--host", "127.0.0.1", "--port",
           str(port), "--workers", "2", "--forwarded-allow-ips", "127.0.0.1", "--log-level", "warning"]
    log = open(folder / "attack.log", "wb")  # noqa: SIM115 -- closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    counts: dict[str, int] = {}
    solve_seconds = 0.0
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        started, i = time.monotonic(), 0
        with httpx.Client(base_url=base, timeout=10) as http:
            while time.monotonic() - started < seconds:
                address = f"2001:db8:aa:{i % 256:02x}{(i // 256) % 256:02x}::{i // 65536 + 1:x}"
                forwarded = {"X-Forwarded-For": address}
                issued = http.post("/v1/puzzles", json={"purpose": "check"}, headers=forwarded)
                if issued.status_code != 200:
                    counts[f"puzzle {issued.status_code}"] = counts.get(f"puzzle {issued.status_code}", 0) + 1
                    i += 1
                    continue
                t = time.perf_counter()
                body = issued.json()
                solution = solve(body["challenge"], body["bits"])
                solve_seconds += time.perf_counter() - t
                answer = http.post("/v1/check", headers=forwarded, json={
                    "phone": f"+316{10_000_000 + i:08d}", "puzzle": {"challenge": body["challenge"],
                                                                     "solution": solution}})
                key = f"check {answer.status_code}" + (f" {answer.json()['error'].get('reason')}"
                                                       if answer.status_code >= 400 else "")
                counts[key] = counts.get(key, 0) + 1
                i += 1
        elapsed = time.monotonic() - started
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(20)
        log.close()
    answered = counts.get("check 200", 0)
    return {"seconds": round(elapsed, 1), "counts": counts, "answered": answered,
            "answered_per_s": round(answered / elapsed, 2), "python_solve_s": round(solve_seconds, 1)}


def cost_table(numbers: int, rates: dict[str, float | None]) -> dict[str, Any]:
    config = ServerConfig(index="", key="", campaign="")
    rules = PuzzleRules()
    per_network_day = config.check_network_burst + config.check_network_rate * DAY
    per_day_global = config.check_global_burst + config.check_global_rate * DAY
    out: dict[str, Any] = {
        "numbers": numbers,
        "requests": 2 * numbers,  # a puzzle and a check each
        "checks_per_network_per_day": per_network_day,
        "networks_for_1_day": math.ceil(numbers / per_network_day),
        "networks_for_7_days": math.ceil(numbers / (7 * per_network_day)),
        "networks_for_30_days": math.ceil(numbers / (30 * per_network_day)),
        "days_with_one_network": round(numbers / per_network_day, 1),
        "global_floor_days": round(numbers / per_day_global, 1),
        "leaked_check_key_years": round(numbers / DEFAULT_PER_DAY / 365, 1),
    }
    for name, bits in (("base", rules.base_bits), ("ceiling", rules.base_bits + rules.max_extra_bits)):
        hashes = numbers * 2.0 ** bits
        out[f"hashes_{name}"] = hashes
        for kind in ("native", "hashlib"):
            rate = rates.get(kind)
            if rate:
                out[f"core_hours_{name}_{kind}"] = round(hashes / rate / 3600, 1)
    browser = rates.get("browser")
    if browser:
        out["page_solve_s_base"] = round(2.0 ** rules.base_bits / browser, 3)
        out["page_solve_s_ceiling"] = round(2.0 ** (rules.base_bits + rules.max_extra_bits) / browser, 3)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--numbers", type=int, default=100_000_000)
    p.add_argument("--browser", action="store_true", help="also measure the page's solver in headless Chromium")
    p.add_argument("--attack-seconds", type=float, default=30.0, help="the loopback attack's length (at most 120)")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="breachindex-enum-"))
    try:
        costs = server_costs(folder)
        rates: dict[str, float | None] = {"hashlib": hashlib_rate(), "native": native_rate(),
                                          "browser": browser_rate() if args.browser else None}
        attacked = attack(folder, min(args.attack_seconds, 120.0))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result = {"server": costs, "sha256_per_s": {k: None if v is None else round(v) for k, v in rates.items()},
              "attack_one_slash_48": attacked, "enumeration": cost_table(args.numbers, rates)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
