"""Prove it is you: send and confirm a one-time code, the session it opens, and the ID
provider's webhook.

The page's calls pass the client's address to the campaign (its limits per network for sends
and failed confirmations; a missing address is the shared ``unknown`` requester); a service
passes its end user's address in ``ip``. Before a code is sent for the page, it must solve a
puzzle (``puzzles``) and its budgets are charged like any page call. A confirmed code
on the page sets the session cookie (``sessions``) and the answer carries no participant id; a
service gets the participant id back and keeps it in its own session. A start is counted for
``/metrics`` (``ServerMetrics.start_code``): SMS sent, or refused by reason.
"""
from __future__ import annotations

import ipaddress
from datetime import datetime, timezone
from functools import partial

from starlette.concurrency import run_in_threadpool

from .api_check import solved_puzzle
from .api_vault import vault_status
from .errors import ApiError
from .routing import Call, Reply
from .views import iso_time, mandate_view, request_view

__all__ = ["start_verification", "confirm_verification", "session_info", "end_session", "identity_webhook",
           "client_ip"]


def client_ip(call: Call) -> str | None:
    """The end user's IP: the body's ``ip`` for a service, the connection's for the page."""
    if call.person:
        if isinstance(call.body, dict) and "ip" in call.body:
            raise ApiError("invalid_request", "ip is taken from the connection, not from the body")
        host = call.client_host
    else:
        host = call.body.get("ip") if isinstance(call.body, dict) else None
        if host is None:
            return None
    try:
        return str(ipaddress.ip_address(host or ""))
    except ValueError:
        if call.person:
            return None  # a test client or a unix socket: no address to limit on
        raise ApiError("invalid_request", "ip is not an IPv4 or IPv6 address") from None


async def start_verification(call: Call) -> Reply:
    state = call.state
    if state.sender is None:
        raise ApiError("not_configured", "this server has no SMS sender configured")
    if call.person:  # a solved puzzle and the page's budgets, in one transaction
        state.budgets.page_call(state.origin(call.request), solved_puzzle(state, call.body, "verification"))
    elif "puzzle" in call.body:
        raise ApiError("invalid_request", "a puzzle is for the page's calls, not for services")
    ip = client_ip(call)
    challenge = await run_in_threadpool(state.metrics.start_code, partial(
        state.campaign.start_verification, call.body["phone"], call.body.get("region"), ip=ip))
    return Reply({"challenge": challenge.id, "expires_at": iso_time(challenge.expires_at)})


async def confirm_verification(call: Call) -> Reply:
    state = call.state
    ip = client_ip(call)
    verification = await run_in_threadpool(state.campaign.confirm_verification, call.body["challenge"],
                                           call.body["code"], ip=ip)
    body = {"verified": True, "verified_at": iso_time(verification.verified_at)}
    if not call.person:
        return Reply({**body, "participant": verification.participant})
    cookie = state.sessions.set_cookie_header(state.sessions.issue(verification.participant))
    return Reply(body, headers={"Set-Cookie": cookie})


async def session_info(call: Call) -> Reply:
    """What the page may show about its own session (nothing without one)."""
    state = call.state
    if call.session is None:
        return Reply({"verified": False, "verified_until": None, "identity_status": None, "mandates": [],
                      "requests": [], "vault": {"available": state.vault is not None, "set_up": False, "items": []}})
    participant = call.session.participant
    campaign = state.campaign

    def read() -> Reply:
        now = datetime.now(timezone.utc)
        verified_at = campaign.verified_at(participant)
        until = None if verified_at is None else verified_at + campaign.policy.verified_for
        verified = until is not None and now < until
        identity = campaign.identity_status(participant)
        # the page never sees participant ids: drop its own from the mandates it lists
        mandates = [{k: v for k, v in mandate_view(m, now).items() if k != "participant"}
                    for m in campaign.mandates(participant)]
        # the person's requests and vault: what they asked for, by when it is due, what arrived
        requests = [{k: v for k, v in request_view(r).items() if k != "participant"}
                    for r in campaign.requests(participant=participant)]
        return Reply({"verified": verified, "verified_until": iso_time(until) if verified else None,
                      "identity_status": None if identity is None else identity.status, "mandates": mandates,
                      "requests": requests, "vault": vault_status(state.vault, participant)})

    return await run_in_threadpool(read)


async def end_session(call: Call) -> Reply:
    return Reply({"ended": True}, headers={"Set-Cookie": call.state.sessions.clear_cookie_header()})


async def identity_webhook(call: Call) -> Reply:
    state = call.state
    if state.webhook_secret is None:
        raise ApiError("not_configured", "this server has no ID-provider webhook secret configured")
    header = call.request.headers.get("signature", "")
    check = await run_in_threadpool(state.campaign.handle_identity_webhook, call.raw, header,
                                    secret=state.webhook_secret)
    return Reply({"recorded": True, "status": check.status})
