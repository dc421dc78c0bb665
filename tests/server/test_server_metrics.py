"""``GET /metrics``: requests by route template and status with their latency, error codes, SMS sent
and refused by reason, budget refusals by rule, campaign requests by state and past due, the index
generation; counted exactly, summed over the workers of a real ``breachindex serve --workers 2``,
and never a label that holds what a caller sent (a number, a name, an address, an id)."""
from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
import httpx
from helpers.campaign import number
from helpers.server import ANNEKE, JSON, code_of, confirm_code
from helpers.serving import serving
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from breachindex.campaign import RecordingSender
from breachindex.campaign.pseudonyms import CampaignKeys
from breachindex.campaign.requests import REQUEST_STATES
from breachindex.keying.secret import Key
from breachindex.server import OPERATIONS, create_app
from breachindex.server.auth import list_api_keys
from breachindex.server.budgets import RULES
from breachindex.server.errors import ERROR_CODES
from breachindex.server.metrics import (
    LATENCY_BUCKETS,
    METHODS,
    OTHER,
    SMS_OUTCOMES,
    SMS_PURPOSES,
    SMS_REFUSAL_REASONS,
    UNMATCHED,
)
from breachindex.server.templates import CURRENT_VERSION
from breachindex.server.testing import PEOPLE, make_sandbox, page_client, rebuild_index

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
CONSENTS = ["privacy_notice_read", "authorise_access_request"]


@pytest.fixture
def sandbox(tmp_path: Path) -> Any:
    return make_sandbox(tmp_path / "sandbox")


def app_of(sandbox: Any, sender: Any = None, **config: Any) -> Any:
    return create_app(sandbox.config(**config), sender=sender or RecordingSender(), log_stream=io.StringIO())


