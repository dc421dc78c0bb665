"""The vault over HTTP, the person's whole life after the mandate: an operator streams Meta's
answer in, the person comes back (a new code), sees their request with its deadlines and what
arrived, sets up the vault, downloads the answer (the same bytes), changes the passphrase,
recovers with the code, and erases everything. And what must fail: a wrong passphrase, a used
recovery code, another person's item, an oversized or cut upload, a tampered item."""
from __future__ import annotations

import hashlib
import os
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("starlette")

from helpers.server import ANNEKE, code_of, confirm_code

from breachindex.campaign import RecordingSender
from breachindex.server import create_app
from breachindex.server.schemas import RECOVERY_RESPONSE, SESSION_RESPONSE, VAULT_ITEM
from breachindex.server.templates import CURRENT_VERSION
from breachindex.server.testing import make_sandbox, page_client, serve_in_thread
from breachindex.server.validation import validate

BRAM = "+31612340002"
PASSPHRASE = "correct horse battery staple"
CONSENTS = ["privacy_notice_read", "authorise_access_request"]
ANSWER = os.urandom(700_000) + b"the end"  # several chunks of 256 KiB, the last one short


class World:
    def __init__(self, tmp_path: Path, campaign: Any = None, **overrides: Any) -> None:
        self.sandbox = make_sandbox(tmp_path / "sandbox", campaign=campaign)
        self.sender = RecordingSender()
        self.app = create_app(self.sandbox.config(**overrides), sender=self.sender)

    def client(self) -> Any:
        return page_client(self.app)

    def verify(self, c: Any, phone: str) -> None:
        confirm_code(c, self.sender, phone)

    def participant(self, c: Any, phone: str) -> str:
        return c.app.state.server.campaign.participant_id(phone)  # type: ignore[no-any-return]

    def sign_and_send(self, c: Any, phone: str) -> str:
        """ID approved, mandate signed, a batch prepared, exported and sent: the request id."""
        participant = self.participant(c, phone)
        body, headers = self.sandbox.webhook(participant, reference=f"case-{phone[-4:]}")
        assert c.post("/v1/identity/webhook", content=body, headers=headers).status_code == 200
        signed = c.post("/v1/mandates", json={"controller": "meta", "template_version": CURRENT_VERSION, "lang": "nl",
                                              "consents": CONSENTS, "signer_name": "Anneke Voorbeeld"})
        assert signed.status_code == 201, signed.text
        admin = self.sandbox.auth("admin")
        batch = c.post("/v1/batches", json={"controller": "meta", "filing_date": date.today().isoformat()},
                       headers=admin)
        assert batch.status_code == 201, batch.text
        assert c.post(f"/v1/batches/{batch.json()['id']}/export", headers=admin).status_code == 201
        (request,) = [r for r in c.get("/v1/requests", params={"participant": participant},
                                       headers=self.sandbox.auth("workflow")).json()["requests"]]
        sent = c.post(f"/v1/requests/{request['id']}/transition", json={"to_state": "sent", "on": "2025-02-17"},
                      headers=admin)
        assert sent.status_code == 200, sent.text
        return str(request["id"])

    def upload(self, c: Any, participant: str, data: Any, **query: str) -> Any:
        return c.put("/v1/admin/vault/items", params={"participant": participant, "controller": "meta", **query},
                     content=data, headers={**self.sandbox.auth("admin"), "Content-Type": "application/octet-stream"})


@pytest.fixture
def world(tmp_path: Path, tmp_store) -> World:
    return World(tmp_path, campaign=tmp_store())


