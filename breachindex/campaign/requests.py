"""A participant's request to a controller: its state machine, its history and its due date.

States and the moves allowed (``TRANSITIONS``; anything else raises IllegalTransition and
changes nothing)::

    draft               -> queued | cancelled
    queued              -> sent | cancelled
    sent                -> extended | needs_input | fulfilled | partially_fulfilled | refused
                           | overdue | cancelled
    extended            -> needs_input | fulfilled | partially_fulfilled | refused | overdue
                           | cancelled
    needs_input         -> sent | extended | fulfilled | partially_fulfilled | refused | cancelled
    partially_fulfilled -> fulfilled | admonished | closed | cancelled
    refused             -> admonished | closed | cancelled
    overdue             -> fulfilled | partially_fulfilled | refused | admonished | cancelled
    admonished          -> fulfilled | partially_fulfilled | refused | complaint_filed | closed
                           | cancelled
    complaint_filed     -> complaint_resolved | cancelled
    fulfilled, complaint_resolved -> closed
    closed, cancelled   -> (final)

``draft``: in a prepared batch. ``queued``: exported for the lawyer. ``sent``: the controller
received it (``received_on``: the date it did, default the UTC date of the transition).
``extended``: the controller announced the two-month extension; that must happen within the
first month (ExtensionTooLate otherwise, and the request stays as it was). ``overdue``: only
once the due date has passed (reason ``not_due`` otherwise). ``cancelled``: by an operator,
or because the participant revoked the mandate (see ``cancel_for_revocation``).

The due date (``gdpr.response_due``) runs from ``received_on``: one month, or three when an
extension was announced in time (whatever the state: a request back from ``needs_input`` to
``sent`` keeps an extended date). Waiting for information (``needs_input``): whether the
clock may stop while the controller waits is narrow ground (the EDPB's access guidelines
01/2022 accept it only where the controller needs the information, e.g. to identify the data
subject, and asked without undue delay), and the campaign cannot judge a case. So it records
every pause (from the ``on`` date the controller asked to the ``on`` date the information
reached it, both days counted) and moves the due date by the days paused: a request is never
called overdue too early. ``statutory_due_on`` (no pause) is kept beside it for the lawyer to
argue. While a pause is open the request is not overdue.

Deadlines are stored, not recomputed: on ``sent`` the request freezes its holiday calendar
(``calendars``: the controller's, or the campaign's one for all, with the ``holidays`` version)
and stores its statutory due date; on ``extended`` the three-month date replaces it. Every
later reading counts with the frozen copy. Both go into the audit entry of the transition.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from ..errors import ExtensionTooLate, IllegalTransition, UnknownRequest
from .audit import AuditLog
from .calendars import Calendars, FrozenCalendar, freeze_calendar
from .clock import from_us
from .db import Db
from .deadlines import HolidaySpec, extension_in_time, extension_notice_due, response_due
from .mandates import Mandate, iso
from .sealing import EvidenceKeys

__all__ = [
    "find_requests",
    "freeze_unfrozen",
    "mark_notice_sent",
    "past_due",
    "unsent_notices",
    "CLOCK_RUNNING_STATES",
    "FINAL_STATES",
    "NOTICES",
    "OPEN_STATES",
    "REQUEST_STATES",
    "TRANSITIONS",
    "RequestEvent",
    "RequestRecord",
    "cancel_for_revocation",
    "check_transition",
    "create_request",
    "load_request",
    "request_history",
    "select_requests",
    "summary",
    "transition",
]

REQUEST_STATES: tuple[str, ...] = (
    "draft", "queued", "sent", "extended", "needs_input", "fulfilled", "partially_fulfilled", "refused", "overdue",
    "admonished", "complaint_filed", "complaint_resolved", "closed", "cancelled",
)

_CANCELLABLE = ("cancelled",)
TRANSITIONS: Mapping[str, frozenset[str]] = MappingProxyType({state: frozenset(moves) for state, moves in {
    "draft": ("queued", *_CANCELLABLE),
    "queued": ("sent", *_CANCELLABLE),
    "sent": ("extended", "needs_input", "fulfilled", "partially_fulfilled", "refused", "overdue", *_CANCELLABLE),
    "extended": ("needs_input", "fulfilled", "partially_fulfilled", "refused", "overdue", *_CANCELLABLE),
    "needs_input": ("sent", "extended", "fulfilled", "partially_fulfilled", "refused", *_CANCELLABLE),
    "fulfilled": ("closed",),
    "partially_fulfilled": ("fulfilled", "admonished", "closed", *_CANCELLABLE),
    "refused": ("admonished", "closed", *_CANCELLABLE),
    "overdue": ("fulfilled", "partially_fulfilled", "refused", "admonished", *_CANCELLABLE),
    "admonished": ("fulfilled", "partially_fulfilled", "refused", "complaint_filed", "closed", *_CANCELLABLE),
    "complaint_filed": ("complaint_resolved", *_CANCELLABLE),
    "complaint_resolved": ("closed",),
    "closed": (),
    "cancelled": (),
}.items()})

#: states a request never leaves
FINAL_STATES: frozenset[str] = frozenset({"closed", "cancelled"})
#: states in which a participant counts as having a request in progress (batches skip them)
OPEN_STATES: frozenset[str] = frozenset(REQUEST_STATES) - FINAL_STATES
#: states in which the controller's deadline runs (overdue candidates)
CLOCK_RUNNING_STATES: frozenset[str] = frozenset({"sent", "extended"})
#: what a revocation asks SOMI to do: take the person out of an exported filing, or tell the controller
NOTICES: tuple[str, ...] = ("withdraw_from_filing", "notify_controller")

_NOT_YET_SENT = frozenset({"draft", "queued"})
_LEFT_ALONE_ON_REVOCATION = frozenset({"fulfilled", "complaint_resolved", "closed", "cancelled"})
_MAX_NOTE = 2000


@dataclass(frozen=True)
class RequestRecord:
    """Where a request stands. Dates are calendar dates; instants aware UTC.

    ``due_on``: the last day for the controller's answer, pauses included (None before it
    was sent); ``statutory_due_on``: the same without pauses. ``paused_days``: days spent
    waiting for information (an open pause counts to the day the record was read).
    ``notice``: ``withdraw_from_filing`` or ``notify_controller`` after a revocation, until
    ``notice_sent_at``. ``calendar``: the holiday calendar frozen when it was sent (None before).
    """

    id: str
    batch: str
    participant: str
    mandate: str
    controller: str
    scope: str
    state: str
    created_at: datetime
    updated_at: datetime
    received_on: date | None
    extension_on: date | None
    paused_days: int
    due_on: date | None
    statutory_due_on: date | None
    notice: str | None
    notice_sent_at: datetime | None
    calendar: FrozenCalendar | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RequestEvent:
    """One state change of a request (``from_state`` None: its creation). ``note`` is the
    operator's free text, opened (hidden from ``repr``)."""

    from_state: str | None
    to_state: str
    at: datetime
    on: date
    log_seq: int
    note: str | None = field(default=None, repr=False)


