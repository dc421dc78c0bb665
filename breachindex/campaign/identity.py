"""The ID-verification gate: outcomes of ID-document checks, and the provider's signed webhook.

An external provider checks the participant's ID document; the campaign keeps only the
outcome: provider, the provider's reference, status and time. The document itself (and any
image or data read from it) is never stored, in line with the EDPB's guidance to delete the
copy once the check is done.

The webhook is believed only if its HMAC-SHA256 signature over the raw body holds. Header
format (as Stripe's)::

    Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

Several ``v1=`` entries may be given (a provider rotating its secret); one matching is enough.
The timestamp must be within ``tolerance`` (5 minutes) of ``now`` either way, so a captured
request cannot be replayed later; within the window a replay is harmless (see below). The body
is JSON::

    {"participant": "<participant id>", "provider": "idcheck-bv", "reference": "case-123",
     "status": "approved" | "declined" | "needs_review" | "error"}

Outcomes are ordered by their time: a webhook's signed timestamp (the provider's time of the
outcome, so deliveries out of order still end in the provider's latest outcome), or the time
an outcome is recorded directly. Every change of status of a case (participant, provider,
reference) is stored, ``needs_review``, ``approved``, ``needs_review`` again included; an
outcome that repeats the case's outcome in force at its time (a replayed webhook, the same
outcome recorded twice) stores nothing. The latest outcome by time counts.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..errors import InvalidKey, UnknownParticipant, WebhookRejected
from .audit import AuditLog
from .clock import MICROSECOND, from_us, iso
from .db import Db
from .sealing import EvidenceKeys

__all__ = [
    "record_outcome",
    "IDENTITY_STATUSES",
    "IdentityCheck",
    "IdentityEvent",
    "WEBHOOK_TOLERANCE",
    "sign_webhook",
    "verify_webhook",
    "check_text",
    "insert_identity_check",
    "latest_identity_check",
]

IDENTITY_STATUSES: frozenset[str] = frozenset({"approved", "declined", "needs_review", "error"})
WEBHOOK_TOLERANCE = timedelta(minutes=5)
_MAX_TEXT = 200
_MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class IdentityCheck:
    """One recorded outcome of an ID-document check (aware UTC ``checked_at``)."""

    participant: str
    provider: str
    reference: str
    status: str
    checked_at: datetime


@dataclass(frozen=True)
class IdentityEvent:
    """What a verified webhook says (not yet recorded); ``signed_us``: its signed timestamp
    (epoch microseconds), the outcome's time."""

    participant: str
    provider: str
    reference: str
    status: str
    signed_us: int | None = None


def check_text(name: str, value: object) -> str:
    """A provider name or reference: a non-empty printable str of at most 200 characters."""
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT or not value.isprintable():
        raise ValueError(f"{name} must be a non-empty printable str of at most {_MAX_TEXT} characters")
    return value


def _check_secret(secret: bytes) -> bytes:
    if not isinstance(secret, (bytes, bytearray)) or len(secret) < 16:
        raise InvalidKey("a webhook secret must be bytes, at least 16 of them")
    return bytes(secret)


def sign_webhook(raw_body: bytes, secret: bytes, timestamp: int) -> str:
    """The signature header a provider sends with ``raw_body`` at ``timestamp`` (unix seconds)."""
    mac = hmac.new(_check_secret(secret), f"{int(timestamp)}.".encode("ascii") + raw_body, hashlib.sha256)
    return f"t={int(timestamp)},v1={mac.hexdigest()}"


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    macs: list[str] = []
    if not isinstance(header, str) or len(header) > 2048:
        raise WebhookRejected("malformed_header", "the signature header is missing or malformed")
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise WebhookRejected("malformed_header", "the signature header is malformed")
        if name == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                raise WebhookRejected("malformed_header", "the signature header's timestamp is malformed")
            timestamp = int(value)
        elif name == "v1":
            macs.append(value)
    if timestamp is None or not macs:
        raise WebhookRejected("malformed_header", "the signature header needs t= and v1=")
    return timestamp, macs