def test_the_person_gets_metas_answer_back_and_only_they_can_read_it(world: World) -> None:
    with world.client() as c:
        world.verify(c, ANNEKE)
        anneke = world.participant(c, ANNEKE)
        request_id = world.sign_and_send(c, ANNEKE)
        # the answer cannot go in before the person has a vault
        assert code_of(world.upload(c, anneke, ANSWER, request=request_id)) == (404, "vault_not_set_up")
        setup = c.post("/v1/vault/setup", json={"passphrase": PASSPHRASE})
        assert setup.status_code == 201 and validate(setup.json(), RECOVERY_RESPONSE) is None
        assert setup.headers["cache-control"] == "no-store"
        code = setup.json()["recovery_code"]
        assert code_of(c.post("/v1/vault/setup", json={"passphrase": PASSPHRASE})) == (409, "vault_refused")

        stored = world.upload(c, anneke, iter([ANSWER[:300_000], ANSWER[300_000:]]), request=request_id,
                              name="meta-answer.zip")
        assert stored.status_code == 201, stored.text
        assert validate(stored.json(), VAULT_ITEM) is None and stored.json()["size"] == len(ANSWER)
        item_id = stored.json()["id"]

        session = c.get("/v1/session").json()
        assert validate(session, SESSION_RESPONSE) is None
        (request,) = session["requests"]
        assert "participant" not in request and request["state"] == "fulfilled"
        assert (request["received_on"], request["statutory_due_on"], request["due_on"]) == \
            ("2025-02-17", "2025-03-18", "2025-03-18")  # St Patrick's Day: Ireland's calendar, frozen
        assert request["calendar"]["source"] == "IE" and request["calendar"]["chosen_by"] == "controller"
        assert session["vault"]["set_up"] and [i["id"] for i in session["vault"]["items"]] == [item_id]
        assert ANSWER[:64].hex() not in str(session)

        wrong = c.post(f"/v1/vault/items/{item_id}/open", json={"passphrase": "not the passphrase at all"})
        assert code_of(wrong) == (403, "wrong_passphrase")
        opened = c.post(f"/v1/vault/items/{item_id}/open", json={"passphrase": PASSPHRASE})
        assert opened.status_code == 200 and opened.content == ANSWER
        assert opened.headers["content-length"] == str(len(ANSWER))
        assert opened.headers["content-type"] == "application/octet-stream"
        assert opened.headers["cache-control"] == "no-store"

        new = "an entirely new passphrase"
        assert c.post("/v1/vault/passphrase", json={"passphrase": PASSPHRASE, "new_passphrase": new}).json() == \
            {"changed": True}
        assert code_of(c.post(f"/v1/vault/items/{item_id}/open", json={"passphrase": PASSPHRASE})) == \
            (403, "wrong_passphrase")
        recovered = c.post("/v1/vault/recover", json={"recovery_code": code, "new_passphrase": "after the recovery"})
        assert recovered.status_code == 200 and recovered.json()["recovery_code"] != code
        used = c.post("/v1/vault/recover", json={"recovery_code": code, "new_passphrase": "once more, please"})
        assert code_of(used) == (403, "wrong_recovery_code")
        again = c.post(f"/v1/vault/items/{item_id}/open", json={"passphrase": "after the recovery"})
        assert hashlib.sha256(again.content).digest() == hashlib.sha256(ANSWER).digest()


def test_another_person_cannot_list_or_open_an_item_and_without_a_session_nothing_works(world: World) -> None:
    with world.client() as c:
        world.verify(c, ANNEKE)
        anneke = world.participant(c, ANNEKE)
        assert c.post("/v1/vault/setup", json={"passphrase": PASSPHRASE}).status_code == 201
        item_id = world.upload(c, anneke, b"Anneke's data").json()["id"]
    with world.client() as other:
        for path, body in (("/v1/vault/setup", {"passphrase": PASSPHRASE}),
                           (f"/v1/vault/items/{item_id}/open", {"passphrase": PASSPHRASE})):
            assert code_of(other.post(path, json=body)) == (401, "unauthorized")
        assert code_of(other.get("/v1/vault/items")) == (401, "unauthorized")
        world.verify(other, BRAM)
        assert other.post("/v1/vault/setup", json={"passphrase": PASSPHRASE}).status_code == 201
        assert other.get("/v1/vault/items").json() == {"items": []}
        foreign = other.post(f"/v1/vault/items/{item_id}/open", json={"passphrase": PASSPHRASE})
        assert code_of(foreign) == (404, "unknown_item")