def check_transition(from_state: str, to_state: str) -> None:
    """IllegalTransition unless the table allows the move; ValueError for an unknown state."""
    if to_state not in TRANSITIONS or from_state not in TRANSITIONS:
        raise ValueError(f"a request state is one of {', '.join(REQUEST_STATES)}")
    if to_state not in TRANSITIONS[from_state]:
        raise IllegalTransition(from_state, to_state)


def _date(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _paused_days(db: Db, request_id: str, today: date) -> tuple[int, bool]:
    """Days paused (both ends counted), and whether a pause is open now."""
    total, open_now = 0, False
    for started, ended in db.execute("SELECT started_on, ended_on FROM request_pauses WHERE request = ? ORDER BY id",
                                     (request_id,)):
        start = date.fromisoformat(started)
        end = today if ended is None else date.fromisoformat(ended)
        open_now = open_now or ended is None
        total += max(0, (end - start).days + 1)
    return total, open_now


_SELECT = ("SELECT id, batch, participant, mandate, controller, scope, state, created_us, updated_us, received_on, "
           "extension_on, notice, notice_sent_us, statutory_due_on, deadline_calendar FROM requests")


def _spec(holidays: HolidaySpec | Calendars, controller: str) -> HolidaySpec:
    return holidays.spec_for(controller) if isinstance(holidays, Calendars) else holidays


def _freeze(holidays: HolidaySpec | Calendars, controller: str, received: date) -> FrozenCalendar:
    if isinstance(holidays, Calendars):
        return holidays.freeze(controller, received)
    return freeze_calendar(holidays, received, chosen_by="campaign")


def _record_of(db: Db, row: Any, today: date, holidays: HolidaySpec | Calendars) -> RequestRecord:
    received, extension = _date(row[9]), _date(row[10])
    paused, _ = _paused_days(db, str(row[0]), today)
    frozen = None if row[14] is None else FrozenCalendar.from_text(row[14])
    due = statutory = None
    if received is not None:
        extended = extension is not None
        calendar: HolidaySpec = frozen if frozen is not None else _spec(holidays, str(row[4]))
        statutory = _date(row[13]) or response_due(received, extended=extended, holidays=calendar)
        due = statutory if paused == 0 else response_due(received, extended=extended, holidays=calendar,
                                                         paused_days=paused)
    return RequestRecord(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), str(row[5]), str(row[6]),
                         from_us(int(row[7])), from_us(int(row[8])), received, extension, paused, due, statutory,
                         row[11], None if row[12] is None else from_us(int(row[12])), frozen)


