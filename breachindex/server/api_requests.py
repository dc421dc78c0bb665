"""The collective request: batches (prepare, export), the requests and their due dates.

Exports go to the server's export folder (``ServerConfig.exports``), one new folder per batch
named ``<controller>-<filing date>-<batch id prefix>``; the answer names the folder, not its
full path. Dates are calendar dates (``YYYY-MM-DD``); ``today`` defaults to the UTC date.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timezone

from starlette.concurrency import run_in_threadpool

from ..errors import BreachIndexError
from ..private_files import make_private_folders
from .errors import ApiError
from .logs import LOGGER_NAME, log_event
from .routing import Call, Reply
from .views import batch_view, export_view, request_view

log = logging.getLogger(LOGGER_NAME)

__all__ = ["prepare_batch", "export_batch", "list_requests", "overdue_requests", "transition_request"]


async def prepare_batch(call: Call) -> Reply:
    campaign, body = call.state.campaign, call.body
    batch = await run_in_threadpool(lambda: campaign.prepare_batch(
        body["controller"], filing_date=date.fromisoformat(body["filing_date"]),
        scope=body.get("scope", "gdpr_access_art15")))
    return Reply(batch_view(batch), status=201)


async def export_batch(call: Call) -> Reply:
    state = call.state
    campaign = state.campaign
    batch_id = call.path["batch_id"]

    def export() -> Reply:
        batch = campaign.batch(batch_id)  # BatchError unknown_batch -> 404
        folder = state.config.exports
        make_private_folders(folder)  # 0700 for every folder it makes, whatever the umask
        target = folder / f"{batch.controller}-{batch.filing_date.isoformat()}-{batch.id[:8]}"
        return Reply(export_view(campaign.export_batch(batch, target)), status=201)

    return await run_in_threadpool(export)


async def list_requests(call: Call) -> Reply:
    campaign, query = call.state.campaign, call.query
    records = await run_in_threadpool(lambda: campaign.requests(
        batch=query.get("batch"), participant=query.get("participant"), controller=query.get("controller"),
        state=query.get("state")))
    return Reply({"requests": [request_view(r) for r in records]})


async def overdue_requests(call: Call) -> Reply:
    campaign = call.state.campaign
    today = date.fromisoformat(call.query["today"]) if "today" in call.query else datetime.now(timezone.utc).date()
    records = await run_in_threadpool(campaign.overdue, today)
    return Reply({"today": today.isoformat(), "requests": [request_view(r) for r in records]})


async def transition_request(call: Call) -> Reply:
    campaign, body = call.state.campaign, call.body
    on = date.fromisoformat(body["on"]) if "on" in body else None
    note = body.get("note")
    if note is not None and not note.strip():
        raise ApiError("invalid_request", "body.note must not be only spaces")
    record = await run_in_threadpool(lambda: campaign.transition_request(
        call.path["request_id"], body["to_state"], on=on, note=note))
    notifier = call.state.notifier
    if record.state == "overdue" and notifier is not None:  # "we are escalating": told once, after the move
        try:
            await run_in_threadpool(notifier.request_overdue, [record])
        except BreachIndexError as exc:
            log_event(log, logging.WARNING, "notification_failed", kind="request_overdue", error=type(exc).__name__)
    return Reply(request_view(record))
