"""Leak-file ingestion: messy dumps, rejects report, oracle index content, CLI, layouts,
spilling, interrupted builds and overwrite.

Hand-written leak files (bytes literals) carry every quirk of the issue; their expected
outcome is written out by hand and also recomputed by a pure-Python model parser (``model_file``)
which then serves as the oracle for the built index: ``{e164: (breaches, data classes)}``
with phones normalized by ``breachindex.normalize``.

Library bugs these tests found, now fixed and guarded here:

* BUG-TEMP (``test_no_stray_temp_folders_past_a_rerun``): a build killed with SIGKILL left its
  ``.OUT.building-*`` folder beside OUT, and nothing removed it, not even a completed rerun.
* BUG-CSV-LEADING-BLANK (``test_csv_header_after_blank_lines``): a CSV header preceded by
  blank lines was parsed as a data line, a blank line went uncounted, line numbers shifted.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import phonenumbers
import pytest

import breachindex as bi
from breachindex import InvalidPhoneNumber, Key, normalize
from breachindex.builder.ingest import Source, build_index
from breachindex.builder.layouts import DATA_CLASSES
from breachindex.builder.leakfiles import FileTotals, LayoutError, detect_layout, read_leak_file
from breachindex.cli.main import main as cli_main
from breachindex.errors import BuildError

ALL_CLASSES = set(DATA_CLASSES)
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Expect:
    """A hand-written file's outcome: layout, line counts, rejects as (line, reason), and the
    records whose fields did not fit the layout, by fit."""

    layout: str
    lines: int
    records: int
    blank: int
    rejects: list[tuple[int, str]]
    fits: dict[str, int] = field(default_factory=dict)


# ---- the hand-written leak files ---------------------------------------------------------------
# fb12: phone:facebook_id:first_name:last_name:gender:location:hometown:relationship_status:
#       employer:created_at:email:birth_date
# BOM, CRLF, blank lines (empty, spaces+tab, a lone '\r'), '+', invalid UTF-8 in names, a
# national-prefix number (reference path) duplicating line 1, no final newline.
NL_TXT = (
    b"\xef\xbb\xbf31612345678:100001:Jan:de Vries:male:Amsterdam, Netherlands:Utrecht:Married:"
    b"Acme BV:2018-01-01T00-00-00+0000:jan@example.nl:\r\n"  # 1 record (after the BOM)
    b"\r\n"  # 2 blank
    b"+31687654321:100002:Piet:\xff\xfeJ\xe9nsen:male:::::::\r\n"  # 3 record
    b"   \t\r\n"  # 4 blank
    b"31611112222:100003:Kees:Smit\r\n"  # 5 record, short_line (truncated)
    b":100004:Anna:Bakker:female:::::::\r\n"  # 6 phone_empty
    b"  :100005:Els::female:::::::\r\n"  # 7 phone_empty
    b"31a11112222:100006:Bas::male:::::::\r\n"  # 8 phone_not_digits
    b"3161:100007:Tom::male:::::::\r\n"  # 9 phone_too_short
    b"316123456789012345678:100008::::::::::\r\n"  # 10 phone_too_long (21 digits)
    b"316123:100009::::::::::\r\n"  # 11 too_short
    b"3161234567890123:100010::::::::::\r\n"  # 12 too_long
    b"47123456:100011::::::::::\r\n"  # 13 invalid_length (Norway, 6 national digits)
    b"0612345678:100012::::::::::\r\n"  # 14 missing_region
    b"9991234567:100013::::::::::\r\n"  # 15 invalid_country_code
    b"\r\r\n"  # 16 blank
    b"310612345678:100014:::::::::x.y@example.nl:01/02/1990\r\n"  # 17 record = +31612345678
    b"4915112345678:100015:Hans:M\xfcller:male:Berlin::::::1990-01-01"  # 18 record, no newline
)
NL_EXPECT = Expect(
    layout="fb12", lines=18, records=5, blank=3, fits={"short_line": 1},
    rejects=[(6, "phone_empty"), (7, "phone_empty"), (8, "phone_not_digits"),
             (9, "phone_too_short"), (10, "phone_too_long"), (11, "too_short"), (12, "too_long"),
             (13, "invalid_length"), (14, "missing_region"), (15, "invalid_country_code")],
)

# fb17: phone:facebook_id:first_name:last_name:gender:location:hometown:relationship_status:
#       employer:updated_at:email:extra_1:extra_2:extra_3:extra_4:extra_5:created_at
# LF, '+' numbers, spaces around a phone, extra fields (no class), a 12-field line, trailing
# blank lines, an Argentine number (reference path), a national prefix after +49.
DE_TXT = (
    b"4917612345678:200001:Greta:Schmidt:female:Hamburg:Kiel:Single:Siemens:"
    b"2019-03-04T05-06-07+0000:greta@example.de:x1:x2:x3:x4:x5:2010-01-01T00-00-00+0000\n"  # 1 record
    b"+4930123456:200002:Max::male::::::::::::\n"  # 2 record
    b"4915112345678:200003:Hans::::::::::::::\n"  # 3 record (also in NL.txt)
    b"\t\t\n"  # 4 blank
    b"4917612345670:200004:Greta:Schmidt:female:Hamburg:Kiel:Single:Siemens:2019:greta@x.de:2010\n"  # 5 short_line
    b"49-30-1234567:200005:::::::::::::::\n"  # 6 phone_not_digits
    b"+49 30 1234567:200006:::::::::::::::\n"  # 7 phone_not_digits
    b"  +4917612345679  :200007:Ute::::::::::::::\n"  # 8 record
    b"4912:200008:::::::::::::::\n"  # 9 phone_too_short
    b"+4912345678901234567890:200009:::::::::::::::\n"  # 10 phone_too_long (22 digits)
    b"491:200010:::::::::::::::\n"  # 11 phone_too_short
    b"8001234567890:200011:::::::::::::::\n"  # 12 too_long
    b"+0612345678:200012:::::::::::::::\n"  # 13 invalid_country_code
    b"00491761234567:200013:::::::::::::::\n"  # 14 missing_region
    b"4906912345678:200014:Uwe::::::::::::::\n"  # 15 record = +496912345678
    b"5491123456789:200015:Lucia::::::::::::::\n"  # 16 record (Argentina)
    b"\n"  # 17 blank
    b"\n"  # 18 blank
)
DE_EXPECT = Expect(
    layout="fb17", lines=18, records=7, blank=3, fits={"short_line": 1},
    rejects=[(6, "phone_not_digits"), (7, "phone_not_digits"),
             (9, "phone_too_short"), (10, "phone_too_long"), (11, "phone_too_short"), (12, "too_long"),
             (13, "invalid_country_code"), (14, "missing_region")],
)

# CSV with a header row: quotes (separators, escaped quotes, ':' inside), mixed CRLF/LF, a
# quote left open, a quoted empty phone, invalid UTF-8, no final newline.
GB_CSV = (
    b"phone,id,first_name,last_name,email,dob,gender,city\r\n"  # 1 header
    b'447400123456,300001,Alice,Smith,alice@example.co.uk,1985-02-03,female,"London, UK"\r\n'  # 2
    b'"+447400123457",300002,"Bob ""The Builder""",Jones,,,male,\n'  # 3 record
    b"\r\n"  # 4 blank
    b'447400123458,300003,"Carol,,,,,\n'  # 5 unbalanced_quotes
    b"447400123459,300004,Dan\n"  # 6 record, short_line
    b",300005,Eve,,,,,\n"  # 7 phone_empty
    b'"",300006,Eve,,,,,\n'  # 8 phone_empty
    b"44740012345x,300007,,,,,,\n"  # 9 phone_not_digits
    b"07400123456,300008,,,,,,\n"  # 10 missing_region
    b"4474001234567,300009,,,,,,\n"  # 11 too_long
    b"4474,300010,,,,,,\n"  # 12 phone_too_short
    b'31612345678,300011,Jan,,,,,"10:30, Soho"\n'  # 13 record (also in facebook-2021)
    b'447400123456,300012,,,,,,"Manchester"\r\n'  # 14 record (duplicate of line 2)
    b'"447400123460",300013,Frank,"O\xe9Brien",,,,'  # 15 record, no newline
)
GB_EXPECT = Expect(
    layout="csv", lines=14, records=6, blank=1, fits={"short_line": 1},
    rejects=[(5, "unbalanced_quotes"), (7, "phone_empty"), (8, "phone_empty"),
             (9, "phone_not_digits"), (10, "missing_region"), (11, "too_long"), (12, "phone_too_short")],
)

