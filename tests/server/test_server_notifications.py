"""Notifications through the server: the person chooses how to be told (page session), the
operator's upload tells them by SMS and by e-mail through a real SMTP server on loopback, and
a channel turned off stays off."""
from __future__ import annotations

from email import message_from_bytes
from pathlib import Path

import pytest

pytest.importorskip("starlette")
from helpers.server import ANNEKE, code_of, confirm_code

from breachindex.campaign import RecordingSender
from breachindex.server import create_app
from breachindex.server.schemas import NOTIFICATION_PREFERENCES
from breachindex.server.testing import make_sandbox, page_client
from breachindex.server.validation import validate

pytest.importorskip("aiosmtpd")

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def mailbox():
    from helpers.smtp import smtp_server

    with smtp_server() as (box, port):
        yield box, port


def test_the_person_chooses_and_the_upload_tells_them(tmp_path: Path, mailbox, tmp_store) -> None:
    box, port = mailbox
    sandbox = make_sandbox(tmp_path / "sandbox", campaign=tmp_store())
    sender = RecordingSender()
    app = create_app(sandbox.config(page_url="https://check.somi.example/", smtp_host="127.0.0.1", smtp_port=port,
                                    smtp_sender="berichten@somi.example", smtp_starttls=False), sender=sender)
    with page_client(app) as c:
        assert code_of(c.get("/v1/notifications")) == (401, "unauthorized")
        confirm_code(c, sender, ANNEKE)
        assert c.get("/v1/notifications").json() == {"email": None, "sms": True, "email_allowed": True, "lang": "nl"}
        assert code_of(c.post("/v1/notifications", json={})) == (422, "invalid_request")
        assert code_of(c.post("/v1/notifications", json={"email": "not an address"})) == (422, "invalid_request")
        chosen = c.post("/v1/notifications", json={"email": "anneke@example.org", "lang": "en"})
        assert chosen.status_code == 200 and validate(chosen.json(), NOTIFICATION_PREFERENCES) is None
        assert c.post("/v1/vault/setup", json={"passphrase": PASSPHRASE}).status_code == 201
        participant = app.state.server.campaign.participant_id(ANNEKE)
        admin = {**sandbox.auth("admin"), "Content-Type": "application/octet-stream"}
        texts_before = len(sender.messages)
        stored = c.put("/v1/admin/vault/items", params={"participant": participant, "controller": "meta"},
                       content=b"the answer", headers=admin)
        assert stored.status_code == 201
        assert len(sender.messages) == texts_before + 1
        assert "Meta Platforms Ireland Limited answered" in sender.messages[-1].text
        ((_, raw),) = box.messages
        mail = message_from_bytes(raw)
        assert mail["To"] == "anneke@example.org" and "in your vault" in mail.get_payload(decode=True).decode()
        assert b"the answer" not in raw and ANNEKE[1:].encode() not in raw
        # SMS off: the next answer goes by e-mail only
        assert c.post("/v1/notifications", json={"sms": False}).json()["sms"] is False
        c.put("/v1/admin/vault/items", params={"participant": participant, "controller": "meta"},
              content=b"a second file", headers=admin)
        assert len(sender.messages) == texts_before + 1 and len(box.messages) == 2


def test_without_a_page_url_there_are_no_notifications(tmp_path: Path, tmp_store) -> None:
    sandbox = make_sandbox(tmp_path / "sandbox", campaign=tmp_store())
    sender = RecordingSender()
    app = create_app(sandbox.config(page_url=None), sender=sender)
    with page_client(app) as c:
        confirm_code(c, sender, ANNEKE)
        assert code_of(c.get("/v1/notifications")) == (503, "not_configured")


