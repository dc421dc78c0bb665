"""The JSON schemas of the API: request bodies (checked by ``validation.validate``) and
answers (published in the OpenAPI document, checked by schemathesis against real answers)."""
from __future__ import annotations

from typing import Any

import phonenumbers

from ..campaign.controllers import CONTROLLERS
from ..campaign.identity import IDENTITY_STATUSES
from ..campaign.mandates import CONSENTS, SCOPES
from ..campaign.requests import REQUEST_STATES
from .errors import ERROR_CODES
from .templates import LANGUAGES

__all__ = [
    "PHONE", "REGION", "ID", "CONTROLLER", "DATE", "TIME", "IP", "TEXT_PATTERN",
    "CHECK_REQUEST", "CHECK_RESPONSE", "PUZZLE", "PUZZLE_REQUEST", "PUZZLE_RESPONSE",
    "START_REQUEST", "START_RESPONSE", "CONFIRM_REQUEST", "CONFIRM_RESPONSE", "SESSION_RESPONSE",
    "END_REQUEST", "ENDED_RESPONSE",
    "WEBHOOK_BODY", "WEBHOOK_RESPONSE",
    "TEMPLATE_RESPONSE", "SIGN_REQUEST", "MANDATE", "MANDATES_RESPONSE", "REVOKE_REQUEST",
    "BATCH_REQUEST", "BATCH", "EXPORT", "REQUEST_RECORD", "REQUESTS_RESPONSE", "OVERDUE_RESPONSE",
    "TRANSITION_REQUEST", "PERSON_REQUEST", "HEALTH_RESPONSE", "READY_RESPONSE", "ERROR",
    "VAULT_ITEM", "VAULT_ITEMS_RESPONSE", "VAULT_STATUS", "PASSPHRASE", "VAULT_SETUP_REQUEST", "RECOVERY_RESPONSE",
    "VAULT_OPEN_REQUEST", "VAULT_PASSPHRASE_REQUEST", "VAULT_RECOVER_REQUEST", "CHANGED_RESPONSE", "ERASE_REQUEST",
    "ERASED_RESPONSE", "NOTIFICATION_PREFERENCES", "NOTIFICATION_CHANGE", "REMINDER_REQUEST", "COMPLAINT_REQUEST",
]

Schema = dict[str, Any]

PHONE: Schema = {"type": "string", "minLength": 1, "maxLength": 64,
                 "description": "a phone number in any usual form: E.164, 00..., national with `region`",
                 "examples": ["+31612340001", "0031612340001", "31612340001"]}
REGION: Schema = {"type": "string", "enum": sorted({*phonenumbers.SUPPORTED_REGIONS, phonenumbers.UNKNOWN_REGION}),
                  "description": "ISO 3166 region for national formats, e.g. NL; ZZ (unknown) is no region"}
ID: Schema = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"}
CONTROLLER: Schema = {"type": "string", "enum": sorted(CONTROLLERS), "description": "a controller of the registry"}
DATE: Schema = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
TIME: Schema = {"type": "string", "format": "date-time"}
IP: Schema = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}],
              "description": "the end user's IP address (service calls only)", "examples": ["203.0.113.7"]}
#: free text a person or an operator types: something besides spaces, no control characters
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s][^\x00-\x1f\x7f]*$"
_NULLABLE_DATE: Schema = {"type": ["string", "null"], "format": "date"}
_NULLABLE_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
_STRINGS: Schema = {"type": "array", "items": {"type": "string"}}


def _object(properties: dict[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False,
            **extra}


PUZZLE: Schema = _object({
    "challenge": {"type": "string", "minLength": 1, "maxLength": 128},
    "solution": {"type": "string", "minLength": 1, "maxLength": 20, "pattern": "^[0-9]+$"},
}, ("challenge", "solution"), description="the page's calls only: a solved puzzle from POST /v1/puzzles")
PUZZLE_REQUEST = _object({"purpose": {"type": "string", "enum": ["check", "verification"]}}, ("purpose",))
PUZZLE_RESPONSE = _object({
    "challenge": {"type": "string"}, "bits": {"type": "integer", "minimum": 0},
    "algorithm": {"type": "string", "enum": ["sha256-leading-zero-bits"]}, "expires_at": TIME,
}, ("challenge", "bits", "algorithm", "expires_at"))

CHECK_REQUEST = _object({
    "phone": PHONE, "region": REGION,
    "participant": {**ID, "description": "service calls only: the participant the calling service verified"},
    "puzzle": PUZZLE,
}, ("phone",))
CHECK_RESPONSE = _object({
    "found": {"type": "boolean"},
    "breaches": _STRINGS,
    "disclosure": {"type": "string", "enum": ["public", "verified"]},
    "data_classes": {"type": ["array", "null"], "items": {"type": "string"}},
    "details": {"type": ["array", "null"], "items": {"type": "object", "properties": {
        "breach": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}}}}},
    "details_withheld": {"type": "boolean",
                         "description": "the leaked values are shown only after an approved ID check"},
}, ("found", "breaches", "disclosure", "data_classes", "details", "details_withheld"))

