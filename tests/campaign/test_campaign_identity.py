"""The ID-verification gate: recorded outcomes (never the document) and the provider's signed
webhook: a valid signature is believed; an altered body, another secret, a stale or future
timestamp, a malformed header or body, an unknown status or participant are not.

Outcomes over time (issue 14): the latest outcome by time counts, every change of status of a
case is stored (needs_review, approved, needs_review again), a replay stores nothing, and a
webhook counts as of its signed timestamp, so deliveries out of order end in the provider's
latest outcome. And migration 4, which drops the UNIQUE constraint that used to drop a status
seen before: rows, ids and foreign keys survive it.
"""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers.campaign import S, example, is_sqlite, sql

from breachindex import InvalidKey, Key
from breachindex.campaign import IDENTITY_STATUSES, MIGRATIONS, Campaign, Migration, sign_webhook
from breachindex.campaign.clock import to_us
from breachindex.campaign.identity import latest_identity_check
from breachindex.campaign.mandates import iso
from breachindex.campaign.store import Store
from breachindex.errors import CampaignStoreError, UnknownParticipant, WebhookRejected

KEY = Key.generate()
HOOK_SECRET = b"provider webhook secret 0123456789"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
NL = example("NL")


@pytest.fixture
def campaign(tmp_path, sender, tmp_store):
    with Campaign(tmp_store("c"), secret=KEY, sender=sender) as c:
        yield c


@pytest.fixture
def participant(campaign, sender) -> str:
    ch = campaign.start_verification(NL, now=T0)
    return campaign.confirm_verification(ch.id, sender.last_code(), now=T0 + S).participant


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


def body(participant: str, status: str = "approved", reference: str = "case-1", provider: str = "idcheck") -> bytes:
    return json.dumps({"participant": participant, "provider": provider, "reference": reference,
                       "status": status}).encode()


# ---- recording outcomes --------------------------------------------------------------------------

def test_record_and_read_the_latest_outcome(campaign, participant):
    assert campaign.identity_status(participant) is None
    first = campaign.record_identity_check(participant, provider="idcheck", reference="case-1",
                                           status="needs_review", now=T0 + 1 * S)
    assert (first.participant, first.provider, first.reference, first.status, first.checked_at) == (
        participant, "idcheck", "case-1", "needs_review", T0 + S)
    campaign.record_identity_check(participant, provider="idcheck", reference="case-1", status="approved",
                                   now=T0 + 2 * S)
    latest = campaign.identity_status(participant)
    assert latest is not None and latest.status == "approved" and latest.checked_at == T0 + 2 * S


@pytest.mark.parametrize("status", sorted(IDENTITY_STATUSES))
def test_every_status_is_accepted(campaign, participant, status):
    assert campaign.record_identity_check(participant, provider="p", reference="r", status=status,
                                          now=T0).status == status


def test_statuses_are_exactly_four():
    assert sorted(IDENTITY_STATUSES) == ["approved", "declined", "error", "needs_review"]


@pytest.mark.parametrize("status", ["APPROVED", "ok", "", "pending"])
def test_unknown_status_is_refused(campaign, participant, status):
    with pytest.raises(ValueError):
        campaign.record_identity_check(participant, provider="p", reference="r", status=status, now=T0)


@pytest.mark.parametrize("field", ["provider", "reference"])
@pytest.mark.parametrize("value", ["", "x" * 201, "a\nb", 5])
def test_provider_and_reference_must_be_short_printable_text(campaign, participant, field, value):
    fields = {"provider": "p", "reference": "r", field: value}
    with pytest.raises(ValueError):
        campaign.record_identity_check(participant, status="approved", now=T0, **fields)  # type: ignore[arg-type]


def test_unknown_participant(campaign):
    with pytest.raises(UnknownParticipant):
        campaign.record_identity_check("0" * 32, provider="p", reference="r", status="approved", now=T0)
    assert isinstance(UnknownParticipant("x"), LookupError)


def test_the_same_outcome_twice_is_stored_once(campaign, participant):
    a = campaign.record_identity_check(participant, provider="p", reference="r", status="approved", now=T0)
    b = campaign.record_identity_check(participant, provider="p", reference="r", status="approved", now=T0 + S)
    assert a == b and b.checked_at == T0
    n = sql(campaign, "SELECT COUNT(*) FROM identity_checks").fetchone()[0]
    assert n == 1


def test_only_provider_reference_status_and_time_are_stored(campaign):
    columns = [r[1] for r in sql(campaign, "PRAGMA table_info(identity_checks)")] if is_sqlite(campaign) else [
        r[0] for r in sql(campaign, "SELECT column_name FROM information_schema.columns "
                                    "WHERE table_name = 'identity_checks' ORDER BY ordinal_position")]
    # name_sealed (migration 2): the name the provider confirmed, sealed, only if the app passes it
    assert columns == ["id", "participant", "provider", "reference", "status", "checked_us", "name_sealed"]


# ---- the webhook -----------------------------------------------------------------------------------

def test_a_signed_webhook_is_recorded(campaign, participant):
    raw = body(participant)
    check = campaign.handle_identity_webhook(raw, sign_webhook(raw, HOOK_SECRET, unix(T0)), secret=HOOK_SECRET,
                                             now=T0 + 10 * S)
    # the outcome's time is the provider's signed timestamp, not the time it arrived
    assert (check.participant, check.status, check.checked_at) == (participant, "approved", T0)
    assert campaign.identity_status(participant) == check


def test_signature_header_format(participant):
    header = sign_webhook(b"{}", HOOK_SECRET, 1714557600)
    assert header.startswith("t=1714557600,v1=") and len(header.split("v1=")[1]) == 64


