"""ID-check outcomes over time (issue 14): the latest outcome by time counts, every change of
status of a case is stored (needs_review, approved, needs_review again), a replay stores
nothing, and a webhook counts as of its signed timestamp, so deliveries out of order end in the
provider's latest outcome. And migration 4, which drops the UNIQUE constraint that used to drop
a status seen before: rows, ids and foreign keys survive it.
"""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from breachindex import Key
from breachindex.campaign import MIGRATIONS, Campaign, Migration, RecordingSender, sign_webhook
from breachindex.campaign.clock import to_us
from breachindex.campaign.identity import latest_identity_check
from breachindex.campaign.mandates import iso
from breachindex.campaign.store import Store
from breachindex.errors import CampaignStoreError, WebhookRejected

KEY = Key.generate()
HOOK_SECRET = b"provider webhook secret 0123456789"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
S = timedelta(seconds=1)
NL = phonenumbers.format_number(phonenumbers.example_number_for_type("NL", PhoneNumberType.MOBILE),
                                phonenumbers.PhoneNumberFormat.E164)


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def campaign(tmp_path, sender):
    with Campaign(tmp_path / "c.db", secret=KEY, sender=sender) as c:
        yield c


@pytest.fixture
def participant(campaign, sender) -> str:
    ch = campaign.start_verification(NL, now=T0)
    return campaign.confirm_verification(ch.id, sender.last_code(), now=T0 + S).participant


def rows(campaign: Campaign) -> list[tuple[str, int]]:
    return [(str(r[0]), int(r[1])) for r in campaign._store.conn.execute(
        "SELECT status, checked_us FROM identity_checks ORDER BY id")]


def recorded(campaign: Campaign, participant: str) -> list[str]:
    """The statuses of the audit log's identity_check_recorded entries, in order."""
    return [e.payload["status"] for e in campaign.audit_entries(participant=participant)
            if e.kind == "identity_check_recorded"]


def hook(campaign: Campaign, participant: str, status: str, signed: datetime, arrives: datetime,
         reference: str = "case-1"):  # type: ignore[no-untyped-def]
    raw = json.dumps({"participant": participant, "provider": "idcheck", "reference": reference,
                      "status": status}).encode()
    header = sign_webhook(raw, HOOK_SECRET, int(signed.timestamp()))
    return campaign.handle_identity_webhook(raw, header, secret=HOOK_SECRET, now=arrives)


# ---- recorded directly -----------------------------------------------------------------------------

def test_a_status_seen_before_counts_again_when_it_is_the_latest(campaign, participant):
    for i, status in enumerate(["needs_review", "approved", "needs_review"], start=1):
        campaign.record_identity_check(participant, provider="idcheck", reference="case-1", status=status,
                                       now=T0 + i * S)
    latest = campaign.identity_status(participant)
    assert latest is not None and (latest.status, latest.checked_at) == ("needs_review", T0 + 3 * S)
    assert [s for s, _ in rows(campaign)] == ["needs_review", "approved", "needs_review"]
    assert recorded(campaign, participant) == ["needs_review", "approved", "needs_review"]  # one entry each


def test_repeating_the_latest_outcome_stores_and_logs_nothing(campaign, participant):
    first = campaign.record_identity_check(participant, provider="p", reference="r", status="approved", now=T0)
    again = campaign.record_identity_check(participant, provider="p", reference="r", status="approved",
                                           now=T0 + 60 * S)
    assert again == first and again.checked_at == T0
    assert len(rows(campaign)) == 1 and recorded(campaign, participant) == ["approved"]


def test_an_outcome_with_an_earlier_time_does_not_replace_the_latest(campaign, participant):
    campaign.record_identity_check(participant, provider="p", reference="r", status="approved", now=T0 + 10 * S)
    late = campaign.record_identity_check(participant, provider="p", reference="r", status="declined",
                                          now=T0 + 11 * S, checked_at=T0 + 5 * S)
    assert late.checked_at == T0 + 5 * S
    assert campaign.identity_status(participant).status == "approved"  # type: ignore[union-attr]
    assert recorded(campaign, participant) == ["approved", "declined"]
    # the audit entry is made when the outcome is recorded and names the outcome's own time
    entry = [e for e in campaign.audit_entries(participant=participant) if e.kind == "identity_check_recorded"][-1]
    assert entry.at == T0 + 11 * S and entry.payload["checked_at"] == iso(to_us(T0 + 5 * S))


