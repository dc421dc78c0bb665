"""The public check under attack, over HTTP: budgets per network shared by every worker, the
global budget and its alarm, client puzzles, API-key quotas with RateLimit headers, expiry and
last use, a missing address, and the trusted-proxy setting.
"""
from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")

from helpers.campaign import number
from helpers.server import ANNEKE

from breachindex.campaign import RecordingSender
from breachindex.server import budgets as budgets_module
from breachindex.server import create_app
from breachindex.server.auth import create_api_key
from breachindex.server.cli import api_key_main, check_forwarded_allow_ips, serve_main
from breachindex.server.puzzles import PuzzleRules, Puzzles, leading_zero_bits, solve
from breachindex.server.testing import make_sandbox, page_client, serve_in_thread, solved


def numbers(count: int) -> list[str]:
    return [number(i) for i in range(count)]


@pytest.fixture
def sandbox(tmp_path: Path, tmp_store):
    return make_sandbox(tmp_path / "sandbox", campaign=tmp_store())


def app_of(sandbox: Any, logs: io.StringIO | None = None, **config: Any) -> Any:
    return create_app(sandbox.config(**config), sender=RecordingSender(), log_stream=logs or io.StringIO())


def error(response: Any) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json", response.text
    return dict(response.json()["error"])


# ---- budgets per network, shared by every worker ---------------------------------------------------------

def test_an_attacker_spread_over_a_slash_48_is_held_at_the_network_budget(sandbox, monkeypatch) -> None:
    # the budgets' clock stands still: the /48 refills at one check per 2 s, and 320 checks on a
    # loaded CI machine take long enough for refills to make the last answers a matter of timing
    frozen = budgets_module.now_us(None)
    monkeypatch.setattr(budgets_module, "now_us", lambda now: frozen)
    # the production budgets (puzzles made cheap: they are not what this test is about)
    app = app_of(sandbox, defaults=True, puzzle_bits=1)
    statuses = []
    for i, phone in enumerate(numbers(320)):
        with page_client(app, f"2001:db8:aa:{i % 256:02x}{i // 256:02x}::1") as attacker:  # all 256 /56s
            statuses.append(attacker.post("/v1/check", json={"phone": phone}).status_code)
    with page_client(app, "198.51.100.9") as user:
        assert user.post("/v1/check", json={"phone": ANNEKE}).status_code == 200  # another network
    assert statuses == [200] * 300 + [429] * 20
    with page_client(app, "2001:db8:aa:fff0::1") as again:
        assert error(again.post("/v1/check", json={"phone": ANNEKE}))["reason"] == "check:network"


def test_addresses_of_one_ipv4_slash_24_share_its_budget(sandbox) -> None:
    app = app_of(sandbox, check_network_burst=5, check_network_rate=0.001)
    answers = []
    for i in range(6):
        with page_client(app, f"203.0.113.{i + 1}") as c:
            answers.append(c.post("/v1/check", json={"phone": ANNEKE}))
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert error(answers[5])["reason"] == "check:network"


def test_a_missing_or_unreadable_address_is_one_shared_requester(sandbox) -> None:
    app = app_of(sandbox, check_ip_burst=3, check_ip_rate=0.001)
    answers = []
    for host in ("testclient", "unknown", "not-an-ip", "::zz"):
        with page_client(app, host) as c:
            answers.append(c.post("/v1/check", json={"phone": ANNEKE}).status_code)
    with page_client(app, "198.51.100.4") as c:
        answers.append(c.post("/v1/check", json={"phone": ANNEKE}).status_code)
    assert answers == [200, 200, 200, 429, 200]


def test_two_servers_on_one_store_enforce_one_limit(sandbox) -> None:
    """Two server processes (here: two apps, each its own connection to the store, on two
    ports, standing in for two hosts or workers) allow the budget once, not twice."""
    import httpx

    first, second = app_of(sandbox, check_ip_burst=4, check_ip_rate=0.001), \
        app_of(sandbox, check_ip_burst=4, check_ip_rate=0.001)
    with serve_in_thread(first) as a, serve_in_thread(second) as b:
        statuses = []
        with httpx.Client(timeout=10) as http:
            for base in (a, b, a, b, a, b):
                puzzle = solved(_Bound(http, base), "check")
                statuses.append(http.post(f"{base}/v1/check", json={"phone": ANNEKE, "puzzle": puzzle}).status_code)
    assert statuses == [200, 200, 200, 200, 429, 429]


class _Bound:
    """``post`` on one server (what ``solved`` needs)."""

    def __init__(self, http: Any, base: str) -> None:
        self.http, self.base = http, base

    def post(self, path: str, **kw: Any) -> Any:
        return self.http.post(self.base + path, **kw)


