"""Malformed, huge, mistyped and unexpected requests get a 4xx JSON error, never a 500: the
body limit (413), the content type (415), JSON syntax (400) and the schema (422)."""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
from helpers.server import JSON, code_of
from starlette.testclient import TestClient

from breachindex.campaign import RecordingSender
from breachindex.server import create_app
from breachindex.server.schemas import CHECK_REQUEST, SIGN_REQUEST
from breachindex.server.testing import make_sandbox
from breachindex.server.validation import validate


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    sandbox = make_sandbox(tmp_path_factory.mktemp("validation") / "sandbox")
    app = create_app(sandbox.config(check_ip_burst=10_000, check_number_burst=10_000, person_ip_burst=10_000),
                     sender=RecordingSender(), log_stream=io.StringIO())
    with TestClient(app, client=("203.0.113.20", 40000)) as c:
        yield c, sandbox.auth("admin")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx", "json"])
def test_a_body_that_is_not_declared_json_is_a_415(client, content_type: str | None) -> None:
    c, auth = client
    headers = dict(auth) if content_type is None else {**auth, "Content-Type": content_type}
    assert code_of(c.post("/v1/check", content=b'{"phone": "+31612340001"}', headers=headers)) == \
        (415, "unsupported_media_type")


def test_charset_parameters_are_fine(client) -> None:
    c, auth = client
    r = c.post("/v1/check", content=b'{"phone": "+31612340001"}',
               headers={**auth, "Content-Type": "Application/JSON; charset=utf-8"})
    assert r.status_code == 200


