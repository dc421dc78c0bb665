"""``breachindex campaign vault``: an operator streams an answer in (from a file and from
standard input), lists, sweeps and erases; the request moves; the person opens the same bytes;
errors are one line and keep nothing; no number printed."""
from __future__ import annotations

import io
import json
import os
from datetime import date, datetime, timezone
from pathlib import Path

from helpers import campaign as shared
from helpers.campaign import S, number
from helpers.mandate_texts import registry

from breachindex import Key
from breachindex.campaign import Campaign, RecordingSender
from breachindex.cli.main import main

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
TEXT = "Ik machtig SOMI om namens mij inzage te vragen (art. 15 AVG)."
CONSENTS = ["privacy_notice_read", "authorise_access_request", "authorise_dpa_complaint"]
PASSPHRASE = "correct horse battery staple"


def test_the_operator_streams_an_answer_in_and_the_person_reads_it_back(tmp_path, capsys, monkeypatch):
    key_path = tmp_path / "secret.key"
    Key.generate().save(key_path)
    key = Key.load(key_path)
    sender = RecordingSender()
    db, folder = tmp_path / "c.db", tmp_path / "vault"
    with shared.new_campaign(db, sender, secret=key, templates=registry([TEXT], CONSENTS)) as c:
        pid = shared.enrol(c, sender, 1, now=T0)
        shared.sign(c, pid, now=T0 + 3 * S, text=TEXT, evidence={"ip": "192.0.2.7", "user_agent": "t",
                                                                 "consents": CONSENTS})
        batch = c.prepare_batch("meta", filing_date=T0.date(), now=T0 + 4 * S)
        (request,) = c.requests(batch=batch.id)
        c.transition_request(request.id, "queued", on=date(2025, 2, 17), now=T0 + 5 * S)
        c.transition_request(request.id, "sent", on=date(2025, 2, 17), now=T0 + 6 * S)
        c.vault(folder).setup(pid, PASSPHRASE, now=T0 + 7 * S)
    answer = os.urandom(3 << 20) + b"end"
    (tmp_path / "answer.zip").write_bytes(answer)
    common = ["--db", str(db), "--key", str(key_path), "--vault", str(folder), "--json"]
    assert main(["campaign", "vault", "store", pid, str(tmp_path / "answer.zip"), "--controller", "meta",
                 "--request", request.id, "--name", "answer.zip", *common]) == 0
    stored = json.loads(capsys.readouterr().out)
    assert stored["size"] == len(answer) and stored["notified"] is None
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"second part")))
    assert main(["campaign", "vault", "store", pid, "-", "--controller", "meta", *common]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["size"] == len(b"second part")
    assert main(["campaign", "vault", "list", pid, *common]) == 0
    listed = json.loads(capsys.readouterr().out)["items"]
    assert [i["id"] for i in listed] == [stored["id"], second["id"]]
    with Campaign(db, secret=key, sender=sender) as c:
        assert c.request(request.id).state == "fulfilled"
        target = c.vault(folder).open_to(pid, PASSPHRASE, stored["id"], tmp_path / "back.zip")
    assert target.read_bytes() == answer

    # errors: one line, exit 2, nothing kept
    assert main(["campaign", "vault", "store", pid, str(tmp_path / "nope.zip"), "--controller", "meta",
                 *common]) == 2
    assert main(["campaign", "vault", "store", "0" * 32, str(tmp_path / "answer.zip"), "--controller", "meta",
                 *common]) == 2
    assert "vault_not_set_up" in capsys.readouterr().err
    assert main(["campaign", "vault", "store", pid, str(tmp_path / "answer.zip"), "--controller", "meta",
                 "--request", "f" * 32, *common]) == 2
    assert main(["campaign", "vault", "list", pid, *common]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == 2

    # sweep removes an abandoned temporary file; erase needs --yes
    bucket = next(p for p in Path(folder).rglob("*") if p.is_file() and p.name != "VAULT").parent
    stray = bucket / f".{'ab' * 16}.{'cd' * 8}.tmp"  # as an interrupted store leaves it
    stray.write_bytes(b"x")
    os.utime(stray, (0, 0))
    assert main(["campaign", "vault", "sweep", *common]) == 0
    assert json.loads(capsys.readouterr().out)["temp_removed"] == 1 and not stray.exists()
    assert main(["campaign", "vault", "erase", pid, *common]) == 2
    assert "--yes" in capsys.readouterr().err
    assert main(["campaign", "vault", "erase", pid, "--yes", *common]) == 0
    erased = json.loads(capsys.readouterr().out)
    assert erased["key_destroyed"] and erased["items"] == 2
    out, err = capsys.readouterr()
    assert number(1) not in out + err and number(1)[1:] not in out + err


def test_the_persons_vault_steps_from_a_shell_read_secrets_from_stdin(tmp_path, capsys, monkeypatch):
    key_path = tmp_path / "secret.key"
    Key.generate().save(key_path)
    sender = RecordingSender()
    db, folder = tmp_path / "c.db", tmp_path / "vault"
    with shared.new_campaign(db, sender, secret=Key.load(key_path)) as c:
        pid = shared.enrol(c, sender, 1, now=datetime.now(timezone.utc))
    common = ["--db", str(db), "--key", str(key_path), "--vault", str(folder), "--json"]

    def stdin(text: str) -> None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))

    stdin(PASSPHRASE + "\n")
    assert main(["campaign", "vault", "setup", pid, *common]) == 0
    code = json.loads(capsys.readouterr().out)["recovery_code"]
    (tmp_path / "a.bin").write_bytes(b"the answer")
    assert main(["campaign", "vault", "store", pid, str(tmp_path / "a.bin"), "--controller", "meta", *common]) == 0
    item = json.loads(capsys.readouterr().out)["id"]
    stdin("wrong passphrase, surely\n")
    assert main(["campaign", "vault", "open", pid, item, "--out", str(tmp_path / "x.bin"), *common]) == 2
    assert "wrong_passphrase" in capsys.readouterr().err and not (tmp_path / "x.bin").exists()
    stdin(f"{PASSPHRASE}\nanother long passphrase\n")
    assert main(["campaign", "vault", "passphrase", pid, *common]) == 0
    capsys.readouterr()
    stdin(f"{code}\na third long passphrase\n")
    assert main(["campaign", "vault", "recover", pid, *common]) == 0
    assert json.loads(capsys.readouterr().out)["recovery_code"] != code
    stdin("a third long passphrase\n")
    assert main(["campaign", "vault", "open", pid, item, "--out", str(tmp_path / "back.bin"), *common]) == 0
    assert (tmp_path / "back.bin").read_bytes() == b"the answer"
    stdin(f"{code}\nyet another passphrase\n")  # a used code
    assert main(["campaign", "vault", "recover", pid, *common]) == 2
    assert "wrong_recovery_code" in capsys.readouterr().err