FILES = {"NL.txt": NL_TXT, "DE.txt": DE_TXT, "GB.csv": GB_CSV}
EXPECT = {"NL.txt": NL_EXPECT, "DE.txt": DE_EXPECT, "GB.csv": GB_EXPECT}

# ---- the model parser (the oracle) ----------------------------------------------------------
# Data class of each field, from the layouts (None: the field reveals nothing).
FB12_CLASSES = ("phone_number", "facebook_id", "name", "name", "gender", "location", "hometown",
                "relationship_status", "employer", "account_dates", "email_address", "date_of_birth")
FB17_CLASSES = ("phone_number", "facebook_id", "name", "name", "gender", "location", "hometown",
                "relationship_status", "employer", "account_dates", "email_address",
                None, None, None, None, None, "account_dates")
CSV_HEADER_CLASSES = {"phone": "phone_number", "id": "facebook_id", "first_name": "name",
                      "last_name": "name", "email": "email_address", "dob": "date_of_birth",
                      "gender": "gender", "city": "location"}
BLANK = " \t\r"
ASCII_DIGITS = set("0123456789")


@dataclass
class FileModel:
    lines: int = 0
    blank: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)
    records: list[tuple[str, frozenset[str]]] = field(default_factory=list)  # (e164, classes)
    fits: Counter[str] = field(default_factory=Counter)  # records whose fields did not fit, by fit

    @property
    def rejected(self) -> dict[str, int]:
        return dict(Counter(r for _, r in self.rejects))