def test_a_body_over_the_limit_is_a_413_whether_announced_or_streamed(client) -> None:
    c, auth = client
    big = b'{"phone": "' + b"1" * 20_000 + b'"}'
    assert code_of(c.post("/v1/check", content=big, headers={**auth, **JSON})) == (413, "payload_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted while reading
        yield b'{"phone": "'
        for _ in range(40):
            yield b"1" * 1000
        yield b'"}'

    assert code_of(c.post("/v1/check", content=chunks(), headers={**auth, **JSON})) == (413, "payload_too_large")


@pytest.mark.parametrize("raw", [
    b"", b"{", b"[1, 2", b"nul", b"{'phone': 1}", b'{"phone": NaN}', b"Infinity", b'{"phone": -Infinity}',
    b"\xff\xfe{}", b'{"phone": "\xc3\x28"}', b'{"phone": "\\ud800"}', b"[" * 5000 + b"]" * 5000,
    b'{"phone": ' + b"9" * 5000 + b"}", b'{"phone": "+31612340001"} trailing',
])
def test_malformed_json_is_a_400(client, raw: bytes) -> None:
    c, auth = client
    assert code_of(c.post("/v1/check", content=raw, headers={**auth, **JSON})) == (400, "malformed_json")


@pytest.mark.parametrize("body", [
    [], "text", 12, None, {}, {"phone": 31612340001}, {"phone": None}, {"phone": ["+31612340001"]},
    {"phone": True}, {"phone": ""}, {"phone": "+31612340001", "region": 31}, {"phone": "+31612340001", "region": "NLD"},
    {"phone": "+31612340001", "unknown": 1}, {"phone": "+31612340001", "Phone": "x"},
    {"phone": "1" * 65},
])
def test_wrong_types_missing_and_unknown_fields_are_a_422(client, body: Any) -> None:
    c, auth = client
    raw = json.dumps(body).encode("utf-8")
    assert code_of(c.post("/v1/check", content=raw, headers={**auth, **JSON})) == (422, "invalid_request")


@pytest.mark.parametrize("body", [
    {"controller": "meta", "template_version": "x", "lang": "de", "consents": ["privacy_notice_read"]},
    {"controller": "meta", "template_version": "x", "lang": "nl", "consents": []},
    {"controller": "meta", "template_version": "x", "lang": "nl", "consents": ["privacy_notice_read"] * 2},
    {"controller": "meta", "template_version": "x", "lang": "nl", "consents": ["sell_my_data"]},
    {"controller": "META", "template_version": "x", "lang": "nl", "consents": ["privacy_notice_read"]},
    {"controller": "meta", "template_version": "", "lang": "nl", "consents": ["privacy_notice_read"]},
    {"controller": "meta", "template_version": "x", "lang": "nl", "consents": ["privacy_notice_read"],
     "scopes": ["everything"]},
    {"controller": "meta", "template_version": "x", "lang": "nl", "consents": ["privacy_notice_read"], "ip": "x" * 50},
])
def test_mandate_bodies_are_checked_against_the_schema(client, body: dict[str, Any]) -> None:
    c, auth = client
    assert validate(body, SIGN_REQUEST) is not None
    assert code_of(c.post("/v1/mandates", json=body, headers=auth)) == (422, "invalid_request")


@pytest.mark.parametrize("body", [
    {"controller": "meta", "filing_date": "2025-02-30"}, {"controller": "meta", "filing_date": "20250203"},
    {"controller": "meta", "filing_date": "2025-2-3"}, {"controller": "meta"},
    {"controller": "meta", "filing_date": "2025-03-03", "scope": "all"},
])
def test_dates_and_enums_are_checked(client, body: dict[str, Any]) -> None:
    c, auth = client
    assert code_of(c.post("/v1/batches", json=body, headers=auth)) == (422, "invalid_request")


def test_odd_but_valid_text_is_an_answer_not_a_crash(client) -> None:
    c, auth = client
    for phone in ("\u0000", "٠٦١٢٣٤٠٠٠١", "+٣١٦١٢٣٤٠٠٠١", "tel:+31-6-1234-0001", "😀" * 16, "+" * 64, "\t",
                  "+31 6 1234 0001 ext. 99", "0031612340001"):
        r = c.post("/v1/check", json={"phone": phone}, headers=auth)
        assert r.status_code in (200, 422), (phone.encode(), r.text)
    for note in (" ", "\n\t"):
        r = c.post("/v1/requests/abc/transition", json={"to_state": "sent", "note": note}, headers=auth)
        assert code_of(r)[0] in (404, 422)
    r = c.post("/v1/mandates/x/revoke", json={"reason": "\u0007"}, headers=auth)
    assert code_of(r)[0] in (404, 422)


def test_the_validator_knows_bool_is_not_an_integer_and_checks_nested_items() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "xs": {"type": "array", "items": {
        "type": "string", "enum": ["a"]}}}, "additionalProperties": False}
    assert validate({"n": True}, schema) == "body.n must be of type integer"
    assert validate({"n": 1, "xs": ["a", "b"]}, schema) == "body.xs[1] must be one of: a"
    assert validate({"n": 1, "xs": ["a"]}, schema) is None
    assert validate({"phone": "+31612340001"}, CHECK_REQUEST) is None


def test_errors_never_hold_a_stack_trace(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path / "sandbox")
    logs = io.StringIO()
    app = create_app(sandbox.config(), sender=RecordingSender(), log_stream=logs)
    from breachindex.server import api_check

    async def broken(call: Any) -> Any:
        raise RuntimeError("boom at +31612340001 in /secret/path.py")

    original = api_check.check
    with TestClient(app, client=("203.0.113.21", 1)) as c:
        import breachindex.server.app as app_module

        op = next(o for o in app_module.OPERATIONS if o.path == "/v1/check")
        object.__setattr__(op, "handler", broken)
        try:
            r = c.post("/v1/check", json={"phone": "+31612340001"}, headers=sandbox.auth("check"))
        finally:
            object.__setattr__(op, "handler", original)
    assert code_of(r) == (500, "internal_error")
    assert "Traceback" not in r.text and "boom" not in r.text and "31612340001" not in r.text
    line = [ln for ln in logs.getvalue().splitlines() if '"status":500' in ln][0]
    assert '"exception":"RuntimeError"' in line and "boom" not in line and "31612340001" not in logs.getvalue()


def test_operations_without_a_body_refuse_one(client) -> None:
    c, auth = client
    r = c.post("/v1/batches/nosuchbatch/export", content=b'{"all": true}', headers={**auth, **JSON})
    assert code_of(r) == (422, "invalid_request")
    assert code_of(c.post("/v1/batches/nosuchbatch/export", headers=auth)) == (404, "unknown_batch")
