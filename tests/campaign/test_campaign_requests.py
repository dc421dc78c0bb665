"""The collective request: the state machine (every move against the table, and a hypothesis
state machine), due dates with extensions and pauses, overdue requests, the dashboard summary,
and batches: who is included, what an export contains, that a revoked mandate never reaches
one, and that an export is all or nothing.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
from collections import deque
from datetime import date, datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import pytest
from helpers import campaign as shared
from helpers.campaign import S, number, sql
from helpers.mandate_texts import registry
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from breachindex import Key
from breachindex.campaign import (
    CSV_COLUMNS,
    REQUEST_STATES,
    TRANSITIONS,
    Campaign,
    RecordingSender,
    TreeHead,
)
from breachindex.errors import (
    BatchError,
    ExtensionTooLate,
    IllegalTransition,
    InvalidMandate,
    UnknownController,
    UnknownRequest,
)

KEY = Key(b"request tests secret, 32 bytes!!")
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
TEXT = "Ik machtig SOMI om namens mij inzage te vragen (art. 15 AVG)."
EVIDENCE = {"ip": "192.0.2.7", "user_agent": "test", "consents": ["privacy_notice_read", "authorise_access_request",
                                                                  "authorise_dpa_complaint"]}
RECEIVED = date(2024, 3, 15)  # a Friday; due Monday 15 April 2024
DUE = date(2024, 4, 15)
FAR = date(2025, 6, 2)


new_campaign = partial(shared.new_campaign, secret=KEY, templates=registry([TEXT], EVIDENCE["consents"]))
enrol = partial(shared.enrol, now=T0)
sign = partial(shared.sign, now=T0 + 3 * S, text=TEXT, evidence=EVIDENCE)


# ---- the table ---------------------------------------------------------------------------------------

def test_the_transition_table():
    assert set(TRANSITIONS) == set(REQUEST_STATES) and len(REQUEST_STATES) == 14
    assert TRANSITIONS["closed"] == TRANSITIONS["cancelled"] == frozenset()
    assert TRANSITIONS["draft"] == {"queued", "cancelled"} and TRANSITIONS["queued"] == {"sent", "cancelled"}
    assert {"extended", "needs_input", "fulfilled", "partially_fulfilled", "refused", "overdue"} <= TRANSITIONS["sent"]
    for outcome in ("partially_fulfilled", "refused", "overdue"):
        assert "admonished" in TRANSITIONS[outcome]
    assert "complaint_filed" in TRANSITIONS["admonished"]
    assert TRANSITIONS["complaint_filed"] == {"complaint_resolved", "cancelled"}
    assert TRANSITIONS["complaint_resolved"] == {"closed"} and TRANSITIONS["fulfilled"] == {"closed"}
    for state in set(REQUEST_STATES) - {"fulfilled", "complaint_resolved", "closed", "cancelled"}:
        assert "cancelled" in TRANSITIONS[state], state
    reached, todo = {"draft"}, deque(["draft"])
    while todo:
        for nxt in TRANSITIONS[todo.popleft()]:
            if nxt not in reached:
                reached.add(nxt)
                todo.append(nxt)
    assert reached == set(REQUEST_STATES)
    assert all(all(t in REQUEST_STATES for t in moves) for moves in TRANSITIONS.values())


# ---- a pool of draft requests -----------------------------------------------------------------------

PATHS: dict[str, list[str]] = {
    "draft": [],
    "queued": ["queued"],
    "sent": ["queued", "sent"],
    "extended": ["queued", "sent", "extended"],
    "needs_input": ["queued", "sent", "needs_input"],
    "fulfilled": ["queued", "sent", "fulfilled"],
    "partially_fulfilled": ["queued", "sent", "partially_fulfilled"],
    "refused": ["queued", "sent", "refused"],
    "overdue": ["queued", "sent", "overdue"],
    "admonished": ["queued", "sent", "refused", "admonished"],
    "complaint_filed": ["queued", "sent", "refused", "admonished", "complaint_filed"],
    "complaint_resolved": ["queued", "sent", "refused", "admonished", "complaint_filed", "complaint_resolved"],
    "closed": ["queued", "sent", "fulfilled", "closed"],
    "cancelled": ["cancelled"],
}


def on_for(state: str) -> date:
    return FAR if state == "overdue" else RECEIVED


class Pool:
    """A campaign with many draft requests, handed out one at a time."""

    def __init__(self, path: Path, size: int) -> None:
        self.sender = RecordingSender()
        self.c = new_campaign(path, self.sender, checkpoint_interval=None)
        for i in range(size):
            sign(self.c, enrol(self.c, self.sender, i))
        batch = self.c.prepare_batch("meta", filing_date=T0.date(), now=T0 + 4 * S)
        self.free = [r.id for r in self.c.requests(batch=batch.id)]

    def request_in(self, state: str) -> str:
        request_id = self.free.pop()
        for step in PATHS[state]:
            self.c.transition_request(request_id, step, on=on_for(step), now=T0 + 5 * S)
        assert self.c.request(request_id).state == state
        return request_id


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    allowed = sum(len(moves) for moves in TRANSITIONS.values())
    p = Pool(tmp_path_factory.mktemp("pool") / "c.db", allowed + len(REQUEST_STATES) + 10)
    yield p
    p.c.close()


def snapshot(c: Campaign, request_id: str) -> tuple[object, ...]:
    return c.request(request_id), len(c.request_history(request_id)), c.verify_audit_log().entries


@pytest.mark.parametrize("from_state", REQUEST_STATES)
def test_every_illegal_transition_raises_and_changes_nothing(pool, from_state):
    request_id = pool.request_in(from_state)
    before = snapshot(pool.c, request_id)
    for to_state in REQUEST_STATES:
        if to_state in TRANSITIONS[from_state]:
            continue
        with pytest.raises(IllegalTransition) as illegal:
            pool.c.transition_request(request_id, to_state, on=on_for(to_state), now=T0 + 6 * S, note="try")
        assert (illegal.value.from_state, illegal.value.to_state, illegal.value.reason) == \
            (from_state, to_state, "not_allowed")
        assert snapshot(pool.c, request_id) == before


@pytest.mark.parametrize("from_state", REQUEST_STATES)
def test_every_allowed_transition_succeeds_and_is_recorded(pool, from_state):
    for to_state in sorted(TRANSITIONS[from_state]):
        request_id = pool.request_in(from_state)
        events = len(pool.c.request_history(request_id))
        record = pool.c.transition_request(request_id, to_state, on=on_for(to_state), now=T0 + 7 * S,
                                           note=f"{from_state} to {to_state}")
        assert record.state == to_state
        history = pool.c.request_history(request_id)
        assert len(history) == events + 1
        last = history[-1]
        assert (last.from_state, last.to_state, last.note) == (from_state, to_state, f"{from_state} to {to_state}")
        entry = pool.c.audit_entry(last.log_seq)
        assert entry.kind == "request_transition" and entry.payload["to"] == to_state
        assert "note=" not in repr(last)  # free text stays out of reprs
    assert pool.c.verify_audit_log().consistent


def test_unknown_states_and_requests(pool):
    request_id = pool.request_in("draft")
    with pytest.raises(ValueError):
        pool.c.transition_request(request_id, "teleported", now=T0)
    with pytest.raises(UnknownRequest):
        pool.c.transition_request("0" * 32, "queued", now=T0)
    with pytest.raises(UnknownRequest):
        pool.c.request("nope")
    with pytest.raises(TypeError):
        pool.c.transition_request(request_id, "queued", on=T0, now=T0)  # type: ignore[arg-type]


# ---- a hypothesis state machine against the table ----------------------------------------------------

class RequestLifecycle(RuleBasedStateMachine):
    """Random moves: legal ones (by the table) succeed and are recorded, illegal ones raise and
    change nothing; the request's state and history always match the model."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="requests-sm-"))
        sender = RecordingSender()
        self.c = new_campaign(self.folder / "c.db", sender, checkpoint_interval=None)
        sign(self.c, enrol(self.c, sender, 1))
        batch = self.c.prepare_batch("meta", filing_date=T0.date(), now=T0 + 4 * S)
        self.request = self.c.requests(batch=batch.id)[0].id
        self.state, self.events = "draft", 1

    def teardown(self) -> None:
        try:
            assert self.c.verify_audit_log().consistent
        finally:
            self.c.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    def log_size(self) -> int:
        return int(sql(self.c, "SELECT COUNT(*) FROM audit_log").fetchone()[0])

    @rule(to_state=st.sampled_from(REQUEST_STATES))
    def attempt(self, to_state: str) -> None:
        size = self.log_size()
        if to_state in TRANSITIONS[self.state]:
            record = self.c.transition_request(self.request, to_state, on=on_for(to_state), now=T0 + 5 * S)
            assert record.state == to_state
            self.state, self.events = to_state, self.events + 1
            assert self.log_size() == size + 1
        else:
            with pytest.raises(IllegalTransition):
                self.c.transition_request(self.request, to_state, on=on_for(to_state), now=T0 + 5 * S)
            assert self.log_size() == size

    @invariant()
    def matches_the_model(self) -> None:
        assert self.c.request(self.request).state == self.state
        assert len(self.c.request_history(self.request)) == self.events