def model_phone(raw: str) -> tuple[str | None, str | None]:
    """(reject reason, e164) of a phone field."""
    text = raw.strip(BLANK)
    if not text:
        return "phone_empty", None
    body = text[1:] if text.startswith("+") else text
    if not set(body) <= ASCII_DIGITS:
        return "phone_not_digits", None
    if len(body) < 5:
        return "phone_too_short", None
    if len(body) > 20:
        return "phone_too_long", None
    try:
        return None, normalize(text)
    except InvalidPhoneNumber as exc:
        return exc.reason, None


def model_file(data: bytes, layout: str) -> FileModel:
    """Every physical line of a leak file: blank, rejected (line, reason) or a record."""
    if data.startswith(BOM):
        data = data[len(BOM):]
    text = data.decode("latin-1")  # byte-preserving: invalid UTF-8 stays in its field
    lines = text.split("\n")
    if text.endswith("\n") or not text:
        lines.pop()
    first = 1
    if layout == "csv":
        header = next(csv.reader([lines.pop(0).rstrip("\r")], strict=True))
        classes: tuple[str | None, ...] = tuple(CSV_HEADER_CLASSES.get(h) for h in header)
        first = 2
    else:
        classes = FB12_CLASSES if layout == "fb12" else FB17_CLASSES
    phone_at = classes.index("phone_number")
    m = FileModel(lines=len(lines))
    for no, line in enumerate(lines, first):
        s = line.rstrip("\r")
        if not s.strip(BLANK):
            m.blank += 1
            continue
        if layout == "csv":
            try:
                fields = next(csv.reader([s], strict=True))
            except csv.Error:
                m.rejects.append((no, "unbalanced_quotes"))
                continue
        else:
            fields = s.split(":")
        # a line of other length is read with what it has; the phone's reason comes first
        reason, e164 = model_phone(fields[phone_at] if phone_at < len(fields) else "")
        if reason is not None:
            m.rejects.append((no, reason))
            continue
        assert e164 is not None
        if len(fields) != len(classes):
            m.fits["short_line" if len(fields) < len(classes) else "extra_fields"] += 1
        found = {"phone_number"} | {c for f, c in zip(fields, classes, strict=False) if c and f.strip(BLANK)}
        m.records.append((e164, frozenset(found)))
    return m


def oracle(groups: list[tuple[str, list[tuple[bytes, str]]]]) -> dict[str, tuple[set[str], set[str]]]:
    """{e164: (breaches, data classes)} of breach groups of (file bytes, layout)."""
    out: dict[str, tuple[set[str], set[str]]] = {}
    for breach, files in groups:
        for data, layout in files:
            for e164, classes in model_file(data, layout).records:
                b, c = out.setdefault(e164, (set(), set()))
                b.add(breach)
                c |= classes
    return out


def region(e164: str) -> str:
    cc = phonenumbers.parse(e164).country_code
    assert cc is not None
    return phonenumbers.region_code_for_country_code(cc)


# ---- helpers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def key() -> Key:
    return Key.generate()


@pytest.fixture(scope="module")
def keyfile(tmp_path_factory: pytest.TempPathFactory, key: Key) -> Path:
    path = tmp_path_factory.mktemp("key") / "secret.key"
    key.save(path)
    return path


