"""Notifications: by SMS and by e-mail through a real SMTP server on loopback (aiosmtpd), told
once, never the data or the number in a message, opt-outs honoured, every attempt logged."""
from __future__ import annotations

from datetime import date, datetime, timezone
from email import message_from_bytes
from functools import partial
from pathlib import Path

import pytest
from helpers import campaign as shared
from helpers.campaign import S, number
from helpers.mandate_texts import registry
from helpers.vault import FAST

from breachindex import Key
from breachindex.campaign import RecordingSender
from breachindex.campaign.channels import RecordingChannel, SmsChannel, SmtpChannel
from breachindex.campaign.notifications import Notifier, message_for
from breachindex.errors import NotificationFailed, UnknownParticipant

pytest.importorskip("aiosmtpd")

KEY = Key(b"notification tests secret, 32 b!")
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
TEXT = "Ik machtig SOMI om namens mij inzage te vragen (art. 15 AVG)."
EVIDENCE = {"ip": "192.0.2.7", "user_agent": "test",
            "consents": ["privacy_notice_read", "authorise_access_request", "authorise_dpa_complaint"]}
URL = "https://check.somi.example/"
SECRET_ANSWER = b"Meta's answer: name Jan Jansen, born 1970-01-01"

new_campaign = partial(shared.new_campaign, secret=KEY, templates=registry([TEXT], EVIDENCE["consents"]),
                       checkpoint_interval=None)
enrol = partial(shared.enrol, now=T0)
sign = partial(shared.sign, now=T0 + 3 * S, text=TEXT, evidence=EVIDENCE)


@pytest.fixture
def smtp():
    from helpers.smtp import smtp_server

    with smtp_server() as (box, port):
        yield box, SmtpChannel("127.0.0.1", port, sender="berichten@somi.example", starttls=False, timeout=10)


@pytest.fixture
def world(tmp_path: Path, tmp_store):
    sender = RecordingSender()
    c = new_campaign(tmp_store("c"), sender)
    vault = c.vault(tmp_path / "vault", kdf=FAST)
    yield c, sender, vault
    c.close()


def test_data_arrived_by_sms_and_email_told_once_without_the_data(world, smtp):
    c, sender, vault = world
    box, email = smtp
    sms = RecordingChannel("sms")
    notifier = Notifier(c, [sms, email], page_url=URL)
    pid = enrol(c, sender, 1)
    notifier.set_preferences(pid, email="person@example.org", lang="en")
    vault.setup(pid, "correct horse battery staple", now=T0 + 4 * S)
    item = vault.store(pid, "meta", [SECRET_ANSWER])
    deliveries = notifier.data_arrived(item)
    assert sorted((d.channel, d.outcome) for d in deliveries) == [("email", "sent"), ("sms", "sent")]
    ((to, text),) = sms.sent
    assert to == number(1) and "Meta Platforms Ireland Limited" in text.body and URL in text.body
    ((rcpt, raw),) = box.messages
    mail = message_from_bytes(raw)
    assert rcpt == ["person@example.org"] and mail["Subject"] == "Meta Platforms Ireland Limited has answered"
    assert mail["Auto-Submitted"] == "auto-generated" and mail["From"] == "berichten@somi.example"
    body = mail.get_payload(decode=True).decode()
    assert "in your vault" in body and "Turn them off" in body
    for message in (text.body, body, mail["Subject"]):
        assert "Jan Jansen" not in message and number(1)[1:] not in message and "1970" not in message
    assert notifier.data_arrived(item) == []  # told once
    assert len(sms.sent) == 1 and len(box.messages) == 1
    logged = [e.payload for e in c.audit_entries(participant=pid) if e.kind == "notification_sent"]
    assert sorted((p["channel"], p["outcome"]) for p in logged) == [("email", "sent"), ("sms", "sent")]
    assert all("person@example.org" not in str(p) and number(1) not in str(p) for p in logged)
    prefs_entry = [e.payload for e in c.audit_entries(participant=pid) if e.kind == "contact_preferences_set"]
    assert prefs_entry == [{"email_given": True, "sms": True, "email_allowed": True, "lang": "en"}]


def test_opt_outs_and_missing_addresses_are_honoured_and_logged(world):
    c, sender, vault = world
    sms, email = RecordingChannel("sms"), RecordingChannel("email")
    notifier = Notifier(c, [sms, email], page_url=URL)
    pid = enrol(c, sender, 1)
    notifier.set_preferences(pid, sms=False)
    vault.setup(pid, "correct horse battery staple", now=T0 + 4 * S)
    item = vault.store(pid, "meta", [b"x"])
    assert sorted((d.channel, d.outcome) for d in notifier.data_arrived(item)) == \
        [("email", "no_address"), ("sms", "opted_out")]
    assert sms.sent == [] and email.sent == []
    notifier.set_preferences(pid, email="p@example.org", email_allowed=False, sms=True)
    second = vault.store(pid, "meta", [b"y"])
    assert sorted((d.channel, d.outcome) for d in notifier.data_arrived(second)) == \
        [("email", "opted_out"), ("sms", "sent")]
    assert email.sent == [] and len(sms.sent) == 1


