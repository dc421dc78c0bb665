"""The ID-verification gate: recorded outcomes (never the document) and the provider's signed
webhook: a valid signature is believed; an altered body, another secret, a stale or future
timestamp, a malformed header or body, an unknown status or participant are not.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from breachindex import InvalidKey, Key
from breachindex.campaign import IDENTITY_STATUSES, Campaign, RecordingSender, sign_webhook
from breachindex.errors import UnknownParticipant, WebhookRejected

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
    n = campaign._store.conn.execute("SELECT COUNT(*) FROM identity_checks").fetchone()[0]
    assert n == 1


def test_only_provider_reference_status_and_time_are_stored(campaign):
    columns = [r[1] for r in campaign._store.conn.execute("PRAGMA table_info(identity_checks)")]
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
    assert campaign._store.conn.execute("SELECT COUNT(*) FROM identity_checks").fetchone()[0] == 1


def test_a_weak_webhook_secret_is_refused(campaign, participant):
    with pytest.raises(InvalidKey):
        campaign.handle_identity_webhook(b"{}", "t=1,v1=00", secret=b"short", now=T0)
    with pytest.raises(TypeError):
        campaign.handle_identity_webhook("text body", "t=1,v1=00", secret=HOOK_SECRET, now=T0)  # type: ignore[arg-type]
