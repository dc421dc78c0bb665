"""The HTTP API through Starlette's TestClient: each operation's success and its errors, who
may call what (API key scopes, the page's session), the rate limits, and the JSON error shape.
"""
from __future__ import annotations

import hashlib
import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
from helpers.server import ANNEKE
from starlette.testclient import TestClient

from breachindex.campaign import RecordingSender
from breachindex.campaign.controllers import CONTROLLERS
from breachindex.server import OPERATIONS, create_api_key, create_app
from breachindex.server.schemas import ERROR
from breachindex.server.templates import CURRENT_VERSION, render
from breachindex.server.testing import ABSENT_NUMBER, make_sandbox, page_client
from breachindex.server.validation import validate

CLIENT = ("203.0.113.9", 50000)
CONSENTS = ["privacy_notice_read", "authorise_access_request"]


class Server:
    def __init__(self, tmp_path: Path, campaign: Any = None, **overrides: Any) -> None:
        self.sandbox = make_sandbox(tmp_path / "sandbox", campaign=campaign)
        self.sender = RecordingSender()
        self.logs = io.StringIO()
        self.app = create_app(self.sandbox.config(**overrides), sender=self.sender, log_stream=self.logs)

    def client(self, host: str = CLIENT[0]) -> TestClient:
        return page_client(self.app, host)  # type: ignore[no-any-return]

    @property
    def campaign(self):  # type: ignore[no-untyped-def]
        return self.app.state.server.campaign

    def participant(self, e164: str) -> str:
        """The participant id of a number (without a running app)."""
        from breachindex import Key
        from breachindex.campaign.pseudonyms import CampaignKeys

        return CampaignKeys(Key.load(self.sandbox.key_path)).participant_id(e164)