def load_request(db: Db, request_id: object, *, today: date,
                 holidays: HolidaySpec | Calendars) -> RequestRecord:
    """The request with this id; UnknownRequest if there is none."""
    row = None
    if isinstance(request_id, str) and len(request_id) <= 64:
        row = db.execute(f"{_SELECT} WHERE id = ?", (request_id,)).fetchone()
    if row is None:
        raise UnknownRequest("no such request")
    return _record_of(db, row, today, holidays)


def select_requests(db: Db, where: str, args: tuple[Any, ...], *, today: date,
                    holidays: HolidaySpec | Calendars) -> list[RequestRecord]:
    """The requests matching a WHERE clause (trusted SQL, values in ``args``), by id."""
    return [_record_of(db, row, today, holidays) for row in db.execute(f"{_SELECT} WHERE {where} ORDER BY id", args)]


def _log_event(db: Db, audit: AuditLog, keys: EvidenceKeys, t: int, record: Any, from_state: str | None,
               to_state: str, on: date, note: str | None, extra: Mapping[str, Any]) -> None:
    request_id, batch, participant, mandate, controller = record
    note_mac = None if note is None else keys.mac("request_note", {"request": request_id, "note": note})
    kind = "request_created" if from_state is None else "request_transition"
    entry = audit.append(db, kind, t, participant=participant, ref=request_id, payload={
        "request": request_id, "batch": batch, "mandate": mandate, "controller": controller, "from": from_state,
        "to": to_state, "on": on.isoformat(), "note_mac": note_mac, **extra})
    db.execute("INSERT INTO request_events (request, from_state, to_state, at_us, on_date, note_sealed, log_seq) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)",
               (request_id, from_state, to_state, t, on.isoformat(),
                None if note is None else keys.seal("request_note", request_id, note), entry.seq))


def _check_note(note: object) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str) or not note.strip() or len(note) > _MAX_NOTE:
        raise ValueError(f"a note is non-empty text of at most {_MAX_NOTE} characters")
    return note


def create_request(db: Db, *, audit: AuditLog, keys: EvidenceKeys, t: int, on: date, batch: str,
                   mandate: Mandate, scope: str) -> str:
    """A new request in ``draft`` for a mandate, logged."""
    request_id = secrets.token_hex(16)
    db.execute("INSERT INTO requests (id, batch, participant, mandate, controller, scope, state, created_us, "
               "updated_us) VALUES (?, ?, ?, ?, ?, ?, 'draft', ?, ?)",
               (request_id, batch, mandate.participant, mandate.id, mandate.controller, scope, t, t))
    _log_event(db, audit, keys, t, (request_id, batch, mandate.participant, mandate.id, mandate.controller), None,
               "draft", on, None, {"scope": scope})
    return request_id