def test_a_repeat_is_judged_within_its_own_case(campaign, participant):
    campaign.record_identity_check(participant, provider="p", reference="a", status="approved", now=T0)
    campaign.record_identity_check(participant, provider="p", reference="b", status="declined", now=T0 + S)
    # case a's latest outcome again: a replay, even though case b came in between
    campaign.record_identity_check(participant, provider="p", reference="a", status="approved", now=T0 + 2 * S)
    assert rows(campaign) == [("approved", to_us(T0)), ("declined", to_us(T0 + S))]
    assert campaign.identity_status(participant).reference == "b"  # type: ignore[union-attr]
    # the same status in another case is a new outcome
    campaign.record_identity_check(participant, provider="p", reference="c", status="declined", now=T0 + 3 * S)
    assert rows(campaign)[-1] == ("declined", to_us(T0 + 3 * S))
    assert campaign.identity_status(participant).reference == "c"  # type: ignore[union-attr]


# ---- through the webhook ----------------------------------------------------------------------------

def test_webhooks_in_order_end_in_the_last_outcome_and_replays_are_no_ops(campaign, participant):
    signed = [T0 + 10 * S, T0 + 20 * S, T0 + 30 * S]
    statuses = ["needs_review", "approved", "needs_review"]
    for status, at in zip(statuses, signed, strict=True):
        check = hook(campaign, participant, status, at, at + S)
        assert (check.status, check.checked_at) == (status, at)  # as of the signed timestamp
    assert campaign.identity_status(participant).status == "needs_review"  # type: ignore[union-attr]
    for status, at in zip(statuses, signed, strict=True):  # every one replayed within the window
        hook(campaign, participant, status, at, T0 + 60 * S)
    assert [s for s, _ in rows(campaign)] == statuses
    assert recorded(campaign, participant) == statuses
    assert campaign.identity_status(participant).status == "needs_review"  # type: ignore[union-attr]


def test_a_later_outcome_delivered_first_stays_the_latest(campaign, participant):
    t1, t2 = T0 + 10 * S, T0 + 20 * S
    hook(campaign, participant, "approved", t2, t2 + S)           # signed later, delivered first
    late = hook(campaign, participant, "needs_review", t1, t2 + 2 * S)  # signed earlier, delivered late
    assert late.checked_at == t1
    latest = campaign.identity_status(participant)
    assert latest is not None and (latest.status, latest.checked_at) == ("approved", t2)
    hook(campaign, participant, "needs_review", t1, t2 + 3 * S)  # its replay: nothing new
    assert sorted(rows(campaign), key=lambda r: r[1]) == [("needs_review", to_us(t1)), ("approved", to_us(t2))]
    assert campaign.identity_status(participant).status == "approved"  # type: ignore[union-attr]


# ---- migration 4 -------------------------------------------------------------------------------------