def test_the_global_budget_logs_and_shows_as_it_nears_its_ceiling(sandbox, monkeypatch) -> None:
    from breachindex.server.budgets import ServerBudgets

    monkeypatch.setattr(ServerBudgets, "_low_logged", -1e9)  # once a minute a process: this test's process too
    logs = io.StringIO()
    app = app_of(sandbox, logs, check_global_burst=10, check_global_rate=0.001)
    statuses = []
    for i in range(12):
        with page_client(app, f"198.51.{100 + i}.1") as c:  # every check from another network
            statuses.append(c.post("/v1/check", json={"phone": ANNEKE}).status_code)
    assert statuses == [200] * 10 + [429] * 2
    events = [json.loads(line) for line in logs.getvalue().splitlines()]
    low = [e for e in events if e["event"] == "check_budget_low"]
    assert len(low) == 1 and low[0]["used_ratio"] >= 0.8  # once a minute at most
    with page_client(app) as c:
        scraped = c.get("/metrics", headers=sandbox.auth("admin"))
        refused = c.get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert "breachindex_check_budget_used_ratio 1.0" in text or "breachindex_check_budget_used_ratio 0.99" in text
    assert 'breachindex_budget_refusals_total{rule="check:everyone"} 2.0' in text
    assert "breachindex_puzzle_bits 16.0" in text  # at the ceiling: base 12 + 4
    assert refused.status_code == 401
    for needle in ("198.51", ANNEKE, ANNEKE[1:]):
        assert needle not in text


# ---- puzzles ---------------------------------------------------------------------------------------------

def test_a_page_check_or_code_request_needs_a_solved_puzzle(sandbox) -> None:
    from starlette.testclient import TestClient

    app = app_of(sandbox)
    with TestClient(app, client=("198.51.100.5", 1)) as c, page_client(app, "198.51.100.5") as page:
        missing = c.post("/v1/check", json={"phone": ANNEKE})
        no_code = c.post("/v1/verification/start", json={"phone": ANNEKE})
        issued = c.post("/v1/puzzles", json={"purpose": "check"}).json()
        assert issued["bits"] == 12 and issued["algorithm"] == "sha256-leading-zero-bits"
        good = {"challenge": issued["challenge"], "solution": solve(issued["challenge"], issued["bits"])}
        wrong_purpose = c.post("/v1/verification/start", json={"phone": ANNEKE, "puzzle": good})
        first = c.post("/v1/check", json={"phone": ANNEKE, "puzzle": good})
        reused = c.post("/v1/check", json={"phone": ANNEKE, "puzzle": good})
        unsolved = c.post("/v1/check", json={"phone": ANNEKE, "puzzle": {**good, "solution": str(
            next(n for n in range(10**6) if leading_zero_bits(__import__("hashlib").sha256(
                f"{issued['challenge']}.{n}".encode()).digest()) < issued["bits"]))}})
        forged = c.post("/v1/check", json={"phone": ANNEKE, "puzzle": {
            "challenge": issued["challenge"].replace(".12.", ".1.", 1), "solution": "0"}})
        keyed = page.post("/v1/check", json={"phone": ANNEKE, "puzzle": good}, headers=sandbox.auth("check"))
    assert (missing.status_code, error(missing)["code"], error(missing)["reason"]) == (428, "puzzle_required",
                                                                                        "missing")
    assert error(no_code)["reason"] == "missing"
    assert error(wrong_purpose)["reason"] == "wrong_purpose"
    assert first.status_code == 200
    assert error(reused)["reason"] == "reused"
    assert error(unsolved)["reason"] == "unsolved"
    assert error(forged)["reason"] == "forged"
    assert keyed.status_code == 422  # a service has no puzzle to solve


def test_a_puzzle_is_single_use_across_servers(sandbox) -> None:
    first, second = app_of(sandbox), app_of(sandbox)
    with page_client(first, "198.51.100.6") as a, page_client(second, "198.51.100.6") as b:
        puzzle = solved(a, "check")
        assert a.post("/v1/check", json={"phone": ANNEKE, "puzzle": puzzle}).status_code == 200
        assert error(b.post("/v1/check", json={"phone": ANNEKE, "puzzle": puzzle}))["reason"] == "reused"


def test_puzzles_expire_and_are_bound_to_their_purpose() -> None:
    puzzles = Puzzles(b"k" * 32, PuzzleRules(ttl=120))
    issued = puzzles.issue("check", 4, now=1_000_000)
    solution = solve(issued.challenge, 4)
    assert puzzles.check(issued.challenge, solution, "check", now=1_000_119)[1] == 1_000_120 * 1_000_000
    for now, purpose, reason in ((1_000_120, "check", "expired"), (999_990, "check", "expired"),
                                 (1_000_001, "verification", "wrong_purpose")):
        with pytest.raises(Exception) as info:
            puzzles.check(issued.challenge, solution, purpose, now=now)
        assert getattr(info.value, "reason", None) == reason
    other = Puzzles(b"x" * 32)
    with pytest.raises(Exception) as forged:
        other.check(issued.challenge, solution, "check", now=1_000_001)
    assert getattr(forged.value, "reason", None) == "forged"