def test_an_altered_body_is_refused(campaign, participant):
    raw = body(participant, status="declined")
    header = sign_webhook(raw, HOOK_SECRET, unix(T0))
    altered = raw.replace(b"declined", b"approved")
    with pytest.raises(WebhookRejected) as info:
        campaign.handle_identity_webhook(altered, header, secret=HOOK_SECRET, now=T0)
    assert info.value.reason == "bad_signature"
    with pytest.raises(WebhookRejected):  # one byte more
        campaign.handle_identity_webhook(raw + b" ", header, secret=HOOK_SECRET, now=T0)
    assert campaign.identity_status(participant) is None


def test_another_secret_is_refused(campaign, participant):
    raw = body(participant)
    header = sign_webhook(raw, b"someone else's secret 0123456789", unix(T0))
    with pytest.raises(WebhookRejected) as info:
        campaign.handle_identity_webhook(raw, header, secret=HOOK_SECRET, now=T0)
    assert info.value.reason == "bad_signature"


def test_a_changed_timestamp_breaks_the_signature(campaign, participant):
    raw = body(participant)
    header = sign_webhook(raw, HOOK_SECRET, unix(T0) - 3600).replace(f"t={unix(T0) - 3600}", f"t={unix(T0)}")
    with pytest.raises(WebhookRejected) as info:
        campaign.handle_identity_webhook(raw, header, secret=HOOK_SECRET, now=T0)
    assert info.value.reason == "bad_signature"


@pytest.mark.parametrize("age", [timedelta(minutes=5, seconds=1), timedelta(hours=2), -timedelta(minutes=6)])
def test_a_stale_or_future_timestamp_is_refused(campaign, participant, age):
    raw = body(participant)
    header = sign_webhook(raw, HOOK_SECRET, unix(T0 - age))
    with pytest.raises(WebhookRejected) as info:
        campaign.handle_identity_webhook(raw, header, secret=HOOK_SECRET, now=T0)
    assert info.value.reason == "stale"
    assert campaign.identity_status(participant) is None


def test_five_minutes_old_is_still_accepted(campaign, participant):
    raw = body(participant)
    header = sign_webhook(raw, HOOK_SECRET, unix(T0) - 300)
    assert campaign.handle_identity_webhook(raw, header, secret=HOOK_SECRET, now=T0).status == "approved"


def test_a_rotated_secret_may_sign_beside_the_old_one(campaign, participant):
    raw = body(participant)
    old = sign_webhook(raw, b"the old provider secret 012345678", unix(T0))
    new = sign_webhook(raw, HOOK_SECRET, unix(T0))
    header = old + ",v1=" + new.split("v1=")[1]
    assert campaign.handle_identity_webhook(raw, header, secret=HOOK_SECRET, now=T0).status == "approved"


@pytest.mark.parametrize("header", ["", "garbage", "t=abc,v1=00", "v1=00", "t=1714557600", "t=1,t=2,v1=00",
                                    "t=-5,v1=00"])
def test_malformed_headers(campaign, participant, header):
    with pytest.raises(WebhookRejected) as info:
        campaign.handle_identity_webhook(body(participant), header, secret=HOOK_SECRET, now=T0)
    assert info.value.reason == "malformed_header"


@pytest.mark.parametrize("raw, reason", [
    (b"not json", "malformed_body"),
    (b"[1, 2]", "malformed_body"),
    (b'{"provider": "p", "reference": "r", "status": "approved"}', "malformed_body"),
    (b"\xff\xfe", "malformed_body"),
])
def test_malformed_signed_bodies(campaign, raw, reason):
    with pytest.raises(WebhookRejected) as info:
        campaign.handle_identity_webhook(raw, sign_webhook(raw, HOOK_SECRET, unix(T0)), secret=HOOK_SECRET, now=T0)
    assert info.value.reason == reason


def test_a_signed_unknown_status_is_refused_and_not_recorded(campaign, participant):
    raw = body(participant, status="pending")
    with pytest.raises(WebhookRejected) as info:
        campaign.handle_identity_webhook(raw, sign_webhook(raw, HOOK_SECRET, unix(T0)), secret=HOOK_SECRET, now=T0)
    assert info.value.reason == "unknown_status"
    assert campaign.identity_status(participant) is None


def test_a_signed_unknown_participant_is_refused(campaign):
    raw = body("f" * 32)
    with pytest.raises(WebhookRejected) as info:
        campaign.handle_identity_webhook(raw, sign_webhook(raw, HOOK_SECRET, unix(T0)), secret=HOOK_SECRET, now=T0)
    assert info.value.reason == "unknown_participant"


def test_a_replay_within_the_window_records_once(campaign, participant):
    raw = body(participant)
    header = sign_webhook(raw, HOOK_SECRET, unix(T0))
    a = campaign.handle_identity_webhook(raw, header, secret=HOOK_SECRET, now=T0)
    b = campaign.handle_identity_webhook(raw, header, secret=HOOK_SECRET, now=T0 + 60 * S)
    assert a == b
    assert sql(campaign, "SELECT COUNT(*) FROM identity_checks").fetchone()[0] == 1


def test_a_weak_webhook_secret_is_refused(campaign, participant):
    with pytest.raises(InvalidKey):
        campaign.handle_identity_webhook(b"{}", "t=1,v1=00", secret=b"short", now=T0)
    with pytest.raises(TypeError):
        campaign.handle_identity_webhook("text body", "t=1,v1=00", secret=HOOK_SECRET, now=T0)  # type: ignore[arg-type]


# ---- outcomes over time, and migration 4 ------------------------------------------------------------

def rows(campaign: Campaign) -> list[tuple[str, int]]:
    return [(str(r[0]), int(r[1])) for r in sql(campaign,
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
