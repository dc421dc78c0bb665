"""Smaller holes of the HTTP API (issue 14), each with its test: JSON nested too deep is a 400
on every operation that takes a body, never a 500; the page's writes are refused from another
site and ending the session needs a JSON body; ``/readyz`` tells details only to an API key;
ID-check webhooks delivered out of order end in the provider's latest outcome.
"""
from __future__ import annotations

import dataclasses
import inspect
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
from helpers.server import JSON, code_of
from starlette.requests import Request
from starlette.testclient import TestClient

from breachindex import Key
from breachindex.campaign import RecordingSender
from breachindex.campaign.pseudonyms import CampaignKeys
from breachindex.server import OPERATIONS, ServerConfig, create_api_key, create_app
from breachindex.server.errors import ApiError
from breachindex.server.origin import check_same_origin
from breachindex.server.routing import Operation
from breachindex.server.schemas import READY_RESPONSE
from breachindex.server.testing import Sandbox, make_sandbox
from breachindex.server.validation import MAX_JSON_DEPTH, parse_json, validate

EVIL = "https://evil.example"


def roomy_config(sandbox: Sandbox) -> ServerConfig:
    """The sandbox's config with the page's budgets out of the way and no puzzles (whichever of
    these settings this version has): these tests send many requests from one address."""
    wanted: dict[str, Any] = {f"{name}_burst": 100_000 for name in (
        "check_ip", "check_site", "check_network", "check_global", "check_number", "person_ip", "person_network")}
    wanted["puzzle_bits"] = 0
    known = {f.name for f in dataclasses.fields(ServerConfig)}
    return sandbox.config(**{k: v for k, v in wanted.items() if k in known})


def roomy_admin(sandbox: Sandbox) -> dict[str, str]:
    """An admin key with a large per-second budget (where keys have one)."""
    extra: dict[str, Any] = {}
    if "per_second" in inspect.signature(create_api_key).parameters:
        extra = {"per_second": 10_000.0}
    token = create_api_key(sandbox.api_keys_path, name="hardening tests", scopes=["admin"], **extra)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Sandbox, dict[str, str]]]:
    sandbox = make_sandbox(tmp_path_factory.mktemp("hardening") / "sandbox")
    admin = roomy_admin(sandbox)
    app = create_app(roomy_config(sandbox), sender=RecordingSender(), log_stream=io.StringIO())
    with TestClient(app, client=("203.0.113.30", 40000)) as c:
        yield c, sandbox, admin


def url_of(op: Operation) -> str:
    return re.sub(r"\{[^}]+\}", "x1", op.path)


def field_of(op: Operation) -> str:
    """A field the operation's body schema defines (or any name for the raw-body webhook)."""
    properties = dict((op.body or {}).get("properties", {}))
    return next(iter(properties), "participant")


WITH_BODY = [op for op in OPERATIONS if op.body is not None or op.raw_body]
PAGE_WRITES = [op for op in OPERATIONS if op.person and op.method == "POST"]


# ---- 1. nesting ------------------------------------------------------------------------------------

def nested_arrays(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_every_operation_with_a_body_is_listed() -> None:
    assert {op.operation_id for op in WITH_BODY} >= {"check", "startVerification", "confirmVerification",
                                                     "endSession", "identityWebhook", "signMandate", "revokeMandate",
                                                     "prepareBatch", "transitionRequest"}


@pytest.mark.parametrize("shape", [nested_arrays, nested_objects], ids=["arrays", "objects"])
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 100, 400, 600, 800, 2500])  # 400-800: 500s before
@pytest.mark.parametrize("op", WITH_BODY, ids=[op.operation_id for op in WITH_BODY])
def test_deep_nesting_inside_a_field_is_a_400_on_every_operation(served, op: Operation, depth: int, shape) -> None:
    c, _, admin = served
    headers = {**JSON, **(admin if op.scope else {})}
    body = f'{{"{field_of(op)}": {shape(depth)}}}'  # the field adds one level: depth + 1 in all
    r = c.request(op.method, url_of(op), content=body.encode(), headers=headers)
    assert code_of(r) == (400, "malformed_json"), (op.operation_id, depth, r.text)


def test_the_depth_limit_is_exact() -> None:
    assert parse_json(nested_arrays(MAX_JSON_DEPTH - 1).encode()) is not None  # MAX_JSON_DEPTH levels
    assert parse_json(nested_objects(MAX_JSON_DEPTH).encode()) is not None
    for too_deep in (nested_arrays(MAX_JSON_DEPTH + 1), nested_objects(MAX_JSON_DEPTH + 1),
                     '{"x": [' + nested_objects(MAX_JSON_DEPTH) + "]}", "[" * 100_000 + "]" * 100_000):
        with pytest.raises(ApiError) as info:
            parse_json(too_deep.encode())
        assert info.value.code == "malformed_json"
    # wide is fine, and lone surrogates at any depth are still caught
    assert len(parse_json(("[" + ",".join(["[[1]]"] * 2000) + "]").encode())) == 2000
    with pytest.raises(ApiError):
        parse_json(b'{"a": [[{"b": ["\\ud800"]}]]}')
    with pytest.raises(ApiError):
        parse_json(b'{"a": [[{"\\udfff": 1}]]}')