START_REQUEST = _object({"phone": PHONE, "region": REGION, "ip": IP, "puzzle": PUZZLE}, ("phone",))
START_RESPONSE = _object({"challenge": {"type": "string"}, "expires_at": TIME}, ("challenge", "expires_at"))
CONFIRM_REQUEST = _object({
    "challenge": {"type": "string", "minLength": 1, "maxLength": 64},
    "code": {"type": "string", "minLength": 1, "maxLength": 20},
    "ip": IP,
}, ("challenge", "code"))
CONFIRM_RESPONSE = _object({
    "verified": {"type": "boolean"}, "verified_at": TIME,
    "participant": {"type": "string", "description": "service calls only"},
}, ("verified", "verified_at"))
MANDATE = _object({
    "id": {"type": "string"}, "participant": {"type": "string"}, "controller": {"type": "string"},
    "scopes": _STRINGS, "template_version": {"type": "string"},
    "text_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    "signed_at": TIME, "ends_at": TIME, "revoked_at": _NULLABLE_TIME,
    "status": {"type": "string", "enum": ["active", "revoked", "expired", "not_yet"]},
    "consents": _STRINGS, "name_source": {"type": "string"}, "log_seq": {"type": "integer"},
    "review": {"type": ["string", "null"],
               "description": "why the mandate is held for an operator's review before any filing, else null"},
}, ("id", "controller", "scopes", "template_version", "text_sha256", "signed_at", "ends_at", "revoked_at", "status",
    "consents", "name_source", "log_seq"))
MANDATES_RESPONSE = _object({"mandates": {"type": "array", "items": MANDATE}}, ("mandates",))
VAULT_ITEM = _object({
    "id": {"type": "string"}, "participant": {"type": "string"}, "controller": {"type": "string"},
    "request": {"type": ["string", "null"]}, "partial": {"type": "boolean"}, "received_at": TIME,
    "size": {"type": "integer", "minimum": 0}, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
}, ("id", "controller", "request", "partial", "received_at", "size", "sha256"),
    description="an item the vault holds; `sha256` is that of the encrypted file as stored")