def transition(db: Db, *, audit: AuditLog, keys: EvidenceKeys, t: int, request_id: object,
               to_state: str, on: date, note: object, holidays: HolidaySpec | Calendars) -> RequestRecord:
    """Move a request (see the module documentation for the rules), in the caller's transaction."""
    text = _check_note(note)
    current = load_request(db, request_id, today=on, holidays=holidays)
    check_transition(current.state, to_state)
    paused, _ = _paused_days(db, current.id, on)
    extra: dict[str, Any] = {}
    if to_state == "sent" and current.received_on is None:
        frozen = _freeze(holidays, current.controller, on)
        statutory = response_due(on, holidays=frozen)
        extra.update(received_on=on.isoformat(), statutory_due_on=statutory.isoformat(), calendar=frozen.source,
                     calendar_chosen_by=frozen.chosen_by, holidays_version=frozen.holidays_version)
        db.execute("UPDATE requests SET received_on = ?, statutory_due_on = ?, deadline_calendar = ? WHERE id = ?",
                   (on.isoformat(), statutory.isoformat(), frozen.to_text(), current.id))
    if to_state == "extended" and current.extension_on is None:
        if current.received_on is None or on < current.received_on:
            raise IllegalTransition(current.state, to_state, "not_received",
                                    "an extension can only be announced for a request the controller received")
        calendar = current.calendar if current.calendar is not None else _spec(holidays, current.controller)
        if not extension_in_time(current.received_on, on, holidays=calendar, paused_days=paused):
            raise ExtensionTooLate(current.state, extension_notice_due(current.received_on, holidays=calendar,
                                                                       paused_days=paused))
        statutory = response_due(current.received_on, extended=True, holidays=calendar)
        extra.update(extension_on=on.isoformat(), statutory_due_on=statutory.isoformat())
        db.execute("UPDATE requests SET extension_on = ?, statutory_due_on = ? WHERE id = ?",
                   (on.isoformat(), statutory.isoformat(), current.id))
    if to_state == "overdue" and (current.due_on is None or not current.due_on < on):
        raise IllegalTransition(current.state, to_state, "not_due",
                                f"a request is overdue only after its due date ({current.due_on})")
    if current.state == "needs_input":
        started = db.execute("SELECT id, started_on FROM request_pauses WHERE request = ? AND ended_on IS NULL",
                             (current.id,)).fetchone()
        if started is not None:
            if on < date.fromisoformat(started[1]):
                raise IllegalTransition(current.state, to_state, "bad_date",
                                        "a pause cannot end before the day it started")
            db.execute("UPDATE request_pauses SET ended_on = ? WHERE id = ?", (on.isoformat(), started[0]))
            extra["pause"] = {"from": started[1], "to": on.isoformat()}
    if to_state == "needs_input":
        db.execute("INSERT INTO request_pauses (request, started_on) VALUES (?, ?)", (current.id, on.isoformat()))
    db.execute("UPDATE requests SET state = ?, updated_us = ? WHERE id = ?", (to_state, t, current.id))
    _log_event(db, audit, keys, t, (current.id, current.batch, current.participant, current.mandate,
                                    current.controller), current.state, to_state, on, text, extra)
    return load_request(db, current.id, today=on, holidays=holidays)


def freeze_unfrozen(db: Db, *, audit: AuditLog, t: int, holidays: HolidaySpec | Calendars) -> int:
    """Store the calendar and statutory due date of requests sent before deadlines were stored
    (schema 6), with the calendar as it is now, each logged; how many there were."""
    rows = db.execute("SELECT id, participant, controller, received_on, extension_on FROM requests "
                      "WHERE received_on IS NOT NULL AND deadline_calendar IS NULL ORDER BY id").fetchall()
    for request_id, participant, controller, received_text, extension_text in rows:
        received = date.fromisoformat(received_text)
        frozen = _freeze(holidays, controller, received)
        statutory = response_due(received, extended=extension_text is not None, holidays=frozen)
        db.execute("UPDATE requests SET statutory_due_on = ?, deadline_calendar = ? WHERE id = ?",
                   (statutory.isoformat(), frozen.to_text(), request_id))
        audit.append(db, "request_deadline_frozen", t, participant=participant, ref=request_id, payload={
            "request": request_id, "statutory_due_on": statutory.isoformat(), "calendar": frozen.source,
            "calendar_chosen_by": frozen.chosen_by, "holidays_version": frozen.holidays_version,
            "note": "sent before deadlines were stored: frozen with the calendar as installed when opened"})
    return len(rows)


