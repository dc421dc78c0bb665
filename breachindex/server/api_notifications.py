"""How the person wants to be told: their e-mail address, SMS and e-mail on or off, language.

The page reads and changes the preferences of its own session's participant; the address is
shown back only to them. Opting out of a channel is honoured for every later notification
(``campaign.notifications``); giving no address means no e-mail.
"""
from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from ..campaign.notifications import Notifier, Preferences
from .errors import ApiError
from .routing import Call, Reply

__all__ = ["get_preferences", "set_preferences"]


def _notifier(call: Call) -> tuple[Notifier, str]:
    notifier = call.state.notifier
    if notifier is None:
        raise ApiError("not_configured", "this server sends no notifications (serve --page-url ...)")
    if call.session is None:
        raise ApiError("unauthorized", "confirm a code first: no verified session")
    return notifier, call.session.participant


def _view(prefs: Preferences) -> dict[str, Any]:
    return {"email": prefs.email, "sms": prefs.sms, "email_allowed": prefs.email_allowed, "lang": prefs.lang}


async def get_preferences(call: Call) -> Reply:
    notifier, participant = _notifier(call)
    return Reply(_view(await run_in_threadpool(notifier.preferences, participant)))


async def set_preferences(call: Call) -> Reply:
    notifier, participant = _notifier(call)
    body = call.body
    changes: dict[str, Any] = {k: body[k] for k in ("sms", "email_allowed", "lang") if k in body}
    if "email" in body:
        changes["email"] = body["email"]
    try:
        prefs = await run_in_threadpool(lambda: notifier.set_preferences(participant, **changes))
    except ValueError as exc:
        raise ApiError("invalid_request", str(exc)) from None
    return Reply(_view(prefs))