def test_an_oversized_or_unknown_upload_stores_nothing(tmp_path: Path, tmp_store) -> None:
    world = World(tmp_path, campaign=tmp_store(), vault_upload_limit=100_000)
    with world.client() as c:
        world.verify(c, ANNEKE)
        anneke = world.participant(c, ANNEKE)
        assert c.post("/v1/vault/setup", json={"passphrase": PASSPHRASE}).status_code == 201
        announced = world.upload(c, anneke, b"x" * 100_001)
        streamed = world.upload(c, anneke, iter([b"x" * 60_000, b"x" * 60_000]))  # no Content-Length
        no_key = c.put("/v1/admin/vault/items", params={"participant": anneke, "controller": "meta"}, content=b"x")
        wrong_scope = c.put("/v1/admin/vault/items", params={"participant": anneke, "controller": "meta"},
                            content=b"x", headers=world.sandbox.auth("workflow"))
        unknown_request = world.upload(c, anneke, b"data", request="f" * 32)
        fits = world.upload(c, anneke, b"x" * 100_000)
        items = c.get("/v1/admin/vault/items", params={"participant": anneke}, headers=world.sandbox.auth("admin"))
    assert code_of(announced) == (413, "payload_too_large") and code_of(streamed) == (413, "payload_too_large")
    assert code_of(no_key) == (401, "unauthorized") and code_of(wrong_scope) == (403, "forbidden")
    assert code_of(unknown_request) == (404, "unknown_request")
    assert fits.status_code == 201
    assert [i["id"] for i in items.json()["items"]] == [fits.json()["id"]]  # nothing else was kept
    vault = Path(world.sandbox.config().vault or "")
    assert not [p for p in vault.rglob("*") if p.is_file() and ".tmp" in p.name]


def test_a_tampered_item_is_refused_and_never_sent_as_a_whole_download(world: World) -> None:
    with serve_in_thread(world.app) as base, httpx.Client(base_url=base, timeout=20) as c:
        world.verify(c, ANNEKE)
        assert c.post("/v1/vault/setup", json={"passphrase": PASSPHRASE}).status_code == 201
        anneke = world.app.state.server.campaign.participant_id(ANNEKE)
        item = world.upload(c, anneke, ANSWER).json()
        (path,) = [p for p in world.app.state.server.vault.folder.rglob(f"*{item['id']}*") if p.is_file()]
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 1  # a chunk in the middle: found only when the stream reaches it
        path.write_bytes(bytes(data))
        received = bytearray()
        with pytest.raises(httpx.HTTPError), c.stream(
                "POST", f"/v1/vault/items/{item['id']}/open", json={"passphrase": PASSPHRASE}) as answer:
            assert answer.status_code == 200 and answer.headers["content-length"] == str(len(ANSWER))
            for piece in answer.iter_bytes():
                received += piece
        assert 0 < len(received) < len(ANSWER) // 2 + 1  # the chunks before the flip, then the connection broke
        assert bytes(received) == ANSWER[:len(received)]  # and what came was authentic
        path.write_bytes(bytes(data[:-10]))  # cut short: refused before a byte is sent
        assert code_of(c.post(f"/v1/vault/items/{item['id']}/open", json={"passphrase": PASSPHRASE})) == \
            (500, "item_tampered")


def test_erasing_everything_ends_the_session_and_leaves_nothing_to_open(world: World) -> None:
    with world.client() as c:
        world.verify(c, ANNEKE)
        anneke = world.participant(c, ANNEKE)
        world.sign_and_send(c, ANNEKE)
        assert c.post("/v1/vault/setup", json={"passphrase": PASSPHRASE}).status_code == 201
        item_id = world.upload(c, anneke, b"data").json()["id"]
        assert code_of(c.post("/v1/vault/erase", json={"confirm": "yes"})) == (422, "invalid_request")
        erased = c.post("/v1/vault/erase", json={"confirm": "erase everything"})
        assert erased.status_code == 200, erased.text
        assert erased.json()["key_destroyed"] and erased.json()["items"] == 1
        assert erased.json()["mandates_revoked"] == 1 and erased.json()["requests_cancelled"] == 1
        assert "Max-Age=0" in erased.headers["set-cookie"] or "expires" in erased.headers["set-cookie"].lower()
        c.cookies.clear()
        assert c.get("/v1/session").json()["verified"] is False
        assert code_of(c.post(f"/v1/vault/items/{item_id}/open", json={"passphrase": PASSPHRASE})) == \
            (401, "unauthorized")
        items = c.get("/v1/admin/vault/items", params={"participant": anneke}, headers=world.sandbox.auth("admin"))
    assert items.json() == {"items": []}


