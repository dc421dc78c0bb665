"""Deadlines stored, not recomputed: a sent request keeps its statutory due date, the holiday
calendar it was counted with (the controller's: Ireland for Meta) and the holidays version."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import date, datetime, timezone
from functools import partial

import holidays
import pytest
from helpers import campaign as shared
from helpers.campaign import S
from helpers.mandate_texts import registry

from breachindex import Key
from breachindex.campaign import CONTROLLERS, RecordingSender
from breachindex.campaign import deadlines as deadlines_module
from breachindex.campaign.calendars import PER_CONTROLLER, FrozenCalendar, freeze_calendar
from breachindex.campaign.controllers import Controller

KEY = Key(b"stored deadline tests, 32 bytes!")
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
TEXT = "Ik machtig SOMI om namens mij inzage te vragen (art. 15 AVG)."
EVIDENCE = {"ip": "192.0.2.7", "user_agent": "test",
            "consents": ["privacy_notice_read", "authorise_access_request", "authorise_dpa_complaint"]}
#: received Monday 17 February 2025: one month later is Monday 17 March, St Patrick's Day in
#: Ireland (a working day in the Netherlands)
RECEIVED = date(2025, 2, 17)
DUE_IE, DUE_NL = date(2025, 3, 18), date(2025, 3, 17)
#: three months: Saturday 17 May -> Monday 19 May (no holiday in either country)
DUE_EXTENDED = date(2025, 5, 19)

new_campaign = partial(shared.new_campaign, secret=KEY, templates=registry([TEXT], EVIDENCE["consents"]),
                       checkpoint_interval=None)
enrol = partial(shared.enrol, now=T0)
sign = partial(shared.sign, now=T0 + 3 * S, text=TEXT, evidence=EVIDENCE)


def sent_requests(c, sender, first: int, count: int) -> list[str]:
    for i in range(first, first + count):
        sign(c, enrol(c, sender, i))
    batch = c.prepare_batch("meta", filing_date=T0.date(), now=T0 + 4 * S)
    ids = [r.id for r in c.requests(batch=batch.id)]
    for request_id in ids:
        c.transition_request(request_id, "queued", on=RECEIVED, now=T0 + 5 * S)
        c.transition_request(request_id, "sent", on=RECEIVED, now=T0 + 6 * S)
    return ids


def test_metas_deadline_counts_irish_holidays_and_the_choice_is_recorded(tmp_path, tmp_store):
    sender = RecordingSender()
    with new_campaign(tmp_store("c"), sender) as c:
        (request_id,) = sent_requests(c, sender, 1, 1)
        record = c.request(request_id)
        assert record.statutory_due_on == record.due_on == DUE_IE
        assert record.calendar is not None
        assert (record.calendar.source, record.calendar.chosen_by) == ("IE", "controller")
        assert record.calendar.holidays_version == holidays.__version__
        assert date(2025, 3, 17) in record.calendar and date(2025, 3, 17) in record.calendar.days
        # the audit entry of the move to sent says it all
        entry = [e for e in c.audit_entries() if e.kind == "request_transition"][-1]
        payload = entry.payload
        assert payload["to"] == "sent" and payload["statutory_due_on"] == "2025-03-18"
        assert (payload["calendar"], payload["calendar_chosen_by"]) == ("IE", "controller")
        assert payload["holidays_version"] == holidays.__version__
        assert c.overdue(DUE_IE) == [] and [r.id for r in c.overdue(DUE_IE.replace(day=19))] == [request_id]


def test_one_calendar_for_all_is_recorded_as_the_campaigns_choice(tmp_path, tmp_store):
    sender = RecordingSender()
    with new_campaign(tmp_store("c"), sender, deadline_holidays="NL") as c:
        (request_id,) = sent_requests(c, sender, 1, 1)
        record = c.request(request_id)
        assert record.statutory_due_on == DUE_NL
        assert record.calendar is not None and (record.calendar.source, record.calendar.chosen_by) == ("NL", "campaign")


def test_a_later_registry_or_holidays_change_never_moves_a_running_deadline(tmp_path, monkeypatch, tmp_store):
    sender = RecordingSender()
    path = tmp_store("c")
    with new_campaign(path, sender) as c:
        (first,) = sent_requests(c, sender, 1, 1)
    # the registry now counts Meta with Dutch holidays: the running request keeps Ireland's
    dutch_meta = {**CONTROLLERS, "meta": replace(CONTROLLERS["meta"], deadline_calendar="NL")}
    with new_campaign(path, sender, controllers=dutch_meta) as c:
        assert c.request(first).due_on == DUE_IE
        (second,) = sent_requests(c, sender, 2, 1)
        assert c.request(second).due_on == DUE_NL and c.request(second).calendar.source == "NL"
    # a holidays update that loses St Patrick's Day changes nothing either
    monkeypatch.setattr(deadlines_module, "country_holidays", lambda code, year: frozenset())
    with new_campaign(path, sender) as c:
        assert c.request(first).due_on == c.request(first).statutory_due_on == DUE_IE


def test_an_extension_stores_the_three_month_date_counted_with_the_frozen_calendar(tmp_path, tmp_store):
    sender = RecordingSender()
    with new_campaign(tmp_store("c"), sender) as c:
        (request_id,) = sent_requests(c, sender, 1, 1)
        record = c.transition_request(request_id, "extended", on=date(2025, 3, 10), now=T0 + 7 * S)
        assert record.statutory_due_on == record.due_on == DUE_EXTENDED
        payload = [e for e in c.audit_entries() if e.kind == "request_transition"][-1].payload
        assert payload["to"] == "extended" and payload["statutory_due_on"] == DUE_EXTENDED.isoformat()


def test_a_pause_moves_the_due_date_but_not_the_statutory_one(tmp_path, tmp_store):
    sender = RecordingSender()
    with new_campaign(tmp_store("c"), sender) as c:
        (request_id,) = sent_requests(c, sender, 1, 1)
        c.transition_request(request_id, "needs_input", on=date(2025, 2, 20), now=T0 + 7 * S)
        record = c.transition_request(request_id, "sent", on=date(2025, 2, 21), now=T0 + 8 * S)
        assert record.paused_days == 2 and record.statutory_due_on == DUE_IE
        assert record.due_on == date(2025, 3, 19)  # 17 March + 2 days, a working day in Ireland


def test_requests_sent_before_deadlines_were_stored_are_frozen_once_and_logged(tmp_path):
    sender = RecordingSender()
    path = tmp_path / "c.db"
    with new_campaign(path, sender) as c:
        ids = sent_requests(c, sender, 1, 2)
        entries_before = c.verify_audit_log().entries
    db = sqlite3.connect(path)
    with db:  # as a store written by version 5 left them
        db.execute("UPDATE requests SET statutory_due_on = NULL, deadline_calendar = NULL")
    db.close()
    with new_campaign(path, sender) as c:
        assert all(c.request(r).statutory_due_on == DUE_IE and c.request(r).calendar is not None for r in ids)
        frozen = [e for e in c.audit_entries() if e.kind == "request_deadline_frozen"]
        assert sorted(e.ref for e in frozen) == sorted(ids)
        assert c.verify_audit_log().consistent and c.verify_audit_log().entries == entries_before + 2
    with new_campaign(path, sender) as c:  # once only
        assert len([e for e in c.audit_entries() if e.kind == "request_deadline_frozen"]) == 2


def test_frozen_calendars_round_trip_and_cover_their_window():
    frozen = freeze_calendar(("NL", "IE"), RECEIVED, chosen_by="campaign")
    assert frozen.source == "IE+NL" and (frozen.first_year, frozen.last_year) == (2025, 2027)
    assert FrozenCalendar.from_text(frozen.to_text()) == frozen
    assert frozen.to_json() == {"source": "IE+NL", "chosen_by": "campaign", "holidays_version": holidays.__version__,
                                "window": [2025, 2027]}
    assert date(2026, 3, 17) in frozen and date(2027, 4, 27) in frozen  # St Patrick's, King's Day
    assert json.loads(frozen.to_text())["holidays_version"] == holidays.__version__
    custom = freeze_calendar({date(2025, 3, 3)}, RECEIVED, chosen_by="campaign")
    assert custom.source == "custom" and custom.days == {date(2025, 3, 3)} and custom.holidays_version is None
    weekends = freeze_calendar(None, RECEIVED, chosen_by="campaign")
    assert weekends.source == "weekends-only" and not weekends.days


def test_a_controllers_calendar_is_its_country_unless_set_and_bad_ones_are_refused():
    assert CONTROLLERS["meta"].calendar == "IE" and CONTROLLERS["zoom"].calendar == "US"
    both = Controller("x", "X Ltd", "privacy@x.example", "1 Street, Dublin", "IE", deadline_calendar="IE+NL")
    assert both.calendar == ("IE", "NL") and both.to_json()["deadline_calendar"] == "IE+NL"
    for bad in ("ie", "IE+", "I", "IE NL"):
        with pytest.raises(ValueError, match="deadline_calendar"):
            Controller("x", "X Ltd", "privacy@x.example", "1 Street", "IE", deadline_calendar=bad)
    assert PER_CONTROLLER == "per-controller"