@pytest.fixture
def server(tmp_path: Path, tmp_store) -> Server:
    return Server(tmp_path, campaign=tmp_store())


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    """The error body of ``response``, checked against the published schema."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert validate(body, ERROR) is None, body
    assert body["error"]["code"] == code, body
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    return body["error"]


def verify_on_page(client: TestClient, sender: RecordingSender, phone: str = "06 12340001",
                   region: str | None = "NL") -> None:
    body = {"phone": phone} if region is None else {"phone": phone, "region": region}
    started = client.post("/v1/verification/start", json=body)
    assert started.status_code == 200, started.text
    confirmed = client.post("/v1/verification/confirm",
                            json={"challenge": started.json()["challenge"], "code": sender.last_code()})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["verified"] is True and "participant" not in confirmed.json()
    cookie = confirmed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


# ---- the check -------------------------------------------------------------------------------

def test_check_with_an_api_key_gives_the_public_view(server: Server) -> None:
    with server.client() as c:
        found = c.post("/v1/check", json={"phone": ANNEKE}, headers=server.sandbox.auth("check"))
        absent = c.post("/v1/check", json={"phone": ABSENT_NUMBER}, headers=server.sandbox.auth("check"))
        national = c.post("/v1/check", json={"phone": "06-1234 0001", "region": "NL"},
                          headers=server.sandbox.auth("check"))
        leak_form = c.post("/v1/check", json={"phone": "31612340001"}, headers=server.sandbox.auth("check"))
        unknown = c.post("/v1/check", json={"phone": ANNEKE, "region": "ZZ"}, headers=server.sandbox.auth("check"))
        unknown_national = c.post("/v1/check", json={"phone": "0612340001", "region": "ZZ"},
                                  headers=server.sandbox.auth("check"))
    assert unknown.json() == found.json()  # libphonenumber's unknown region: no region
    assert error_of(unknown_national, 422, "invalid_phone_number")["reason"] in ("invalid_country_code",
                                                                                 "missing_region")
    assert found.json() == {"found": True, "breaches": ["facebook-2021", "other-2019"], "disclosure": "public",
                            "data_classes": None, "details": None, "details_withheld": False}
    assert absent.json() == {"found": False, "breaches": [], "disclosure": "public", "data_classes": None,
                             "details": None, "details_withheld": False}
    assert national.json() == found.json() == leak_form.json()
    assert found.headers["cache-control"] == "no-store"


def test_an_impossible_number_is_a_422_with_its_reason(server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/check", json={"phone": "12"}, headers=server.sandbox.auth("check"))
        national = c.post("/v1/check", json={"phone": "0612340001"}, headers=server.sandbox.auth("check"))
        region = c.post("/v1/check", json={"phone": "0612340001", "region": "XX"}, headers=server.sandbox.auth("check"))
        lower = c.post("/v1/check", json={"phone": "0612340001", "region": "nl"}, headers=server.sandbox.auth("check"))
    assert error_of(r, 422, "invalid_phone_number")["reason"] in ("too_short", "not_a_number", "invalid_country_code")
    assert error_of(national, 422, "invalid_phone_number")["reason"] in ("invalid_country_code", "missing_region")
    assert error_of(region, 422, "invalid_request")["message"].startswith("body.region must be one of")
    error_of(lower, 422, "invalid_request")


def test_a_service_gets_the_verified_view_only_for_the_numbers_own_participant(server: Server) -> None:
    workflow, check = server.sandbox.auth("workflow"), server.sandbox.auth("check")
    with server.client() as c:
        started = c.post("/v1/verification/start", json={"phone": ANNEKE, "ip": "198.51.100.7"}, headers=workflow)
        confirmed = c.post("/v1/verification/confirm", headers=workflow,
                           json={"challenge": started.json()["challenge"], "code": server.sender.last_code(),
                                 "ip": "198.51.100.7"})
        participant = confirmed.json()["participant"]
        before_id = c.post("/v1/check", json={"phone": ANNEKE, "participant": participant}, headers=check)
        body, headers = server.sandbox.webhook(participant, "approved")
        assert c.post("/v1/identity/webhook", content=body, headers=headers).status_code == 200
        mine = c.post("/v1/check", json={"phone": ANNEKE, "participant": participant}, headers=check)
        other = c.post("/v1/check", json={"phone": "+31612340002", "participant": participant}, headers=check)
    assert participant == server.participant(ANNEKE)
    # a code alone shows the data classes; the leaked values wait for an approved ID check
    assert before_id.json()["disclosure"] == "verified" and before_id.json()["details"] is None
    assert before_id.json()["details_withheld"] is True
    assert {"name", "email_address", "phone_number"} <= set(before_id.json()["data_classes"])
    assert mine.json()["disclosure"] == "verified" and mine.json()["details_withheld"] is False
    assert {"name", "email_address", "phone_number"} <= set(mine.json()["data_classes"])
    assert {d["breach"] for d in mine.json()["details"]} == {"facebook-2021", "other-2019"}
    assert other.json()["disclosure"] == "public" and other.json()["data_classes"] is None


def test_the_page_gets_the_verified_view_through_its_session_cookie_only(server: Server) -> None:
    with server.client() as c:
        assert c.post("/v1/check", json={"phone": ANNEKE}).json()["disclosure"] == "public"
        verify_on_page(c, server.sender)
        assert c.post("/v1/check", json={"phone": ANNEKE}).json()["disclosure"] == "verified"
        # the same session is worth nothing for another number
        assert c.post("/v1/check", json={"phone": "+31612340002"}).json()["disclosure"] == "public"
        # the page cannot name a participant itself
        error_of(c.post("/v1/check", json={"phone": ANNEKE, "participant": "x"}), 422, "invalid_request")
        cookie = c.cookies.get("bi_session")
    assert cookie is not None
    forged = cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB")
    with server.client() as other:
        headers = {"Cookie": f"bi_session={forged}"}
        forged_check = other.post("/v1/check", json={"phone": ANNEKE}, headers=headers)
        assert forged_check.json().get("disclosure") == "public", forged_check.text
        assert other.get("/v1/session", headers=headers).json()["verified"] is False
        genuine = other.post("/v1/check", json={"phone": ANNEKE}, headers={"Cookie": f"bi_session={cookie}"})
        assert genuine.json()["disclosure"] == "verified"


def test_page_checks_are_rate_limited_per_address_and_per_number(tmp_path: Path, tmp_store) -> None:
    server = Server(tmp_path, campaign=tmp_store(), check_ip_burst=3, check_ip_rate=0.001, check_number_burst=2,
                    check_number_rate=0.001)
    with server.client("198.51.100.1") as a, server.client("198.51.100.2") as b, \
            server.client("198.51.100.3") as c:
        assert [a.post("/v1/check", json={"phone": n}).status_code
                for n in ("+31612340002", ABSENT_NUMBER, "+4915112340003")] == [200] * 3
        limited = a.post("/v1/check", json={"phone": "+31612349998"})
        invalid = a.post("/v1/check", json={"phone": "12"})  # an invalid number costs the same
        assert b.post("/v1/check", json={"phone": ANNEKE}).status_code == 200
        assert c.post("/v1/check", json={"phone": "06 12340001", "region": "NL"}).status_code == 200
        per_number = b.post("/v1/check", json={"phone": ANNEKE})
        # a service with an API key is charged to its key, not to the page's budgets
        keyed = a.post("/v1/check", json={"phone": ANNEKE}, headers=server.sandbox.auth("check"))
    err = error_of(limited, 429, "throttled")
    assert err["reason"] == "check:host" and int(limited.headers["retry-after"]) >= 1
    assert error_of(invalid, 429, "throttled")["reason"] == "check:host"
    assert error_of(per_number, 429, "throttled")["reason"] == "check:number"
    assert error_of(per_number, 429, "throttled")["retry_after"] >= 1
    assert keyed.status_code == 200 and keyed.headers["ratelimit-limit"] == "100000000"


# ---- keys and scopes ---------------------------------------------------------------------------

def test_api_keys_and_scopes(server: Server) -> None:
    sb = server.sandbox
    with server.client() as c:
        no_key = c.get("/v1/requests")
        bad = c.get("/v1/requests", headers={"Authorization": "Bearer bik_000000000000_nope"})
        basic = c.get("/v1/requests", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        wrong_scope = c.get("/v1/requests", headers=sb.auth("check"))
        check_on_batches = c.post("/v1/batches", json={"controller": "meta", "filing_date": "2026-12-01"},
                                  headers=sb.auth("workflow"))
        admin_everywhere = [c.get("/v1/requests", headers=sb.auth("admin")).status_code,
                            c.post("/v1/check", json={"phone": ANNEKE}, headers=sb.auth("admin")).status_code]
        session_with_key = c.get("/v1/session", headers={"Authorization": "Bearer junk"})
    assert error_of(no_key, 401, "unauthorized") and no_key.headers["www-authenticate"] == "Bearer"
    error_of(bad, 401, "unauthorized")
    error_of(basic, 401, "unauthorized")
    error_of(wrong_scope, 403, "forbidden")
    error_of(check_on_batches, 403, "forbidden")
    assert session_with_key.json()["verified"] is False  # a page-only operation ignores keys
    assert admin_everywhere == [200, 200]


def test_a_new_key_works_and_a_removed_key_stops_working_without_a_restart(server: Server) -> None:
    from breachindex.server.auth import list_api_keys, revoke_api_key

    with server.client() as c:
        server.app.state.server.api_keys.recheck_every = 0.0
        token = create_api_key(server.sandbox.api_keys_path, name="late", scopes=["workflow"])
        assert c.get("/v1/requests", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        key_id = next(k.id for k in list_api_keys(server.sandbox.api_keys_path) if k.name == "late")
        assert revoke_api_key(server.sandbox.api_keys_path, key_id)
        error_of(c.get("/v1/requests", headers={"Authorization": f"Bearer {token}"}), 401, "unauthorized")


# ---- codes -----------------------------------------------------------------------------------

def test_wrong_codes_answer_code_invalid_then_too_many_attempts(server: Server) -> None:
    with server.client() as c:
        challenge = c.post("/v1/verification/start", json={"phone": ANNEKE}).json()["challenge"]
        code = server.sender.last_code()
        wrong = str((int(code) + 1) % 1_000_000).zfill(6)
        first = c.post("/v1/verification/confirm", json={"challenge": challenge, "code": wrong})
        unknown = c.post("/v1/verification/confirm", json={"challenge": "no-such-challenge", "code": code})
        c.post("/v1/verification/confirm", json={"challenge": challenge, "code": wrong})
        burned = c.post("/v1/verification/confirm", json={"challenge": challenge, "code": wrong})
        sent = len(server.sender.messages)
        resend = c.post("/v1/verification/start", json={"phone": ANNEKE})
        decoy = c.post("/v1/verification/confirm", json={"challenge": resend.json()["challenge"], "code": code})
    # a wrong code and an unknown challenge look the same
    assert error_of(first, 400, "code_invalid")["message"] == error_of(unknown, 400, "code_invalid")["message"]
    assert error_of(burned, 429, "too_many_attempts")["reason"] == "code_burned"
    # a resend within the interval is answered like any start, but nothing is sent and no code opens it
    assert resend.status_code == 200 and set(resend.json()) == {"challenge", "expires_at"}
    assert len(server.sender.messages) == sent
    error_of(decoy, 400, "code_invalid")
    assert "set-cookie" not in first.headers


def test_verification_refuses_numbers_that_may_not_get_a_code_and_needs_a_sender(tmp_path: Path, tmp_store) -> None:
    server = Server(tmp_path, campaign=tmp_store())
    with server.client() as c:
        us = c.post("/v1/verification/start", json={"phone": "+12025550123"})
        error_of(us, 422, "sms_not_allowed")
    plain = Server(tmp_path / "nosender", campaign=tmp_store("nosender"))
    plain.app = create_app(plain.sandbox.config(), log_stream=io.StringIO())
    with plain.client() as c:
        error_of(c.post("/v1/verification/start", json={"phone": ANNEKE}), 503, "not_configured")


# ---- the ID check and mandates -------------------------------------------------------------------

def test_webhook_signature_time_and_configuration(server: Server) -> None:
    sb = server.sandbox
    participant = server.participant(ANNEKE)
    with server.client() as c:
        verify_on_page(c, server.sender)
        body, headers = sb.webhook(participant)
        tampered = c.post("/v1/identity/webhook", content=body.replace(b"approved", b"declined"), headers=headers)
        stale_body, stale_headers = sb.webhook(participant, timestamp=1_000_000_000)
        stale = c.post("/v1/identity/webhook", content=stale_body, headers=stale_headers)
        unknown_body, unknown_headers = sb.webhook("0" * 32)
        unknown = c.post("/v1/identity/webhook", content=unknown_body, headers=unknown_headers)
        missing = c.post("/v1/identity/webhook", content=body, headers={"Content-Type": "application/json"})
        ok = c.post("/v1/identity/webhook", content=body, headers=headers)
        session = c.get("/v1/session").json()
    assert error_of(tampered, 401, "unauthorized")["reason"] == "bad_signature"
    assert error_of(stale, 401, "unauthorized")["reason"] == "stale"
    assert error_of(unknown, 400, "webhook_rejected")["reason"] == "unknown_participant"
    assert error_of(missing, 401, "unauthorized")["reason"] == "malformed_header"
    assert ok.json() == {"recorded": True, "status": "approved"}
    assert session["identity_status"] == "approved" and session["verified"] is True


def test_the_mandate_text_signed_is_the_servers_copy_of_the_text_shown(server: Server) -> None:
    sb = server.sandbox
    participant = server.participant(ANNEKE)
    sign = {"controller": "meta", "template_version": CURRENT_VERSION, "lang": "nl", "consents": CONSENTS,
            "signer_name": "Anneke Voorbeeld"}
    with server.client() as c:
        error_of(c.post("/v1/mandates", json=sign), 401, "unauthorized")  # no session yet
        verify_on_page(c, server.sender)
        refused = c.post("/v1/mandates", json=sign)
        body, headers = sb.webhook(participant)
        assert c.post("/v1/identity/webhook", content=body, headers=headers).status_code == 200
        template = c.get("/v1/mandate-template", params={"controller": "meta", "lang": "nl"}).json()
        smuggled = c.post("/v1/mandates", json={**sign, "participant": participant})
        signed = c.post("/v1/mandates", json=sign)
        again = c.post("/v1/mandates", json=sign)
        session = c.get("/v1/session").json()
        evidence = server.campaign.mandate_evidence(signed.json()["id"])
    assert error_of(refused, 409, "mandate_refused")["reason"] == "identity_not_approved"
    error_of(smuggled, 422, "invalid_request")
    text, digest = render(CURRENT_VERSION, "nl", CONTROLLERS["meta"])  # type: ignore[misc]
    assert template["text"] == text and template["text_sha256"] == digest
    assert hashlib.sha256(template["text"].encode("utf-8")).hexdigest() == digest
    assert signed.status_code == 201 and signed.json()["text_sha256"] == digest
    assert "participant" not in signed.json()
    assert error_of(again, 409, "mandate_refused")["reason"] == "already_active"
    assert evidence.text == text and evidence.ip == CLIENT[0] and evidence.intact
    assert [m["id"] for m in session["mandates"]] == [signed.json()["id"]]


def test_unknown_template_or_controller_and_missing_consents(server: Server) -> None:
    with server.client() as c:
        error_of(c.get("/v1/mandate-template", params={"controller": "acme"}), 422, "invalid_request")
        error_of(c.get("/v1/mandate-template", params={"version": "1999-01"}), 422, "invalid_request")
        verify_on_page(c, server.sender)
        body, headers = server.sandbox.webhook(server.participant(ANNEKE))
        c.post("/v1/identity/webhook", content=body, headers=headers)
        missing = c.post("/v1/mandates", json={"controller": "meta", "template_version": CURRENT_VERSION,
                                               "lang": "en", "consents": ["privacy_notice_read"],
                                               "signer_name": "A B"})
    error_of(missing, 422, "invalid_mandate")


def test_revoking_a_mandate_on_the_page_only_for_its_owner_and_by_a_service(server: Server) -> None:
    sb = server.sandbox
    sign = {"controller": "meta", "template_version": CURRENT_VERSION, "lang": "en", "consents": CONSENTS,
            "signer_name": "Anneke Voorbeeld"}
    with server.client() as owner, server.client("198.51.100.50") as stranger:
        verify_on_page(owner, server.sender)
        body, headers = sb.webhook(server.participant(ANNEKE))
        owner.post("/v1/identity/webhook", content=body, headers=headers)
        mandate_id = owner.post("/v1/mandates", json=sign).json()["id"]
        verify_on_page(stranger, server.sender, "+31612340002", None)
        not_theirs = stranger.post(f"/v1/mandates/{mandate_id}/revoke", json={"reason": "not mine"})
        revoked = owner.post(f"/v1/mandates/{mandate_id}/revoke", json={"reason": "changed my mind"})
        listed = owner.get("/v1/mandates", params={"participant": server.participant(ANNEKE)},
                           headers=sb.auth("workflow"))
        unknown = owner.post("/v1/mandates/0123abcd/revoke", json={"reason": "x"}, headers=sb.auth("workflow"))
        bad_id = owner.post("/v1/mandates/not..an..id/revoke", json={"reason": "x"}, headers=sb.auth("workflow"))
    error_of(not_theirs, 404, "unknown_mandate")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert [m["status"] for m in listed.json()["mandates"]] == ["revoked"]
    error_of(unknown, 404, "unknown_mandate")
    error_of(bad_id, 404, "not_found")


def test_a_service_signs_for_its_participant_with_its_users_address(server: Server) -> None:
    sb = server.sandbox
    workflow = sb.auth("workflow")
    with server.client() as c:
        started = c.post("/v1/verification/start", json={"phone": ANNEKE}, headers=workflow).json()
        participant = c.post("/v1/verification/confirm", headers=workflow, json={
            "challenge": started["challenge"], "code": server.sender.last_code()}).json()["participant"]
        body, headers = sb.webhook(participant)
        c.post("/v1/identity/webhook", content=body, headers=headers)
        sign = {"controller": "meta", "template_version": CURRENT_VERSION, "lang": "en", "consents": CONSENTS,
                "signer_name": "Anneke Voorbeeld", "participant": participant, "ip": "2001:db8::7",
                "user_agent": "somi-app/1.0"}
        no_ip = c.post("/v1/mandates", json={k: v for k, v in sign.items() if k != "ip"}, headers=workflow)
        signed = c.post("/v1/mandates", json=sign, headers=workflow)
        evidence = server.campaign.mandate_evidence(signed.json()["id"])
    error_of(no_ip, 422, "invalid_request")
    assert signed.status_code == 201 and signed.json()["participant"] == participant
    assert evidence.ip == "2001:db8::7" and evidence.user_agent == "somi-app/1.0"


# ---- batches and requests --------------------------------------------------------------------------

def test_batches_exports_requests_and_deadlines(server: Server) -> None:
    sb = server.sandbox
    admin, workflow = sb.auth("admin"), sb.auth("workflow")
    today = date.today()
    with server.client() as c:
        verify_on_page(c, server.sender)
        body, headers = sb.webhook(server.participant(ANNEKE))
        c.post("/v1/identity/webhook", content=body, headers=headers)
        c.post("/v1/mandates", json={"controller": "meta", "template_version": CURRENT_VERSION, "lang": "nl",
                                     "consents": CONSENTS, "signer_name": "Anneke Voorbeeld"})
        empty = c.post("/v1/batches", json={"controller": "zoom", "filing_date": today.isoformat()}, headers=admin)
        unknown_controller = c.post("/v1/batches", json={"controller": "acme", "filing_date": "2025-01-01"},
                                    headers=admin)
        batch = c.post("/v1/batches", json={"controller": "meta", "filing_date": today.isoformat()}, headers=admin)
        batch_id = batch.json()["id"]
        export = c.post(f"/v1/batches/{batch_id}/export", headers=admin)
        twice = c.post(f"/v1/batches/{batch_id}/export", headers=admin)
        unknown = c.post("/v1/batches/abc/export", headers=admin)
        queued = c.get("/v1/requests", params={"state": "queued", "controller": "meta"}, headers=workflow).json()
        request_id = queued["requests"][0]["id"]
        sent = c.post(f"/v1/requests/{request_id}/transition", json={"to_state": "sent", "on": "2025-03-03"},
                      headers=admin)
        illegal = c.post(f"/v1/requests/{request_id}/transition", json={"to_state": "draft"}, headers=admin)
        overdue = c.get("/v1/requests/overdue", params={"today": "2025-04-10"}, headers=workflow).json()
        not_yet = c.get("/v1/requests/overdue", params={"today": "2025-03-20"}, headers=workflow).json()
        bad_date = c.get("/v1/requests/overdue", params={"today": "2025-02-30"}, headers=workflow)
        bad_state = c.get("/v1/requests", params={"state": "lost"}, headers=workflow)
    assert error_of(empty, 409, "batch_error")["reason"] == "empty"
    error_of(unknown_controller, 422, "invalid_request")
    assert batch.status_code == 201 and batch.json()["requests"] == 1
    assert export.status_code == 201
    folder = Path(sb.config().exports) / export.json()["folder"]
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "participants.csv"]
    assert json.loads((folder / "manifest.json").read_text())["audit_log"]["tree_size"] == \
        export.json()["tree_head"]["tree_size"]
    assert error_of(twice, 409, "batch_error")["reason"] in ("already_exported", "exists")
    error_of(unknown, 404, "unknown_batch")
    assert sent.json()["state"] == "sent" and sent.json()["due_on"] == "2025-04-03"
    assert error_of(illegal, 409, "illegal_transition")["reason"] == "not_allowed"
    assert [r["id"] for r in overdue["requests"]] == [request_id] and overdue["today"] == "2025-04-10"
    assert not_yet["requests"] == []
    error_of(bad_date, 422, "invalid_request")
    error_of(bad_state, 422, "invalid_request")
    assert (today - timedelta(days=1)).isoformat() < batch.json()["filing_date"] + "Z"


# ---- plumbing -----------------------------------------------------------------------------------------

def test_unknown_paths_methods_and_query_parameters_are_json_errors(server: Server) -> None:
    with server.client() as c:
        error_of(c.get("/v1/nothing"), 404, "not_found")
        error_of(c.get("/v1/check/"), 404, "not_found")
        wrong_method = c.get("/v1/check")
        error_of(wrong_method, 405, "method_not_allowed")
        assert wrong_method.headers["allow"] == "POST"
        both = c.put("/v1/mandates")
        error_of(both, 405, "method_not_allowed")
        assert set(both.headers["allow"].split(", ")) >= {"GET", "POST"}
        error_of(c.get("/v1/requests", params={"colour": "red"}, headers=server.sandbox.auth("workflow")),
                 422, "invalid_request")
        error_of(c.get("/static/secret.key"), 404, "not_found")


def test_health_readiness_and_the_openapi_document(server: Server) -> None:
    with server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz", headers=server.sandbox.auth("check")).json()
        document = c.get("/openapi.json").json()
        server.campaign.close()
        not_ready = c.get("/readyz")
    assert ready["status"] == "ready" and ready["index"]["rows"] == 3 and ready["index"]["generation"] == 1
    error_of(not_ready, 503, "unavailable")
    assert document["openapi"].startswith("3.1")
    listed = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    assert listed == {(op.path, op.method) for op in OPERATIONS}
    check = document["paths"]["/v1/check"]["post"]
    assert {"200", "401", "403", "422", "429", "500"} <= set(check["responses"])


def test_the_page_is_served_with_a_strict_content_security_policy(server: Server) -> None:
    with server.client() as c:
        page = c.get("/")
        script = c.get("/static/app.js")
        style = c.get("/static/style.css")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert script.headers["content-type"].startswith("text/javascript")
    assert style.headers["content-type"].startswith("text/css")
    for text in (page.text, script.text, style.text):  # nothing from another origin: no URL at all
        assert "http://" not in text and "https://" not in text and "@import" not in text
    assert "<script>" not in page.text and " on" + "click=" not in page.text