RequestLifecycle.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None,
                                              suppress_health_check=[HealthCheck.too_slow])
TestRequestLifecycle = RequestLifecycle.TestCase


# ---- due dates -----------------------------------------------------------------------------------------

def test_the_due_date_runs_from_receipt(pool):
    request_id = pool.request_in("queued")
    assert pool.c.request(request_id).due_on is None
    record = pool.c.transition_request(request_id, "sent", on=RECEIVED, now=T0 + 8 * S)
    assert (record.received_on, record.due_on, record.statutory_due_on) == (RECEIVED, DUE, DUE)
    default = pool.request_in("queued")
    assert pool.c.transition_request(default, "sent", now=T0).received_on == T0.date()  # default: the UTC date


def test_an_extension_announced_in_time_and_too_late(pool):
    in_time, late, early = pool.request_in("queued"), pool.request_in("queued"), pool.request_in("queued")
    for request_id in (in_time, late, early):
        pool.c.transition_request(request_id, "sent", on=date(2021, 1, 31), now=T0)
    record = pool.c.transition_request(in_time, "extended", on=date(2021, 3, 1), now=T0)  # the last day
    assert (record.extension_on, record.due_on) == (date(2021, 3, 1), date(2021, 4, 30))
    with pytest.raises(ExtensionTooLate) as too_late:
        pool.c.transition_request(late, "extended", on=date(2021, 3, 2), now=T0)
    assert isinstance(too_late.value, IllegalTransition) and too_late.value.deadline == date(2021, 3, 1)
    record = pool.c.request(late)
    assert (record.state, record.extension_on, record.due_on) == ("sent", None, date(2021, 3, 1))
    with pytest.raises(IllegalTransition) as before:
        pool.c.transition_request(early, "extended", on=date(2021, 1, 30), now=T0)
    assert before.value.reason == "not_received"