def parse(text: str) -> Samples:
    """Every sample of a scrape: (name, labels) -> value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(client: Any, sandbox: Any) -> Samples:
    answer = client.get("/metrics", headers=sandbox.auth("admin"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(answer.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value (0 when it is not there: a counter never moved)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_of(samples: Samples, route: str, method: str, status: str) -> float:
    return value(samples, "breachindex_http_requests_total", method=method, route=route, status=status)


# ---- requests, latency, error codes --------------------------------------------------------------------

def test_requests_are_counted_by_route_template_and_status_with_their_latency(sandbox: Any) -> None:
    app = app_of(sandbox)
    with TestClient(app) as c:
        before = scrape(c, sandbox)
        checks = [c.post("/v1/check", json={"phone": number(i)}, headers=sandbox.auth("check")) for i in range(7)]
        letters = [c.get(f"/v1/batches/{batch}/letter", headers=sandbox.auth("admin"))
                   for batch in ("a1b2c3", "d4e5f6", "31612340001")]
        missing = [c.get(f"/v1/users/{n}/profile") for n in ("31612340001", "0612340002", "42")]
        wrong_method = c.delete("/v1/check")
        after = scrape(c, sandbox)
    assert {a.status_code for a in checks} == {200}
    assert {a.status_code for a in letters} == {422}  # no such batch: the letter is refused
    assert {code_of(a) for a in missing} == {(404, "not_found")}
    assert code_of(wrong_method) == (405, "method_not_allowed")
    assert requests_of(before, "/v1/check", "POST", "200") == 0
    assert requests_of(after, "/v1/check", "POST", "200") == 7
    assert requests_of(after, "/v1/batches/{batch_id}/letter", "GET", "422") == 3
    assert requests_of(after, UNMATCHED, "GET", "404") == 3
    assert requests_of(after, "/v1/check", "DELETE", "405") == 1
    assert requests_of(after, "/metrics", "GET", "200") == 1  # the first scrape (a scrape counts after it answers)
    # the histogram: one observation per request, in every bucket up to +Inf
    latency = "breachindex_http_request_duration_seconds"
    assert value(after, latency + "_count", method="POST", route="/v1/check") == 7
    assert value(after, latency + "_bucket", method="POST", route="/v1/check", le="+Inf") == 7
    assert value(after, latency + "_sum", method="POST", route="/v1/check") > 0
    buckets = [value(after, latency + "_bucket", method="GET", route=UNMATCHED, le=str(le)) for le in LATENCY_BUCKETS]
    assert buckets == sorted(buckets) and buckets[-1] <= 3
    assert value(after, latency + "_count", method="GET", route="/v1/batches/{batch_id}/letter") == 3
    # no _created series: one worker or several, the same series
    assert not any(name.endswith("_created") for name, _ in after)


def test_error_answers_are_counted_by_their_code(sandbox: Any) -> None:
    app = app_of(sandbox, check_ip_rate=0.001, check_ip_burst=2)
    with page_client(app, "198.51.100.7") as page, TestClient(app) as c:
        unauthorized = [c.get("/metrics") for _ in range(2)]
        forbidden = c.get("/metrics", headers=sandbox.auth("check"))
        invalid = [c.post("/v1/check", json={"phone": "not a number at all"}, headers=sandbox.auth("check"))
                   for _ in range(4)]
        malformed = c.post("/v1/check", content=b"{", headers={**JSON, **sandbox.auth("check")})
        checks = [page.post("/v1/check", json={"phone": ANNEKE}) for _ in range(5)]
        after = scrape(c, sandbox)
    assert {code_of(a) for a in unauthorized} == {(401, "unauthorized")}
    assert code_of(forbidden) == (403, "forbidden")
    assert {code_of(a)[1] for a in invalid} == {"invalid_phone_number"}
    assert code_of(malformed) == (400, "malformed_json")
    assert [a.status_code for a in checks] == [200, 200, 429, 429, 429]
    errors = "breachindex_http_errors_total"
    assert value(after, errors, code="unauthorized") == 2
    assert value(after, errors, code="forbidden") == 1
    assert value(after, errors, code="invalid_phone_number") == 4
    assert value(after, errors, code="malformed_json") == 1
    assert value(after, errors, code="throttled") == 3
    assert sum(v for (name, _), v in after.items() if name == errors) == 11  # and nothing else
    # the refusals stay counted by rule too (the shared store's count)
    assert value(after, "breachindex_budget_refusals_total", rule="check:host") == 3


# ---- SMS ----------------------------------------------------------------------------------------------

class FailingSender:
    def send(self, e164: str, text: str) -> None:
        raise ConnectionError("the gateway is down")


def test_sms_sends_and_refusals_are_counted_by_reason(sandbox: Any) -> None:
    sender = RecordingSender()
    app = app_of(sandbox, sender)
    workflow = sandbox.auth("workflow")

    def start(phone: str, ip: str = "198.51.100.20") -> Any:
        return c.post("/v1/verification/start", json={"phone": phone, "ip": ip}, headers=workflow)

    with TestClient(app) as c:
        sent = [start(number(i)) for i in range(20)]  # the requester's 20 an hour (ip_per_hour)
        over = start(number(20))
        again = start(number(0), "203.0.113.50")  # another network, the same number: allowed ...
        resent = start(number(0), "203.0.113.50")  # ... but not twice in 30 s: withheld, never told
        abroad = start("+12025550100", "203.0.113.50")
        premium = start("+319001234567", "203.0.113.50")
        invalid = start("12", "203.0.113.50")
        after = scrape(c, sandbox)
    assert {a.status_code for a in sent + [again, resent]} == {200}
    assert resent.json()["challenge"] == again.json()["challenge"]
    assert code_of(over) == (429, "throttled") and over.json()["error"]["reason"] == "ip_per_hour"
    assert code_of(abroad) == (422, "sms_not_allowed") and code_of(premium) == (422, "sms_not_allowed")
    assert code_of(invalid) == (422, "invalid_phone_number")
    assert len(sender.messages) == 21
    assert value(after, "breachindex_sms_sends_total", purpose="code", outcome="sent") == 21
    assert value(after, "breachindex_sms_sends_total", purpose="code", outcome="failed") == 0
    refusals = "breachindex_sms_refusals_total"
    assert value(after, refusals, reason="ip_per_hour") == 1
    assert value(after, refusals, reason="withheld") == 1
    assert value(after, refusals, reason="country_not_allowed") == 1
    assert value(after, refusals, reason="premium_rate") == 1
    assert value(after, refusals, reason="invalid_phone_number") == 1
    assert sum(v for (name, _), v in after.items() if name == refusals) == 5

    other = make_sandbox(sandbox.folder.parent / "failing")
    with TestClient(app_of(other, FailingSender())) as c:
        down = [c.post("/v1/verification/start", json={"phone": number(i)}, headers=other.auth("workflow"))
                for i in range(2)]
        after = scrape(c, other)
    assert {code_of(a) for a in down} == {(502, "sms_send_failed")}
    assert value(after, "breachindex_sms_sends_total", purpose="code", outcome="failed") == 2
    assert value(after, "breachindex_sms_sends_total", purpose="code", outcome="sent") == 0
    assert not any(name == refusals for name, _ in after)


# ---- campaign and index, read when scraped -------------------------------------------------------------

def enrol_and_file(c: Any, sandbox: Any, sender: RecordingSender) -> tuple[str, str, str]:
    """Anneke verified, ID-checked and signed; a batch prepared and exported: (participant,
    mandate, batch) ids."""
    confirm_code(c, sender, ANNEKE)
    participant = CampaignKeys(Key.load(sandbox.key_path)).participant_id(ANNEKE)
    body, headers = sandbox.webhook(participant)
    assert c.post("/v1/identity/webhook", content=body, headers=headers).status_code == 200
    mandate = c.post("/v1/mandates", json={"controller": "meta", "template_version": CURRENT_VERSION, "lang": "nl",
                                           "consents": CONSENTS, "signer_name": "Anneke Voorbeeld"})
    assert mandate.status_code == 201, mandate.text
    batch = c.post("/v1/batches", json={"controller": "meta", "filing_date": date.today().isoformat()},
                   headers=sandbox.auth("admin"))
    assert batch.status_code == 201, batch.text
    assert c.post(f"/v1/batches/{batch.json()['id']}/export", headers=sandbox.auth("admin")).status_code == 201
    return participant, mandate.json()["id"], batch.json()["id"]


def test_campaign_requests_by_state_and_past_due_and_notifications(tmp_path: Path, tmp_store: Any) -> None:
    sandbox = make_sandbox(tmp_path / "sandbox", campaign=tmp_store())  # read through Campaign: SQLite and PostgreSQL
    sender = RecordingSender()
    app = app_of(sandbox, sender)
    with page_client(app) as c:
        empty = scrape(c, sandbox)
        enrol_and_file(c, sandbox, sender)
        queued = scrape(c, sandbox)
        request_id = c.get("/v1/requests", headers=sandbox.auth("workflow")).json()["requests"][0]["id"]
        moved = c.post(f"/v1/requests/{request_id}/transition", json={"to_state": "sent", "on": "2025-03-03"},
                       headers=sandbox.auth("admin"))
        past_due = scrape(c, sandbox)
        marked = c.post(f"/v1/requests/{request_id}/transition", json={"to_state": "overdue"},
                        headers=sandbox.auth("admin"))
        overdue = scrape(c, sandbox)
    assert moved.status_code == 200 and marked.status_code == 200, (moved.text, marked.text)
    by_state = "breachindex_campaign_requests"
    assert {dict(labels)["state"] for name, labels in empty if name == by_state} == set(REQUEST_STATES)
    assert sum(v for (name, _), v in empty.items() if name == by_state) == 0
    assert value(queued, by_state, state="queued") == 1
    assert value(past_due, by_state, state="sent") == 1 and value(past_due, by_state, state="queued") == 0
    assert value(queued, "breachindex_campaign_requests_past_due") == 0
    assert value(past_due, "breachindex_campaign_requests_past_due") == 1  # due 2025-04-03
    assert value(overdue, by_state, state="overdue") == 1 and value(overdue, by_state, state="sent") == 0
    assert value(overdue, "breachindex_campaign_requests_past_due") == 0  # marked: no longer waiting
    # the code, then "your request is overdue" by SMS (the notifier's sender is counted too)
    assert len(sender.messages) == 2
    assert value(overdue, "breachindex_sms_sends_total", purpose="code", outcome="sent") == 1
    assert value(overdue, "breachindex_sms_sends_total", purpose="notification", outcome="sent") == 1


def test_the_index_generation_served_and_its_rows(sandbox: Any) -> None:
    app = app_of(sandbox, reload_interval=3600.0)  # swapped below, by hand
    with TestClient(app) as c:
        first = scrape(c, sandbox)
        rebuild_index(sandbox, dict(list(PEOPLE.items())[:2]))
        assert app.state.server.generations.refresh() is True
        second = scrape(c, sandbox)
    assert value(first, "breachindex_index_generation") == 1 and value(first, "breachindex_index_rows") == 3
    assert value(second, "breachindex_index_generation") == 2 and value(second, "breachindex_index_rows") == 2
    built = value(second, "breachindex_index_created_timestamp_seconds")
    assert built >= value(first, "breachindex_index_created_timestamp_seconds") > 1.7e9


# ---- privacy: no label holds what a caller sent ----------------------------------------------------------

def forms_of(e164: str) -> list[str]:
    national = "0" + e164[3:]
    return [e164, e164[1:], national, e164[3:], e164[-7:], f"{national[:2]} {national[2:]}"]


def test_no_label_holds_a_number_name_address_or_id_only_known_vocabularies(sandbox: Any) -> None:
    sender = RecordingSender()
    app = app_of(sandbox, sender)
    admin, workflow, check = sandbox.auth("admin"), sandbox.auth("workflow"), sandbox.auth("check")
    addresses = ["203.0.113.9", "198.51.100.77", "2001:db8:aa:bb::1"]
    secrets: set[str] = {"Anneke", "Voorbeeld", "Bram", "Testpersoon", "Utrecht", "anneke@example.org",
                         *addresses, "2001:db8", "198.51.100", "203.0.113"}
    with page_client(app, addresses[0]) as c:
        participant, mandate, batch = enrol_and_file(c, sandbox, sender)
        secrets |= {participant, participant[:8], mandate, batch}
        request_id = c.get("/v1/requests", headers=workflow).json()["requests"][0]["id"]
        secrets.add(request_id)
        made = 0
        for e164 in [*PEOPLE, number(77), "+4915112340003"]:
            secrets |= set(forms_of(e164))
            for form in forms_of(e164):
                c.post("/v1/check", json={"phone": form, "region": "NL"}, headers=check)
                c.post("/v1/verification/start", json={"phone": form, "region": "NL", "ip": addresses[1]},
                       headers=workflow)
                c.get(f"/v1/people/{form}", params={"phone": form})
                c.get(f"/{form}")
                made += 4
        paths = [f"/v1/mandates/{mandate}/bundle", f"/v1/batches/{batch}/bundle", f"/v1/batches/{batch}/letter",
                 f"/v1/mandates/{participant}/bundle", f"/v1/batches/{request_id}/letter",
                 f"/v1/vault/items/{participant}/open", f"/static/{participant}.js", f"/v1/requests/{request_id}",
                 f"/v1/participants/{participant}", f"/v1/requests/{request_id}/transition/{ANNEKE}",
                 f"/{addresses[0]}", f"/v1/check/{ANNEKE}", "/v1/check/", "/static/"]
        for path in paths:
            for method in ("GET", "POST", "PROPFIND", "X-" + ANNEKE[1:]):
                c.request(method, path, headers={**admin, "X-Forwarded-For": addresses[2]},
                          json={"participant": participant})
                made += 1
        c.post(f"/v1/requests/{request_id}/transition", json={"to_state": "sent", "note": ANNEKE}, headers=admin)
        c.post(f"/v1/mandates/{mandate}/revoke", json={"reason": f"Anneke Voorbeeld {ANNEKE}"})
        made += 2
        answer = c.get("/metrics", headers=admin)
    assert answer.status_code == 200
    text = answer.text
    samples = parse(text)
    key_ids = {k.id for k in list_api_keys(sandbox.api_keys_path)}
    secrets |= key_ids | set(sandbox.tokens.values())
    secrets = {s for s in secrets if len(s) >= 4}
    labels = {(name, label, v) for name, pairs in samples for label, v in pairs}
    for name, label, v in labels:
        for secret in secrets:
            assert secret.lower() not in v.lower(), (name, label, v)
    names = "\n".join(line.rsplit(" ", 1)[0] if not line.startswith("#") else line for line in text.splitlines())
    for secret in secrets:  # nor in a name or a help text (sample values are numbers: not searched)
        assert secret.lower() not in names.lower(), secret
    # every label value from a known, finite vocabulary
    routes = {route.path for route in app.routes} | {UNMATCHED}
    statuses = {str(op.status) for op in OPERATIONS} | {str(s) for s in ERROR_CODES.values()} | {"200"}
    vocabulary: dict[str, set[str]] = {
        "route": routes, "method": set(METHODS) | {OTHER}, "status": statuses, "code": set(ERROR_CODES),
        "rule": set(RULES), "reason": set(SMS_REFUSAL_REASONS), "state": set(REQUEST_STATES),
        "purpose": set(SMS_PURPOSES), "outcome": set(SMS_OUTCOMES),
        "le": {str(float(b)) for b in LATENCY_BUCKETS} | {"+Inf"}}
    for name, label, v in labels:
        assert label in vocabulary, (name, label)
        assert v in vocabulary[label], (name, label, v)
    seen_routes = {v for _, label, v in labels if label == "route"}
    assert UNMATCHED in seen_routes and "/v1/batches/{batch_id}/letter" in seen_routes
    assert "/v1/mandates/{mandate_id}/bundle" in seen_routes and "/static/{name}" in seen_routes
    assert OTHER in {v for _, label, v in labels if label == "method"}  # PROPFIND and the made-up method
    # every request counted once (the scrape itself counts after it answers)
    total = sum(v for (name, _), v in samples.items() if name == "breachindex_http_requests_total")
    assert total >= made and requests_of(samples, UNMATCHED, "GET", "404") >= 2 * len(PEOPLE) * 6


# ---- several workers -----------------------------------------------------------------------------------

def per_worker(folder: Path, route: str) -> dict[str, float]:
    """Each worker's own count of ``route``'s answers, read from its file (pid -> count)."""
    counts = {}
    for path in folder.glob("counter_*.db"):
        pid = path.stem.split("_", 1)[1]
        counts[pid] = sum(s.value for m in MultiProcessCollector.merge([str(path)]) for s in m.samples
                          if s.name == "breachindex_http_requests_total" and s.labels.get("route") == route)
    return counts


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[Any, str, Path, Path]]:
    """A real ``breachindex serve --workers 2`` on a loopback port: (sandbox, base URL, the
    temporary directory it was given, its log)."""
    sb = make_sandbox(tmp_path / "sandbox")
    temp = tmp_path / "tmp"
    temp.mkdir()
    args = [str(sb.index_path), "--key", str(sb.key_path), "--campaign", str(sb.campaign_path),
            "--api-keys", str(sb.api_keys_path), "--workers", "2", "--insecure-cookies"]
    env = {**os.environ, "TMPDIR": str(temp), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "inherited")}
    log_path = tmp_path / "server.log"
    with serving(args, log_path, env=env, route="/healthz") as served:
        yield sb, served.base, temp, log_path
    assert served.exit_code == 0, served.log()
    assert list(temp.iterdir()) == []  # the metrics folder went with the server


def test_two_workers_are_counted_together_whichever_answers_the_scrape(two_workers: Any) -> None:
    sb, base, temp, log_path = two_workers
    [folder] = list(temp.iterdir())
    assert folder.name.startswith("breachindex-metrics-")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    made = 0
    for _ in range(50):  # until both workers answered some (each request on a new connection)
        for _ in range(10):
            answer = httpx.post(base + "/v1/check", json={"phone": ANNEKE}, headers=sb.auth("check"), timeout=5)
            assert answer.status_code == 200, answer.text
            made += 1
        if len([n for n in per_worker(folder, "/v1/check").values() if n > 0]) == 2:
            break
    counts = per_worker(folder, "/v1/check")
    assert sorted(counts.values())[0] > 0 and sum(counts.values()) == made, (counts, made)
    for scrapes in range(1, 101):  # every scrape adds up both workers, whichever answers it (until both did)
        scraped = parse(httpx.get(base + "/metrics", headers=sb.auth("admin"), timeout=5).text)
        assert requests_of(scraped, "/v1/check", "POST", "200") == made
        assert value(scraped, "breachindex_http_request_duration_seconds_count", method="POST",
                     route="/v1/check") == made
        assert requests_of(scraped, "/metrics", "GET", "200") == scrapes - 1
        answered = [n for n in per_worker(folder, "/metrics").values() if n > 0]
        if len(answered) == 2 and scrapes >= 3:
            break
    assert len([n for n in per_worker(folder, "/metrics").values() if n > 0]) == 2, "one worker answered every scrape"
    assert not (temp.parent / "inherited").exists()  # the inherited PROMETHEUS_MULTIPROC_DIR was not used
