"""``breachindex campaign notify``: a new breach told once from a shell, overdue requests,
and the preferences an operator records for a person; never a number or an address printed."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

from helpers import campaign as shared
from helpers.campaign import S, number
from helpers.mandate_texts import registry

import breachindex as bi
from breachindex import Key
from breachindex.campaign import RecordingSender
from breachindex.cli.main import main

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
TEXT = "Ik machtig SOMI om namens mij inzage te vragen (art. 15 AVG)."
CONSENTS = ["privacy_notice_read", "authorise_access_request", "authorise_dpa_complaint"]
URL = "https://check.somi.example/"


def setup(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    key_path = tmp_path / "secret.key"
    Key.generate().save(key_path)
    key = Key.load(key_path)
    sender = RecordingSender()
    db = tmp_path / "c.db"
    with shared.new_campaign(db, sender, secret=key, templates=registry([TEXT], CONSENTS)) as c:
        pids = [shared.enrol(c, sender, i, now=T0) for i in (1, 2)]
        shared.sign(c, pids[0], now=T0 + 3 * S, text=TEXT, evidence={"ip": "192.0.2.7", "user_agent": "t",
                                                                     "consents": CONSENTS})
        batch = c.prepare_batch("meta", filing_date=T0.date(), now=T0 + 4 * S)
        (request,) = c.requests(batch=batch.id)
        c.transition_request(request.id, "queued", on=date(2025, 2, 17), now=T0 + 5 * S)
        c.transition_request(request.id, "sent", on=date(2025, 2, 17), now=T0 + 6 * S)
        c.mark_overdue(date(2025, 3, 19), now=T0 + 7 * S)
    bi.build(tmp_path / "idx", [(number(1), "facebook-2021", ["name"]), (number(2), "facebook-2021", ["name"]),
                                (number(1), "scrape-2026", ["email_address"])], key=key)
    return db, key_path, pids


def test_notify_a_new_breach_overdue_requests_and_preferences(tmp_path, capsys):
    db, key_path, (first, second) = setup(tmp_path)
    base = ["campaign", "notify"]
    common = ["--db", str(db), "--key", str(key_path)]
    channel = ["--page-url", URL, "--sms-sender", "console"]
    assert main([*base, "new-breach", *common, "--index", str(tmp_path / "idx"), "--breach", "scrape-2026",
                 *channel, "--json"]) == 0
    out, err = capsys.readouterr()
    told = json.loads(out)
    assert told["told"] == 1 and [d["participant"] for d in told["deliveries"]] == [first]
    assert "scrape-2026" in err and number(1) not in err and number(1)[1:] not in out + err  # console masks it
    assert main([*base, "new-breach", *common, "--index", str(tmp_path / "idx"), "--breach", "scrape-2026",
                 *channel, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["told"] == 0  # once

    assert main([*base, "preferences", first, *common, "--sms", "off", "--email", "p@example.org", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == {"email_given": True, "sms": False, "email_allowed": True, "lang": "nl"}
    assert main([*base, "overdue", *common, *channel, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(d["participant"], d["channel"], d["outcome"]) for d in result["deliveries"]] == \
        [(first, "sms", "opted_out")]
    assert main([*base, "overdue", *common, "--page-url", URL]) == 2  # no channel given
    assert "give a channel" in capsys.readouterr().err
    assert second != first
