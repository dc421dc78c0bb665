"""The JSON shapes of the campaign's records (mandates, batches, requests, exports): ids,
states, dates and hashes only, never a number, a code or a name."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from ..campaign import Batch, Export, Mandate, RequestRecord

__all__ = ["iso_time", "iso_date", "mandate_view", "batch_view", "request_view", "export_view"]


def iso_time(moment: datetime | None) -> str | None:
    """An aware datetime as ISO-8601 UTC with ``Z`` (None stays None)."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def iso_date(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def mandate_view(mandate: Mandate, now: datetime | None = None) -> dict[str, Any]:
    at = now or datetime.now(timezone.utc)
    return {"id": mandate.id, "participant": mandate.participant, "controller": mandate.controller,
            "scopes": list(mandate.scopes), "template_version": mandate.template_version,
            "text_sha256": mandate.text_sha256, "signed_at": iso_time(mandate.signed_at),
            "ends_at": iso_time(mandate.ends_at), "revoked_at": iso_time(mandate.revoked_at),
            "status": mandate.status(at), "consents": list(mandate.consents), "name_source": mandate.name_source,
            "log_seq": mandate.log_seq, "review": mandate.review}


def batch_view(batch: Batch) -> dict[str, Any]:
    return {"id": batch.id, "controller": batch.controller, "scope": batch.scope,
            "filing_date": batch.filing_date.isoformat(), "created_at": iso_time(batch.created_at),
            "requests": batch.requests, "exported_at": iso_time(batch.exported_at)}


def request_view(record: RequestRecord) -> dict[str, Any]:
    return {"id": record.id, "batch": record.batch, "participant": record.participant, "mandate": record.mandate,
            "controller": record.controller, "scope": record.scope, "state": record.state,
            "created_at": iso_time(record.created_at), "updated_at": iso_time(record.updated_at),
            "received_on": iso_date(record.received_on), "extension_on": iso_date(record.extension_on),
            "paused_days": record.paused_days, "due_on": iso_date(record.due_on),
            "statutory_due_on": iso_date(record.statutory_due_on), "notice": record.notice,
            "notice_sent_at": iso_time(record.notice_sent_at),
            "calendar": None if record.calendar is None else record.calendar.to_json()}


def export_view(export: Export) -> dict[str, Any]:
    """An export: the folder's name (not its full path), counts, file hashes, the tree head."""
    return {"batch": export.batch, "folder": export.path.name, "requests": export.requests,
            "files": dict(export.files), "tree_head": export.tree_head.to_json()}
