"""The campaign workflow: prove it is you, the ID-verification gate, and a check that leaks
nothing extra.

::

    from breachindex.campaign import Campaign, ConsoleSender

    with Campaign("campaign.db", secret=key, sender=ConsoleSender()) as campaign:
        challenge = campaign.start_verification("06 12345678", region="NL", ip=request_ip)
        verification = campaign.confirm_verification(challenge.id, typed_code, ip=request_ip)
        result = campaign.check(index, "06 12345678", region="NL",
                                participant=verification.participant)

Modules, one job each: ``campaign`` (the ``Campaign`` facade), ``store`` (SQLite, schema,
migrations), ``otp`` (code rules and lifecycle), ``limits`` (SMS-pumping defences),
``sms`` (senders), ``identity`` (ID checks and the webhook), ``check`` (the two views),
``pseudonyms`` (keyed hashes and sealed numbers), ``clock`` (time).
"""
from __future__ import annotations

from .campaign import Campaign
from .check import CheckPolicy, CheckResult
from .identity import IDENTITY_STATUSES, WEBHOOK_TOLERANCE, IdentityCheck, sign_webhook, verify_webhook
from .limits import EEA_CALLING_CODES, EEA_REGIONS, EU_OUTERMOST_CALLING_CODES, SMS_NUMBER_TYPES, Limits
from .otp import Challenge, CodeRules, Verification
from .sms import DEFAULT_MESSAGE, ConsoleSender, RecordingSender, SentMessage, SmsSender
from .store import MIGRATIONS, Migration

__all__ = [
    "Campaign",
    "Challenge",
    "CheckPolicy",
    "CheckResult",
    "CodeRules",
    "ConsoleSender",
    "DEFAULT_MESSAGE",
    "EEA_CALLING_CODES",
    "EEA_REGIONS",
    "EU_OUTERMOST_CALLING_CODES",
    "IDENTITY_STATUSES",
    "IdentityCheck",
    "Limits",
    "MIGRATIONS",
    "Migration",
    "RecordingSender",
    "SMS_NUMBER_TYPES",
    "SentMessage",
    "SmsSender",
    "Verification",
    "WEBHOOK_TOLERANCE",
    "sign_webhook",
    "verify_webhook",
]
