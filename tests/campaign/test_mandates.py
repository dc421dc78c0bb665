"""Mandates: who may sign, what the record keeps (and keeps sealed), revocation, the upgrade
of a version-1 store, and a process killed while signing losing nothing it confirmed.
"""
from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import signal
import time
import unicodedata
from datetime import datetime, timedelta, timezone
from functools import partial

import pytest
from helpers import campaign as shared
from helpers.campaign import S, is_sqlite, number, sql
from helpers.mandate_texts import registry

from breachindex import Key
from breachindex.campaign import (
    CONSENTS,
    CONTROLLERS,
    MIGRATIONS,
    SCOPE_CONSENTS,
    SCOPES,
    Campaign,
    CheckPolicy,
    Controller,
    Evidence,
    RecordingSender,
)
from breachindex.campaign.clock import to_us
from breachindex.campaign.pseudonyms import CampaignKeys
from breachindex.campaign.store import open_store
from breachindex.errors import (
    CampaignStoreError,
    InvalidMandate,
    MandateRefused,
    UnknownController,
    UnknownMandate,
    UnknownParticipant,
)

KEY = Key(b"mandate tests secret, 32 bytes!!")
T0 = datetime(2024, 2, 29, 9, 0, tzinfo=timezone.utc)
TEXT = "Ik machtig Stichting Onderzoek Marktinformatie om namens mij inzage te vragen (art. 15 AVG)."
NAME = "Jan de Vries-Çelik"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
EVIDENCE = {"ip": "203.0.113.77", "user_agent": UA, "consents": ["privacy_notice_read", "authorise_access_request"]}
COMPOSED = "Ik, Chloé, machtig SOMI."
TEMPLATES = registry([TEXT, COMPOSED, unicodedata.normalize("NFD", COMPOSED)], EVIDENCE["consents"], "2024-02")

new_campaign = partial(shared.new_campaign, secret=KEY, templates=TEMPLATES)
enrol = partial(shared.enrol, now=T0)
sign = partial(shared.sign, now=T0 + 3 * S, text=TEXT, evidence=EVIDENCE, signer_name=NAME, base="2024-02")


@pytest.fixture
def c(tmp_path, sender, tmp_store):
    with new_campaign(tmp_store("c"), sender) as campaign:
        yield campaign


# ---- signing -------------------------------------------------------------------------------------------

def test_a_signed_mandate_keeps_its_evidence(c, sender):
    pid = enrol(c, sender, 1)
    m = sign(c, pid)
    assert len(m.id) == 32 and m.participant == pid and m.controller == "meta"
    assert m.scopes == ("gdpr_access_art15",) and m.template_version == "2024-02"
    assert m.text_sha256 == hashlib.sha256(TEXT.encode("utf-8")).hexdigest()
    assert m.signed_at == T0 + 3 * S and m.verified_at == T0 + S
    assert m.ends_at == datetime(2025, 2, 28, 9, 0, 3, tzinfo=timezone.utc)  # a year after 29 February
    assert m.consents == ("authorise_access_request", "privacy_notice_read")
    assert (m.identity_provider, m.identity_reference, m.identity_checked_at) == ("idv", "case-1", T0 + 2 * S)
    assert m.name_source == "signed" and m.revoked_at is None
    entry = c.audit_entry(m.log_seq)
    assert entry.kind == "mandate_signed" and entry.entry_hash.hex() == m.log_hash and entry.ref == m.id
    evidence = c.mandate_evidence(m.id)
    assert evidence.intact and evidence.mandate == m
    assert (evidence.signer_name, evidence.ip, evidence.user_agent, evidence.text) == (NAME, "203.0.113.77", UA, TEXT)
    for secret in (NAME, "203.0.113.77", UA, TEXT):
        assert secret not in repr(evidence) and secret not in repr(m)
    assert NAME not in str(entry.payload) and "203.0.113.77" not in str(entry.payload)
    assert c.mandate(m.id) == m and c.mandates(pid) == [m]
    assert m.status(T0) == "not_yet" and m.status(T0 + 3 * S) == "active" and m.status(m.ends_at) == "expired"