def test_without_a_vault_folder_the_routes_say_so(tmp_path: Path, tmp_store) -> None:
    world = World(tmp_path, campaign=tmp_store(), vault=None)
    with world.client() as c:
        world.verify(c, ANNEKE)
        assert code_of(c.post("/v1/vault/setup", json={"passphrase": PASSPHRASE})) == (503, "not_configured")
        assert c.get("/v1/session").json()["vault"] == {"available": False, "set_up": False, "items": []}


def test_passphrase_guessing_is_limited_per_participant_whatever_the_address(tmp_path: Path, tmp_store) -> None:
    world = World(tmp_path, campaign=tmp_store(), vault_unlock_burst=3)
    with world.client() as c:
        world.verify(c, ANNEKE)
        assert c.post("/v1/vault/setup", json={"passphrase": PASSPHRASE}).status_code == 201
        item_id = world.upload(c, world.participant(c, ANNEKE), b"data").json()["id"]
        guesses = [c.post(f"/v1/vault/items/{item_id}/open", json={"passphrase": f"guess number {i:04d}"})
                   for i in range(3)]
        assert [code_of(g) for g in guesses] == [(403, "wrong_passphrase")] * 3
        assert code_of(c.post("/v1/vault/recover", json={"recovery_code": "AAAA-BBBB",
                                                         "new_passphrase": "a new passphrase here"}))[1] == "throttled"
    with page_client(world.app, "198.51.100.77") as elsewhere:  # another address, the same person
        world.verify(elsewhere, ANNEKE)
        right = elsewhere.post(f"/v1/vault/items/{item_id}/open", json={"passphrase": PASSPHRASE})
        assert code_of(right) == (429, "throttled")
        assert int(right.headers["retry-after"]) > 0


def test_an_answer_goes_in_and_out_over_real_http_in_constant_server_memory(tmp_path: Path) -> None:
    """bench/vault_http.py at 48 MiB: `breachindex serve` in its own process, the bytes back the
    same, and the server's peak memory grown by far less than the answer (the 2 GiB figure is in
    docs/benchmarks.md)."""
    import subprocess
    import sys

    from helpers import REPO

    run = subprocess.run([sys.executable, str(REPO / "bench" / "vault_http.py"), "--size-mib", "48", "--json",
                          "--dir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    import json

    result = json.loads(run.stdout)
    assert result["same_bytes"] is True
    assert result["peak_growth_mib"] < 16, result  # 48 MiB went through


def test_an_upload_cut_off_midway_keeps_nothing(world: World) -> None:
    import socket
    import time
    from urllib.parse import urlsplit

    with serve_in_thread(world.app) as base, httpx.Client(base_url=base, timeout=20) as c:
        world.verify(c, ANNEKE)
        assert c.post("/v1/vault/setup", json={"passphrase": PASSPHRASE}).status_code == 201
        anneke = world.app.state.server.campaign.participant_id(ANNEKE)
        url = urlsplit(base)
        token = world.sandbox.tokens["admin"]
        with socket.create_connection((url.hostname, url.port)) as raw:
            raw.sendall((f"PUT /v1/admin/vault/items?participant={anneke}&controller=meta HTTP/1.1\r\n"
                         f"Host: {url.hostname}\r\nAuthorization: Bearer {token}\r\n"
                         "Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n").encode())
            raw.sendall(b"x" * 300_000)
            time.sleep(0.3)
        vault = world.app.state.server.vault
        deadline = time.monotonic() + 10
        while any(vault.folder.rglob("*.tmp*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        listed = c.get("/v1/admin/vault/items", params={"participant": anneke}, headers=world.sandbox.auth("admin"))
        assert listed.json() == {"items": []}
        files = [p.relative_to(vault.folder) for p in vault.folder.rglob("*") if p.is_file()]
        assert [str(p) for p in files] == ["VAULT"], files  # the folder's marker only: no item, no temp file


def test_an_upload_with_a_name_the_vault_cannot_keep_is_a_422(world: World) -> None:
    with world.client() as c:
        world.verify(c, ANNEKE)
        anneke = world.participant(c, ANNEKE)
        assert c.post("/v1/vault/setup", json={"passphrase": PASSPHRASE}).status_code == 201
        control = world.upload(c, anneke, b"x", name="a\u0090b")  # a C1 control character: not printable
        assert code_of(control) == (422, "invalid_request")
        assert c.get("/v1/admin/vault/items", params={"participant": anneke},
                     headers=world.sandbox.auth("admin")).json() == {"items": []}