def verify_webhook(raw_body: bytes, signature_header: str, *, secret: bytes, now_us: int,
                   tolerance: timedelta = WEBHOOK_TOLERANCE) -> IdentityEvent:
    """The event of a webhook whose signature and timestamp hold; WebhookRejected otherwise.

    The signature is checked first (with ``hmac.compare_digest``), then the timestamp, then
    the body: nothing in an unsigned body is looked at.
    """
    key = _check_secret(secret)
    if not isinstance(raw_body, (bytes, bytearray)):
        raise TypeError("the webhook body must be the raw bytes received")
    if len(raw_body) > _MAX_BODY:
        raise WebhookRejected("malformed_body", "the webhook body is too large")
    timestamp, macs = _parse_header(signature_header)
    expected = hmac.new(key, f"{timestamp}.".encode("ascii") + bytes(raw_body), hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected.encode("ascii"), mac.strip().lower().encode("utf-8", "replace"))
               for mac in macs):
        raise WebhookRejected("bad_signature", "the webhook signature does not match")
    if abs(now_us - timestamp * 1_000_000) > tolerance // MICROSECOND:
        raise WebhookRejected("stale", "the webhook timestamp is outside the accepted window")
    try:
        body = json.loads(bytes(raw_body).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: absurd nesting
        raise WebhookRejected("malformed_body", "the webhook body is not JSON") from None
    if not isinstance(body, dict):
        raise WebhookRejected("malformed_body", "the webhook body is not a JSON object")
    try:
        participant = check_text("participant", body.get("participant"))
        provider = check_text("provider", body.get("provider"))
        reference = check_text("reference", body.get("reference"))
    except ValueError as exc:
        raise WebhookRejected("malformed_body", f"the webhook body is malformed: {exc}") from None
    status = body.get("status")
    if status not in IDENTITY_STATUSES:
        raise WebhookRejected("unknown_status", "the webhook status is not one of approved, declined, "
                                                "needs_review, error")
    return IdentityEvent(participant, provider, reference, str(status), timestamp * 1_000_000)


def insert_identity_check(conn: Db, event: IdentityEvent,
                          checked_us: int) -> tuple[IdentityCheck, int, bool]:
    """Record an outcome of ``checked_us`` (the participant must exist) unless the case's outcome
    in force at that time (its latest at or before it) has the same status: then nothing is
    stored and that outcome is returned. Returns (the outcome, its row id, whether it was stored)."""
    case = (event.participant, event.provider, event.reference)
    row = conn.execute(
        "SELECT id, status, checked_us FROM identity_checks WHERE participant = ? AND provider = ? AND reference = ? "
        "AND checked_us <= ? ORDER BY checked_us DESC, id DESC LIMIT 1", (*case, checked_us)).fetchone()
    if row is not None and row[1] == event.status:
        return IdentityCheck(*case, event.status, from_us(int(row[2]))), int(row[0]), False
    stored = conn.execute(
        "INSERT INTO identity_checks (participant, provider, reference, status, checked_us) VALUES (?, ?, ?, ?, ?) "
        "RETURNING id", (*case, event.status, checked_us)).fetchall()[0]
    return IdentityCheck(*case, event.status, from_us(checked_us)), int(stored[0]), True


def latest_identity_check(conn: Db, participant: str) -> IdentityCheck | None:
    """The participant's latest recorded outcome (by time, then by order of recording)."""
    row = conn.execute(
        "SELECT provider, reference, status, checked_us FROM identity_checks WHERE participant = ? "
        "ORDER BY checked_us DESC, id DESC LIMIT 1", (participant,)).fetchone()
    if row is None:
        return None
    return IdentityCheck(participant, str(row[0]), str(row[1]), str(row[2]), from_us(int(row[3])))


def record_outcome(db: Db, *, audit: AuditLog, keys: EvidenceKeys, t: int, event: IdentityEvent,
                   checked_us: int, confirmed_name: str | None) -> IdentityCheck:
    """Store an outcome (unless it repeats the one in force at its time), the confirmed name
    sealed, and log it, in the caller's transaction (see ``Campaign.record_identity_check``).
    UnknownParticipant if the participant does not exist."""
    if db.execute("SELECT 1 FROM participants WHERE id = ?", (event.participant,)).fetchone() is None:
        raise UnknownParticipant("no such participant")
    check, check_id, new = insert_identity_check(db, event, checked_us)
    if confirmed_name is not None:
        db.execute("UPDATE identity_checks SET name_sealed = ? WHERE id = ? AND name_sealed IS NULL",
                   (keys.seal("confirmed_name", str(check_id), confirmed_name), check_id))
    if new:
        audit.append(db, "identity_check_recorded", t, participant=event.participant, ref=str(check_id), payload={
            "check": check_id, "provider": event.provider, "reference": event.reference, "status": event.status,
            "checked_at": iso(checked_us), "name_confirmed": confirmed_name is not None})
    return check