def test_the_text_hash_is_of_the_exact_utf8_bytes(c, sender):
    composed = COMPOSED
    decomposed = unicodedata.normalize("NFD", composed)
    a = sign(c, enrol(c, sender, 1), text=composed, controller="meta")
    b = sign(c, enrol(c, sender, 2), text=decomposed, controller="meta")
    assert a.text_sha256 == hashlib.sha256(composed.encode("utf-8")).hexdigest()
    assert a.text_sha256 != b.text_sha256  # no normalisation: what was shown is what is hashed
    assert c.mandate_evidence(b.id).text == decomposed


def test_the_name_the_id_check_confirmed_is_used_when_none_is_typed(c, sender):
    pid = enrol(c, sender, 1, confirmed_name="Marie Curie")
    m = sign(c, pid, signer_name=None)
    assert m.name_source == "identity_check" and c.mandate_evidence(m.id).signer_name == "Marie Curie"
    other = enrol(c, sender, 2)
    with pytest.raises(MandateRefused) as refused:
        sign(c, other, signer_name=None)
    assert refused.value.reason == "no_signer_name"
    assert c.identity_status(pid).status == "approved"  # type: ignore[union-attr]
    entries = c.audit_entries(participant=pid)
    assert entries[1].payload["name_confirmed"] is True and "Marie" not in str(entries[1].payload)


def test_the_evidence_may_be_an_evidence_object(c, sender):
    m = sign(c, enrol(c, sender, 1), evidence=Evidence("::ffff:198.51.100.4", "", ("privacy_notice_read",
                                                                                    "authorise_access_request")))
    assert c.mandate_evidence(m.id).ip == "198.51.100.4"  # normalised
    assert "198.51" not in repr(Evidence("198.51.100.4", "ua", ("privacy_notice_read",)))


def test_edited_evidence_is_detected(c, sender):
    a, b = sign(c, enrol(c, sender, 1)), sign(c, enrol(c, sender, 2), evidence={**EVIDENCE, "ip": "198.51.100.9"})
    sql(c, "UPDATE mandates SET ip_sealed = (SELECT ip_sealed FROM mandates WHERE id = ?) WHERE id = ?",
                 (b.id, a.id))
    with pytest.raises(CampaignStoreError):  # a sealed value is bound to its mandate
        c.mandate_evidence(a.id)
    sql(c, "UPDATE mandates SET consents = ? WHERE id = ?", ('["privacy_notice_read"]', b.id))
    assert not c.mandate_evidence(b.id).intact  # the HMAC in the log entry no longer matches
    sql(c, "UPDATE mandates SET consents = ? WHERE id = ?",
                 ('["authorise_access_request", "privacy_notice_read"]', b.id))
    assert c.mandate_evidence(b.id).intact
    sql(c, "UPDATE mandates SET log_hash = ? WHERE id = ?", (bytes(32), b.id))
    assert not c.mandate_evidence(b.id).intact


# ---- who may sign ---------------------------------------------------------------------------------------

def test_only_a_recently_verified_participant_may_sign(c, sender):
    pid = enrol(c, sender, 1)
    with pytest.raises(MandateRefused) as refused:
        sign(c, pid, now=T0 + S + CheckPolicy().verified_for)  # the verification is 24 hours old
    assert refused.value.reason == "not_verified"
    ch = c.start_verification(number(1), now=T0 + timedelta(days=2))
    c.confirm_verification(ch.id, sender.last_code(number(1)), now=T0 + timedelta(days=2, seconds=1))
    assert sign(c, pid, now=T0 + timedelta(days=2, seconds=2))
    never = c.participant_id(number(5))
    c.start_verification(number(5), now=T0)  # a participant that never confirmed
    with pytest.raises(MandateRefused, match="one-time code"):
        sign(c, never)
    with pytest.raises(UnknownParticipant):
        sign(c, "f" * 32)


