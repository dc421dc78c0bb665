"""The check page end to end in a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium): check a number, receive and type the code, see the
data that circulates, pass the ID check (the provider's signed webhook), read and sign the
mandate, in Dutch and then in English. A screenshot of every step goes to the test's tmp_path.

What it holds the page to: the answers the API gave are what the page shows; the text shown is
the text whose SHA-256 the mandate stores; no resource comes from another origin; the
Content-Security-Policy (no inline script, no third-party anything) raises no violation.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
selenium = pytest.importorskip("selenium")

from helpers.browser import chromium, needs_chromium  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from breachindex.campaign import RecordingSender  # noqa: E402
from breachindex.server import create_app  # noqa: E402
from breachindex.server.testing import make_sandbox, serve_in_thread  # noqa: E402

pytestmark = needs_chromium

NUMBER_TYPED = "06 12340001"  # +31612340001, Anneke in the sandbox leak
NAME = "Anneke Voorbeeld"


@pytest.fixture
def browser():
    with chromium() as driver:
        yield driver


def test_the_whole_flow_in_chromium(tmp_path: Path, browser) -> None:
    sandbox = make_sandbox(tmp_path / "sandbox")
    sender = RecordingSender()
    logs = io.StringIO()
    app = create_app(sandbox.config(defaults=True), sender=sender, log_stream=logs)  # the real budgets and puzzles
    shots = tmp_path / "screenshots"
    shots.mkdir()
    wait = WebDriverWait(browser, 10)

    def shot(name: str) -> None:
        assert browser.save_screenshot(str(shots / f"{name}.png"))

    def visible(element_id: str):
        return wait.until(EC.visibility_of_element_located((By.ID, element_id)))

    def text_of(element_id: str) -> str:
        return str(browser.execute_script(f"return document.getElementById('{element_id}').textContent"))

    with serve_in_thread(app) as base:
        import httpx

        browser.get(base + "/?lang=nl")
        visible("phone")
        assert browser.title.startswith("Staat mijn nummer")
        shot("01-start")

        # 1. check: in the leak, in two breaches (the page solves the server's puzzle first)
        browser.find_element(By.ID, "phone").send_keys(NUMBER_TYPED)
        browser.find_element(By.ID, "check-button").click()
        visible("check-result")
        wait.until(lambda d: d.find_element(By.ID, "check-verdict").text)
        assert browser.find_element(By.ID, "check-verdict").text == "Je nummer staat in het datalek."
        breaches = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#breaches li")]
        assert breaches == ["facebook-2021", "other-2019"]
        shot("02-checked")

        # 2. the code, as the SMS gateway received it
        browser.find_element(By.ID, "prove-button").click()
        visible("code")
        assert len(sender.messages) == 1 and sender.messages[0].to == "+31612340001"
        shot("03-code-sent")
        browser.find_element(By.ID, "code").send_keys(sender.last_code())
        browser.find_element(By.ID, "confirm-button").click()

        # 3. the verified view: the data classes; the leaked values wait for the ID check
        visible("step-data")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#data-classes li"))
        classes = {li.get_attribute("data-class") for li in browser.find_elements(By.CSS_SELECTOR, "#data-classes li")}
        assert {"phone_number", "name", "email_address", "gender", "location"} <= classes
        assert "e-mailadres" in text_of("data-classes")
        assert "Anneke" not in text_of("details") and "identiteitsbewijs" in text_of("details")
        shot("04-your-data")

        # 4. no ID check yet: the page asks for it
        browser.find_element(By.ID, "mandate-button").click()
        visible("step-identity")
        assert browser.find_element(By.ID, "identity-status").text == "nog niet gedaan"
        shot("05-id-check-pending")
        participant = app.state.server.campaign.participant_id("+31612340001")
        body, headers = sandbox.webhook(participant, "approved")
        answer = httpx.post(base + "/v1/identity/webhook", content=body, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        browser.find_element(By.ID, "identity-refresh").click()

        # 5. the mandate: Dutch first, then switch to English; the leaked values are shown now
        visible("step-mandate")
        wait.until(lambda d: text_of("mandate-text"))
        assert "Anneke" in text_of("details") and "anneke@example.org" in text_of("details")
        dutch = text_of("mandate-text")
        assert dutch.startswith("Machtiging") and "Meta Platforms Ireland Limited" in dutch
        assert text_of("mandate-hash") == hashlib.sha256(dutch.encode("utf-8")).hexdigest()
        shot("06-mandate-nl")
        browser.find_element(By.ID, "lang-en").click()
        wait.until(lambda d: text_of("mandate-text").startswith("Mandate"))
        english = text_of("mandate-text")
        assert browser.find_element(By.ID, "h-mandate").text == "5. Read and sign the mandate"
        assert english != dutch and "I authorise" in english
        # the answers already on the page are shown again in English, without asking the server
        assert browser.find_element(By.ID, "check-verdict").text == "Your number is in the data leak."
        assert "email address" in text_of("data-classes") and "first name" in text_of("details")
        assert text_of("mandate-hash") == hashlib.sha256(english.encode("utf-8")).hexdigest()
        for box in browser.find_elements(By.CSS_SELECTOR, "#consents input[type=checkbox]"):
            box.click()
        browser.find_element(By.ID, "signer-name").send_keys(NAME)
        shot("07-mandate-en-filled")
        browser.find_element(By.ID, "sign-button").click()

        # 6. signed: the hash stored is the hash of the text shown
        visible("step-done")
        wait.until(lambda d: d.find_element(By.ID, "mandate-id").text)
        shot("08-signed")
        mandates = app.state.server.campaign.mandates(participant)
        assert len(mandates) == 1
        mandate = mandates[0]
        assert browser.find_element(By.ID, "mandate-id").text == mandate.id
        assert mandate.text_sha256 == hashlib.sha256(english.encode("utf-8")).hexdigest()
        assert text_of("mandate-result-hash") == mandate.text_sha256
        evidence = app.state.server.campaign.mandate_evidence(mandate.id)
        assert evidence.text == english and evidence.signer_name == NAME and evidence.intact
        assert "HeadlessChrome" in evidence.user_agent

        # nothing from another origin; no CSP violation or script error
        origins = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)")
        assert origins and set(origins) == {base}
        problems = [e["message"] for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert problems == []

    assert sorted(p.name for p in shots.iterdir()) == [
        "01-start.png", "02-checked.png", "03-code-sent.png", "04-your-data.png", "05-id-check-pending.png",
        "06-mandate-nl.png", "07-mandate-en-filled.png", "08-signed.png"]
    assert all(p.stat().st_size > 5_000 for p in shots.iterdir())
    # the logs of the whole flow hold no number, no code, no name
    text = logs.getvalue()
    assert '"route":"/v1/mandates"' in text
    for needle in ("31612340001", "612340001", "06 12340001", sender.last_code(), "Anneke", "Voorbeeld"):
        assert needle not in text
