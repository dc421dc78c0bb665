"""The collective request: a batch per controller and filing date, and what the lawyer files.

``prepare``: one request (``draft``) per participant whose mandate for the controller covers
the scope, is not revoked and is active for the whole filing date (signed before its end, not
ending before it), unless the participant already has an open request (any state but closed
and cancelled) to that controller for that scope.

``export`` writes a new folder (never over an existing one: it is built in a hidden sibling
folder and renamed into place, files fsynced; the folder mode 0700 and its files 0600,
whatever the umask, as they hold personal data):

* ``participants.csv`` (UTF-8, RFC 4180, header row, one row per request, sorted by request
  id) with only what a request needs: ``request_id``, ``mandate_id`` (SOMI's references),
  ``signer_name`` and ``phone_e164`` (to identify the data subject: the controller holds the
  number), ``mandate_signed_at`` and ``mandate_ends_at`` (UTC), ``template_version``,
  ``mandate_text_sha256`` and ``mandate_log_seq`` (the mandate's proof: its text and its
  audit-log entry). A name starting with ``= + - @`` or a tab gets a leading apostrophe, so a
  spreadsheet does not run it as a formula.
* ``manifest.json``: the batch, the controller's registry entry, the counts, each file's size
  and SHA-256, and the audit log's signed tree head after the export (which logs the CSV's
  hash), with the foundation's public key.

Exporting moves the requests to ``queued``, logs ``batch_exported`` and signs a checkpoint,
in one transaction that commits only once the folder is in place. A mandate revoked before
the export has already cancelled its request, so it never reaches the file.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ..errors import BatchError, InvalidMandate
from ..private_files import fsync_dir
from .audit import AuditLog
from .calendars import Calendars
from .clock import from_us, to_us
from .controllers import Controller
from .db import Db
from .deadlines import HolidaySpec
from .mandates import SCOPES, day_end_us, iso, load_mandate
from .requests import FINAL_STATES, create_request, transition
from .sealing import EvidenceKeys
from .treehead import TreeHead

__all__ = ["CSV_COLUMNS", "CSV_NAME", "MANIFEST_FORMAT", "MANIFEST_NAME", "Batch", "Export", "export_batch",
           "load_batch", "prepare_batch"]

CSV_NAME = "participants.csv"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "breachindex-batch/1"
CSV_COLUMNS: tuple[str, ...] = ("request_id", "mandate_id", "signer_name", "phone_e164", "mandate_signed_at",
                                "mandate_ends_at", "template_version", "mandate_text_sha256", "mandate_log_seq")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Batch:
    """A prepared collective request: ``requests`` is how many it was prepared with."""

    id: str
    controller: str
    scope: str
    filing_date: date
    created_at: datetime
    requests: int
    exported_at: datetime | None = None


@dataclass(frozen=True)
class Export:
    """What ``export_batch`` wrote: the folder, how many requests, each file's SHA-256, the
    signed tree head, and the manifest as written."""

    batch: str
    path: Path
    requests: int
    files: Mapping[str, str]
    tree_head: TreeHead
    manifest: dict[str, Any] = field(repr=False)


def load_batch(db: Db, batch_id: object) -> Batch:
    row = None
    if isinstance(batch_id, str) and len(batch_id) <= 64:
        row = db.execute("SELECT id, controller, scope, filing_date, created_us, exported_us FROM batches WHERE id = ?",
                         (batch_id,)).fetchone()
    if row is None:
        raise BatchError("unknown_batch", "no such batch")
    count = int(db.execute("SELECT COUNT(*) FROM requests WHERE batch = ?", (row[0],)).fetchone()[0])
    return Batch(str(row[0]), str(row[1]), str(row[2]), date.fromisoformat(row[3]), from_us(int(row[4])), count,
                 None if row[5] is None else from_us(int(row[5])))


def prepare_batch(db: Db, *, audit: AuditLog, keys: EvidenceKeys, t: int, today: date,
                  controller: Controller, scope: str, filing_date: date) -> Batch:
    """Create a batch and its draft requests (see the module documentation), logged."""
    if scope not in SCOPES:
        raise InvalidMandate(f"scope must be one of: {', '.join(SCOPES)}")
    if isinstance(filing_date, datetime) or not isinstance(filing_date, date):
        raise TypeError("filing_date must be a datetime.date")
    end = day_end_us(filing_date)
    final = ", ".join(f"'{s}'" for s in sorted(FINAL_STATES))
    mandate_ids = [r[0] for r in db.execute(
        "SELECT m.id FROM mandates m JOIN mandate_scopes s ON s.mandate = m.id AND s.scope = ? "
        "WHERE m.controller = ? AND m.revoked_us IS NULL AND m.review IS NULL AND m.signed_us < ? AND m.ends_us >= ? "
        "AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.participant = m.participant AND r.controller = m.controller "
        f"AND r.scope = ? AND r.state NOT IN ({final})) ORDER BY m.signed_us, m.id",
        (scope, controller.key, end, end, scope))]
    if not mandate_ids:
        raise BatchError("empty", "no participant has an active mandate for this controller, scope and date "
                                  "without an open request")
    batch_id = secrets.token_hex(16)
    db.execute("INSERT INTO batches (id, controller, scope, filing_date, created_us) VALUES (?, ?, ?, ?, ?)",
               (batch_id, controller.key, scope, filing_date.isoformat(), t))
    audit.append(db, "batch_prepared", t, ref=batch_id, payload={
        "batch": batch_id, "controller": controller.key, "scope": scope, "filing_date": filing_date.isoformat(),
        "requests": len(mandate_ids)})
    for mandate_id in mandate_ids:
        create_request(db, audit=audit, keys=keys, t=t, on=today, batch=batch_id, mandate=load_mandate(db, mandate_id),
                       scope=scope)
    return load_batch(db, batch_id)


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _check_target(out_dir: Path) -> None:
    if not out_dir.parent.is_dir():
        raise BatchError("no_folder", "the export folder's parent does not exist")
    if out_dir.exists() or out_dir.is_symlink():
        raise BatchError("exists", "the export folder exists: an export never overwrites one")


def _write_folder(out_dir: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` into a new folder ``out_dir``, all or nothing: the folder mode 0700 and
    its files 0600, exactly (``chmod``, whatever the umask): they hold names and numbers."""
    _check_target(out_dir)
    partial = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        os.chmod(partial, 0o700)
        for name, data in files.items():
            fd = os.open(partial / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        fsync_dir(partial)
        _check_target(out_dir)  # a rename onto an empty folder would succeed: look again
        os.rename(partial, out_dir)
        fsync_dir(out_dir.parent)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def export_batch(db: Db, *, audit: AuditLog, keys: EvidenceKeys,
                 open_phone: Callable[[str, bytes], str], t: int, today: date, controller: Controller,
                 batch_id: object, out_dir: Path, holidays: HolidaySpec | Calendars) -> Export:
    """Write the batch's files (see the module documentation), in the caller's transaction."""
    batch = load_batch(db, batch_id)
    if batch.exported_at is not None:
        raise BatchError("already_exported", "this batch was exported already")
    _check_target(out_dir)
    end = day_end_us(batch.filing_date)
    rows = db.execute("SELECT r.id, r.mandate, p.phone_sealed FROM requests r "
                      "JOIN participants p ON p.id = r.participant WHERE r.batch = ? AND r.state = 'draft' "
                      "ORDER BY r.id", (batch.id,)).fetchall()
    lines: list[list[str]] = []
    for request_id, mandate_id, phone_sealed in rows:
        mandate = load_mandate(db, mandate_id)
        if mandate.revoked_at is not None or mandate.ends_at < from_us(end) or phone_sealed is None:
            # revocation cancels drafts itself; this guards against a store changed by other means
            transition(db, audit=audit, keys=keys, t=t, request_id=request_id, to_state="cancelled", on=today,
                       note="the mandate was no longer active at export", holidays=holidays)
            continue
        if mandate.review is not None:  # held after the batch was prepared: not filed on this text
            transition(db, audit=audit, keys=keys, t=t, request_id=request_id, to_state="cancelled", on=today,
                       note=f"the mandate is held for review ({mandate.review})", holidays=holidays)
            continue
        name = keys.open("signer_name", mandate.id, db.execute(
            "SELECT signer_name_sealed FROM mandates WHERE id = ?", (mandate.id,)).fetchone()[0])
        lines.append([request_id, mandate.id, _cell(name), open_phone(mandate.participant, bytes(phone_sealed)),
                      iso(to_us(mandate.signed_at)),
                      iso(to_us(mandate.ends_at)), mandate.template_version,
                      mandate.text_sha256, str(mandate.log_seq)])
    if not lines:
        raise BatchError("empty", "no request of this batch is left to export")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(lines)
    csv_bytes = buffer.getvalue().encode("utf-8")
    csv_sha256 = hashlib.sha256(csv_bytes).hexdigest()
    for line in lines:
        transition(db, audit=audit, keys=keys, t=t, request_id=line[0], to_state="queued", on=today, note=None,
                   holidays=holidays)
    cancelled = int(db.execute("SELECT COUNT(*) FROM requests WHERE batch = ? AND state = 'cancelled'",
                               (batch.id,)).fetchone()[0])
    entry = audit.append(db, "batch_exported", t, ref=batch.id, payload={
        "batch": batch.id, "controller": batch.controller, "scope": batch.scope,
        "filing_date": batch.filing_date.isoformat(), "requests": len(lines), "cancelled_before_export": cancelled,
        "files": {CSV_NAME: csv_sha256}, "folder": out_dir.name})
    head = audit.checkpoint(db, t)
    db.execute("UPDATE batches SET exported_us = ?, export_name = ?, tree_size = ? WHERE id = ?",
               (t, out_dir.name, head.tree_size, batch.id))
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "batch": batch.id,
        "controller": controller.to_json(),
        "scope": batch.scope,
        "scope_description": SCOPES[batch.scope],
        "filing_date": batch.filing_date.isoformat(),
        "prepared_at": iso(to_us(batch.created_at)),
        "exported_at": iso(t),
        "counts": {"requests": len(lines), "cancelled_before_export": cancelled},
        "files": {CSV_NAME: {"sha256": csv_sha256, "bytes": len(csv_bytes), "rows": len(lines),
                             "columns": list(CSV_COLUMNS)}},
        "audit_log": {**head.to_json(), "export_entry_seq": entry.seq, "export_entry_hash": entry.entry_hash.hex(),
                      "public_key": audit.signer.public_key.hex(), "public_key_pem": audit.signer.public_key_pem,
                      "signed_message": "b'breachindex audit tree head v1\\x00' || uint64 tree_size || "
                                        "uint64 timestamp_us || root_hash (big-endian)",
                      "leaf": "SHA-256(0x00 || canonical JSON of the entry), RFC 6962"},
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    _write_folder(out_dir, {CSV_NAME: csv_bytes, MANIFEST_NAME: manifest_bytes})
    return Export(batch.id, out_dir, len(lines), {CSV_NAME: csv_sha256,
                                                 MANIFEST_NAME: hashlib.sha256(manifest_bytes).hexdigest()},
                  head, manifest)
