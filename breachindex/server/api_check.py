"""``POST /v1/check``: is a number in the leak, and what may the caller see of it?

Service calls (API key with scope ``check``) may name the ``participant`` their own session
verified; the page's calls take the participant from the session cookie. The campaign decides
the view (``public`` or ``verified``), exactly as ``Campaign.check`` documents. Page calls go
through two token buckets first: per client address and per number (a keyed hash of its E.164
form). The public view needs no database, so it runs on the event loop (microseconds); the
verified view reads the campaign store in a worker thread.
"""
from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from ..campaign import CheckResult
from ..phone import normalize
from .errors import ApiError
from .routing import Call, Reply

__all__ = ["check", "check_body"]


def check_body(result: CheckResult) -> dict[str, Any]:
    """The JSON answer of a check (never the number itself)."""
    details = None
    if result.details is not None:
        details = [{"breach": str(d.get("breach", "")), "fields": {
            str(k): v if isinstance(v, str) else str(v) for k, v in dict(d.get("fields", {})).items()}}
            for d in result.details]
    return {"found": result.found, "breaches": list(result.breaches), "disclosure": result.disclosure,
            "data_classes": None if result.data_classes is None else sorted(result.data_classes),
            "details": details}


def _throttle(wait: float | None) -> None:
    if wait is not None:
        raise ApiError("throttled", "too many checks; try again later", reason="check_rate", retry_after=wait)


async def check(call: Call) -> Reply:
    state, body = call.state, call.body
    if call.person:
        if "participant" in body:
            raise ApiError("invalid_request", "participant is taken from the session, not from the body")
        _throttle(state.check_ip.take(state.ip_subject(call.client_host)))  # invalid numbers count too
        e164 = normalize(body["phone"], body.get("region"))
        _throttle(state.check_number.take(state.number_subject(e164)))
        participant = None if call.session is None else call.session.participant
    else:
        e164 = normalize(body["phone"], body.get("region"))
        participant = body.get("participant")
    campaign = state.campaign
    with state.generations.lease() as index:
        if participant is None:
            result = campaign.check(index, e164)
        else:
            result = await run_in_threadpool(campaign.check, index, e164, participant=participant)
    return Reply(check_body(result))