@pytest.mark.parametrize("status", ["declined", "needs_review", "error", None])
def test_only_an_approved_identity_may_sign(c, sender, status):
    ch = c.start_verification(number(1), now=T0)
    pid = c.confirm_verification(ch.id, sender.last_code(), now=T0 + S).participant
    if status is not None:
        c.record_identity_check(pid, provider="idv", reference="a", status="approved", now=T0 + S)
        c.record_identity_check(pid, provider="idv", reference="b", status=status, now=T0 + 2 * S)  # the latest counts
    with pytest.raises(MandateRefused) as refused:
        sign(c, pid)
    assert refused.value.reason == "identity_not_approved"
    assert c.mandates(pid) == []


def test_one_active_mandate_per_controller_and_none_is_reused(c, sender):
    pid = enrol(c, sender, 1)
    first = sign(c, pid)
    with pytest.raises(MandateRefused) as refused:
        sign(c, pid, now=T0 + 4 * S)
    assert refused.value.reason == "already_active"
    zoom = sign(c, pid, controller="zoom", now=T0 + 5 * S)  # another controller is fine
    revoked = c.revoke_mandate(first.id, reason="I changed my mind", now=T0 + 6 * S)
    assert revoked.revoked_at == T0 + 6 * S and revoked.status(T0 + 7 * S) == "revoked"
    assert c.revoke_mandate(first.id, reason="again", now=T0 + 8 * S) == revoked  # unchanged
    second = sign(c, pid, now=T0 + 9 * S)
    assert second.id not in (first.id, zoom.id)
    assert [m.id for m in c.mandates(pid)] == [first.id, zoom.id, second.id]  # revoked ones stay on record
    assert c.mandate_evidence(first.id).revocation_reason == "I changed my mind"
    entry = c.audit_entries(ref=first.id)[-1]
    assert entry.kind == "mandate_revoked" and "changed" not in str(entry.payload)
    with pytest.raises(UnknownMandate):
        c.revoke_mandate("0" * 32, reason="x")
    with pytest.raises(UnknownMandate):
        c.mandate("nope")


def test_an_expired_mandate_makes_way_for_a_new_one(tmp_path, sender, tmp_store):
    with new_campaign(tmp_store("c"), sender, mandate_months=1) as c:
        pid = enrol(c, sender, 1)
        m = sign(c, pid)
        assert m.ends_at == datetime(2024, 3, 29, 9, 0, 3, tzinfo=timezone.utc)
        later = m.ends_at + S
        ch = c.start_verification(number(1), now=later)
        c.confirm_verification(ch.id, sender.last_code(), now=later + S)
        assert sign(c, pid, now=later + 2 * S).id != m.id
    with pytest.raises(ValueError):
        new_campaign(tmp_store("d"), sender, mandate_months=0)


# ---- what a mandate must say ------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "error"), [
    ({"controller": "acme"}, UnknownController),
    ({"controller": None}, UnknownController),
    ({"scopes": []}, InvalidMandate),
    ({"scopes": ["gdpr_access_art99"]}, InvalidMandate),
    ({"scopes": "gdpr_access_art15"}, InvalidMandate),
    ({"scopes": ["gdpr_access_art15", "dpa_complaint"]}, InvalidMandate),  # dpa_complaint's box is not ticked
    ({"evidence": {**EVIDENCE, "consents": ["authorise_access_request"]}}, InvalidMandate),  # no privacy notice
    ({"evidence": {**EVIDENCE, "consents": [*EVIDENCE["consents"], "sell_my_data"]}}, InvalidMandate),
    ({"evidence": {**EVIDENCE, "consents": []}}, InvalidMandate),
    ({"evidence": {**EVIDENCE, "ip": "not an ip"}}, InvalidMandate),
    ({"evidence": {**EVIDENCE, "user_agent": "x" * 2000}}, InvalidMandate),
    ({"evidence": {"ip": "192.0.2.1"}}, InvalidMandate),
    ({"evidence": {**EVIDENCE, "extra": 1}}, InvalidMandate),
    ({"evidence": "192.0.2.1"}, InvalidMandate),
    ({"text": "   "}, InvalidMandate),
    ({"template_version": ""}, InvalidMandate),
    ({"signer_name": "  "}, InvalidMandate),
    ({"signer_name": "Jan\nJansen"}, InvalidMandate),
])
def test_a_malformed_mandate_is_refused_and_leaves_no_trace(c, sender, change, error):
    pid = enrol(c, sender, 1)
    before = c.verify_audit_log().entries
    with pytest.raises(error):
        sign(c, pid, **change)
    assert issubclass(error, ValueError)
    assert c.mandates(pid) == [] and c.verify_audit_log().entries == before


