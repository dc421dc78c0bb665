"""Structured JSON logs for a whole flow (page and services, every operation, failures too),
grepped for the number in every form it was typed in, the codes sent, the name signed with,
the leaked values and the secrets: none may appear."""
from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("starlette")

from breachindex.campaign import RecordingSender
from breachindex.server import create_app
from breachindex.server.logs import scrub
from breachindex.server.templates import CURRENT_VERSION
from breachindex.server.testing import make_sandbox, page_client

NUMBER_FORMS = ["+31612340001", "31612340001", "0612340001", "06 12340001", "06-1234 0001", "612340001",
                "+31 6 1234 0001", "0031612340001", "1234 0001"]
NAME = "Anneke Voorbeeld"


def test_the_logs_of_a_whole_flow_hold_no_number_code_or_name(tmp_path: Path) -> None:
    sb = make_sandbox(tmp_path / "sandbox")
    sender = RecordingSender()
    logs = io.StringIO()
    app = create_app(sb.config(log_level="debug"), sender=sender, log_stream=logs)
    admin, workflow, check = sb.auth("admin"), sb.auth("workflow"), sb.auth("check")
    consents = ["privacy_notice_read", "authorise_access_request"]
    with page_client(app, "203.0.113.40") as c:
        for form in NUMBER_FORMS[:6]:
            region = None if form.startswith(("+", "31")) else "NL"
            c.post("/v1/check", json={"phone": form, "region": region} if region else {"phone": form})
        c.post("/v1/check", json={"phone": "+31612340001", "31612340001": "field named like a number"})
        c.post("/v1/check", json={"phone": "0612340001"})  # a national number without region: 422
        started = c.post("/v1/verification/start", json={"phone": "06 12340001", "region": "NL"}).json()
        c.post("/v1/verification/confirm", json={"challenge": started["challenge"], "code": "000000"})
        c.post("/v1/verification/confirm", json={"challenge": started["challenge"], "code": sender.last_code()})
        c.post("/v1/check", json={"phone": "+31 6 1234 0001"})
        participant = app.state.server.campaign.participant_id("+31612340001")
        body, headers = sb.webhook(participant)
        c.post("/v1/identity/webhook", content=body, headers=headers)
        c.get("/v1/session")
        c.get("/v1/mandate-template", params={"lang": "nl"})
        mandate = c.post("/v1/mandates", json={"controller": "meta", "template_version": CURRENT_VERSION,
                                               "lang": "nl", "consents": consents, "signer_name": NAME}).json()
        # a service, for another number
        s = c.post("/v1/verification/start", json={"phone": "+31612340002", "ip": "198.51.100.9"},
                   headers=workflow).json()
        other = c.post("/v1/verification/confirm", json={"challenge": s["challenge"], "code": sender.last_code()},
                       headers=workflow).json()["participant"]
        c.post("/v1/check", json={"phone": "+31612340002", "participant": other}, headers=check)
        batch = c.post("/v1/batches", json={"controller": "meta", "filing_date": date.today().isoformat()},
                       headers=admin).json()
        c.post(f"/v1/batches/{batch['id']}/export", headers=admin)
        request_id = c.get("/v1/requests", headers=workflow).json()["requests"][0]["id"]
        c.post(f"/v1/requests/{request_id}/transition", json={"to_state": "sent", "note": f"called {NAME}"},
               headers=admin)
        c.get("/v1/requests/overdue", headers=workflow)
        c.post(f"/v1/mandates/{mandate['id']}/revoke", json={"reason": f"{NAME} moved, new number 0612340001"})
        c.post("/v1/session/end", json={})
        c.get("/readyz")
    text = logs.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    requests = [line for line in lines if line["event"] == "request"]
    assert len(requests) >= 25
    for line in requests:
        assert {"time", "level", "event", "method", "route", "status", "duration_ms", "request_id"} <= set(line)
    assert {line["route"] for line in requests} >= {"/v1/check", "/v1/verification/confirm", "/v1/mandates",
                                                    "/v1/mandates/{mandate_id}/revoke", "/v1/identity/webhook"}
    assert any(line.get("error_code") == "code_invalid" for line in requests)
    assert any(line.get("error_code") == "invalid_phone_number" for line in requests)
    assert any(line["logger"] == "breachindex.campaign" for line in lines)  # the library's logs go here too
    codes = sender.codes()
    assert len(codes) == 2
    secrets_ = [sb.webhook_secret.decode(), sb.tokens["admin"], sb.key_path.read_text().split()[-1]]
    for needle in [*NUMBER_FORMS, *codes, "Anneke", "Voorbeeld", "anneke@example.org", "Utrecht", *secrets_]:
        assert needle not in text, needle


def test_the_guard_masks_digit_runs_in_whatever_form() -> None:
    for text in ("+31612340001", "06 12340001", "06-1234 0001", "(06) 1234.0001", "0612-34-0001", "123456"):
        assert scrub(f"x {text} y") == "x [digits] y", text
    assert scrub("batch 7d30cf15 of 12 requests at 2026-11-28") == "batch 7d30cf15 of 12 requests at 2026-11-28"
    assert scrub("due 2025-04-03T10:00:00Z, sent +31612340001") == "due 2025-04-03T10:00:00Z, sent [digits]"
