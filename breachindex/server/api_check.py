"""``POST /v1/check``: is a number in the leak, and what may the caller see of it?

Service calls (API key with scope ``check``) may name the ``participant`` their own session
verified; the page's calls take the participant from the session cookie. The campaign decides
the view (``public`` or ``verified``), exactly as ``Campaign.check`` documents.

A page call must carry a solved puzzle (``puzzles``) and is charged, in one transaction of the
shared budgets, to its requester's networks, to the number (a keyed hash of its E.164 form)
and to the global budget of unauthenticated checks (``budgets``); a number that is not valid
is charged too, so probing with malformed input costs the same. The public view needs no
campaign table, so it runs on the event loop (microseconds); the verified view reads the
campaign store in a worker thread.
"""
from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from ..campaign import CheckResult
from ..errors import InvalidPhoneNumber
from ..keying.phone import normalize
from .errors import ApiError
from .puzzles import PuzzleError
from .routing import Call, Reply
from .state import ServerState

__all__ = ["check", "check_body", "solved_puzzle"]


def check_body(result: CheckResult) -> dict[str, Any]:
    """The JSON answer of a check (never the number itself)."""
    details = None
    if result.details is not None:
        details = [{"breach": str(d.get("breach", "")), "fields": {
            str(k): v if isinstance(v, str) else str(v) for k, v in dict(d.get("fields", {})).items()}}
            for d in result.details]
    return {"found": result.found, "breaches": list(result.breaches), "disclosure": result.disclosure,
            "data_classes": None if result.data_classes is None else sorted(result.data_classes),
            "details": details, "details_withheld": result.details_withheld}


def solved_puzzle(state: ServerState, body: Any, purpose: str) -> tuple[str, int] | None:
    """The nonce and expiry of the solved puzzle a page call carries (None: puzzles are off);
    ApiError ``puzzle_required`` (with the reason) if it has none, or one that does not hold."""
    if not state.puzzles.rules.enabled:
        return None
    puzzle = body.get("puzzle") if isinstance(body, dict) else None
    if not isinstance(puzzle, dict):
        raise ApiError("puzzle_required", "solve a puzzle first (POST /v1/puzzles)", reason="missing")
    try:
        return state.puzzles.check(puzzle.get("challenge"), puzzle.get("solution"), purpose)
    except PuzzleError as exc:
        raise ApiError("puzzle_required", "the puzzle does not hold: fetch a new one", reason=exc.reason) from None


async def check(call: Call) -> Reply:
    state, body = call.state, call.body
    if call.person:
        if "participant" in body:
            raise ApiError("invalid_request", "participant is taken from the session, not from the body")
        token = solved_puzzle(state, body, "check")
        invalid: InvalidPhoneNumber | None = None
        try:
            e164 = normalize(body["phone"], body.get("region"))
        except InvalidPhoneNumber as exc:
            e164, invalid = "", exc
        state.budgets.page_check(state.origin(call.request), None if invalid else state.number_subject(e164), token)
        if invalid is not None:
            raise invalid
        participant = None if call.session is None else call.session.participant
    else:
        if "puzzle" in body:
            raise ApiError("invalid_request", "a puzzle is for the page's calls, not for services")
        e164 = normalize(body["phone"], body.get("region"))
        participant = body.get("participant")
    campaign = state.campaign
    with state.generations.lease() as index:
        if participant is None:
            result = campaign.check(index, e164)
        else:
            result = await run_in_threadpool(campaign.check, index, e164, participant=participant)
    return Reply(check_body(result))
