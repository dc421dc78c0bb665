"""The campaign workflow: prove it is you, the ID-verification gate, and a check that leaks
nothing extra.

::

    from . import Campaign, ConsoleSender

    with Campaign("campaign.db", secret=key, sender=ConsoleSender()) as campaign:
        challenge = campaign.start_verification("06 12345678", region="NL", ip=request_ip)
        verification = campaign.confirm_verification(challenge.id, typed_code, ip=request_ip)
        result = campaign.check(index, "06 12345678", region="NL",
                                participant=verification.participant)

Then the mandate and the collective request::

    mandate = campaign.sign_mandate(verification.participant, controller="meta",
                                    scopes=["gdpr_access_art15"], template_version="2025-01",
                                    text=mandate_text, evidence={"ip": request_ip, "user_agent": ua,
                                    "consents": ["privacy_notice_read", "authorise_access_request"]})
    batch = campaign.prepare_batch("meta", filing_date=date(2025, 3, 3))
    campaign.export_batch(batch, "exports/meta-2025-03-03")
    assert campaign.verify_audit_log().consistent   # .ok needs a head kept elsewhere: see audit

Modules, one job each: ``campaign`` (the ``Campaign`` facade), ``store`` (SQLite, schema,
migrations), ``otp`` (code rules and lifecycle), ``limits`` (SMS-pumping defences),
``sms`` (senders), ``identity`` (ID checks and the webhook), ``check`` (the two views),
``pseudonyms`` (keyed hashes and sealed numbers), ``clock`` (time), ``controllers`` (the
registry), ``mandates`` (signing, evidence, revocation), ``sealing`` (evidence sealed and
MACed), ``audit`` (the hash-chained log), ``merkle`` (RFC 6962), ``treehead`` (Ed25519-signed
tree heads), ``checkpoints`` (heads to keep elsewhere: C2SP checkpoint notes), ``requests``
(the state machine and due dates), ``calendars`` (whose holidays count, frozen per request),
``batches`` (prepare, export).
"""
from __future__ import annotations

from .audit import KINDS as AUDIT_KINDS
from .audit import AuditEntry, AuditReport, ConsistencyProof, InclusionProof, verify_entry
from .batches import CSV_COLUMNS, Batch, Export
from .calendars import PER_CONTROLLER, FrozenCalendar
from .campaign import Campaign
from .check import CheckPolicy, CheckResult
from .checkpoints import NoteError, SignedCheckpoint, open_checkpoint, parse_checkpoint
from .controllers import CONTROLLERS, Controller
from .identity import IDENTITY_STATUSES, WEBHOOK_TOLERANCE, IdentityCheck, sign_webhook, verify_webhook
from .limits import EEA_CALLING_CODES, EEA_REGIONS, EU_OUTERMOST_CALLING_CODES, SMS_NUMBER_TYPES, Limits
from .mandates import CONSENTS, SCOPE_CONSENTS, SCOPES, Evidence, Mandate, MandateEvidence
from .otp import Challenge, CodeRules, Verification
from .requests import REQUEST_STATES, TRANSITIONS, RequestEvent, RequestRecord
from .sms import DEFAULT_MESSAGE, ConsoleSender, RecordingSender, SentMessage, SmsSender
from .store import MIGRATIONS, Migration
from .treehead import TreeHead

__all__ = [
    "AUDIT_KINDS",
    "AuditEntry",
    "AuditReport",
    "Batch",
    "CONSENTS",
    "CONTROLLERS",
    "CSV_COLUMNS",
    "FrozenCalendar",
    "PER_CONTROLLER",
    "Campaign",
    "Challenge",
    "CheckPolicy",
    "CheckResult",
    "CodeRules",
    "ConsistencyProof",
    "ConsoleSender",
    "Controller",
    "DEFAULT_MESSAGE",
    "EEA_CALLING_CODES",
    "EEA_REGIONS",
    "EU_OUTERMOST_CALLING_CODES",
    "Evidence",
    "Export",
    "IDENTITY_STATUSES",
    "IdentityCheck",
    "InclusionProof",
    "Limits",
    "MIGRATIONS",
    "Mandate",
    "MandateEvidence",
    "Migration",
    "NoteError",
    "REQUEST_STATES",
    "RecordingSender",
    "RequestEvent",
    "RequestRecord",
    "SCOPES",
    "SCOPE_CONSENTS",
    "SMS_NUMBER_TYPES",
    "SentMessage",
    "SignedCheckpoint",
    "SmsSender",
    "TRANSITIONS",
    "TreeHead",
    "Verification",
    "WEBHOOK_TOLERANCE",
    "open_checkpoint",
    "parse_checkpoint",
    "sign_webhook",
    "verify_entry",
    "verify_webhook",
]