def test_waiting_for_information_pauses_the_clock(pool):
    request_id = pool.request_in("sent")  # received 15 March 2024, due 15 April
    pool.c.transition_request(request_id, "needs_input", on=date(2024, 3, 20), now=T0)
    waiting = pool.c.request(request_id, now=datetime(2024, 3, 22, tzinfo=timezone.utc))
    assert waiting.paused_days == 3 and waiting.due_on == date(2024, 4, 18)
    assert request_id not in {r.id for r in pool.c.overdue(date(2024, 6, 1))}  # not overdue while paused
    with pytest.raises(IllegalTransition) as bad:
        pool.c.transition_request(request_id, "sent", on=date(2024, 3, 19), now=T0)
    assert bad.value.reason == "bad_date"
    record = pool.c.transition_request(request_id, "sent", on=date(2024, 3, 27), now=T0)
    assert record.paused_days == 8  # 20 to 27 March, both counted
    assert (record.due_on, record.statutory_due_on) == (date(2024, 4, 23), DUE)
    assert pool.c.audit_entry(pool.c.request_history(request_id)[-1].log_seq).payload["pause"] == \
        {"from": "2024-03-20", "to": "2024-03-27"}


def test_overdue(tmp_path, tmp_store):
    sender = RecordingSender()
    with new_campaign(tmp_store("c"), sender, checkpoint_interval=None) as c:
        for i in range(4):
            sign(c, enrol(c, sender, i), controller="zoom" if i == 3 else "meta")
        meta = c.prepare_batch("meta", filing_date=T0.date(), now=T0 + 4 * S)
        zoom = c.prepare_batch("zoom", filing_date=T0.date(), now=T0 + 4 * S)
        a, b, d = (r.id for r in c.requests(batch=meta.id))
        (z,) = (r.id for r in c.requests(batch=zoom.id))
        for request_id in (a, b, d, z):
            c.transition_request(request_id, "queued", now=T0)
            c.transition_request(request_id, "sent", on=RECEIVED, now=T0)
        c.transition_request(b, "extended", on=date(2024, 4, 1), now=T0)
        c.transition_request(d, "fulfilled", on=date(2024, 4, 1), now=T0)
        with pytest.raises(IllegalTransition) as early:
            c.transition_request(a, "overdue", on=DUE, now=T0)  # the due date itself is still in time
        assert early.value.reason == "not_due"
        assert c.overdue(DUE) == []
        assert {r.id for r in c.overdue(DUE + timedelta(days=1))} == {a, z}
        assert {r.id for r in c.overdue(date(2024, 6, 17))} == {a, z}       # b: extended to 17 June
        assert {r.id for r in c.overdue(date(2024, 6, 18))} == {a, b, z}
        summary = c.request_summary()
        assert summary["sent"] == 2 and summary["extended"] == 1 and summary["fulfilled"] == 1
        assert set(summary) == set(REQUEST_STATES) and sum(summary.values()) == 4
        moved = c.mark_overdue(DUE + timedelta(days=1), now=T0 + 10 * S)
        assert {r.id for r in moved} == {a, z} and all(r.state == "overdue" for r in moved)
        assert c.request_summary("meta") == {**dict.fromkeys(REQUEST_STATES, 0), "overdue": 1, "extended": 1,
                                             "fulfilled": 1}
        assert c.request_summary("zoom")["overdue"] == 1
        assert c.mark_overdue(DUE + timedelta(days=1), now=T0 + 11 * S) == []
        with pytest.raises(UnknownController):
            c.request_summary("acme")
        with pytest.raises(TypeError):
            c.overdue(T0)  # type: ignore[arg-type]