def test_the_documented_sets():
    assert set(SCOPE_CONSENTS) == set(SCOPES) and set(SCOPE_CONSENTS.values()) < set(CONSENTS)
    assert {"gdpr_access_art15", "dpa_complaint"} <= set(SCOPES)
    assert {"authorise_access_request", "authorise_dpa_complaint", "privacy_notice_read"} <= set(CONSENTS)
    assert set(CONTROLLERS) == {"meta", "zoom", "palantir", "tiktok"}
    assert all(c.legal_name and c.request_address and c.postal_address for c in CONTROLLERS.values())


def test_a_campaign_may_have_its_own_registry(tmp_path, sender, tmp_store):
    acme = Controller("acme", "Acme B.V.", "privacy@acme.example", "Straat 1, 1000 AA Amsterdam", "NL")
    with new_campaign(tmp_store("c"), sender, controllers={**CONTROLLERS, "acme": acme}) as c:
        assert sign(c, enrol(c, sender, 1), controller="acme").controller == "acme"
    for bad in ({}, {"x": acme}, {"acme": "not a controller"}):
        with pytest.raises(ValueError):
            new_campaign(tmp_store("d"), sender, controllers=bad)
    with pytest.raises(ValueError):
        Controller("Bad Key", "n", "r", "p", "NL")


# ---- nothing personal in clear --------------------------------------------------------------------------

def test_the_store_holds_no_name_ip_user_agent_text_or_number_in_clear(tmp_path, sender, caplog, tmp_store):
    path = tmp_store("c")
    ips = ["203.0.113.77", "2001:db8:77::1"]
    caplog.set_level(logging.DEBUG, logger="breachindex")
    with new_campaign(path, sender) as c:
        for i in range(4):
            pid = enrol(c, sender, i, confirmed_name=f"{NAME} {i}")
            m = sign(c, pid, evidence={**EVIDENCE, "ip": ips[i % 2]}, signer_name=None if i % 2 else NAME)
            if i == 3:
                c.revoke_mandate(m.id, reason=f"verhuisd, groet {NAME}", now=T0 + 9 * S)
        blobs = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("c.db")}
    blobs.update({"closed " + p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("c.db")})
    needles = [NAME, "Jan de Vries", "Vries", UA, "Firefox/128", TEXT, "machtig", *ips, "2001:db8:77",
               *(number(i) for i in range(4)), *(number(i)[1:] for i in range(4)), "verhuisd"]
    for name, blob in blobs.items():
        for needle in needles:
            assert needle.encode("utf-8") not in blob, (name, needle)
    assert any(needle.encode() in (NAME + number(0)).encode() for needle in needles)  # the check can fail
    for record in caplog.records:
        message = record.getMessage()
        assert NAME not in message and "Vries" not in message and "203.0" not in message


# ---- the upgrade from version 1 ---------------------------------------------------------------------------

