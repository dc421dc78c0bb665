"""A mandate authorises only what its text says: the published templates' scopes and boxes, in
the library and over HTTP; mandates recorded before the check are flagged when the store
opens; a typed name that differs from the ID check's holds the mandate for review.
"""
from __future__ import annotations

import io
from datetime import date, datetime, timezone
from functools import partial
from pathlib import Path

import pytest
from helpers import campaign as shared
from helpers.campaign import S, sql
from hypothesis import given
from hypothesis import strategies as st

from breachindex import Key
from breachindex.campaign import CONTROLLERS, RecordingSender
from breachindex.campaign.mandates import SCOPE_CONSENTS, same_name
from breachindex.campaign.templates import CURRENT_VERSION, TEMPLATES, MandateTemplate
from breachindex.errors import BatchError, InvalidMandate

KEY = Key(b"mandate scope tests, 32 bytes!!!")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
META = CONTROLLERS["meta"]
TEMPLATE = TEMPLATES[CURRENT_VERSION]
TEXT_NL = TEMPLATE.render("nl", META)
EVIDENCE = {"ip": "198.51.100.7", "user_agent": "test", "consents": list(TEMPLATE.consents)}


new_campaign = partial(shared.new_campaign, secret=KEY)
enrol = partial(shared.enrol, now=T0)
sign = partial(shared.sign, now=T0 + 3 * S, text=TEXT_NL, evidence=EVIDENCE, scopes=TEMPLATE.scopes,
               template_version=CURRENT_VERSION)


@pytest.fixture
def c(tmp_path, sender, tmp_store):
    with new_campaign(tmp_store("c"), sender) as campaign:
        yield campaign


def test_the_published_text_authorises_access_alone():
    assert TEMPLATE.scopes == ("gdpr_access_art15",)
    assert set(TEMPLATE.consents) == {"privacy_notice_read", "authorise_access_request"}
    assert "artikel 15 AVG" in TEXT_NL and "wissen" not in TEXT_NL


@pytest.mark.parametrize(("change", "reason"), [
    ({"scopes": ["gdpr_access_art15", "gdpr_erasure_art17"],
      "evidence": {**EVIDENCE, "consents": [*EVIDENCE["consents"], "authorise_erasure_request"]}},
     "scopes_not_in_text"),
    ({"scopes": ["collective_claim"], "evidence": {**EVIDENCE, "consents": ["privacy_notice_read",
                                                                          "authorise_collective_claim"]}},
     "scopes_not_in_text"),
    ({"evidence": {**EVIDENCE, "consents": [*EVIDENCE["consents"], "authorise_dpa_complaint"]}},
     "consents_not_in_text"),
    ({"text": TEXT_NL.replace("inzage te vragen", "gegevens te laten wissen")}, "text_not_template"),
    ({"text": TEMPLATE.render("nl", CONTROLLERS["zoom"])}, "text_not_template"),  # another controller's text
    ({"template_version": "2099-01"}, "unknown_template"),
])
def test_signing_more_than_the_text_says_is_refused(c, sender, change, reason):
    pid = enrol(c, sender, 1)
    before = c.verify_audit_log().entries
    with pytest.raises(InvalidMandate) as info:
        sign(c, pid, **change)
    assert info.value.reason == reason
    assert c.mandates(pid) == [] and c.verify_audit_log().entries == before


def test_either_language_of_the_text_may_be_signed(c, sender):
    nl, en = sign(c, enrol(c, sender, 1)), sign(c, enrol(c, sender, 2), text=TEMPLATE.render("en", META))
    assert nl.text_sha256 != en.text_sha256 and nl.scopes == en.scopes == ("gdpr_access_art15",)


