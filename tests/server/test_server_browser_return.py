"""The whole life of a participant in Debian's Chromium: check, code, ID check, mandate, the vault
set up on the page (the recovery code shown once, behind a checkbox); the operator files the
request and stores Meta's answer; the person comes back another day with a new code, sees the
request with its deadlines and what arrived, types a wrong passphrase, then downloads the answer:
the bytes on disk are the bytes the operator stored. Dutch first, English on the return;
screenshots of every step."""
from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("selenium")

import httpx
from helpers.browser import chromium, needs_chromium
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from breachindex.campaign import RecordingSender
from breachindex.server import create_app
from breachindex.server.testing import make_sandbox, serve_in_thread

pytestmark = needs_chromium

PHONE = "+31612340001"
TYPED = "06 12340001"
PASSPHRASE = "een lange zin als wachtwoord"
ANSWER = os.urandom(600_000) + b"Meta's answer ends here"


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(downloads: Path):
    with chromium(height=2200, downloads=downloads) as driver:
        yield driver


def test_the_whole_life_from_the_first_check_to_reading_the_answer(tmp_path: Path, browser, downloads) -> None:
    sandbox = make_sandbox(tmp_path / "sandbox")
    sender = RecordingSender()
    app = create_app(sandbox.config(), sender=sender)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    wait = WebDriverWait(browser, 15)
    admin = sandbox.auth("admin")

    def shot(name: str) -> None:
        assert browser.save_screenshot(str(shots / f"{name}.png"))

    def visible(element_id: str):
        return wait.until(EC.visibility_of_element_located((By.ID, element_id)))

    def text_of(element_id: str) -> str:
        return str(browser.execute_script(f"return document.getElementById('{element_id}').textContent"))

    def click(element_id: str) -> None:
        element = browser.find_element(By.ID, element_id)
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    sent_at: list[float] = []

    def verify_by_code() -> None:
        browser.find_element(By.ID, "phone").send_keys(TYPED)
        click("check-button")
        visible("check-result")
        wait.until(lambda d: d.find_element(By.ID, "prove-button").is_displayed())
        before = len(sender.messages)
        sent_at.append(time.monotonic())
        click("prove-button")
        visible("code")
        wait.until(lambda d: len(sender.messages) > before)
        browser.find_element(By.ID, "code").send_keys(sender.last_code(PHONE))
        click("confirm-button")
        visible("step-data")

    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=20) as operator:
        # ---- the first visit, in Dutch: check, code, ID check, mandate --------------------------
        browser.get(base + "/?lang=nl")
        visible("phone")
        shot("01-nl-start")
        verify_by_code()
        shot("02-nl-your-data")
        participant = app.state.server.campaign.participant_id(PHONE)
        body, headers = sandbox.webhook(participant, "approved")
        assert operator.post("/v1/identity/webhook", content=body, headers=headers).status_code == 200
        click("mandate-button")
        visible("step-mandate")
        wait.until(lambda d: text_of("mandate-text"))
        for box in browser.find_elements(By.CSS_SELECTOR, "#consents input[type=checkbox]"):
            box.click()
        browser.find_element(By.ID, "signer-name").send_keys("Anneke Voorbeeld")
        shot("03-nl-mandate")
        click("sign-button")
        visible("step-done")
        visible("step-mine")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#mine-mandates li"))
        assert "actief" in text_of("mine-mandates")
        assert browser.find_element(By.ID, "mine-no-requests").is_displayed()
        assert "ontsleuteld op de server" in text_of("vault")

        # ---- the vault on the page: the recovery code once, behind a checkbox ---------------------
        visible("vault-setup")
        browser.find_element(By.ID, "vault-new").send_keys(PASSPHRASE)
        browser.find_element(By.ID, "vault-repeat").send_keys(PASSPHRASE)
        click("vault-setup-button")
        visible("vault-code")
        code = text_of("vault-code-value")
        assert len(code) >= 20
        assert not browser.find_element(By.ID, "vault-code-done").is_enabled()
        shot("04-nl-recovery-code")
        click("vault-code-saved")
        assert browser.find_element(By.ID, "vault-code-done").is_enabled()
        click("vault-code-done")
        visible("vault-open")
        assert text_of("vault-code-value") == "" and code not in browser.page_source
        shot("05-nl-vault-empty")

        # ---- the operator: the batch, the request sent, Meta's answer stored --------------------
        batch = operator.post("/v1/batches", json={"controller": "meta", "filing_date": date.today().isoformat()},
                              headers=admin).json()
        assert operator.post(f"/v1/batches/{batch['id']}/export", headers=admin).status_code == 201
        (request,) = operator.get("/v1/requests", params={"participant": participant},
                                  headers=sandbox.auth("workflow")).json()["requests"]
        sent = operator.post(f"/v1/requests/{request['id']}/transition", json={"to_state": "sent", "on": "2025-02-17"},
                             headers=admin)
        assert sent.status_code == 200
        stored = operator.put("/v1/admin/vault/items", params={"participant": participant, "controller": "meta",
                                                               "request": request["id"]},
                              content=ANSWER, headers={**admin, "Content-Type": "application/octet-stream"})
        assert stored.status_code == 201, stored.text

        # ---- the return, in English: a new session, a new code ---------------------------------
        # (a person comes back days later; the test waits out the 30 s between codes to one number)
        time.sleep(max(0.0, sent_at[0] + 31 - time.monotonic()))
        browser.delete_all_cookies()
        browser.get(base + "/?lang=en")
        visible("phone")
        verify_by_code()
        visible("step-mine")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#mine-requests tbody tr"))
        row = text_of("mine-requests")
        assert "Meta" in row and "answered" in row and "17 February 2025" in row
        assert "18 March 2025" in row and "holidays: IE" in row  # St Patrick's Day: Ireland's calendar
        assert "Your file is decrypted on SOMI's server" in text_of("vault")
        items = browser.find_elements(By.CSS_SELECTOR, "#vault-items li")
        assert len(items) == 1 and "Meta" in items[0].text
        shot("06-en-my-requests")

        browser.find_element(By.ID, "vault-passphrase").send_keys("not the passphrase at all")
        items[0].find_element(By.CSS_SELECTOR, "button.download").click()
        wait.until(lambda d: d.find_element(By.ID, "message").is_displayed())
        assert browser.find_element(By.ID, "message").text == "That passphrase does not open your vault."
        assert list(downloads.iterdir()) == []
        shot("07-en-wrong-passphrase")

        field = browser.find_element(By.ID, "vault-passphrase")
        field.clear()
        field.send_keys(PASSPHRASE)
        items[0].find_element(By.CSS_SELECTOR, "button.download").click()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done = [p for p in downloads.iterdir() if not p.name.endswith(".crdownload")]
            if done:
                break
            time.sleep(0.1)
        (saved,) = [p for p in downloads.iterdir() if not p.name.endswith(".crdownload")]
        assert saved.read_bytes() == ANSWER
        wait.until(lambda d: text_of("mine-status") == "Downloaded.")
        shot("08-en-downloaded")

        # how to be told next time: SMS off, an e-mail address (the server keeps it sealed)
        visible("notify")
        assert browser.find_element(By.ID, "notify-sms").is_selected()
        click("notify-sms")
        browser.find_element(By.ID, "notify-email").send_keys("anneke@example.org")
        click("notify-save")
        wait.until(lambda d: text_of("mine-status") == "Your choice has been saved.")
        prefs = app.state.server.notifier.preferences(participant)
        assert (prefs.sms, prefs.email, prefs.lang) == (False, "anneke@example.org", "en")

        click("lang-nl")
        wait.until(lambda d: "beantwoord" in text_of("mine-requests"))
        assert "18 maart 2025" in text_of("mine-requests")
        shot("09-nl-my-requests")
        problems = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"
                    and "403" not in e["message"] and "/open" not in e["message"]]
        assert problems == []

    assert sorted(p.name for p in shots.iterdir()) == [
        "01-nl-start.png", "02-nl-your-data.png", "03-nl-mandate.png", "04-nl-recovery-code.png",
        "05-nl-vault-empty.png", "06-en-my-requests.png", "07-en-wrong-passphrase.png", "08-en-downloaded.png",
        "09-nl-my-requests.png"]