def test_a_version_1_store_is_migrated_and_keeps_its_data(tmp_path, sender, tmp_store):
    path = tmp_store("c")
    # a store as the previous release left it (schema 1): a verified participant with an approved ID check
    store = open_store(path, migrations=MIGRATIONS[:1])
    keys = CampaignKeys(KEY)
    pid = keys.participant_id(number(1))
    with store.transaction() as db:
        db.execute("INSERT INTO campaign_settings (name, value) VALUES ('key_fingerprint', ?)", (keys.fingerprint,))
        db.execute("INSERT INTO participants (id, created_us, verified_us, phone_sealed) VALUES (?, ?, ?, ?)",
                   (pid, to_us(T0), to_us(T0 + S), keys.seal_phone(pid, number(1))))
        db.execute("INSERT INTO identity_checks (participant, provider, reference, status, checked_us) "
                   "VALUES (?, 'idv', 'old', 'approved', ?)", (pid, to_us(T0 + 2 * S)))
    assert store.schema_version == 1
    store.close()
    with new_campaign(path, sender) as c:
        assert c.schema_version == len(MIGRATIONS) >= 4
        assert c.identity_status(pid).reference == "old" and c.phone_of(pid) == number(1)  # type: ignore[union-attr]
        m = sign(c, pid)
        assert m.identity_reference == "old" and m.verified_at == T0 + S
        assert [e.kind for e in c.audit_entries()] == ["mandate_signed"]  # the log starts at the upgrade
        assert c.verify_audit_log().consistent


# ---- a crash while signing ----------------------------------------------------------------------------------

def _signing_worker(db: str, secret: bytes, participants: list[str], ids_file: str) -> None:
    """Sign a mandate for each participant; after each one returns, append its id to ids_file (fsynced)."""
    fd = os.open(ids_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with Campaign(db, secret=secret, sender=RecordingSender(), checkpoint_interval=timedelta(milliseconds=5),
                  templates=TEMPLATES) as c:
        for i, pid in enumerate(participants):
            mandate = sign(c, pid, signer_name=f"Signer {i}", now=T0 + timedelta(minutes=1, milliseconds=i))
            os.write(fd, (mandate.id + "\n").encode("ascii"))
            os.fsync(fd)
    os.close(fd)


def test_a_process_killed_while_signing_loses_no_committed_mandate(tmp_path, sender, tmp_store):
    path, ids_file = tmp_store("c"), tmp_path / "ids.txt"
    with new_campaign(path, sender) as c:
        participants = [enrol(c, sender, i) for i in range(400)]
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_signing_worker, args=(str(path), KEY._secret, participants, str(ids_file)))
    child.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.is_alive():
            if ids_file.exists() and ids_file.read_bytes().count(b"\n") >= 25:
                break
            time.sleep(0.002)
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.join(30)
    assert child.exitcode == -signal.SIGKILL, "the child finished before it could be killed"
    returned = ids_file.read_text().split()
    with new_campaign(path, sender) as c:
        stored = {m.id for pid in participants for m in c.mandates(pid)}
        assert set(returned) <= stored  # every mandate sign_mandate returned is committed
        assert len(stored) - len(returned) in (0, 1)  # at most the one committed as the child died
        assert len(stored) < len(participants)
        report = c.verify_audit_log()
        assert report.consistent, report
        assert report.entries == 2 * len(participants) + len(stored)
        assert all(c.mandate_evidence(mandate_id).intact for mandate_id in returned[-5:])
        if is_sqlite(c):
            assert sql(c, "PRAGMA integrity_check").fetchone()[0] == "ok"


# ---- the new errors ---------------------------------------------------------------------------------------

def test_the_new_errors_are_in_the_tree_and_survive_pickling():
    import pickle
    from datetime import date

    import breachindex
    from breachindex import errors

    samples = [
        errors.UnknownController("unknown controller"), errors.InvalidMandate("bad scopes"),
        errors.MandateRefused("not_verified", "verify first"), errors.UnknownMandate("no such mandate"),
        errors.UnknownRequest("no such request"), errors.IllegalTransition("sent", "draft"),
        errors.ExtensionTooLate("sent", date(2021, 3, 1)), errors.BatchError("empty", "nothing to export"),
    ]
    for error in samples:
        assert isinstance(error, errors.CampaignError) and type(error).__name__ in errors.__all__
        assert type(error).__name__ in breachindex.__all__
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        assert getattr(copy, "reason", None) == getattr(error, "reason", None)
    assert isinstance(samples[6], errors.IllegalTransition) and samples[6].reason == "extension_too_late"
    assert "2021-03-01" in str(samples[6]) and samples[6].to_state == "extended"
    assert isinstance(samples[0], ValueError) and isinstance(samples[3], LookupError)