# ---- batches ------------------------------------------------------------------------------------------

def test_who_is_in_a_batch(tmp_path, tmp_store):
    sender = RecordingSender()
    day = timedelta(days=1)
    with new_campaign(tmp_store("c"), sender, mandate_months=1) as c:
        ok = sign(c, enrol(c, sender, 0))
        revoked = sign(c, enrol(c, sender, 1))
        c.revoke_mandate(revoked.id, reason="no", now=T0 + 5 * S)
        other_controller = sign(c, enrol(c, sender, 2), controller="tiktok")
        other_scope = sign(c, enrol(c, sender, 3), scopes=("dpa_complaint",))
        late = sign(c, enrol(c, sender, 4, now=T0 + 3 * day), now=T0 + 3 * day + 3 * S)  # signed after the filing
        expiring = enrol(c, sender, 5, now=T0 - 30 * day)
        sign(c, expiring, now=T0 - 30 * day + 3 * S)  # ends 1 March + 1 month - 30 days: before the filing date
        filing = (T0 + day).date()
        batch = c.prepare_batch("meta", filing_date=filing, now=T0 + 6 * S)
        assert batch.requests == 1 and batch.scope == "gdpr_access_art15" and batch.filing_date == filing
        assert [r.mandate for r in c.requests(batch=batch.id)] == [ok.id]
        with pytest.raises(BatchError) as empty:  # ok already has an open request
            c.prepare_batch("meta", filing_date=filing, now=T0 + 7 * S)
        assert empty.value.reason == "empty"
        complaint = c.prepare_batch("meta", filing_date=filing, scope="dpa_complaint", now=T0 + 8 * S)
        assert [r.mandate for r in c.requests(batch=complaint.id)] == [other_scope.id]
        assert [r.mandate for r in c.requests(batch=c.prepare_batch("tiktok", filing_date=filing).id)] == \
            [other_controller.id]
        later = c.prepare_batch("meta", filing_date=(T0 + 4 * day).date(), now=T0 + 4 * day)
        assert [r.mandate for r in c.requests(batch=later.id)] == [late.id]
        (first,) = c.requests(batch=batch.id)
        c.transition_request(first.id, "cancelled", now=T0 + 9 * S)  # a cancelled request frees the mandate
        again = c.prepare_batch("meta", filing_date=filing, now=T0 + 10 * S)
        assert [r.mandate for r in c.requests(batch=again.id)] == [ok.id]
        assert c.batch(again.id) == again
        with pytest.raises(UnknownController):
            c.prepare_batch("acme", filing_date=filing)
        with pytest.raises(InvalidMandate):
            c.prepare_batch("meta", filing_date=filing, scope="everything")
        with pytest.raises(TypeError):
            c.prepare_batch("meta", filing_date=T0)  # type: ignore[arg-type]
        with pytest.raises(BatchError) as unknown:
            c.batch("nope")
        assert unknown.value.reason == "unknown_batch"