def test_moving_a_request_to_overdue_tells_the_person_once(tmp_path: Path, tmp_store) -> None:
    from datetime import date

    from breachindex.server.templates import CURRENT_VERSION

    sandbox = make_sandbox(tmp_path / "sandbox", campaign=tmp_store())
    sender = RecordingSender()
    app = create_app(sandbox.config(), sender=sender)
    admin = sandbox.auth("admin")
    with page_client(app) as c:
        confirm_code(c, sender, ANNEKE)
        participant = app.state.server.campaign.participant_id(ANNEKE)
        body, headers = sandbox.webhook(participant)
        c.post("/v1/identity/webhook", content=body, headers=headers)
        c.post("/v1/mandates", json={"controller": "meta", "template_version": CURRENT_VERSION, "lang": "nl",
                                     "consents": ["privacy_notice_read", "authorise_access_request"],
                                     "signer_name": "Anneke Voorbeeld"})
        batch = c.post("/v1/batches", json={"controller": "meta", "filing_date": date.today().isoformat()},
                       headers=admin).json()
        c.post(f"/v1/batches/{batch['id']}/export", headers=admin)
        (request,) = c.get("/v1/requests", params={"participant": participant},
                           headers=sandbox.auth("workflow")).json()["requests"]
        path = f"/v1/requests/{request['id']}/transition"
        c.post(path, json={"to_state": "sent", "on": "2025-02-17"}, headers=admin)
        before = len(sender.messages)
        moved = c.post(path, json={"to_state": "overdue", "on": "2025-03-19"}, headers=admin)
        assert moved.status_code == 200 and moved.json()["state"] == "overdue"
        assert len(sender.messages) == before + 1 and "ingebrekestelling" in sender.messages[-1].text
        c.post(path, json={"to_state": "admonished", "on": "2025-03-20"}, headers=admin)
        assert len(sender.messages) == before + 1


def test_the_lawyers_letters_and_bundles_over_http(tmp_path: Path, tmp_store) -> None:
    import io
    import zipfile
    from datetime import date

    import pypdf

    from breachindex.campaign.bundles import verify_bundle
    from breachindex.server.templates import CURRENT_VERSION

    sandbox = make_sandbox(tmp_path / "sandbox", campaign=tmp_store())
    sender = RecordingSender()
    app = create_app(sandbox.config(), sender=sender)
    admin = sandbox.auth("admin")
    with page_client(app) as c:
        confirm_code(c, sender, ANNEKE)
        participant = app.state.server.campaign.participant_id(ANNEKE)
        body, headers = sandbox.webhook(participant)
        c.post("/v1/identity/webhook", content=body, headers=headers)
        mandate = c.post("/v1/mandates", json={"controller": "meta", "template_version": CURRENT_VERSION,
                                               "lang": "nl", "consents": ["privacy_notice_read",
                                                                          "authorise_access_request"],
                                               "signer_name": "Anneke Voorbeeld"}).json()
        batch = c.post("/v1/batches", json={"controller": "meta", "filing_date": date.today().isoformat()},
                       headers=admin).json()
        letter = c.get(f"/v1/batches/{batch['id']}/letter", params={"lang": "en"}, headers=admin)
        assert letter.status_code == 200 and letter.headers["content-type"] == "application/pdf"
        text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(letter.content)).pages)
        assert "Article 15" in text and "Anneke Voorbeeld" in text
        (request,) = c.get("/v1/requests", params={"participant": participant},
                           headers=sandbox.auth("workflow")).json()["requests"]
        too_early = c.post("/v1/letters/admonition", json={"requests": [request["id"]]}, headers=admin)
        assert code_of(too_early) == (422, "letter_refused")
        assert code_of(c.post("/v1/letters/complaint", json={"requests": [request["id"]], "date": "2025-02-30"},
                              headers=admin)) == (422, "invalid_request")
        bundle = c.get(f"/v1/mandates/{mandate['id']}/bundle", headers=admin)
        assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
        zipfile.ZipFile(io.BytesIO(bundle.content)).extractall(tmp_path / "bundle")
        key = app.state.server.campaign.audit_public_key
        assert verify_bundle(tmp_path / "bundle", key).ok
        assert code_of(c.get("/v1/mandates/abc/bundle", headers=admin)) == (404, "unknown_mandate")
        assert code_of(c.get(f"/v1/mandates/{mandate['id']}/bundle")) == (401, "unauthorized")