def test_a_campaign_may_publish_a_wider_text_under_its_own_version(tmp_path, sender, tmp_store):
    wider = MandateTemplate("2027-01", ("gdpr_access_art15", "dpa_complaint"),
                            ("privacy_notice_read", "authorise_access_request", "authorise_dpa_complaint"),
                            {"en": "I authorise {legal_name} requests: access, and a complaint to the DPA."})
    with new_campaign(tmp_store("w"), sender, templates={**TEMPLATES, "2027-01": wider}) as w:
        m = sign(w, enrol(w, sender, 1), template_version="2027-01", text=wider.render("en", META),
                 scopes=["dpa_complaint", "gdpr_access_art15"],
                 evidence={**EVIDENCE, "consents": list(wider.consents)})
    assert m.scopes == ("dpa_complaint", "gdpr_access_art15")
    with pytest.raises(ValueError):  # a template must show the box of every scope it names
        MandateTemplate("x", ("dpa_complaint",), ("privacy_notice_read",), {"en": "text"})


# ---- mandates recorded before: checked when the store opens ----------------------------------------------

def test_earlier_mandates_wider_than_their_text_are_flagged_and_never_filed(tmp_path, sender, tmp_store):
    path = tmp_store("c")
    erasure = SCOPE_CONSENTS["gdpr_erasure_art17"]
    # the hole this closes: the access-only text, recorded with an erasure scope (as before the check)
    lax = MandateTemplate(CURRENT_VERSION, ("gdpr_access_art15", "gdpr_erasure_art17"),
                          (*TEMPLATE.consents, erasure), dict(TEMPLATE.texts))
    with new_campaign(path, sender, templates={CURRENT_VERSION: lax}) as old:
        wide = sign(old, enrol(old, sender, 1), scopes=["gdpr_access_art15", "gdpr_erasure_art17"],
                    evidence={**EVIDENCE, "consents": [*EVIDENCE["consents"], erasure]})
    with new_campaign(path, sender) as now:
        fine = sign(now, enrol(now, sender, 2))
        sql(now, "UPDATE mandates SET template_checked = NULL")  # as a store of schema 4 has them
    with new_campaign(path, sender) as c:
        assert c.mandate(wide.id).review == "scopes_not_in_text" and c.mandate(fine.id).review is None
        flagged = [e for e in c.audit_entries() if e.kind == "mandate_flagged"]
        assert [(e.ref, e.payload["review"]) for e in flagged] == [(wide.id, "scopes_not_in_text")]
        batch = c.prepare_batch("meta", filing_date=date(2026, 11, 3), now=T0 + 10 * S)
        assert {r.mandate for r in c.requests(batch=batch.id)} == {fine.id}
        with pytest.raises(InvalidMandate):  # cannot be cleared: the person signs a published text again
            c.clear_mandate_review(wide.id, note="looks fine", now=T0 + 11 * S)
    with new_campaign(path, sender) as again:  # checked once
        assert len([e for e in again.audit_entries() if e.kind == "mandate_flagged"]) == 1


# ---- the signer's name -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "confirmed"), [
    ("Jan de Vries", "JAN DE VRIES"), ("DE VRIES, Jan", "Jan de Vries"), ("Chloé Müller", "CHLOE MULLER"),
    ("Jan  de   Vries-Çelik", "jan de vries celik"), ("Straße", "STRASSE"), ("Søren Ærø", "SOREN AERO"),
])
def test_the_same_name_written_otherwise_matches(typed, confirmed):
    assert same_name(typed, confirmed)


@pytest.mark.parametrize(("typed", "confirmed"), [
    ("Jan de Vries", "Johannes de Vries"), ("Jan de Vries", "Jan Pieter de Vries"), ("Jan", "Jan de Vries"),
    ("", "Jan"), ("...", "..."),
])
def test_another_name_does_not(typed, confirmed):
    assert not same_name(typed, confirmed)


@given(st.text(max_size=60), st.text(max_size=60))
def test_the_name_comparison_is_symmetric_and_never_fails(a, b):
    assert same_name(a, b) == same_name(b, a)