def test_a_body_at_the_limit_reaches_the_schema_check(served) -> None:
    c, _, admin = served
    r = c.post("/v1/check", content=f'{{"phone": {nested_arrays(MAX_JSON_DEPTH - 1)}}}'.encode(),
               headers={**JSON, **admin})
    assert code_of(r) == (422, "invalid_request")


# ---- 3. the page's writes: same origin, and a JSON body to end the session ----------------------------

def test_ending_the_session_needs_a_json_body(served) -> None:
    c, _, _ = served
    assert code_of(c.post("/v1/session/end")) == (415, "unsupported_media_type")
    assert code_of(c.post("/v1/session/end", content=b"all=1",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})) == \
        (415, "unsupported_media_type")
    assert code_of(c.post("/v1/session/end", content=b"", headers=JSON)) == (400, "malformed_json")
    assert code_of(c.post("/v1/session/end", json={"all": True})) == (422, "invalid_request")
    ended = c.post("/v1/session/end", json={})
    assert ended.status_code == 200 and ended.json() == {"ended": True}
    assert "Max-Age=0" in ended.headers["set-cookie"] or "expires=" in ended.headers["set-cookie"].lower()


def test_the_document_describes_the_body_of_ending_a_session(served) -> None:
    c, _, _ = served
    operation = c.get("/openapi.json").json()["paths"]["/v1/session/end"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["type"] == "object" and schema["properties"] == {} and schema["additionalProperties"] is False
    assert {"400", "403", "415", "422"} <= set(operation["responses"])


@pytest.mark.parametrize("headers", [
    {"Origin": EVIL}, {"Origin": "null"}, {"Origin": "https://testserver"}, {"Origin": "http://testserver:8080"},
    {"Origin": "http://testserver.evil.example"}, {"Origin": "http://evil.example/http://testserver"},
    {"Origin": "garbage"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
], ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items()))
@pytest.mark.parametrize("op", PAGE_WRITES, ids=[op.operation_id for op in PAGE_WRITES])
def test_a_page_write_from_another_site_is_forbidden(served, op: Operation, headers: dict[str, str]) -> None:
    c, _, _ = served
    r = c.request(op.method, url_of(op), json={}, headers=headers)
    assert code_of(r) == (403, "forbidden"), (op.operation_id, r.text)


@pytest.mark.parametrize("headers", [
    {}, {"Origin": "http://testserver"}, {"Origin": "HTTP://TestServer:80"},
    {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}, {"Sec-Fetch-Site": "none"},
], ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items()) or "none")
def test_a_page_write_from_its_own_site_is_served(served, headers: dict[str, str]) -> None:
    c, _, _ = served
    assert c.post("/v1/session/end", json={}, headers=headers).status_code == 200
    checked = c.post("/v1/check", json={"phone": "+31612340001"}, headers=headers)
    assert checked.status_code == 200 and checked.json()["found"] is True


def test_services_with_a_key_and_the_pages_reads_are_not_origin_checked(served) -> None:
    c, sandbox, admin = served
    r = c.post("/v1/check", json={"phone": "+31612340001"}, headers={**admin, "Origin": EVIL,
                                                                     "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 200
    assert c.get("/v1/session", headers={"Origin": EVIL}).status_code == 200  # a read; the cookie is SameSite
    body, headers = sandbox.webhook("0" * 32)  # the provider's server-to-server call: no origin check
    r = c.post("/v1/identity/webhook", content=body, headers={**headers, "Origin": EVIL})
    assert code_of(r) == (400, "webhook_rejected")


def _request(headers: dict[str, str], scheme: str = "http", server: tuple[str, int] | None = ("srv", 80)) -> Request:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "scheme": scheme, "path": "/v1/check", "raw_path": b"/v1/check",
                    "query_string": b"", "headers": raw, "server": server, "root_path": ""})


