"""Errors as JSON: one stable ``code`` per kind of failure, an HTTP status, and never a stack
trace, a phone number, a code or a name in the body.

The body of every error answer is::

    {"error": {"code": "throttled", "message": "...", "request_id": "...",
               "reason": "resend_interval", "retry_after": 30}}

``reason`` and ``retry_after`` appear only where the library gives them. Library messages
are safe to show (``breachindex.errors`` never puts a number, code or name in a message); an
unexpected exception answers ``internal_error`` with a fixed message and is logged by type.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    BatchError,
    BreachIndexError,
    CampaignStoreError,
    IndexCorrupted,
    SmsSendFailed,
    WebhookRejected,
)

__all__ = ["ApiError", "ERROR_CODES", "api_error_for", "error_body"]

#: every code an answer can carry, with its HTTP status (the OpenAPI document lists them)
ERROR_CODES: dict[str, int] = {
    "malformed_json": 400,
    "code_invalid": 400,
    "webhook_rejected": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "wrong_passphrase": 403,
    "wrong_recovery_code": 403,
    "not_found": 404,
    "unknown_mandate": 404,
    "unknown_request": 404,
    "unknown_batch": 404,
    "unknown_participant": 404,
    "unknown_item": 404,
    "vault_not_set_up": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "mandate_refused": 409,
    "illegal_transition": 409,
    "vault_refused": 409,
    "vault_conflict": 409,
    "extension_too_late": 409,
    "batch_error": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "invalid_request": 422,
    "invalid_phone_number": 422,
    "sms_not_allowed": 422,
    "unknown_controller": 422,
    "invalid_mandate": 422,
    "weak_passphrase": 422,
    "letter_refused": 422,
    "puzzle_required": 428,
    "throttled": 429,
    "too_many_attempts": 429,
    "internal_error": 500,
    "item_tampered": 500,
    "vault_corrupted": 500,
    "sms_send_failed": 502,
    "not_configured": 503,
    "unavailable": 503,
}


@dataclass
class ApiError(Exception):
    """An answer other than success: ``code`` (a key of ERROR_CODES), a safe ``message``,
    optional ``reason`` and ``retry_after`` (seconds; also sent as Retry-After)."""

    code: str
    message: str
    reason: str | None = None
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)
        if self.code not in ERROR_CODES:
            raise ValueError(f"unknown error code {self.code!r}")

    @property
    def status(self) -> int:
        return ERROR_CODES[self.code]

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return headers


def error_body(error: ApiError, request_id: str) -> dict[str, Any]:
    """The JSON body of an error answer."""
    inner: dict[str, Any] = {"code": error.code, "message": error.message, "request_id": request_id}
    if error.reason is not None:
        inner["reason"] = error.reason
    if error.retry_after is not None:
        inner["retry_after"] = max(1, math.ceil(error.retry_after))
    return {"error": inner}


_WEBHOOK_UNAUTHENTIC = frozenset({"bad_signature", "stale", "malformed_header"})


def api_error_for(exc: BaseException) -> ApiError | None:
    """The answer for an error the library raised on purpose (None: not one of those)."""
    if not isinstance(exc, BreachIndexError):
        return None
    message = str(exc)
    # where the API answers otherwise than with the error's own code
    if isinstance(exc, SmsSendFailed):
        return ApiError(exc.code, "the SMS could not be sent; try again later")
    if isinstance(exc, WebhookRejected) and exc.reason in _WEBHOOK_UNAUTHENTIC:
        return ApiError("unauthorized", message, reason=exc.reason)
    if isinstance(exc, BatchError) and exc.reason == "unknown_batch":
        return ApiError("unknown_batch", message, reason=exc.reason)
    if isinstance(exc, CampaignStoreError):
        return ApiError("unavailable", "the campaign store is unavailable; try again later")
    if isinstance(exc, IndexCorrupted):
        return ApiError("unavailable", "the index is unavailable; try again later")
    if exc.code in ERROR_CODES:  # a caller's error: its own code, reason and wait
        return ApiError(exc.code, message, reason=getattr(exc, "reason", None),
                        retry_after=getattr(exc, "retry_after", None))
    return None  # WrongKey, BuildError, NativeError, ...: a server fault, answered as internal_error
