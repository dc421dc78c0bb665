"""The command line a shell script drives: ``lookup`` (exit 0 found, 1 not found, 2 error),
``verify`` and ``stats`` with ``--json``, and ``campaign ...`` covering the whole workflow:
keygen, build, lookup, a code sent by the console sender and read back from stderr, confirm,
ID check, mandate, batch, export, deadlines, the audit log verified, tampered with directly in
SQLite and named. Every output is checked for numbers, codes and names.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from breachindex.campaign.controllers import CONTROLLERS
from breachindex.campaign.templates import CURRENT_VERSION
from breachindex.cli.main import main
from breachindex.cli.output import error_code, redact_digits
from breachindex.errors import CodeExpired, CodeInvalid
from breachindex.server.templates import render

NUMBER = "+31612345678"          # in the tiny index, and the participant's number
NOT_IN_INDEX = "+31687654329"
NATIONAL = "06 12345678"
NAME = "Jan de Vries-Çelik"
CONFIRMED_NAME = "Johannes de Vries"
# every form of the number that must never be printed
NUMBER_FORMS = ("31612345678", "612345678", "0612345678", "06 12345678", "87654329")
LEAK = (b"31612345678:100001:Jan:de Vries:male:Amsterdam:Utrecht:Married:Acme BV:2018-01-01T00-00-00+0000:"
        b"jan@example.nl:\n"
        b"4915112345678:100015:Hans:Muller:male:Berlin::::::1990-01-01\n")
TEXT = render(CURRENT_VERSION, "nl", CONTROLLERS["meta"])[0]  # type: ignore[index]
T = "2025-03-01T09:00:{:02d}Z"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)

    def error(self) -> dict[str, object]:
        document = json.loads(self.err)
        assert set(document) == {"error"}
        return document["error"]  # type: ignore[no-any-return]


class Shell:
    """Runs ``breachindex ...`` in-process and keeps every output for the privacy checks."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self._capsys = capsys
        self._monkeypatch = monkeypatch
        self.outputs: list[str] = []

    def __call__(self, *argv: str, stdin: str | None = None) -> Run:
        self._capsys.readouterr()
        if stdin is not None:
            self._monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(argv))
        captured = self._capsys.readouterr()
        self.outputs += [captured.out, captured.err]
        return Run(code, captured.out, captured.err)


