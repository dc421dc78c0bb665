"""Two servers on one PostgreSQL campaign store, on two ports (standing in for two hosts),
enforce one limit: the page's budget per address, an API key's daily quota and a puzzle's
single use hold across both, whichever server a request reaches; the API keys themselves live
in the store, so a key made or revoked once counts on both."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from helpers.serving import serving

from breachindex.server.auth import create_api_key, list_api_keys, revoke_api_key
from breachindex.server.testing import Sandbox, make_sandbox, solved

ANNEKE = "+31612340001"
IP_BURST = 5
KEY_PER_DAY = 7


@contextmanager
def server(sb: Sandbox, folder: Path, name: str) -> Iterator[httpx.Client]:
    """``breachindex serve`` on a free loopback port with the sandbox's store; a client to it."""
    args = [str(sb.index_path), "--key", str(sb.key_path), "--campaign", str(sb.campaign_path),
            "--api-keys", str(sb.campaign_path), "--export-dir", str(folder / "exports"), "--insecure-cookies",
            "--check-ip-burst", str(IP_BURST), "--check-ip-rate", "0.0001"]
    with serving(args, folder / f"{name}.log", timeout=30) as served, \
            httpx.Client(base_url=served.base, timeout=10) as client:
        yield client


def page_check(client: httpx.Client, puzzle: dict[str, str] | None = None) -> httpx.Response:
    return client.post("/v1/check", json={"phone": ANNEKE, "puzzle": puzzle or solved(client, "check")})


def test_two_servers_on_one_postgresql_enforce_one_limit(tmp_path: Path, pg_cluster) -> None:
    url = pg_cluster.new_database()
    try:
        sb = make_sandbox(tmp_path / "sandbox", campaign=url)
        with ExitStack() as stack:
            a = stack.enter_context(server(sb, tmp_path, "a"))
            b = stack.enter_context(server(sb, tmp_path, "b"))
            # a key made in the shared store after both started: each host accepts it within a second
            quota_key = create_api_key(url, name="quota", scopes=["check"], per_second=1000.0, per_day=KEY_PER_DAY)
            time.sleep(1.5)
            # a puzzle solved once is spent on both hosts
            puzzle = solved(a, "check")
            assert page_check(a, puzzle).status_code == 200
            replayed = page_check(b, puzzle)
            assert replayed.status_code != 200 and "puzzle" in replayed.text
            # the page's budget for this address: IP_BURST checks in all, not IP_BURST per server
            statuses = [page_check(a if i % 2 else b).status_code for i in range(2 * IP_BURST)]
            assert statuses == [200] * (IP_BURST - 1) + [429] * (IP_BURST + 1)
            # an API key's daily quota, counted once over both
            auth = {"Authorization": f"Bearer {quota_key}"}
            keyed = [(a if i % 2 else b).post("/v1/check", json={"phone": ANNEKE}, headers=auth)
                     for i in range(KEY_PER_DAY + 3)]
            assert [r.status_code for r in keyed] == [200] * KEY_PER_DAY + [429] * 3
            # revoked once, refused by both
            other = create_api_key(url, name="other", scopes=["check"])
            time.sleep(1.5)
            other_auth = {"Authorization": f"Bearer {other}"}
            assert {c.post("/v1/check", json={"phone": ANNEKE}, headers=other_auth).status_code for c in (a, b)} \
                == {200}
            assert revoke_api_key(url, other.split("_")[1])
            time.sleep(1.5)
            assert {c.post("/v1/check", json={"phone": ANNEKE}, headers=other_auth).status_code for c in (a, b)} \
                == {401}
            assert [k.name for k in list_api_keys(url)] == ["quota"]
    finally:
        pg_cluster.drop_database(url)