def test_a_name_unlike_the_id_checks_holds_the_mandate_until_cleared(c, sender):
    held = sign(c, enrol(c, sender, 1, confirmed_name="Johannes de Vries"), signer_name="Jan de Vries")
    same = sign(c, enrol(c, sender, 2, confirmed_name="JAN JANSEN"), signer_name="Jan Jansen")
    assert held.review == "signer_name_mismatch" and same.review is None
    entry = c.audit_entry(held.log_seq)
    assert entry.payload["review"] == "signer_name_mismatch" and "Vries" not in str(entry.payload)
    batch = c.prepare_batch("meta", filing_date=date(2026, 11, 3), now=T0 + 10 * S)
    assert {r.mandate for r in c.requests(batch=batch.id)} == {same.id}
    cleared = c.clear_mandate_review(held.id, note="Jan is the calling name of Johannes", now=T0 + 11 * S)
    assert cleared.review is None
    assert [e.kind for e in c.audit_entries(ref=held.id)][-1] == "mandate_review_cleared"
    later = c.prepare_batch("meta", filing_date=date(2026, 11, 4), now=T0 + 12 * S)
    assert {r.mandate for r in c.requests(batch=later.id)} == {held.id}
    with pytest.raises(ValueError):
        c.clear_mandate_review(held.id, note="again", now=T0 + 13 * S)


def test_a_mandate_held_after_its_batch_was_prepared_is_not_exported(c, sender, tmp_path):
    m = sign(c, enrol(c, sender, 1))
    other = sign(c, enrol(c, sender, 2))
    batch = c.prepare_batch("meta", filing_date=date(2026, 11, 3), now=T0 + 10 * S)
    sql(c, "UPDATE mandates SET review = 'text_not_template' WHERE id = ?", (m.id,))
    export = c.export_batch(batch, tmp_path / "export", now=T0 + 11 * S)
    assert export.requests == 1
    states = {r.mandate: r.state for r in c.requests(batch=batch.id)}
    assert states == {m.id: "cancelled", other.id: "queued"}
    sql(c, "UPDATE mandates SET review = 'text_not_template' WHERE id = ?", (other.id,))
    with pytest.raises(BatchError):
        c.prepare_batch("meta", filing_date=date(2026, 11, 5), now=T0 + 12 * S)


# ---- over HTTP -------------------------------------------------------------------------------------------

def test_the_api_refuses_scopes_the_text_does_not_name(tmp_path: Path, tmp_store) -> None:
    pytest.importorskip("starlette")
    from breachindex.server import create_app
    from breachindex.server.testing import make_sandbox, page_client

    sandbox = make_sandbox(tmp_path / "sandbox", campaign=tmp_store())
    sender = RecordingSender()
    app = create_app(sandbox.config(), sender=sender, log_stream=io.StringIO())
    body = {"controller": "meta", "template_version": CURRENT_VERSION, "lang": "nl", "signer_name": "Anneke",
            "scopes": ["gdpr_access_art15", "gdpr_erasure_art17"],
            "consents": [*TEMPLATE.consents, "authorise_erasure_request"]}
    with page_client(app) as page:
        started = page.post("/v1/verification/start", json={"phone": "+31612340001"}).json()
        page.post("/v1/verification/confirm", json={"challenge": started["challenge"], "code": sender.last_code()})
        participant = app.state.server.campaign.participant_id("+31612340001")
        hook, headers = sandbox.webhook(participant)
        assert page.post("/v1/identity/webhook", content=hook, headers=headers).status_code == 200
        on_page = page.post("/v1/mandates", json=body)
        by_service = page.post("/v1/mandates", headers=sandbox.auth("workflow"), json={
            **body, "participant": participant, "ip": "198.51.100.3", "user_agent": "svc"})
        fine = page.post("/v1/mandates", json={**body, "scopes": list(TEMPLATE.scopes),
                                               "consents": list(TEMPLATE.consents)})
    for answer in (on_page, by_service):
        assert answer.status_code == 422
        error = answer.json()["error"]
        assert error["code"] == "invalid_mandate" and error["reason"] == "scopes_not_in_text"
    assert fine.status_code == 201 and fine.json()["scopes"] == ["gdpr_access_art15"]