def test_the_difficulty_rises_with_load() -> None:
    rules = PuzzleRules(base_bits=12, max_extra_bits=4)
    assert [rules.bits_for(u) for u in (0.0, 0.5, 0.6, 0.75, 0.9, 1.0)] == [12, 12, 13, 14, 15, 16]
    assert PuzzleRules(base_bits=0).enabled is False


# ---- API keys ----------------------------------------------------------------------------------------------

def test_a_key_has_quotas_ratelimit_headers_and_a_last_used_time(sandbox, tmp_path) -> None:
    token = create_api_key(sandbox.api_keys_path, name="tight", scopes=["check"], per_second=1000.0, per_day=3)
    auth = {"Authorization": f"Bearer {token}"}
    first_server, second_server = app_of(sandbox), app_of(sandbox)
    with page_client(first_server) as a, page_client(second_server) as b:
        answers = [a.post("/v1/check", json={"phone": ANNEKE}, headers=auth),
                   b.post("/v1/check", json={"phone": ANNEKE}, headers=auth),
                   a.post("/v1/check", json={"phone": ANNEKE}, headers=auth),
                   b.post("/v1/check", json={"phone": ANNEKE}, headers=auth)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert {r.headers["ratelimit-limit"] for r in answers} == {"3"}
    assert answers[0].headers["ratelimit-policy"] == "3;w=86400, 1000;w=1"
    assert 0 < int(answers[3].headers["ratelimit-reset"]) <= 86_400
    assert error(answers[3])["reason"] == "key:day"
    assert int(answers[3].headers["retry-after"]) == int(answers[3].headers["ratelimit-reset"])
    key_id = token.split("_")[1]
    listed = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(listed):
        assert api_key_main(["list", str(sandbox.api_keys_path), "--campaign", str(sandbox.campaign_path),
                             "--json"]) == 0
    entry = next(k for k in json.loads(listed.getvalue()) if k["id"] == key_id)
    assert entry["last_used_at"] is not None and entry["per_day"] == 3 and entry["expires_at"] is not None


def test_a_key_has_a_per_second_budget(sandbox) -> None:
    token = create_api_key(sandbox.api_keys_path, name="slow", scopes=["check"], per_second=2.0, per_day=1000)
    auth = {"Authorization": f"Bearer {token}"}
    with page_client(app_of(sandbox)) as c:
        statuses = [c.post("/v1/check", json={"phone": ANNEKE}, headers=auth) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert error(statuses[2])["reason"] == "key:second"


def test_an_expired_key_is_refused(sandbox) -> None:
    from datetime import datetime, timezone

    token = create_api_key(sandbox.api_keys_path, name="old", scopes=["check"], expires_in=timedelta(days=1),
                           now=datetime.now(timezone.utc) - timedelta(days=2))
    never = create_api_key(sandbox.api_keys_path, name="forever", scopes=["check"], expires_in=None)
    with page_client(app_of(sandbox)) as c:
        expired = c.post("/v1/check", json={"phone": ANNEKE}, headers={"Authorization": f"Bearer {token}"})
        fine = c.post("/v1/check", json={"phone": ANNEKE}, headers={"Authorization": f"Bearer {never}"})
    assert expired.status_code == 401 and fine.status_code == 200


def test_the_default_key_quota_makes_a_leaked_check_key_slow(sandbox) -> None:
    from breachindex.server.auth import DEFAULT_PER_DAY, DEFAULT_PER_SECOND, list_api_keys

    create_api_key(sandbox.api_keys_path, name="plain", scopes=["check"])
    plain = next(k for k in list_api_keys(sandbox.api_keys_path) if k.name == "plain")
    assert (plain.per_second, plain.per_day) == (DEFAULT_PER_SECOND, DEFAULT_PER_DAY)
    assert 10**8 / plain.per_day / 365 > 25  # years to walk 10^8 numbers with one leaked key


# ---- the trusted proxy -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["*", "127.0.0.1,*", "proxy.example", "10.0.0.0/33"])
def test_forwarded_for_from_anyone_is_refused(sandbox, value: str, capsys) -> None:
    with pytest.raises(ValueError):
        check_forwarded_allow_ips(value)
    code = serve_main([str(sandbox.index_path), "--key", str(sandbox.key_path), "--campaign",
                       str(sandbox.campaign_path), "--forwarded-allow-ips", value])
    assert code == 2 and "forwarded-allow-ips" in capsys.readouterr().err


def test_proxies_by_address_or_network_are_accepted() -> None:
    check_forwarded_allow_ips("127.0.0.1, 10.0.0.0/8, ::1, fd00::/8")