def cancel_for_revocation(db: Db, *, audit: AuditLog, keys: EvidenceKeys, t: int, on: date,
                          mandate_id: str, holidays: HolidaySpec | Calendars) -> dict[str, Any]:
    """Cancel a revoked mandate's open requests and flag the notices due; what was done."""
    cancelled: list[str] = []
    notices: dict[str, str] = {}
    rows = db.execute("SELECT id, state FROM requests WHERE mandate = ? ORDER BY id", (mandate_id,)).fetchall()
    for request_id, state in rows:
        if state in _LEFT_ALONE_ON_REVOCATION:
            continue
        transition(db, audit=audit, keys=keys, t=t, request_id=request_id, to_state="cancelled", on=on,
                   note="the participant revoked the mandate", holidays=holidays)
        cancelled.append(request_id)
        if state != "draft":
            notice = "withdraw_from_filing" if state in _NOT_YET_SENT else "notify_controller"
            db.execute("UPDATE requests SET notice = ? WHERE id = ?", (notice, request_id))
            notices[request_id] = notice
    return {"cancelled": cancelled, "notices": notices}


def request_history(db: Db, keys: EvidenceKeys, request_id: str) -> list[RequestEvent]:
    rows = db.execute("SELECT from_state, to_state, at_us, on_date, log_seq, note_sealed FROM request_events "
                      "WHERE request = ? ORDER BY id", (request_id,)).fetchall()
    return [RequestEvent(r[0], str(r[1]), from_us(int(r[2])), date.fromisoformat(r[3]), int(r[4]),
                         None if r[5] is None else keys.open("request_note", request_id, bytes(r[5]))) for r in rows]


def summary(db: Db, controller: str | None) -> dict[str, int]:
    """Requests per state (every state, zeros included), for one controller or all."""
    counts = dict.fromkeys(REQUEST_STATES, 0)
    if controller is None:
        rows = db.execute("SELECT state, COUNT(*) FROM requests GROUP BY state")
    else:
        rows = db.execute("SELECT state, COUNT(*) FROM requests WHERE controller = ? GROUP BY state", (controller,))
    for state, count in rows:
        counts[str(state)] = int(count)
    return counts


def find_requests(db: Db, *, today: date, holidays: HolidaySpec | Calendars,
                  **filters: str | None) -> list[RequestRecord]:
    """The requests whose ``batch``, ``participant``, ``controller`` and ``state`` equal every
    filter given (None: any), by id."""
    unknown = set(filters) - {"batch", "participant", "controller", "state"}
    if unknown:
        raise TypeError(f"no such request filter: {', '.join(sorted(unknown))}")
    given = [(column, value) for column, value in filters.items() if value is not None]
    where = " AND ".join(["1 = 1", *(f"{column} = ?" for column, _ in given)])
    return select_requests(db, where, tuple(value for _, value in given), today=today, holidays=holidays)


def past_due(db: Db, *, today: date, holidays: HolidaySpec | Calendars) -> list[RequestRecord]:
    """Requests waiting for an answer (sent or extended) whose due date is before ``today``."""
    states = ", ".join(f"'{s}'" for s in sorted(CLOCK_RUNNING_STATES))
    waiting = select_requests(db, f"state IN ({states})", (), today=today, holidays=holidays)
    return [r for r in waiting if r.due_on is not None and r.due_on < today]


def unsent_notices(db: Db, controller: str | None, *, today: date,
                   holidays: HolidaySpec | Calendars) -> list[RequestRecord]:
    """Cancelled requests whose revocation notice was not passed on yet (one controller or all)."""
    where, args = "notice IS NOT NULL AND notice_sent_us IS NULL", tuple[str, ...]()
    if controller is not None:
        where, args = where + " AND controller = ?", (controller,)
    return select_requests(db, where, args, today=today, holidays=holidays)


def mark_notice_sent(db: Db, *, audit: AuditLog, t: int, request_id: object,
                     holidays: HolidaySpec | Calendars) -> RequestRecord:
    """Record (and log) that a request's revocation notice was passed on; ValueError if it has none."""
    today = from_us(t).date()
    record = load_request(db, request_id, today=today, holidays=holidays)
    if record.notice is None:
        raise ValueError("this request has no notice to send")
    if record.notice_sent_at is None:
        db.execute("UPDATE requests SET notice_sent_us = ? WHERE id = ?", (t, record.id))
        audit.append(db, "notice_sent", t, participant=record.participant, ref=record.id, payload={
            "request": record.id, "controller": record.controller, "notice": record.notice, "sent_at": iso(t)})
    return load_request(db, record.id, today=today, holidays=holidays)
