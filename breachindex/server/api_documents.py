"""The lawyer's documents over HTTP (an ``admin`` key): letters as PDF and evidence bundles as zip.

Letters need the sender's details (``--letters-sender FILE``, the JSON ``campaign letter --from``
takes); a bundle is written to a temporary folder, zipped (stored, members in order, fixed
times: the same facts give the same zip) and removed.
"""
from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from ..campaign import Campaign
from ..campaign.bundles import build_batch_bundle, build_mandate_bundle
from ..campaign.letters import Foundation, access_requests, admonition, complaint, render_pdf
from .errors import ApiError
from .routing import Call, Reply

__all__ = ["request_letter", "reminder_letter", "complaint_letter", "mandate_bundle", "batch_bundle"]


def _sender(call: Call) -> Foundation:
    path = call.state.config.letters_sender
    if path is None:
        raise ApiError("not_configured", "this server has no sender for letters (serve --letters-sender FILE)")
    return Foundation.from_file(path)


def _day(call: Call) -> date:
    given = call.body.get("date") if isinstance(call.body, dict) else call.query.get("date")
    try:
        return date.fromisoformat(given) if given else datetime.now(timezone.utc).date()
    except ValueError:
        raise ApiError("invalid_request", "date is not a calendar date") from None


def _pdf(data: bytes, name: str) -> Reply:
    return Reply(data, headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def request_letter(call: Call) -> Reply:
    sender, q = _sender(call), call.query
    (letter,) = await run_in_threadpool(lambda: access_requests(
        call.state.campaign, call.path["batch_id"], lang=q.get("lang", "nl"), sender=sender, day=_day(call)))
    return _pdf(await run_in_threadpool(render_pdf, letter), f"request-{letter.reference}-{letter.lang}.pdf")


async def reminder_letter(call: Call) -> Reply:
    sender, body = _sender(call), call.body
    letter = await run_in_threadpool(lambda: admonition(
        call.state.campaign, body["requests"], lang=body.get("lang", "nl"), sender=sender, day=_day(call),
        term_days=body.get("term_days", 14)))
    return _pdf(await run_in_threadpool(render_pdf, letter), f"admonition-{letter.reference}-{letter.lang}.pdf")


async def complaint_letter(call: Call) -> Reply:
    sender, body = _sender(call), call.body
    letter = await run_in_threadpool(lambda: complaint(
        call.state.campaign, body["requests"], lang=body.get("lang", "nl"), sender=sender, day=_day(call)))
    return _pdf(await run_in_threadpool(render_pdf, letter), f"complaint-{letter.reference}-{letter.lang}.pdf")


def _zipped(folder: Path) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o600 << 16
            z.writestr(info, path.read_bytes())
    return out.getvalue()


def _bundle(build: Callable[[Campaign, str, Path], Path], call: Call, ident: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="bi-bundle-") as tmp:
        return _zipped(build(call.state.campaign, ident, Path(tmp) / "bundle"))


async def mandate_bundle(call: Call) -> Reply:
    ident = call.path["mandate_id"]
    data = await run_in_threadpool(_bundle, build_mandate_bundle, call, ident)
    return Reply(data, headers={"Content-Disposition": f'attachment; filename="evidence-{ident}.zip"'})


async def batch_bundle(call: Call) -> Reply:
    ident = call.path["batch_id"]
    data = await run_in_threadpool(_bundle, build_batch_bundle, call, ident)
    return Reply(data, headers={"Content-Disposition": f'attachment; filename="evidence-batch-{ident}.zip"'})