@pytest.fixture
def exported(tmp_path, tmp_store):
    sender = RecordingSender()
    c = new_campaign(tmp_store("c"), sender)
    names = ["Jan Jansen", "=HYPERLINK(\"http://x\")", "Zoë d'Ancona, Jr.", "Revoked Before Export"]
    mandates = [sign(c, enrol(c, sender, i), signer_name=name) for i, name in enumerate(names)]
    batch = c.prepare_batch("meta", filing_date=date(2024, 3, 4), now=T0 + 5 * S)
    c.revoke_mandate(mandates[3].id, reason="changed my mind", now=T0 + 6 * S)
    export = c.export_batch(batch, tmp_path / "meta-2024-03-04", now=T0 + 7 * S)
    yield c, sender, mandates, batch, export
    c.close()


def test_an_export_holds_only_what_the_request_needs(exported):
    c, _, mandates, batch, export = exported
    folder = export.path
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "participants.csv"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no partial folder left
    for p in folder.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    raw = (folder / "participants.csv").read_bytes()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 4
    by_mandate = {row[1]: dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]}
    assert set(by_mandate) == {m.id for m in mandates[:3]}  # the revoked mandate never reaches the export
    jan = by_mandate[mandates[0].id]
    assert (jan["signer_name"], jan["phone_e164"], jan["template_version"]) == ("Jan Jansen", number(0), "v1")
    assert jan["mandate_signed_at"] == "2024-03-01T09:00:03Z" and jan["mandate_ends_at"] == "2025-03-01T09:00:03Z"
    assert jan["mandate_text_sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()
    assert int(jan["mandate_log_seq"]) == mandates[0].log_seq
    assert by_mandate[mandates[1].id]["signer_name"] == "'=HYPERLINK(\"http://x\")"  # no formula in a spreadsheet
    assert by_mandate[mandates[2].id]["signer_name"] == "Zoë d'Ancona, Jr."
    assert rows[1:] == sorted(rows[1:])  # by request id
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == export.manifest and manifest["batch"] == batch.id
    assert manifest["counts"] == {"requests": 3, "cancelled_before_export": 1}
    assert manifest["controller"]["legal_name"] == "Meta Platforms Ireland Limited"
    assert manifest["files"]["participants.csv"]["sha256"] == hashlib.sha256(raw).hexdigest() == \
        export.files["participants.csv"]
    assert export.files["manifest.json"] == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    head = TreeHead.from_json(manifest["audit_log"])
    assert head == export.tree_head and head.verify(bytes.fromhex(manifest["audit_log"]["public_key"]))
    entry = c.audit_entry(manifest["audit_log"]["export_entry_seq"])
    assert entry.kind == "batch_exported"
    assert entry.payload["files"]["participants.csv"] == hashlib.sha256(raw).hexdigest()
    assert head.tree_size == entry.seq == c.verify_audit_log().entries
    assert c.verify_audit_log(heads=[head]).ok  # the head kept in the manifest anchors the log
    assert not c.verify_audit_log().ok and c.verify_audit_log().consistent  # the store alone: consistency only
    summary = c.request_summary()
    assert (summary["queued"], summary["cancelled"]) == (3, 1)
    assert c.batch(batch.id).exported_at == T0 + 7 * S
    text = json.dumps(manifest)
    assert "Jan Jansen" not in text and number(0) not in text


def test_an_export_never_overwrites_and_never_repeats(exported, tmp_path, tmp_store):
    c, _, _, batch, export = exported
    with pytest.raises(BatchError) as again:
        c.export_batch(batch, tmp_path / "elsewhere", now=T0 + 8 * S)
    assert again.value.reason == "already_exported"
    sender = RecordingSender()
    with new_campaign(tmp_store("d"), sender) as d:
        sign(d, enrol(d, sender, 1))
        fresh = d.prepare_batch("meta", filing_date=T0.date(), now=T0 + 5 * S)
        (tmp_path / "empty").mkdir()
        for target, reason in ((export.path, "exists"), (tmp_path / "empty", "exists"),
                               (tmp_path / "no" / "such", "no_folder")):
            with pytest.raises(BatchError) as refused:
                d.export_batch(fresh.id, target, now=T0 + 6 * S)
            assert refused.value.reason == reason
        assert d.requests(batch=fresh.id)[0].state == "draft"


def test_an_export_is_all_or_nothing(tmp_path, monkeypatch, tmp_store):
    sender = RecordingSender()
    with new_campaign(tmp_store("c"), sender) as c:
        sign(c, enrol(c, sender, 1))
        batch = c.prepare_batch("meta", filing_date=T0.date(), now=T0 + 5 * S)
        entries, heads = c.verify_audit_log().entries, c.verify_audit_log().checkpoints

        def failing_rename(src: object, dst: object) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(os, "rename", failing_rename)
        with pytest.raises(OSError, match="disk full"):
            c.export_batch(batch, tmp_path / "out", now=T0 + 6 * S)
        monkeypatch.undo()
        assert list(tmp_path.iterdir()) == [p for p in tmp_path.iterdir() if p.name.startswith("c.db")]
        report = c.verify_audit_log()
        assert (report.entries, report.checkpoints) == (entries, heads)
        assert c.requests(batch=batch.id)[0].state == "draft" and c.batch(batch.id).exported_at is None
        assert c.export_batch(batch, tmp_path / "out", now=T0 + 7 * S).requests == 1


def test_a_revocation_after_the_export_asks_for_a_notice(exported):
    c, _, mandates, batch, _ = exported
    queued, sent, fulfilled = (next(r for r in c.requests(batch=batch.id) if r.mandate == m.id) for m in mandates[:3])
    c.transition_request(sent.id, "sent", on=RECEIVED, now=T0 + 8 * S)
    c.transition_request(fulfilled.id, "sent", on=RECEIVED, now=T0 + 8 * S)
    c.transition_request(fulfilled.id, "fulfilled", on=RECEIVED, now=T0 + 8 * S)
    for m in mandates[:3]:
        c.revoke_mandate(m.id, reason="stop", now=T0 + 9 * S)
    assert c.request(queued.id).state == c.request(sent.id).state == "cancelled"
    assert c.request(fulfilled.id).state == "fulfilled"  # done: left as it is
    notices = {r.id: r.notice for r in c.pending_notices()}
    assert notices == {queued.id: "withdraw_from_filing", sent.id: "notify_controller"}
    assert c.pending_notices("zoom") == []
    done = c.mark_notice_sent(sent.id, now=T0 + 10 * S)
    assert done.notice_sent_at == T0 + 10 * S and c.mark_notice_sent(sent.id, now=T0 + 11 * S) == done
    assert {r.id for r in c.pending_notices("meta")} == {queued.id}
    with pytest.raises(ValueError):
        c.mark_notice_sent(fulfilled.id)
    revoked_entry = c.audit_entries(ref=mandates[1].id)[-1]
    assert revoked_entry.kind == "mandate_revoked"
    assert revoked_entry.payload["notices"] == {sent.id: "notify_controller"}
    assert c.verify_audit_log().consistent