VAULT_ITEMS_RESPONSE = _object({"items": {"type": "array", "items": VAULT_ITEM}}, ("items",))
VAULT_STATUS = _object({
    "available": {"type": "boolean", "description": "false: this server keeps no vault"},
    "set_up": {"type": "boolean"}, "items": {"type": "array", "items": VAULT_ITEM},
}, ("available", "set_up", "items"))
NOTIFICATION_PREFERENCES = _object({
    "email": {"type": ["string", "null"], "maxLength": 320,
              "description": "where e-mail notifications go (null: none); shown only to its owner"},
    "sms": {"type": "boolean", "description": "notifications by SMS to the verified number"},
    "email_allowed": {"type": "boolean"},
    "lang": {"type": "string", "enum": ["nl", "en"]},
}, ("email", "sms", "email_allowed", "lang"))
NOTIFICATION_CHANGE = _object({
    "email": {"type": ["string", "null"], "maxLength": 320}, "sms": {"type": "boolean"},
    "email_allowed": {"type": "boolean"}, "lang": {"type": "string", "enum": ["nl", "en"]},
}, (), minProperties=1)
_REQUEST_IDS: Schema = {"type": "array", "minItems": 1, "maxItems": 200, "uniqueItems": True,  # fits the body limit
                        "items": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"}}
_LETTER_LANG: Schema = {"type": "string", "enum": ["nl", "en"]}
REMINDER_REQUEST = _object({"requests": _REQUEST_IDS, "lang": _LETTER_LANG, "date": DATE,
                            "term_days": {"type": "integer", "minimum": 1, "maximum": 90}}, ("requests",))
COMPLAINT_REQUEST = _object({"requests": _REQUEST_IDS, "lang": _LETTER_LANG, "date": DATE}, ("requests",))
PASSPHRASE: Schema = {"type": "string", "minLength": 1, "maxLength": 1024,
                      "description": "the person's vault passphrase (at least 12 characters when new)"}
VAULT_SETUP_REQUEST = _object({"passphrase": PASSPHRASE}, ("passphrase",))
RECOVERY_RESPONSE = _object({"recovery_code": {"type": "string"}, "notice": {"type": "string"}},
                            ("recovery_code", "notice"))
VAULT_OPEN_REQUEST = _object({"passphrase": PASSPHRASE}, ("passphrase",))
VAULT_PASSPHRASE_REQUEST = _object({"passphrase": PASSPHRASE, "new_passphrase": PASSPHRASE},
                                   ("passphrase", "new_passphrase"))
VAULT_RECOVER_REQUEST = _object({"recovery_code": {"type": "string", "minLength": 1, "maxLength": 128},
                                 "new_passphrase": PASSPHRASE}, ("recovery_code", "new_passphrase"))
CHANGED_RESPONSE = _object({"changed": {"type": "boolean"}}, ("changed",))
ERASE_REQUEST = _object({"confirm": {"type": "string", "enum": ["erase everything"]}}, ("confirm",))
ERASED_RESPONSE = _object({
    "erased_at": TIME, "key_destroyed": {"type": "boolean"}, "items": {"type": "integer"},
    "mandates_revoked": {"type": "integer"}, "requests_cancelled": {"type": "integer"},
}, ("erased_at", "key_destroyed", "items", "mandates_revoked", "requests_cancelled"))
#: ending the session takes an empty JSON object: a JSON body, so a cross-site form cannot send it
END_REQUEST = _object({})
ENDED_RESPONSE = _object({"ended": {"type": "boolean"}}, ("ended",))

WEBHOOK_BODY = _object({
    "participant": {"type": "string"}, "provider": {"type": "string"}, "reference": {"type": "string"},
    "status": {"type": "string", "enum": sorted(IDENTITY_STATUSES)},
}, ("participant", "provider", "reference", "status"))
WEBHOOK_RESPONSE = _object({"recorded": {"type": "boolean"}, "status": {"type": "string"}}, ("recorded", "status"))

TEMPLATE_RESPONSE = _object({
    "controller": {"type": "string"}, "controller_name": {"type": "string"},
    "template_version": {"type": "string"}, "lang": {"type": "string", "enum": list(LANGUAGES)},
    "text": {"type": "string"}, "text_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    "scopes": _STRINGS,
    "consents": {"type": "array", "items": _object({"name": {"type": "string"}, "label": {"type": "string"}},
                                                   ("name", "label"))},
}, ("controller", "controller_name", "template_version", "lang", "text", "text_sha256", "scopes", "consents"))
SIGN_REQUEST = _object({
    "controller": CONTROLLER,
    "template_version": {"type": "string", "minLength": 1, "maxLength": 64},
    "lang": {"type": "string", "enum": list(LANGUAGES)},
    "scopes": {"type": "array", "items": {"type": "string", "enum": list(SCOPES)}, "minItems": 1, "maxItems": 5,
               "uniqueItems": True},
    "consents": {"type": "array", "items": {"type": "string", "enum": list(CONSENTS)}, "minItems": 1,
                 "maxItems": 6, "uniqueItems": True},
    "signer_name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": TEXT_PATTERN},
    "participant": {**ID, "description": "service calls only"},
    "ip": IP,
    "user_agent": {"type": "string", "maxLength": 1024, "description": "service calls only"},
}, ("controller", "template_version", "lang", "consents"))
REVOKE_REQUEST = _object({"reason": {"type": "string", "minLength": 1, "maxLength": 1000, "pattern": TEXT_PATTERN}},
                         ("reason",))