@pytest.fixture
def leak(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "leak"
    folder.mkdir()
    paths = {}
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
        paths[name] = folder / name
    return paths


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under a folder."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(out: Path) -> list[str]:
    if not out.parent.exists():
        return []
    return sorted(p.name for p in out.parent.iterdir()
                  if p.name.startswith(f".{out.name}.building-") or p.name.startswith(f".{out.name}.old-"))


def read_rejects(path: Path) -> list[list[str]]:
    """Rows of a rejects report, the file given by its name (the report has the path)."""
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows[0] == ["file", "line", "reason"]
    return [[Path(r[0]).name, *r[1:]] for r in rows[1:]]


def check_index_against(index: bi.Index, expected: dict[str, tuple[set[str], set[str]]]) -> None:
    assert len(index) == len(expected)
    rows = set()
    for e164, (breaches, classes) in expected.items():
        match = index.lookup(e164)
        assert match is not None, f"{e164} missing from the index"
        assert set(match.breaches) == breaches, e164
        assert list(match.breaches) == [b for b in index.breaches if b in breaches]  # index order
        assert set(match.data_classes) == classes, e164
        rows.add(match.row)
    assert rows == set(range(len(index)))


# ---- the hand-written files: counts, line numbers, reconciliation ------------------------------

def test_model_matches_the_hand_written_expectations() -> None:
    """The oracle itself, against the expectations written out by hand."""
    for name, data in FILES.items():
        exp = EXPECT[name]
        m = model_file(data, exp.layout)
        assert (m.lines, len(m.records), m.blank, m.rejects, dict(m.fits)) == (
            exp.lines, exp.records, exp.blank, exp.rejects, exp.fits), name
        assert m.lines == len(m.records) + len(m.rejects) + m.blank
    # the literals hold exactly the layout's field count (so no line is read by luck)
    for data, n, short in ((NL_TXT, 12, {5}), (DE_TXT, 17, {5})):
        for no, line in enumerate(data.removeprefix(BOM).split(b"\n"), 1):
            if line.strip(b" \t\r") and no not in short:
                assert line.count(b":") + 1 == n, (n, no)
    assert set(dict(model_file(NL_TXT, "fb12").records)) == {
        "+31612345678", "+31687654321", "+4915112345678", "+31611112222"}


def test_messy_files_counts_rejects_and_reconciliation(tmp_path: Path, leak: dict[str, Path], key: Key) -> None:
    out, rejects = tmp_path / "idx", tmp_path / "rejects.tsv"
    report = build_index(out, [Source("facebook-2021", [leak["NL.txt"], leak["DE.txt"]]),
                               Source("uk-csv", [leak["GB.csv"]])],
                         key=key, rejects_path=rejects)
    # per file: layout, exact counts per reason, reconciliation
    assert [Path(f["file"]).name for f in report.files] == ["NL.txt", "DE.txt", "GB.csv"]
    for entry in report.files:
        name = Path(entry["file"]).name
        exp = EXPECT[name]
        assert entry["layout"] == exp.layout, name
        assert entry["lines"] == exp.lines, name
        assert entry["records"] == exp.records, name
        assert entry["blank"] == exp.blank, name
        assert entry["rejected"] == dict(Counter(r for _, r in exp.rejects)), name
        assert entry["fits"] == exp.fits, name
        assert entry["header_lines"] == (1 if exp.layout == "csv" else 0), name
        assert entry["lines"] == entry["records"] + sum(entry["rejected"].values()) + entry["blank"], name
    # overall
    assert report.lines == sum(e.lines for e in EXPECT.values()) == 50
    assert report.records == sum(e.records for e in EXPECT.values()) == 18
    assert report.blank == 7
    assert report.rejected == dict(Counter(r for e in EXPECT.values() for _, r in e.rejects))
    assert report.fits == {"short_line": 3}
    assert report.lines == report.records + sum(report.rejected.values()) + report.blank
    expected = oracle([("facebook-2021", [(NL_TXT, "fb12"), (DE_TXT, "fb17")]),
                       ("uk-csv", [(GB_CSV, "csv")])])
    assert report.rows == len(expected) == 14
    assert report.duplicates == report.records - report.rows == 4

    # the rejects report: exact rows, in file order, 1-based physical lines (CSV header = 1)
    rows = read_rejects(rejects)
    assert rows == [[name, str(line), reason] for name in FILES for line, reason in EXPECT[name].rejects]
    assert report.rejects_report == str(rejects)

    # it never holds phone digits or field content: only the source's path, a line number, a reason
    lines = rejects.read_text(encoding="utf-8").splitlines()[1:]
    assert {ln.split("\t")[0] for ln in lines} <= {str(leak[name]) for name in FILES}
    body = "\n".join(ln.split("\t", 1)[1] for ln in lines)
    assert not re.search(r"\d{3,}", body), "digits beyond line numbers in the rejects report"
    allowed = {"file", "line", "reason", *FILES, *(r for e in EXPECT.values() for _, r in e.rejects)}
    for row in rows:
        assert set(row) - {row[1]} <= allowed and row[1].isdigit()
    for data in FILES.values():
        content = data.split(b"\n", 1)[1] if data is GB_CSV else data  # not the CSV header
        for token in re.split(rb"[:,\"\r\n]+", content):
            token = token.strip()
            if len(token) >= 4:
                assert token.decode("latin-1") not in body, token

    # CRLF, BOM, no final newline, invalid UTF-8, '+' and the reference path all gave records
    with bi.open(out, key=key) as index:
        check_index_against(index, expected)
        first = index.lookup("+31612345678")  # NL line 1 (after the BOM), 17, GB line 13
        assert first is not None
        assert first.breaches == ("facebook-2021", "uk-csv")
        assert set(first.data_classes) == ALL_CLASSES
        piet = index.lookup("+31687654321")  # '+', CRLF, invalid UTF-8 last name: name kept
        assert piet is not None and set(piet.data_classes) == {"phone_number", "facebook_id", "name", "gender"}
        hans = index.lookup("+4915112345678")  # NL's last line (no newline) + DE line 3
        assert hans is not None and set(hans.data_classes) == {
            "phone_number", "facebook_id", "name", "gender", "location", "date_of_birth"}
        frank = index.lookup("+447400123460")  # GB's last line: no newline, invalid UTF-8
        assert frank is not None and set(frank.data_classes) == {"phone_number", "facebook_id", "name"}
        greta = index.lookup("+4917612345678")  # fb17 extra_* fields reveal nothing
        assert greta is not None and set(greta.data_classes) == ALL_CLASSES - {"date_of_birth"}
        assert "+447400123458" not in index  # unbalanced quotes: never a record
        kees = index.lookup("+31611112222")  # a truncated line: kept with what it has
        assert kees is not None and set(kees.data_classes) == {"phone_number", "facebook_id", "name"}
        for short in ("+31611112222", "+447400123459", "+4917612345670"):
            found = index.lookup(short)
            assert found is not None and set(found.data_classes) == expected[short][1], short


def test_blocks_and_threads_do_not_change_the_result(leak: dict[str, Path], key: Key) -> None:
    """Line numbers, keys and counts are the same whatever the block size and thread count."""
    sk, ck = key.siphash_key(), key.check_key()
    for name, path in leak.items():
        results = []
        for block_bytes, threads in [(1 << 20, 1), (1, 1), (3, 2), (17, 3), (64, 2)]:
            totals = FileTotals(path, "")
            blocks = list(read_leak_file(path, siphash_key=sk, check_key=ck, threads=threads,
                                         block_bytes=block_bytes, totals=totals))
            results.append((
                totals.layout, totals.lines, totals.records, totals.blank, dict(totals.rejected),
                [r for b in blocks for r in b.rejects],
                np.concatenate([b.keys for b in blocks]).tolist(),
                np.concatenate([b.classes for b in blocks]).tolist(),
            ))
        assert all(r == results[0] for r in results[1:]), name
        assert results[0][5] == EXPECT[name].rejects


# ---- several breaches through the CLI; stats ------------------------------------------------

def test_cli_breach_groups_and_stats(tmp_path: Path, leak: dict[str, Path], keyfile: Path, key: Key,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    extra = tmp_path / "leak2"
    extra.mkdir()
    (extra / "NL-again.txt").write_bytes(  # numbers already in the other breaches, and a new one
        b"31687654321:9:::::::::::\n"
        b"4915112345678:::::::::::1970-01-01\n"
        b"447400123456:::::::::::\n"
        b"33612345678:8:Marie::female:Paris::::::\n")
    out = tmp_path / "idx"
    code = cli_main(["build", str(out), "--key", str(keyfile), str(leak["NL.txt"]), str(leak["DE.txt"]),
                     "--breach", "uk-csv", str(leak["GB.csv"]), "--json",
                     "--breach", "second-leak", str(extra), "--memory", "64M"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    expected = oracle([
        ("facebook-2021", [(NL_TXT, "fb12"), (DE_TXT, "fb17")]),  # sources before any --breach
        ("uk-csv", [(GB_CSV, "csv")]),
        ("second-leak", [((extra / "NL-again.txt").read_bytes(), "fb12")]),
    ])
    assert report["rows"] == len(expected) == 15
    assert report["lines"] == report["records"] + sum(report["rejected"].values()) + report["blank"]
    assert report["fits"] == {"short_line": 3, "extra_fields": 1}  # NL-again.txt's Marie has 13 fields
    assert report["breaches"] == {b: sum(b in bs for bs, _ in expected.values())
                                  for b in ("facebook-2021", "uk-csv", "second-leak")}
    # the default rejects report lies beside OUT
    rows = read_rejects(tmp_path / "idx.rejects.tsv")
    assert len(rows) == sum(len(e.rejects) for e in EXPECT.values())

    with bi.open(out, key=key) as index:
        assert index.breaches == ("facebook-2021", "uk-csv", "second-leak")
        check_index_against(index, expected)
        # one row, in every breach it is in
        both = index.lookup("447400123456")
        assert both is not None and both.breaches == ("uk-csv", "second-leak")
        for name in both.breaches:
            assert both.row in index.rows_in(breach=name)
        assert both.row not in index.rows_in(breach="facebook-2021")

    assert cli_main(["stats", str(out), "--key", str(keyfile), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    names = ["facebook-2021", "uk-csv", "second-leak"]
    recount = {
        "rows": len(expected),
        "breaches": {b: sum(b in bs for bs, _ in expected.values()) for b in names},
        "countries": dict(Counter(region(e) for e in expected)),
        "data_classes": {c: sum(c in cs for _, cs in expected.values()) for c in DATA_CLASSES},
        "in_both": {f"{a} & {b}": sum(a in bs and b in bs for bs, _ in expected.values())
                    for i, a in enumerate(names) for b in names[i + 1:]},
    }
    assert stats == recount
    assert stats["in_both"]["facebook-2021 & uk-csv"] == 1  # +31612345678
    assert stats["countries"]["AR"] == 1 and stats["countries"]["FR"] == 1

    # the text form names the same numbers
    assert cli_main(["stats", str(out), "--key", str(keyfile)]) == 0
    text = capsys.readouterr().out
    assert f"{len(expected)} distinct numbers" in text and "facebook-2021 & uk-csv" in text


# ---- layout detection, override, refusal ---------------------------------------------------

def test_layout_detection(leak: dict[str, Path]) -> None:
    assert detect_layout(leak["NL.txt"]).name == "fb12"
    assert detect_layout(leak["DE.txt"]).name == "fb17"
    gb = detect_layout(leak["GB.csv"])
    assert gb.name == "csv" and gb.csv and gb.phone_field == 0
    assert gb.fields[:4] == ("phone", "facebook_id", "first_name", "last_name")


def test_layout_override(tmp_path: Path, key: Key) -> None:
    # fb12 records with a 13th field: undetectable, readable as fb12 (extra fields tolerated)
    wide = tmp_path / "wide.txt"
    wide.write_bytes(b"31612345678:1:Jan::::::::x@example.nl::extra\n"
                     b"31687654321:2:::::::::x@example.nl::extra\n")
    with pytest.raises(LayoutError, match="wide.txt"):
        detect_layout(wide)
    report = build_index(tmp_path / "a", [Source("b", [wide])], key=key, layout="fb12")
    assert (report.records, report.lines, report.files[0]["layout"]) == (2, 2, "fb12")
    with bi.open(tmp_path / "a", key=key) as index:
        m = index.lookup("+31612345678")
        assert m is not None and set(m.data_classes) == {"phone_number", "facebook_id", "name", "email_address"}

    # a CSV whose header holds a ':' is not detected as CSV; --layout csv reads it
    colon = tmp_path / "colon.csv"
    colon.write_bytes(b"phone,first_name,note: free text\n31612345678,Jan,a\n31687654321,,b\n")
    with pytest.raises(LayoutError):
        detect_layout(colon)
    report = build_index(tmp_path / "b", [Source("b", [colon])], key=key, layout="csv")
    assert (report.records, report.lines, report.files[0]["layout"]) == (2, 2, "csv")

    # fb12 lines read as fb17 (given): every line is short, kept with what it has and counted so
    nl12 = tmp_path / "nl12.txt"
    nl12.write_bytes(b"31612345678:1:Jan:::::::::\n31687654321:2:Piet:::::::::\n")
    report = build_index(tmp_path / "c", [Source("b", [nl12])], key=key, layout="fb17")
    assert report.rejected == {} and report.records == 2 and report.fits == {"short_line": 2}
    assert "short_line 2" in str(report)

    with pytest.raises(LayoutError, match="unknown layout"):
        detect_layout(nl12, "fb13")


UNDETECTABLE = {
    "five.txt": b"31612345678:1:Jan:de Vries:male\n31687654321:2:Piet:Jansen:male\n",
    "empty.txt": b"",
    "blanks.txt": b"\n \r\n\t\n",
    "nophone.csv": b"name,email\nJan,x@example.nl\n",
}


@pytest.mark.parametrize("name", sorted(UNDETECTABLE))
def test_undetectable_file_is_refused_before_any_work(tmp_path: Path, leak: dict[str, Path], key: Key,
                                                       name: str) -> None:
    bad = tmp_path / name
    bad.write_bytes(UNDETECTABLE[name])
    out, rejects = tmp_path / "out" / "idx", tmp_path / "rejects.tsv"
    # the bad file comes last, after files that parse fine, in a second breach
    with pytest.raises(LayoutError) as exc:
        build_index(out, [Source("a", [leak["NL.txt"], leak["GB.csv"]]), Source("b", [bad])],
                    key=key, rejects_path=rejects)
    assert name in str(exc.value)
    assert not out.exists()
    assert not rejects.exists()
    assert leftovers(out) == []
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_cli_refuses_undetectable_file(tmp_path: Path, leak: dict[str, Path], keyfile: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "five.txt"
    bad.write_bytes(UNDETECTABLE["five.txt"])
    out = tmp_path / "idx"
    code = cli_main(["build", str(out), "--key", str(keyfile), str(leak["DE.txt"]), str(bad)])
    assert code != 0
    err = capsys.readouterr().err
    assert "five.txt" in err and "layout" in err
    assert not out.exists() and not (tmp_path / "idx.rejects.tsv").exists()
    assert leftovers(out) == []
    # the real command line, as a process
    proc = subprocess.run([sys.executable, "-m", "breachindex", "build", str(out), "--key", str(keyfile),
                           "--quiet", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "five.txt" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() and leftovers(out) == []


# ---- overwrite -----------------------------------------------------------------------------

def test_existing_index_survives_failing_build(tmp_path: Path, leak: dict[str, Path], key: Key,
                                              keyfile: Path) -> None:
    out = tmp_path / "idx"
    build_index(out, [Source("a", [leak["NL.txt"]])], key=key)
    before = snapshot(out)
    bad = tmp_path / "five.txt"
    bad.write_bytes(UNDETECTABLE["five.txt"])

    with pytest.raises(LayoutError):
        build_index(out, [Source("a", [leak["DE.txt"], bad])], key=key, overwrite=True)
    assert snapshot(out) == before and leftovers(out) == []
    assert cli_main(["build", str(out), "--key", str(keyfile), "--overwrite", "--quiet", str(bad)]) != 0
    assert snapshot(out) == before and leftovers(out) == []
    with pytest.raises(BuildError):  # no overwrite: refused, untouched
        build_index(out, [Source("a", [leak["DE.txt"]])], key=key)
    assert snapshot(out) == before and leftovers(out) == []

    # a complete build does replace it
    build_index(out, [Source("a", [leak["DE.txt"]])], key=key, overwrite=True)
    assert snapshot(out) != before and leftovers(out) == []
    with bi.open(out, key=key) as index:
        check_index_against(index, oracle([("a", [(DE_TXT, "fb17")])]))


# ---- spilling: same files with and without ------------------------------------------------

def generate_nl(path: Path, lines: int, seed: int) -> None:
    """fb12 lines: '316' + 8 random digits (duplicates likely), a few field variants, some
    blank and rejected lines."""
    rng = random.Random(seed)
    pool = [f"316{rng.randrange(10**8):08d}" for _ in range(lines * 3 // 5)]
    out = []
    for i in range(lines):
        r = rng.random()
        if r < 0.01:
            out.append("")
        elif r < 0.02:
            out.append(f"316{i % 1000}:{i}:::::::::::")
        else:
            first = "Jan" if rng.random() < 0.5 else ""
            mail = "j@example.nl" if rng.random() < 0.3 else ""
            dob = "1990-01-01" if rng.random() < 0.2 else ""
            plus = "+" if rng.random() < 0.1 else ""
            out.append(f"{plus}{rng.choice(pool)}:{i}:{first}::::::::{mail}:{dob}")
    path.write_text("\n".join(out) + "\n", encoding="ascii")


def test_spilled_build_is_byte_identical(tmp_path: Path, key: Key, keyfile: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    big, small = tmp_path / "NL.txt", tmp_path / "NL-2.txt"
    generate_nl(big, 50_000, seed=1)
    generate_nl(small, 8_000, seed=1)  # same pool prefix: many numbers in both breaches
    sources = [Source("one", [big]), Source("two", [small])]

    assert cli_main(["build", str(tmp_path / "spilled"), "--key", str(keyfile), "--memory", "1M",
                     "--threads", "1", "--json", "--breach", "one", str(big),
                     "--breach", "two", str(small)]) == 0
    spilled = json.loads(capsys.readouterr().out)
    whole = build_index(tmp_path / "whole", sources, key=key, threads=2)
    assert spilled["spilled_bytes"] == 24 * spilled["records"]  # every record, the last held ones too
    assert whole.spilled_bytes == 0
    for k in ("lines", "records", "blank", "rows", "rejected", "breaches", "countries", "data_classes"):
        assert spilled[k] == getattr(whole, k), k
    assert whole.lines == whole.records + sum(whole.rejected.values()) + whole.blank == 58_000

    a, b = snapshot(tmp_path / "spilled"), snapshot(tmp_path / "whole")
    assert a.keys() == b.keys()
    assert len(a) > 4
    for rel in a:
        if rel != "manifest.json":
            assert a[rel] == b[rel], rel
    ma = json.loads((tmp_path / "spilled" / "manifest.json").read_text())
    mb = json.loads((tmp_path / "whole" / "manifest.json").read_text())
    ma.pop("created_at")
    mb.pop("created_at")
    assert ma == mb

    expected = oracle([("one", [(big.read_bytes(), "fb12")]), ("two", [(small.read_bytes(), "fb12")])])
    assert whole.rows == len(expected)
    sample = random.Random(5).sample(sorted(expected), 300)
    with bi.open(tmp_path / "spilled", key=key) as x, bi.open(tmp_path / "whole", key=key) as y:
        assert len(x) == len(y) == len(expected)
        for e164 in sample:
            mx, my = x.lookup(e164), y.lookup(e164)
            assert mx is not None and my is not None
            assert (mx.row, mx.breaches, mx.data_classes) == (my.row, my.breaches, my.data_classes)
            assert set(mx.breaches) == expected[e164][0] and set(mx.data_classes) == expected[e164][1]
        absent = [f"+316{n:08d}" for n in range(500)]
        assert (x.contains_many(absent) == y.contains_many(absent)).all()


# ---- interrupted builds --------------------------------------------------------------------

BIG_LINES = 3_000_000


@pytest.fixture(scope="session")
def big_leak(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3M fb12 lines (111 MB), written with numpy in well under a second."""
    path = tmp_path_factory.mktemp("big") / "NL-big.txt"
    template = np.frombuffer(b"316XXXXXXXX:1:Jan:Smit:::::::x@y.nl:\n", np.uint8)
    rows = np.tile(template, (BIG_LINES, 1))
    rows[:, 3:11] = np.random.default_rng(7).integers(0, 10, (BIG_LINES, 8), dtype=np.uint8) + ord("0")
    path.write_bytes(rows.tobytes())
    return path


def _kill_mid_build(out: Path, keyfile: Path, source: Path, *extra: str) -> None:
    """Start a build in a process, SIGKILL it about a second after its start, mid-work."""
    proc = subprocess.Popen([sys.executable, "-m", "breachindex", "build", str(out), "--key", str(keyfile),
                             "--quiet", "--threads", "1", *extra, str(source)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not any(p.name.startswith(f".{out.name}.building-") for p in out.parent.iterdir()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the build did not start its work (exit {proc.returncode})")
            time.sleep(0.01)
        time.sleep(0.6)
        if proc.poll() is not None:
            pytest.fail("the build finished before it could be killed; use a larger input")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


@dataclass
class KillRun:
    out: Path
    before: dict[str, str] | None  # snapshot of the old index at OUT, if there was one
    after_kill: dict[str, str] | None
    leftovers_after_kill: list[str]
    leftovers_after_rerun: list[str]
    rerun_rows: int


@pytest.fixture(scope="module")
def kill_runs(tmp_path_factory: pytest.TempPathFactory, big_leak: Path, keyfile: Path,
              key: Key) -> dict[str, KillRun]:
    """Two killed builds, each rerun to completion: into a fresh OUT, and over an old index."""
    runs = {}
    for case in ("fresh", "overwrite"):
        out = tmp_path_factory.mktemp(f"kill-{case}") / "idx"
        before = None
        extra: tuple[str, ...] = ()
        if case == "overwrite":
            small = out.parent / "small.txt"
            small.write_bytes(NL_TXT)
            build_index(out, [Source("facebook-2021", [small])], key=key)
            before = snapshot(out)
            extra = ("--overwrite",)
        _kill_mid_build(out, keyfile, big_leak, *extra)
        after = snapshot(out) if out.exists() else None
        left = leftovers(out)
        report = build_index(out, [Source("facebook-2021", [big_leak])], key=key,
                             overwrite=case == "overwrite")
        runs[case] = KillRun(out, before, after, left, leftovers(out), report.rows)
    return runs


def test_killed_build_leaves_no_index(kill_runs: dict[str, KillRun], key: Key) -> None:
    fresh = kill_runs["fresh"]
    assert fresh.after_kill is None, "a killed build left something at OUT"
    old = kill_runs["overwrite"]
    assert old.before is not None and old.after_kill == old.before, "the old index changed"
    # the reruns completed: whole indexes of the big file
    for run in kill_runs.values():
        with bi.open(run.out, key=key) as index:
            assert len(index) == run.rerun_rows > 2_900_000
            assert index.breaches == ("facebook-2021",)
            assert index.verify().rows == run.rerun_rows


def test_no_stray_temp_folders_past_a_rerun(kill_runs: dict[str, KillRun]) -> None:
    """BUG-TEMP (found at 616e146: temp_folder() never removed a killed build's folder) is
    fixed by clean_stale()/release_temp_folder(); this guards it. The kill must have left
    something behind, or the rerun had nothing to clean."""
    for case, run in kill_runs.items():
        assert any(".building-" in name for name in run.leftovers_after_kill), case
        assert run.leftovers_after_rerun == [], f"{case}: {run.leftovers_after_rerun}"


# ---- a CSV header after blank lines ------------------------------------------------------

@pytest.mark.parametrize("lead", [b"\n", b"\r\n", b"\n\n\n\n", BOM + b"\n"])
def test_csv_header_after_blank_lines(tmp_path: Path, key: Key, lead: bytes) -> None:
    blank = lead.removeprefix(BOM).count(b"\n")
    path = tmp_path / "GB.csv"
    path.write_bytes(lead + b"phone,first_name\n0612345678,Jan\n31612345678,Jan\n")
    totals = FileTotals(path, "")
    blocks = list(read_leak_file(path, siphash_key=key.siphash_key(), check_key=key.check_key(),
                                 totals=totals))
    header_line = blank + 1
    assert [r for b in blocks for r in b.rejects] == [(header_line + 1, "missing_region")]
    assert (totals.lines, totals.records, totals.blank) == (blank + 2, 1, blank)