def test_a_failing_channel_does_not_stop_the_other_and_a_total_failure_is_retried(world):
    c, sender, vault = world
    broken_sms, email = RecordingChannel("sms", fail=True), RecordingChannel("email")
    notifier = Notifier(c, [broken_sms, email], page_url=URL)
    pid = enrol(c, sender, 1)
    vault.setup(pid, "correct horse battery staple", now=T0 + 4 * S)
    item = vault.store(pid, "meta", [b"x"])
    assert [d.outcome for d in notifier.data_arrived(item)] == ["failed", "no_address"]  # not told: retried later
    broken_sms.fail = False
    assert [d.outcome for d in notifier.data_arrived(item)] == ["sent", "no_address"]
    assert notifier.data_arrived(item) == []


def test_overdue_requests_tell_that_somi_escalates(world):
    c, sender, _ = world
    sms = RecordingChannel("sms")
    notifier = Notifier(c, [sms], page_url=URL)
    pid = enrol(c, sender, 1)
    sign(c, pid)
    batch = c.prepare_batch("meta", filing_date=T0.date(), now=T0 + 4 * S)
    (request,) = c.requests(batch=batch.id)
    c.transition_request(request.id, "queued", on=date(2025, 2, 17), now=T0 + 5 * S)
    c.transition_request(request.id, "sent", on=date(2025, 2, 17), now=T0 + 6 * S)
    moved = c.mark_overdue(date(2025, 3, 19), now=T0 + 7 * S)
    assert [d.outcome for d in notifier.request_overdue(moved)] == ["sent"]
    ((_, message),) = sms.sent
    assert "ingebrekestelling" in message.body and "Meta Platforms Ireland Limited" in message.body
    assert notifier.request_overdue(moved) == []


def test_a_new_breach_tells_exactly_the_participants_whose_number_it_holds(world, tmp_path):
    import breachindex as bi

    c, sender, _ = world
    sms = RecordingChannel("sms")
    notifier = Notifier(c, [sms], page_url=URL)
    inside, outside = enrol(c, sender, 1), enrol(c, sender, 2)
    records = [(number(1), "facebook-2021", ["name"]), (number(2), "facebook-2021", ["name"]),
               (number(1), "scrape-2026", ["email_address"]), ("+31612349876", "scrape-2026", ["name"])]
    bi.build(tmp_path / "idx", records, key=KEY)
    with bi.open(tmp_path / "idx", key=KEY) as index:
        deliveries = notifier.new_breach(index, "scrape-2026")
        assert [(d.participant, d.outcome) for d in deliveries] == [(inside, "sent")]
        assert notifier.new_breach(index, "scrape-2026") == []
        with pytest.raises(ValueError):
            notifier.new_breach(index, "no-such-breach")
    ((to, message),) = sms.sent
    assert to == number(1) and "(scrape-2026)" in message.body and outside != inside


def test_preferences_are_checked_sealed_and_erased_with_the_participant(world):
    c, sender, vault = world
    notifier = Notifier(c, [RecordingChannel("sms")], page_url=URL)
    pid = enrol(c, sender, 1)
    for bad in ("not-an-address", "a@b", "x" * 70 + "@example.org"):
        with pytest.raises(ValueError):
            notifier.set_preferences(pid, email=bad)
    with pytest.raises(ValueError):
        notifier.set_preferences(pid, lang="de")
    with pytest.raises(UnknownParticipant):
        notifier.set_preferences("0" * 32, sms=False)
    prefs = notifier.set_preferences(pid, email="person@example.org")
    assert "person@example.org" not in repr(prefs) and prefs.email == "person@example.org"
    with c.context.store.read() as db:
        (sealed,) = db.execute("SELECT email_sealed FROM contact_preferences").fetchone()
    assert b"person@example.org" not in bytes(sealed)
    assert notifier.set_preferences(pid, email=None).email is None
    vault.erase(pid)
    with c.context.store.read() as db:
        assert db.execute("SELECT COUNT(*) FROM contact_preferences").fetchone()[0] == 0


def test_channels_refuse_what_they_cannot_do_safely():
    with pytest.raises(ValueError, match="encrypted"):
        SmtpChannel("smtp.example", sender="a@example.org", username="u", password="p", starttls=False)
    channel = SmtpChannel("127.0.0.1", 1, sender="a@example.org", starttls=False, timeout=2)
    assert "hunter2" not in repr(SmtpChannel("h", sender="a@example.org", username="u", password="hunter2"))
    with pytest.raises(NotificationFailed) as failed:  # nothing listens on port 1
        channel.send("person@example.org", message_for("data_arrived", "nl", channel="email", url=URL,
                                                       controller="Meta"))
    assert failed.value.channel == "email" and "person@example.org" not in str(failed.value)

    class Refusing:
        def send(self, e164: str, text: str) -> None:
            from breachindex.errors import SmsSendFailed

            raise SmsSendFailed("gateway down")

    with pytest.raises(NotificationFailed):
        SmsChannel(Refusing()).send("+31612340001", message_for("new_breach", "en", channel="sms", url=URL,
                                                                breach="x"))