BATCH_REQUEST = _object({
    "controller": CONTROLLER, "filing_date": DATE,
    "scope": {"type": "string", "enum": list(SCOPES)},
}, ("controller", "filing_date"))
BATCH = _object({
    "id": {"type": "string"}, "controller": {"type": "string"}, "scope": {"type": "string"},
    "filing_date": DATE, "created_at": TIME, "requests": {"type": "integer"}, "exported_at": _NULLABLE_TIME,
}, ("id", "controller", "scope", "filing_date", "created_at", "requests", "exported_at"))
EXPORT = _object({
    "batch": {"type": "string"}, "folder": {"type": "string"}, "requests": {"type": "integer"},
    "files": {"type": "object", "additionalProperties": {"type": "string"}},
    "tree_head": {"type": "object"},
}, ("batch", "folder", "requests", "files", "tree_head"))
REQUEST_RECORD = _object({
    "id": {"type": "string"}, "batch": {"type": "string"}, "participant": {"type": "string"},
    "mandate": {"type": "string"}, "controller": {"type": "string"}, "scope": {"type": "string"},
    "state": {"type": "string", "enum": list(REQUEST_STATES)},
    "created_at": TIME, "updated_at": TIME,
    "received_on": _NULLABLE_DATE, "extension_on": _NULLABLE_DATE, "paused_days": {"type": "integer"},
    "due_on": _NULLABLE_DATE, "statutory_due_on": _NULLABLE_DATE,
    "notice": {"type": ["string", "null"]}, "notice_sent_at": _NULLABLE_TIME,
    # the holiday calendar frozen when the request was sent (None before)
    "calendar": {"type": ["object", "null"], "additionalProperties": False,
                 "required": ["source", "chosen_by", "holidays_version", "window"],
                 "properties": {"source": {"type": "string"}, "chosen_by": {"enum": ["controller", "campaign"]},
                                "holidays_version": {"type": ["string", "null"]},
                                "window": {"type": "array", "items": {"type": "integer"}}}},
}, ("id", "batch", "participant", "mandate", "controller", "scope", "state", "created_at", "updated_at",
    "received_on", "extension_on", "paused_days", "due_on", "statutory_due_on", "notice", "notice_sent_at",
    "calendar"))
REQUESTS_RESPONSE = _object({"requests": {"type": "array", "items": REQUEST_RECORD}}, ("requests",))
#: a request as the person sees it: without the participant id
PERSON_REQUEST = _object({k: v for k, v in REQUEST_RECORD["properties"].items() if k != "participant"},
                         tuple(k for k in REQUEST_RECORD["required"] if k != "participant"))
SESSION_RESPONSE = _object({
    "verified": {"type": "boolean"},
    "verified_until": _NULLABLE_TIME,
    "identity_status": {"type": ["string", "null"], "enum": [*sorted(IDENTITY_STATUSES), None]},
    "mandates": {"type": "array", "items": MANDATE},
    "requests": {"type": "array", "items": PERSON_REQUEST},
    "vault": VAULT_STATUS,
}, ("verified", "verified_until", "identity_status", "mandates", "requests", "vault"))
OVERDUE_RESPONSE = _object({"today": DATE, "requests": {"type": "array", "items": REQUEST_RECORD}},
                           ("today", "requests"))
TRANSITION_REQUEST = _object({
    "to_state": {"type": "string", "enum": list(REQUEST_STATES)},
    "on": DATE,
    "note": {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": r"\S"},
}, ("to_state",))

HEALTH_RESPONSE = _object({"status": {"type": "string", "enum": ["ok"]}}, ("status",))
READY_RESPONSE = _object({
    "status": {"type": "string", "enum": ["ready"]},
    "index": _object({"generation": {"type": "integer"}, "rows": {"type": "integer"},
                      "created_at": {"type": ["string", "null"]}, "breaches": _STRINGS,
                      "details": {"type": "boolean"}}, ("generation", "rows", "created_at", "breaches", "details")),
    "campaign": _object({"schema_version": {"type": "integer"}}, ("schema_version",)),
}, ("status",), description="`index` and `campaign` only for a caller with a valid API key (any scope)")

ERROR = _object({"error": _object({
    "code": {"type": "string", "enum": sorted(ERROR_CODES)},
    "message": {"type": "string"},
    "request_id": {"type": "string"},
    "reason": {"type": "string"},
    "retry_after": {"type": "integer", "minimum": 1},
}, ("code", "message", "request_id"))}, ("error",))