@pytest.mark.parametrize("host, origin, scheme, allowed", [
    ("example.org", "https://example.org", "https", True),
    ("example.org:443", "https://example.org", "https", True),
    ("Example.ORG", "https://example.org:443", "https", True),
    ("[::1]:8000", "http://[::1]:8000", "http", True),
    ("127.0.0.1:8000", "http://127.0.0.1:8000", "http", True),
    ("example.org", "http://example.org", "https", False),       # scheme
    ("example.org", "https://example.org:8443", "https", False),  # port
    ("example.org", "https://www.example.org", "https", False),   # a sibling is another origin
    ("example.org", "https://example.org.evil.example", "https", False),
    ("example.org", "https://user@example.org", "https", False),
    ("example.org", "https://example.org/", "https", False),      # an origin has no path
    ("example.org", "https://example.org:99999", "https", False),
    ("example.org", "https://[::1", "https", False),
    ("example.org", "", "https", False),
    ("example.org", "ftp://example.org", "https", False),
])
def test_check_same_origin(host: str, origin: str, scheme: str, allowed: bool) -> None:
    request = _request({"Host": host, "Origin": origin}, scheme)
    if allowed:
        check_same_origin(request)
    else:
        with pytest.raises(ApiError) as info:
            check_same_origin(request)
        assert info.value.code == "forbidden" and info.value.status == 403


def test_check_same_origin_without_a_host_header_uses_the_servers_address() -> None:
    check_same_origin(_request({"Origin": "http://srv"}))
    check_same_origin(_request({}))  # no Origin, no Sec-Fetch-Site: not a browser's cross-site call
    with pytest.raises(ApiError):
        check_same_origin(_request({"Origin": "http://srv:81"}))
    with pytest.raises(ApiError):
        check_same_origin(_request({"Sec-Fetch-Site": "Cross-Site"}))


# ---- 5. /readyz: details only for an API key ------------------------------------------------------------

def test_readiness_tells_anyone_only_that_it_is_ready(served) -> None:
    c, sandbox, _ = served
    for headers in ({}, {"Authorization": "Bearer bik_nothere_0000"}, {"Authorization": "Basic abc"},
                    {"Authorization": sandbox.auth("check")["Authorization"] + "x"}):
        r = c.get("/readyz", headers=headers)
        assert r.status_code == 200 and r.json() == {"status": "ready"}, headers
        assert "facebook" not in r.text and validate(r.json(), READY_RESPONSE) is None
    for scope in ("check", "workflow", "admin"):
        details = c.get("/readyz", headers=sandbox.auth(scope)).json()
        assert details["status"] == "ready" and details["index"]["rows"] == 3, scope
        assert details["index"]["breaches"] == ["facebook-2021", "other-2019"]
        assert details["campaign"]["schema_version"] >= 4 and validate(details, READY_RESPONSE) is None


def test_not_ready_is_a_503_with_or_without_a_key(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path / "sandbox")
    app = create_app(roomy_config(sandbox), sender=RecordingSender(), log_stream=io.StringIO())
    with TestClient(app) as c:
        app.state.server.campaign.close()
        for headers in ({}, sandbox.auth("admin")):
            assert code_of(c.get("/readyz", headers=headers)) == (503, "unavailable")


def test_the_document_says_who_gets_the_details(served) -> None:
    c, _, _ = served
    operation = c.get("/openapi.json").json()["paths"]["/readyz"]["get"]
    assert "API key" in operation["description"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["required"] == ["status"]


# ---- 2. ID-check webhooks out of order, through the API ---------------------------------------------------

def test_webhooks_out_of_order_end_in_the_providers_latest_outcome(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path / "sandbox")
    sender = RecordingSender()
    app = create_app(roomy_config(sandbox), sender=sender, log_stream=io.StringIO())
    now = int(time.time())
    with TestClient(app) as c:
        started = c.post("/v1/verification/start", json={"phone": "+31612340001"})
        c.post("/v1/verification/confirm", json={"challenge": started.json()["challenge"],
                                                 "code": sender.last_code()})
        participant = CampaignKeys(Key.load(sandbox.key_path)).participant_id("+31612340001")

        def deliver(status: str, signed: int) -> Any:
            body, headers = sandbox.webhook(participant, status, timestamp=signed)
            return c.post("/v1/identity/webhook", content=body, headers=headers)

        # needs_review -> approved -> needs_review, in order: needs_review
        for status, signed in (("needs_review", now - 120), ("approved", now - 90), ("needs_review", now - 60)):
            assert deliver(status, signed).json() == {"recorded": True, "status": status}
        assert c.get("/v1/session").json()["identity_status"] == "needs_review"
        # a later case: approved signed at t2 arrives before needs_review signed at t1 < t2: approved
        body, headers = sandbox.webhook(participant, "approved", reference="case-2", timestamp=now - 20)
        assert c.post("/v1/identity/webhook", content=body, headers=headers).status_code == 200
        body, headers = sandbox.webhook(participant, "needs_review", reference="case-2", timestamp=now - 30)
        assert c.post("/v1/identity/webhook", content=body, headers=headers).status_code == 200
        assert c.get("/v1/session").json()["identity_status"] == "approved"
        # and a replay of either changes nothing
        assert c.post("/v1/identity/webhook", content=body, headers=headers).status_code == 200
        assert c.get("/v1/session").json()["identity_status"] == "approved"