@pytest.fixture
def sh(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Shell:
    return Shell(capsys, monkeypatch)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A key (keygen) and a two-number index (build), made by the command line itself."""
    root = tmp_path_factory.mktemp("cli")
    key, leak, index = root / "leak.key", root / "NL.txt", root / "leak.idx"
    assert main(["keygen", str(key)]) == 0
    leak.write_bytes(LEAK)
    assert main(["build", str(index), "--key", str(key), "--quiet", str(leak)]) == 0
    yield {"root": root, "key": key, "index": index}


def assert_private(outputs: list[str], *secrets: str) -> None:
    """No output holds a form of the number, nor any of ``secrets`` (codes, names)."""
    text = "\n".join(outputs)
    for secret in (*NUMBER_FORMS, *secrets):
        assert secret not in text, f"an output contains {secret!r}"


# ---- lookup, verify, stats ------------------------------------------------------------------------

def test_lookup_answers_like_grep(world, sh):
    index, key = str(world["index"]), str(world["key"])
    found = sh("lookup", index, NUMBER, "--key", key, "--json")
    assert found.code == 0 and found.err == ""
    assert found.json() == {"found": True, "breaches": ["facebook-2021"], "country": "NL", "data_classes": [
        "account_dates", "email_address", "employer", "facebook_id", "gender", "hometown", "location", "name",
        "phone_number", "relationship_status"]}
    national = sh("lookup", index, NATIONAL, "--region", "NL", "--key", key)
    assert national.code == 0 and national.out.startswith("found: facebook-2021 (NL); data: account_dates")
    missing = sh("lookup", index, NOT_IN_INDEX, "--key", key, "--json")
    assert missing.code == 1 and missing.json() == {"found": False, "breaches": [], "country": None,
                                                    "data_classes": []}
    assert sh("lookup", index, NOT_IN_INDEX, "--key", key).out == "not found\n"
    invalid = sh("lookup", index, "12", "--key", key, "--json")
    assert invalid.code == 2 and invalid.out == ""
    assert invalid.error() == {"code": "invalid_phone_number", "reason": "not_a_number",
                               "message": "does not look like a phone number"}
    national_without_region = sh("lookup", index, NATIONAL, "--key", key, "--json")
    assert national_without_region.code == 2 and national_without_region.error()["reason"] == "missing_region"
    assert sh("lookup", index, "-", "--key", key, stdin=NUMBER + "\n").code == 0  # from stdin
    assert_private(sh.outputs)


def test_lookup_errors_are_json_with_stable_codes(world, sh, tmp_path):
    index, key = str(world["index"]), str(world["key"])
    other = tmp_path / "other.key"
    assert sh("keygen", str(other)).code == 0
    wrong = sh("lookup", index, NUMBER, "--key", str(other), "--json")
    assert wrong.code == 2 and wrong.error()["code"] == "wrong_key"
    nothing = sh("lookup", str(tmp_path / "nope.idx"), NUMBER, "--key", key, "--json")
    assert nothing.code == 2 and nothing.error()["code"] in ("index_corrupted", "file_not_found")
    usage = sh("lookup", index, "--key", key, "--json")
    assert usage.code == 2 and usage.error()["code"] == "usage"
    text = sh("lookup", index, NUMBER, "--key", str(other))
    assert text.code == 2 and text.err.startswith("breachindex: error: ") and text.out == ""
    # a number typed where an option goes is echoed by argparse: blanked out
    stray = sh("lookup", index, NUMBER, "--key", key, "--bogus", "0612345678", "--json")
    assert stray.code == 2 and "[digits]" in stray.error()["message"]  # type: ignore[operator]
    assert_private(sh.outputs)


def test_verify_and_stats_answer_in_json(world, sh, tmp_path):
    import shutil

    key = str(world["key"])
    ok = sh("verify", str(world["index"]), "--key", key, "--json")
    assert ok.code == 0
    report = ok.json()
    assert isinstance(report, dict) and report["ok"] is True and report["rows"] == 2 and report["files"] > 3
    stats = sh("stats", str(world["index"]), "--key", key, "--json")
    assert stats.code == 0 and stats.json()["rows"] == 2  # type: ignore[index]
    broken = tmp_path / "broken.idx"
    shutil.copytree(world["index"], broken)
    keys = broken / "keys.bin"
    data = bytearray(keys.read_bytes())
    data[-9] ^= 0xFF  # a key byte: the file's checksum no longer holds
    keys.write_bytes(bytes(data))
    bad = sh("verify", str(broken), "--key", key, "--json")
    assert bad.code == 2 and bad.out == ""
    error = bad.error()
    assert error["code"] == "index_corrupted" and error["file"] == "keys.bin"
    text = sh("verify", str(broken), "--key", key)
    assert text.code == 2 and "keys.bin" in text.err


def test_a_subprocess_gets_exit_codes_and_json(world, tmp_path):
    """The way a shell script sees it: a real process, its exit status, stdout parsed as JSON."""
    index, key = str(world["index"]), str(world["key"])

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "breachindex", *argv], capture_output=True, text=True,
                              timeout=120)

    found = run("lookup", index, NUMBER, "--key", key, "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["found"] is True
    missing = run("lookup", index, NOT_IN_INDEX, "--key", key, "--json")
    assert missing.returncode == 1 and json.loads(missing.stdout)["found"] is False
    invalid = run("lookup", index, "not a number", "--key", key, "--json")
    assert invalid.returncode == 2 and invalid.stdout == ""
    assert json.loads(invalid.stderr)["error"]["code"] == "invalid_phone_number"
    db = tmp_path / "c.db"
    start = run("campaign", "verification", "start", NUMBER, "--sender", "none", "--db", str(db), "--key", key,
                "--json")
    assert start.returncode == 0, start.stderr
    assert set(json.loads(start.stdout)) == {"challenge", "expires_at", "sender"}
    audit = run("campaign", "audit", "verify", "--db", str(db), "--key", key, "--json")
    report = json.loads(audit.stdout)  # an empty log, no head kept elsewhere: consistent, not proved
    assert audit.returncode == 1 and report["ok"] is False and report["consistent"] is True
    for proc in (found, missing, invalid, start, audit):
        assert_private([proc.stdout, proc.stderr])


# ---- the whole workflow ---------------------------------------------------------------------------

def test_the_whole_workflow_from_a_shell(world, sh, tmp_path):
    key = str(world["key"])
    db = str(tmp_path / "campaign.db")
    common = ("--db", db, "--key", key, "--json")

    def campaign(*argv: str, at: int | str | None = None, stdin: str | None = None) -> Run:
        now = () if at is None else ("--now", T.format(at) if isinstance(at, int) else at)
        return sh("campaign", *argv, *common, *now, stdin=stdin)

    # a code, sent by the console sender: the only place a code is shown, the number masked
    start = campaign("verification", "start", NUMBER, "--sender", "console", "--ip", "198.51.100.4", at=0)
    assert start.code == 0, start.err
    challenge = start.json()
    assert isinstance(challenge, dict) and challenge["expires_at"] == "2025-03-01T09:10:00Z"
    line = start.err.strip()
    assert re.fullmatch(r"\[breachindex SMS to \+31\*+78\] SOMI: .*", line), line
    code = re.search(r"code is (\d{6})", line).group(1)  # type: ignore[union-attr]
    console_line = sh.outputs.pop()  # set aside: every other output must hold no code

    wrong = campaign("verification", "confirm", challenge["challenge"], "000000" if code != "000000" else "111111",
                     at=5)
    assert wrong.code == 2 and wrong.error() == {"code": "code_invalid", "message": str(CodeInvalid())}
    confirmed = campaign("verification", "confirm", challenge["challenge"], "-", at=10, stdin=code + "\n")
    assert confirmed.code == 0, confirmed.err
    participant = confirmed.json()["participant"]  # type: ignore[index]
    assert re.fullmatch(r"[0-9a-f]{32}", participant)

    # no mandate before the ID check
    text_file = tmp_path / "mandate.txt"  # the published text, exactly as signed
    written = campaign("mandate", "text", "--controller", "meta", "--lang", "nl", "--out", str(text_file), at=12)
    assert written.code == 0 and text_file.read_bytes() == TEXT.encode("utf-8")
    assert written.json()["scopes"] == ["gdpr_access_art15"]  # type: ignore[index]
    again_text = campaign("mandate", "text", "--controller", "meta", "--lang", "nl", "--out", str(text_file), at=13)
    assert again_text.code == 2  # never over a file
    sign_args = ("mandate", "sign", participant, "--controller", "meta", "--scope", "gdpr_access_art15",
                 "--consent", "privacy_notice_read", "--consent", "authorise_access_request",
                 "--template-version", CURRENT_VERSION, "--text-file", str(text_file), "--ip", "198.51.100.4",
                 "--user-agent", "Mozilla/5.0 (X11; Linux x86_64)", "--signer-name", NAME)
    # a text that is not the published one, or a scope it does not name, is refused
    other_text = tmp_path / "other.txt"
    other_text.write_bytes(TEXT.replace("inzage te vragen", "gegevens te laten wissen").encode("utf-8"))
    swapped = campaign(*[str(other_text) if a == str(text_file) else a for a in sign_args], at=14)
    assert swapped.code == 2 and swapped.error()["reason"] == "text_not_template"
    wider = campaign(*sign_args, "--scope", "gdpr_erasure_art17", "--consent", "authorise_erasure_request", at=14)
    assert wider.code == 2 and wider.error()["reason"] == "scopes_not_in_text"
    refused = campaign(*sign_args, at=15)
    assert refused.code == 2 and refused.error()["code"] == "mandate_refused"
    assert refused.error()["reason"] == "identity_not_approved"

    identity = campaign("identity", "record", participant, "--provider", "idv", "--reference", "case-7",
                        "--status", "approved", "--confirmed-name", CONFIRMED_NAME, at=20)
    assert identity.code == 0 and identity.json()["status"] == "approved"  # type: ignore[index]
    assert campaign("identity", "status", participant).json()["identity_check"]["reference"] == "case-7"  # type: ignore[index]

    signed = campaign(*sign_args, at=30)
    assert signed.code == 0, signed.err
    mandate = signed.json()
    assert isinstance(mandate, dict)
    assert mandate["text_sha256"] == hashlib.sha256(text_file.read_bytes()).hexdigest()  # the file's exact bytes
    assert mandate["status"] == "active" and mandate["controller"] == "meta"
    assert mandate["scopes"] == ["gdpr_access_art15"] and mandate["name_source"] == "signed"
    # the name typed is not the one the ID check read: held until an operator has looked
    assert mandate["review"] == "signer_name_mismatch"
    held = campaign("batch", "prepare", "meta", "--filing-date", "2025-03-03", at="2025-03-02T08:00:00Z")
    assert held.code == 2 and held.error()["reason"] == "empty"
    cleared = campaign("mandate", "clear-review", mandate["id"], "--note", "calling name of Johannes", at=32)
    assert cleared.code == 0 and cleared.json()["review"] is None  # type: ignore[index]
    again = campaign(*sign_args, at=31)
    assert again.code == 2 and again.error()["reason"] == "already_active"

    listed = campaign("mandate", "list", "--participant", participant, at=40)
    assert [m["id"] for m in listed.json()["mandates"]] == [mandate["id"]]  # type: ignore[index]
    by_number = campaign("mandate", "list", "--number", "-", "--region", "NL", at=40, stdin=NATIONAL + "\n")
    assert by_number.json() == listed.json()
    text_list = sh("campaign", "mandate", "list", "--participant", participant, "--db", db, "--key", key,
                   "--now", T.format(41))
    assert text_list.code == 0 and text_list.out.split("\t")[:3] == [mandate["id"], "meta", "active"]
    later = sh("campaign", "mandate", "list", "--participant", participant, "--db", db, "--key", key,
               "--now", "2026-03-01T09:00:30Z")  # twelve months on, to the second
    assert later.out.split("\t")[:3] == [mandate["id"], "meta", "expired"]

    # the collective request: prepare, export (files exist, the manifest lists them)
    prepared = campaign("batch", "prepare", "meta", "--filing-date", "2025-03-03", at="2025-03-02T09:00:00Z")
    assert prepared.code == 0, prepared.err
    batch = prepared.json()
    assert isinstance(batch, dict) and batch["requests"] == 1 and batch["filing_date"] == "2025-03-03"
    empty = campaign("batch", "prepare", "meta", "--filing-date", "2025-03-03", at="2025-03-02T09:00:01Z")
    assert empty.code == 2 and empty.error() == {"code": "batch_error", "reason": "empty",
                                                 "message": empty.error()["message"]}
    out = tmp_path / "exports" / "meta-2025-03-03"
    out.parent.mkdir()
    exported = campaign("batch", "export", batch["id"], str(out), at="2025-03-02T10:00:00Z")
    assert exported.code == 0, exported.err
    export = exported.json()
    assert isinstance(export, dict) and export["requests"] == 1 and Path(export["manifest"]) == out / "manifest.json"
    manifest = json.loads((out / "manifest.json").read_text())
    csv_bytes = (out / "participants.csv").read_bytes()
    assert manifest["files"]["participants.csv"]["sha256"] == hashlib.sha256(csv_bytes).hexdigest()
    assert export["files"]["participants.csv"] == hashlib.sha256(csv_bytes).hexdigest()
    assert NUMBER.encode() in csv_bytes and NAME.encode() in csv_bytes  # the file has them; no output does
    twice = campaign("batch", "export", batch["id"], str(out), at="2025-03-02T10:00:01Z")
    assert twice.code == 2 and twice.error()["code"] == "batch_error"

    # deadlines: received on Monday 3 March 2025 -> due Thursday 3 April 2025
    requests = campaign("requests", "list", "--batch", batch["id"]).json()["requests"]  # type: ignore[index]
    assert [r["state"] for r in requests] == ["queued"]
    request_id = requests[0]["id"]
    sent = campaign("requests", "transition", request_id, "sent", "--on", "2025-03-03", at="2025-03-03T12:00:00Z")
    assert sent.code == 0 and sent.json()["due_on"] == "2025-04-03"  # type: ignore[index]
    illegal = campaign("requests", "transition", request_id, "draft", at="2025-03-03T12:00:01Z")
    assert illegal.code == 2 and illegal.error()["code"] == "illegal_transition"
    due = campaign("requests", "due", at="2025-03-20T09:00:00Z").json()
    assert isinstance(due, dict) and due["today"] == "2025-03-20"
    assert [(r["id"], r["due_on"], r["days_left"]) for r in due["requests"]] == [(request_id, "2025-04-03", 14)]
    assert campaign("requests", "due", "--within", "13", at="2025-03-20T09:00:00Z").json()["count"] == 0  # type: ignore[index]
    assert campaign("requests", "due", "--within", "14", at="2025-03-20T09:00:00Z").json()["count"] == 1  # type: ignore[index]
    assert campaign("requests", "overdue", at="2025-04-03T23:59:59Z").json()["count"] == 0  # type: ignore[index]
    overdue = campaign("requests", "overdue", at="2025-04-04T08:00:00Z").json()
    assert isinstance(overdue, dict) and [r["id"] for r in overdue["requests"]] == [request_id]
    assert overdue["requests"][0]["state"] == "sent"  # listed, not moved
    marked = campaign("requests", "overdue", "--mark", at="2025-04-04T08:00:01Z").json()
    assert marked["requests"][0]["state"] == "overdue"  # type: ignore[index]
    summary = campaign("requests", "summary", "--controller", "meta").json()
    assert summary["states"]["overdue"] == 1 and sum(summary["states"].values()) == 1  # type: ignore[index]

    # revoke: the open request is cancelled and a notice is due
    revoked = campaign("mandate", "revoke", mandate["id"], "--reason", "changed my mind", at="2025-04-05T09:00:00Z")
    assert revoked.code == 0 and revoked.json()["status"] == "revoked"  # type: ignore[index]
    assert [r["id"] for r in revoked.json()["cancelled_requests"]] == [request_id]  # type: ignore[index]
    notices = campaign("notices", "list", at="2025-04-05T09:00:01Z").json()
    assert [(r["id"], r["notice"]) for r in notices["requests"]] == [(request_id, "notify_controller")]  # type: ignore[index]
    assert campaign("notices", "sent", request_id, at="2025-04-05T10:00:00Z").code == 0
    assert campaign("notices", "list", at="2025-04-05T10:00:01Z").json()["count"] == 0  # type: ignore[index]

    # the audit log: intact, also against the head the export kept; then edited behind its back
    head = campaign("audit", "checkpoint", at="2025-04-05T11:00:00Z").json()
    assert isinstance(head, dict) and head["tree_size"] >= 10 and "BEGIN PUBLIC KEY" in head["public_key_pem"]
    intact = campaign("audit", "verify", "--head", str(out / "manifest.json"))
    assert intact.code == 0, intact.out
    report = intact.json()
    assert isinstance(report, dict) and report["ok"] is True and report["first_bad"] is None
    assert report["entries"] == head["tree_size"] and report["consistent"] is True
    assert report["anchored_size"] == json.loads((out / "manifest.json").read_text())["audit_log"]["tree_size"]
    assert report["unanchored"] == report["entries"] - report["anchored_size"] > 0
    assert sh("campaign", "audit", "verify", "--head", str(out / "manifest.json"), "--db", db, "--key",
              key).out.startswith("ok: entries 1 to ")
    alone = sh("campaign", "audit", "verify", "--db", db, "--key", key)  # no head kept elsewhere: not proved
    assert alone.code == 1 and alone.out.startswith("NOT PROVED: the chain is internally consistent, but ")

    with sqlite3.connect(db) as raw:  # an attacker with the file drops the guard first
        raw.execute("DROP TRIGGER audit_log_no_update")
        raw.execute("UPDATE audit_log SET at_us = at_us + 1 WHERE seq = 4")
    tampered = campaign("audit", "verify")
    assert tampered.code == 1 and tampered.err == ""
    report = tampered.json()
    assert isinstance(report, dict) and report["ok"] is False and report["first_bad"] == 4
    assert report["consistent"] is False
    assert "entry 4" in report["problem"]
    text = sh("campaign", "audit", "verify", "--db", db, "--key", key)
    assert text.code == 1 and text.out.startswith("NOT INTACT: entry 4: ")

    assert_private(sh.outputs, code, NAME, CONFIRMED_NAME, "Jan", "Vries")
    assert code in console_line and NUMBER not in console_line


def test_audit_heads_kept_elsewhere_from_a_shell(world, sh, tmp_path):
    """``audit checkpoint --out DIR`` keeps signed checkpoint notes, ``audit verify --heads DIR``
    checks the log against them; deleting the checkpoints and the tail (issue 14) is named."""
    from breachindex.campaign import Campaign, Limits, RecordingSender, open_checkpoint

    key = str(world["key"])
    db, kept = tmp_path / "c.db", tmp_path / "kept"
    common = ("--db", str(db), "--key", key)
    sender = RecordingSender()

    def enrol(first: int, count: int) -> None:
        with Campaign(db, secret=world["key"], sender=sender, limits=Limits.off(), checkpoint_interval=None) as c:
            for i in range(first, first + count):
                number = f"+3161234{i:04d}"
                challenge = c.start_verification(number, now=None)
                c.confirm_verification(challenge.id, sender.last_code(number))

    enrol(0, 3)
    vkey = sh("campaign", "audit", "verifier-key", *common)
    assert vkey.code == 0 and re.fullmatch(r"somi\.nl/breachindex/audit/[0-9a-f]{16}\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}\n",
                                           vkey.out)
    described = sh("campaign", "audit", "verifier-key", *common, "--json").json()
    assert isinstance(described, dict) and described["verifier_key"] == vkey.out.strip()
    origin = described["origin"]

    first = sh("campaign", "audit", "checkpoint", "--out", str(kept), *common, "--json").json()
    assert isinstance(first, dict) and first["signed"] is True and first["note_written"] is True
    note_file = Path(first["note_file"])
    assert note_file == kept / "checkpoint-3.note" and note_file.read_text() == first["note"]
    assert open_checkpoint(note_file.read_bytes(), [vkey.out.strip()], origin=origin).tree_size == 3
    again = sh("campaign", "audit", "checkpoint", "--out", str(kept), *common, "--json").json()
    assert again["note_file"] == str(note_file) and again["note_written"] is False  # type: ignore[index]
    enrol(3, 2)
    later = sh("campaign", "audit", "checkpoint", "--out", str(kept), *common)
    assert later.code == 0 and later.out.splitlines()[1] == str(kept / "checkpoint-5.note")
    (kept / "README.txt").write_text("heads kept for the audit log\n")
    (kept / "manifest.json").write_text(json.dumps({"audit_log": first}))  # a JSON head is read as well

    verified = sh("campaign", "audit", "verify", "--heads", str(kept), *common, "--json")
    report = verified.json()
    assert verified.code == 0 and isinstance(report, dict) and report["ok"] is True
    assert (report["anchored_size"], report["unanchored"], report["kept_heads"]) == (5, 0, 3)
    assert report["skipped_files"] == [str(kept / "README.txt")] and report["origin"] == origin
    assert sh("campaign", "audit", "verify", "--head", str(note_file), *common).out.startswith("ok: entries 1 to 3 ")

    # the attack: drop the guard, delete every checkpoint and the last two entries
    with sqlite3.connect(db) as raw:
        for trigger in ("audit_log_no_delete", "audit_checkpoints_no_delete"):
            raw.execute(f"DROP TRIGGER {trigger}")
        raw.execute("DELETE FROM audit_checkpoints")
        raw.execute("DELETE FROM audit_log WHERE seq > 3")
    alone = sh("campaign", "audit", "verify", *common, "--json")
    assert alone.code == 1 and alone.json()["consistent"] is True and alone.json()["ok"] is False  # type: ignore[index]
    cut = sh("campaign", "audit", "verify", "--heads", str(kept), *common)
    assert cut.code == 1 and cut.out == ("NOT INTACT: entry 4: the log ends at entry 3 but a head kept elsewhere "
                                         "covers 5 entries: the last ones were removed\n")
    refused = sh("campaign", "audit", "checkpoint", "--out", str(kept), *common, "--json")
    assert refused.code == 1 and refused.json()["signed"] is False  # type: ignore[index]
    assert sorted(p.name for p in kept.iterdir()) == ["README.txt", "checkpoint-3.note",
                                                      "checkpoint-5.note", "manifest.json"]

    # a kept note that does not verify is named; a malformed one is an error naming the file
    forged = kept / "checkpoint-3.note"
    text = forged.read_text()
    forged.write_text(text[:-10] + ("A" if text[-10] != "A" else "B") + text[-9:])
    bad = sh("campaign", "audit", "verify", "--head", str(forged), *common)
    assert bad.code == 1 and bad.out.startswith(f"NOT PROVED: {forged}: head 1 of those kept elsewhere does not verify")
    forged.write_text(text[:40])
    broken = sh("campaign", "audit", "verify", "--heads", str(kept), *common, "--json")
    assert broken.code == 2 and broken.error()["code"] == "invalid_argument"
    assert str(forged) in broken.error()["message"] and broken.error()["reason"] == "malformed"  # type: ignore[operator]
    assert broken.error()["file"] == str(forged)
    other_origin = sh("campaign", "audit", "verifier-key", "--origin", "somi.nl/test-log", *common)
    assert other_origin.out.startswith("somi.nl/test-log+")
    assert_private(sh.outputs)


def test_campaign_errors_are_json_with_stable_codes(world, sh, tmp_path):
    key = str(world["key"])
    db = str(tmp_path / "c.db")
    common = ("--db", db, "--key", key, "--json")
    missing = sh("campaign", "audit", "verify", *common)
    assert missing.code == 2 and missing.error()["code"] == "campaign_store_error"
    assert not Path(db).exists()  # only verification start creates the store

    start = ("campaign", "verification", "start", NUMBER, "--sender", "none", *common)
    first = sh(*start, "--now", "2025-03-01T09:00:00+01:00")
    assert first.code == 0 and first.json()["expires_at"] == "2025-03-01T08:10:00Z"  # type: ignore[index]
    # a resend within the interval is not refused: the same requester gets its live challenge again
    again = sh(*start, "--now", "2025-03-01T08:00:10Z")
    assert again.code == 0 and again.json() == first.json()
    challenge = first.json()["challenge"]  # type: ignore[index]
    confirm = ("campaign", "verification", "confirm", challenge, "-", *common)
    tries = [sh(*confirm, "--now", f"2025-03-01T08:00:2{i}Z", stdin="000000\n") for i in range(3)]
    burned = tries[2].error()
    assert tries[2].code == 2 and burned["code"] == "too_many_attempts" and burned["reason"] == "code_burned"
    assert burned["retry_after"] == 30
    naive = sh(*start, "--now", "2025-03-01T09:00:00")
    assert naive.code == 2 and naive.error()["code"] == "usage" and "time zone" in naive.error()["message"]  # type: ignore[operator]
    abroad = sh("campaign", "verification", "start", "+12025550123", "--sender", "none", *common)
    assert abroad.code == 2 and abroad.error()["code"] == "sms_not_allowed"
    assert abroad.error()["reason"] == "country_not_allowed"
    unknown = sh("campaign", "mandate", "show", "f" * 32, *common)
    assert unknown.code == 2 and unknown.error()["code"] == "unknown_mandate"
    no_controller = sh("campaign", "batch", "prepare", "myspace", "--filing-date", "2025-03-03", *common)
    assert no_controller.code == 2 and no_controller.error()["code"] == "unknown_controller"
    nobody = sh("campaign", "identity", "record", "0" * 32, "--provider", "p", "--reference", "r", "--status",
                "approved", *common)
    assert nobody.code == 2 and nobody.error()["code"] == "unknown_participant"
    other_key = tmp_path / "other.key"
    assert sh("keygen", str(other_key)).code == 0
    foreign = sh("campaign", "audit", "verify", "--db", db, "--key", str(other_key), "--json")
    assert foreign.code == 2 and foreign.error()["code"] == "wrong_key"
    text = sh("campaign", "mandate", "show", "f" * 32, "--db", db, "--key", key)
    assert text.code == 2 and text.out == "" and text.err == "breachindex: error: no such mandate\n"
    # a number typed in the wrong place comes back in argparse's message: blanked out
    stray = sh("campaign", "mandate", "list", "--participant", "x", "06", "12345678", *common)
    assert stray.code == 2 and stray.error()["code"] == "usage"
    assert_private(sh.outputs, "12345678")


def test_sender_none_shows_no_code_and_confirm_prompts_nothing_into_stdout(world, sh, tmp_path):
    key, db = str(world["key"]), str(tmp_path / "c.db")
    start = sh("campaign", "verification", "start", "-", "--region", "NL", "--sender", "none", "--db", db,
               "--key", key, stdin=NATIONAL + "\n")
    assert start.code == 0 and start.err == ""
    assert re.fullmatch(r"[0-9a-f]{32}\n", start.out)  # only the challenge id
    no_code = sh("campaign", "verification", "confirm", start.out.strip(), "--db", db, "--key", key, stdin="")
    assert no_code.code == 2 and "no code given" in no_code.err
    assert_private(sh.outputs)


def test_error_codes_and_redaction():
    assert error_code(CodeExpired()) == error_code(CodeInvalid()) == "code_invalid"  # the same answer on purpose
    assert error_code(KeyError("x")) == "not_found" and error_code(RuntimeError()) == "error"
    assert redact_digits("invalid choice: '+31 6 1234 5678'") == "invalid choice: '[digits]'"
    assert redact_digits("due 2025-04-03 in 30 s, entry 12") == "due [digits] in 30 s, entry 12"
    assert redact_digits("wait 123456 s") == "wait 123456 s"