def _version_3_store(path: Path) -> dict[str, list[tuple]]:
    """A store as release 3 left it, with ID checks (ids with gaps, a sealed name) and a mandate,
    its scope and a request that refer to them; returns every table's rows."""
    store = Store(path, migrations=MIGRATIONS[:3])
    with store.transaction() as db:
        for pid in ("p1", "p2"):
            db.execute("INSERT INTO participants (id, created_us, verified_us) VALUES (?, 1, 2)", (pid,))
        db.executemany(
            "INSERT INTO identity_checks (id, participant, provider, reference, status, checked_us, name_sealed) "
            "VALUES (?, ?, 'idv', ?, ?, ?, ?)",
            [(3, "p1", "case-1", "needs_review", 10, None), (8, "p1", "case-1", "approved", 20, b"\x01sealed"),
             (20, "p2", "case-9", "declined", 30, None)])
        db.execute("INSERT INTO mandate_texts (sha256, text_sealed) VALUES ('ab', x'00')")
        db.execute(
            "INSERT INTO mandates (id, participant, controller, template_version, text_sha256, signed_us, ends_us, "
            "signer_name_sealed, name_source, ip_sealed, ip_lookup, user_agent_sealed, consents, verified_us, "
            "identity_check, evidence_mac, log_seq, log_hash) VALUES ('m1', 'p1', 'meta', 'v1', 'ab', 30, 40, "
            "x'01', 'identity_check', x'02', 'lookup', x'03', 'privacy_notice_read', 2, 8, 'mac', 1, x'04')")
        db.execute("INSERT INTO mandate_scopes (mandate, scope) VALUES ('m1', 'access')")
        db.execute("INSERT INTO batches (id, controller, scope, filing_date, created_us) "
                   "VALUES ('b1', 'meta', 'access', '2024-05-01', 50)")
        db.execute("INSERT INTO requests (id, batch, participant, mandate, controller, scope, state, created_us, "
                   "updated_us) VALUES ('r1', 'b1', 'p1', 'm1', 'meta', 'access', 'draft', 50, 50)")
    assert store.schema_version == 3
    tables = [r[0] for r in store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'schema_version' ORDER BY name")]
    before = {t: store.conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
    store.close()
    return before


def test_migration_4_keeps_every_row_id_and_foreign_key(tmp_path):
    path = tmp_path / "c.db"
    before = _version_3_store(path)
    store = Store(path, migrations=MIGRATIONS[:4])
    try:
        conn = store.conn
        assert store.schema_version == 4
        after = {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in before}
        assert after == before
        assert [r[0] for r in conn.execute("SELECT id FROM identity_checks ORDER BY id")] == [3, 8, 20]
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1  # switched on again
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        columns = [r[1] for r in conn.execute("PRAGMA table_info(identity_checks)")]
        assert columns == ["id", "participant", "provider", "reference", "status", "checked_us", "name_sealed"]
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(identity_checks)")}
        assert indexes == {"identity_checks_by_participant"}  # and no UNIQUE autoindex any more
        assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'identity_checks_new'").fetchone()[0] == 0
        mandate_refs = {(r[2], r[3], r[4]) for r in conn.execute("PRAGMA foreign_key_list(mandates)")}
        assert ("identity_checks", "identity_check", "id") in mandate_refs
        check = latest_identity_check(conn, "p1")
        assert check is not None and check.status == "approved"
        # what the constraint refused before: a status seen before in the same case
        conn.execute("INSERT INTO identity_checks (participant, provider, reference, status, checked_us) "
                     "VALUES ('p1', 'idv', 'case-1', 'needs_review', 25)")
        check = latest_identity_check(conn, "p1")
        assert check is not None and check.status == "needs_review"
        # the foreign keys still hold, both ways
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("DELETE FROM identity_checks WHERE id = 8")  # a mandate refers to it
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO identity_checks (participant, provider, reference, status, checked_us) "
                         "VALUES ('nobody', 'idv', 'x', 'approved', 1)")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE mandates SET identity_check = 999 WHERE id = 'm1'")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO identity_checks (participant, provider, reference, status, checked_us) "
                         "VALUES ('p2', 'idv', 'x', 'pending', 1)")  # the CHECK on the status is kept
        conn.execute("DELETE FROM participants WHERE id = 'p2'")  # ON DELETE CASCADE is kept
        assert conn.execute("SELECT COUNT(*) FROM identity_checks WHERE participant = 'p2'").fetchone()[0] == 0
    finally:
        store.close()
    Store(path).close()  # and the released code opens it (any later migration applies on top)


def test_a_migration_with_foreign_keys_off_that_breaks_one_is_rolled_back(tmp_path):
    path = tmp_path / "c.db"
    before = _version_3_store(path)
    breaking = (*MIGRATIONS[:3], Migration(4, "breaks a foreign key (test)", (
        "DELETE FROM identity_checks WHERE id = 8",), foreign_keys_off=True))
    with pytest.raises(CampaignStoreError, match="foreign key"):
        Store(path, migrations=breaking)
    store = Store(path, migrations=MIGRATIONS[:3])
    try:
        assert store.schema_version == 3
        kept = store.conn.execute("SELECT * FROM identity_checks ORDER BY rowid").fetchall()
        assert kept == before["identity_checks"]
        assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        store.close()


def test_a_fresh_store_reaches_migration_4_one_transaction_at_a_time(tmp_path):
    store = Store(tmp_path / "c.db")
    try:
        assert store.schema_version == len(MIGRATIONS) >= 4
        assert [r[0] for r in store.conn.execute("SELECT version FROM schema_version ORDER BY version")] == \
            list(range(1, len(MIGRATIONS) + 1))
        assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        store.close()


def test_a_signed_body_nested_absurdly_deep_is_refused_not_a_crash(campaign, participant):
    raw = b"[" * 30_000 + b"]" * 30_000
    header = sign_webhook(raw, HOOK_SECRET, int(T0.timestamp()))
    with pytest.raises(WebhookRejected) as info:
        campaign.handle_identity_webhook(raw, header, secret=HOOK_SECRET, now=T0)
    assert info.value.reason == "malformed_body"
