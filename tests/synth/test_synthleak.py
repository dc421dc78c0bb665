"""Tests for breachindex.synth.leak: the synthetic leak folder, its ground truth and the key source.

The ground truth is checked against an independent reference reader written here in plain
Python (the rules of the facebook-2021 reader: blank lines, too few fields kept as records, phone
empty / not digits / too short / too long), and against a build of the leak by the real reader.
No test prints or logs a generated number; assertion messages give counts, file names and
reasons only.
"""
from __future__ import annotations

import csv
import io
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import phonenumbers
import pytest

from breachindex.builder.layouts import DATA_CLASSES, FB12, FB17, FIELD_CLASS, Layout
from breachindex.cli.synth import main as main_synth
from breachindex.cli.synth import synth_command
from breachindex.synth.leak import (
    CSV_HEADER,
    CSV_LAYOUT,
    RECORD_FITS,
    REGION_LAYOUTS,
    REJECT_REASONS,
    LeakManifest,
    leak_plan,
    synthetic_key_source,
    write_leak,
)
from breachindex.synth.synthetic import DATA_CLASS_PROBABILITIES, DEFAULT_REGIONS, REGION_WEIGHTS

BOM = b"\xef\xbb\xbf"
LAYOUTS = {"fb17": FB17, "fb12": FB12, "csv": CSV_LAYOUT}
BIT = {c: 1 << i for i, c in enumerate(DATA_CLASSES)}


# --------------------------------------------------------------------------- reference reader


@dataclass
class Parsed:
    lines: int = 0
    blank: int = 0
    header: list[str] | None = None
    rejects: Counter[str] = field(default_factory=Counter)
    fits: Counter[str] = field(default_factory=Counter)  # records of too few fields, by fit
    numbers: list[int] = field(default_factory=list)  # record lines, in order
    masks: list[int] = field(default_factory=list)
    plus: int = 0
    invalid_utf8: int = 0
    crlf_lines: int = 0
    bom: bool = False
    final_newline: bool = True


def _mask(layout: Layout, fields: list[str]) -> int:
    m = BIT["phone_number"]
    for name, value in zip(layout.fields, fields, strict=False):
        cls = FIELD_CLASS.get(name)
        if cls is not None and value.strip():
            m |= BIT[cls]
    return m


def read_reference(path: Path, layout: Layout) -> Parsed:
    data = path.read_bytes()
    out = Parsed()
    if data.startswith(BOM):
        out.bom = True
        data = data[len(BOM):]
    out.final_newline = data.endswith(b"\n")
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    if layout.csv:
        out.header = next(csv.reader([raw_lines.pop(0).rstrip(b"\r").decode("utf-8")]))
    for raw in raw_lines:
        out.lines += 1
        if raw.endswith(b"\r"):
            out.crlf_lines += 1
        line = raw.rstrip(b"\r")
        if not line.strip():
            out.blank += 1
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            out.invalid_utf8 += 1
        text = line.decode("utf-8", "surrogateescape")
        if layout.csv:
            fields = next(csv.reader([text]))
        else:
            fields = text.split(layout.separator)
        assert len(fields) <= len(layout.fields), f"{path.name}: a line has too many fields"
        # a line of too few fields is a record with what it has
        phone = fields[layout.phone_field].strip() if layout.phone_field < len(fields) else ""
        digits = phone[1:] if phone.startswith("+") else phone
        if not phone:
            out.rejects["phone_empty"] += 1
        elif not (digits.isascii() and digits.isdigit()):
            out.rejects["phone_not_digits"] += 1
        elif len(digits) < 5:
            out.rejects["phone_too_short"] += 1
        elif len(digits) > 20:
            out.rejects["phone_too_long"] += 1
        else:
            out.plus += phone.startswith("+")
            out.numbers.append(int(digits))
            out.masks.append(_mask(layout, fields))
            if len(fields) < len(layout.fields):
                out.fits["short_line"] += 1
    return out


def _reconcile(m: LeakManifest) -> dict[str, Parsed]:
    """Read every file with the reference reader and check it against the manifest."""
    names = sorted(p.name for p in m.out_dir.iterdir())
    assert names == sorted(f.name for f in m.files)
    parsed = {}
    for f in m.files:
        p = read_reference(m.out_dir / f.name, LAYOUTS[f.layout])
        parsed[f.name] = p
        assert p.lines == f.lines, f.name
        assert p.blank == f.blank_lines, f.name
        assert len(p.numbers) == f.records, f.name
        assert {r: p.rejects[r] for r in REJECT_REASONS} == f.rejects, f.name
        assert {r: p.fits[r] for r in RECORD_FITS} == f.fits, f.name
        assert f.lines == f.records + sum(f.rejects.values()) + f.blank_lines, f.name
        assert f.rows == f.lines - f.blank_lines
        assert f.header_lines == (1 if f.layout == "csv" else 0)
        distinct = set(p.numbers)
        assert len(distinct) == f.distinct_numbers == f.records - f.duplicate_lines, f.name
        assert distinct == set(f.numbers.tolist()), f.name
        assert f.numbers.dtype == np.int64
        first_seen = list(dict.fromkeys(p.numbers))
        assert first_seen == f.numbers.tolist(), f"{f.name}: numbers not in order of first appearance"
        counts = {c: sum(1 for x in p.masks if x & BIT[c]) for c in DATA_CLASSES}
        assert counts == f.class_counts, f.name
        assert p.plus == f.quirks["plus_prefix"], f.name
        assert p.invalid_utf8 == f.quirks["invalid_utf8"], f.name
        assert p.bom == bool(f.quirks["bom"]), f.name
        assert p.final_newline == (not f.quirks["no_final_newline"]), f.name
        crlf_expected = p.lines - (0 if p.final_newline else 1) if f.quirks["crlf"] else 0
        assert p.crlf_lines == crlf_expected, f"{f.name}: CRLF on some lines only"
        assert (m.out_dir / f.name).stat().st_size == f.bytes, f.name
    assert sum(f.rows for f in m.files) == m.rows
    return parsed


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def quirky(tmp_path_factory: pytest.TempPathFactory) -> LeakManifest:
    """20k rows with every quirk at a high rate."""
    out = tmp_path_factory.mktemp("quirky") / "leak"
    return write_leak(out, 20_000, seed=7, quirk_rate=0.05, duplicate_rate=0.02, file_quirk_rate=0.5)


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> LeakManifest:
    out = tmp_path_factory.mktemp("default") / "leak"
    return write_leak(out, 30_000, seed=3)


# --------------------------------------------------------------------------- the ground truth


def test_ground_truth_matches_a_reference_reader(quirky: LeakManifest) -> None:
    _reconcile(quirky)


def test_a_build_of_the_leak_reports_its_ground_truth(quirky: LeakManifest, tmp_path: Path) -> None:
    """The real reader (the C parser, through ``build_index``) counts every file as the truth
    says: lines, blanks, records, each reject reason, the short lines kept as records, and the
    distinct numbers; and the index holds exactly the truth's numbers."""
    from breachindex import Key
    from breachindex import open as open_index
    from breachindex.builder.ingest import Source, build_index

    key = Key(bytes(range(32)))
    paths = [quirky.out_dir / f.name for f in quirky.files]
    report = build_index(tmp_path / "idx", [Source("synthetic", paths)], key=key)
    by_name = {Path(entry["file"]).name: entry for entry in report.files}
    for f in quirky.files:
        entry = by_name[f.name]
        assert (entry["lines"], entry["blank"], entry["records"]) == (f.lines, f.blank_lines, f.records), f.name
        assert entry["rejected"] == {r: n for r, n in f.rejects.items() if n}, f.name
        assert entry["fits"] == {r: n for r, n in f.fits.items() if n}, f.name
    assert report.rows == quirky.distinct_numbers and report.fits == {"short_line": quirky.fits["short_line"]}
    with open_index(tmp_path / "idx", key=key) as index:
        numbers = [f"+{n}" for f in quirky.files for n in f.numbers[:200].tolist()]
        assert all(number in index for number in numbers)


def test_ground_truth_at_default_rates(default: LeakManifest) -> None:
    _reconcile(default)
    assert default.lines == default.records + sum(default.rejects.values()) + default.blank_lines
    assert default.distinct_numbers == default.records - default.duplicate_lines


def test_every_quirk_occurs_at_a_high_rate(quirky: LeakManifest) -> None:
    for reason in REJECT_REASONS:
        assert quirky.rejects[reason] > 0, reason
        # about 5 % of the lines each
        assert abs(quirky.rejects[reason] / quirky.rows - 0.05) < 0.01, reason
    assert quirky.blank_lines > 0
    assert quirky.duplicate_lines > 0
    for quirk in ("plus_prefix", "invalid_utf8", "crlf", "bom", "no_final_newline"):
        assert sum(f.quirks[quirk] for f in quirky.files) > 0, quirk
    with_bom = [f for f in quirky.files if f.quirks["bom"]]
    assert all((quirky.out_dir / f.name).read_bytes().startswith(BOM) for f in with_bom)
    crlf = [f for f in quirky.files if f.quirks["crlf"]]
    assert all(b"\r\n" in (quirky.out_dir / f.name).read_bytes() for f in crlf)


def test_invalid_utf8_lines_are_still_records(quirky: LeakManifest) -> None:
    for f in quirky.files:
        p = read_reference(quirky.out_dir / f.name, LAYOUTS[f.layout])
        assert p.invalid_utf8 == f.quirks["invalid_utf8"]
    assert sum(f.quirks["invalid_utf8"] for f in quirky.files) > 0


def test_damaged_lines_have_exactly_one_defect(quirky: LeakManifest) -> None:
    """Too-few-fields lines keep a valid phone (records, counted as short_line); phone-damaged
    lines keep the full field count."""
    for f in quirky.files[:4]:
        layout = LAYOUTS[f.layout]
        data = (quirky.out_dir / f.name).read_bytes().removeprefix(BOM).decode("utf-8", "surrogateescape")
        lines = data.splitlines()[1 if layout.csv else 0:]
        short_lines = [ln for ln in lines if ln.strip() and len(ln.split(layout.separator)) == 3]
        assert len(short_lines) == f.fits["short_line"]
        for ln in short_lines:
            phone = ln.split(layout.separator)[0].lstrip("+")
            assert phone.isdigit() and 5 <= len(phone) <= 20


def test_no_truth_file_in_the_leak_folder(quirky: LeakManifest) -> None:
    assert all(not p.name.startswith("_") and p.suffix in (".txt", ".csv") for p in quirky.out_dir.iterdir())


def test_truth_json(tmp_path: Path) -> None:
    truth = tmp_path / "truth.json"
    m = write_leak(tmp_path / "leak", 3_000, seed=5, quirk_rate=0.01, truth_path=truth)
    doc = json.loads(truth.read_text(encoding="utf-8"))
    assert doc["format"] == "breachindex-synthleak-truth/2"
    assert doc["totals"]["lines"] == m.lines
    assert doc["totals"]["rejects"] == m.rejects and doc["totals"]["fits"] == m.fits
    assert [f["name"] for f in doc["files"]] == [f.name for f in m.files]
    for fd, f in zip(doc["files"], m.files, strict=True):
        assert fd["numbers_sha256"] == f.numbers_sha256()
        assert fd["lines"] == fd["records"] + sum(fd["rejects"].values()) + fd["blank_lines"]
    for fd in doc["files"]:
        del fd["numbers_sha256"]
    assert not re.search(r"\d{9,}", json.dumps(doc))  # counts only, no phone number


def test_truth_path_inside_the_leak_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="inside"):
        write_leak(tmp_path / "leak", 100, seed=1, truth_path=tmp_path / "leak" / "_truth.json")
    assert not (tmp_path / "leak").exists()


# --------------------------------------------------------------------------- shapes


def test_one_file_per_region_in_the_leak_mix(default: LeakManifest) -> None:
    names = {f.region: f.name for f in default.files}
    assert set(names) == set(DEFAULT_REGIONS)
    for region, name in names.items():
        layout = REGION_LAYOUTS[region]
        assert name == f"{region}.{'csv' if layout == 'csv' else 'txt'}"
        assert default.file(region).layout == layout
    total = sum(REGION_WEIGHTS[r] for r in DEFAULT_REGIONS)
    for f in default.files:
        assert abs(f.rows - default.rows * REGION_WEIGHTS[f.region] / total) <= 1, f.region
    assert {f.layout for f in default.files} == {"fb17", "fb12", "csv"}


def test_leak_plan_scales_and_caps() -> None:
    plan = leak_plan(1_000)
    assert sum(plan.values()) == 1_000 and list(plan) == list(DEFAULT_REGIONS)
    assert leak_plan(3, regions=["NL", "BE"]) == {"NL": 2, "BE": 1}
    assert leak_plan(0) == {}
    big = leak_plan(533_000_000)
    assert sum(big.values()) == 533_000_000
    assert big["TN"] < 0.95 * 40_030_000 + 1  # Tunisia's mobile space is capped, the rest spread
    with pytest.raises(ValueError):
        leak_plan(10**8, regions=["NL"])


def test_csv_file_parses_with_the_csv_module(quirky: LeakManifest) -> None:
    f = quirky.file("GB")
    assert f.name == "GB.csv" and f.header_lines == 1
    text = (quirky.out_dir / f.name).read_bytes().decode("utf-8-sig", "surrogateescape")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == CSV_HEADER
    full = [r for r in rows[1:] if len(r) == len(CSV_HEADER)]
    assert len(full) == f.rows - f.fits["short_line"]
    assert any("," in r[5] for r in full if r[5])  # "City, United Kingdom" came back unquoted
    assert b'"' in (quirky.out_dir / f.name).read_bytes()


def test_colon_files_have_no_stray_colons(quirky: LeakManifest) -> None:
    for f in quirky.files:
        if f.layout == "csv":
            continue
        n = len(LAYOUTS[f.layout].fields)
        data = (quirky.out_dir / f.name).read_bytes().decode("utf-8", "surrogateescape")
        counts = Counter(ln.count(":") for ln in data.splitlines() if ln.strip())
        assert set(counts) <= {n - 1, 2}, f"{f.name}: {sorted(counts)}"
        assert counts[2] == f.fits["short_line"]


def test_times_use_dashes_and_fields_look_real(default: LeakManifest) -> None:
    text = (default.out_dir / "EG.txt").read_text(encoding="utf-8", errors="replace")
    assert re.search(r":20[012]\d-\d\d-\d\d \d\d-\d\d-\d\d", text)
    nl = (default.out_dir / "NL.txt").read_text(encoding="utf-8", errors="replace")
    assert re.search(r":(male|female):", nl) and ", Netherlands:" in nl
    assert re.search(r":19\d\d-\d\d-\d\d\r?$", nl, re.M)  # fb12 ends with the birth date
    emails = re.findall(r"[a-z0-9.]+@example\.(?:com|net|org)", "".join(
        (default.out_dir / f.name).read_text(encoding="utf-8", errors="replace") for f in default.files))
    assert emails and all(re.fullmatch(r"[a-z]+(\.[a-z]+)?(\d{3})?@example\.(com|net|org)", e) or
                          e.startswith("user") for e in emails)


def test_valid_phones_are_possible_numbers_of_their_region(default: LeakManifest) -> None:
    bad: Counter[str] = Counter()
    for f in default.files:
        for number in f.numbers.tolist()[:400]:
            p = phonenumbers.parse("+" + str(number))
            if not phonenumbers.is_possible_number(p):
                bad[f"{f.region}:not_possible"] += 1
            elif phonenumbers.region_code_for_number(p) != f.region:
                bad[f"{f.region}:wrong_region"] += 1
    assert not bad, dict(bad)


# --------------------------------------------------------------------------- reproducibility


def _tree(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_same_seed_same_bytes_any_workers(tmp_path: Path) -> None:
    a = write_leak(tmp_path / "a", 5_000, seed=11, quirk_rate=0.02, workers=1)
    b = write_leak(tmp_path / "b", 5_000, seed=11, quirk_rate=0.02, workers=2)
    c = write_leak(tmp_path / "c", 5_000, seed=12, quirk_rate=0.02, workers=1)
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert a.files == b.files
    assert _tree(tmp_path / "a") != _tree(tmp_path / "c")
    assert a.files[0].numbers_sha256() != c.files[0].numbers_sha256()


def test_chunks_join_seamlessly(tmp_path: Path) -> None:
    """A file bigger than one chunk (65536 lines) still reconciles, duplicates reach back."""
    m = write_leak(tmp_path / "leak", 140_000, seed=2, quirk_rate=0.001, regions=["NL"])
    parsed = _reconcile(m)
    assert m.files[0].rows == 140_000
    numbers = parsed["NL.txt"].numbers
    first = {}
    for i, n in enumerate(numbers):
        first.setdefault(n, i)
    assert max(i - first[n] for i, n in enumerate(numbers)) > 65_536


def test_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        write_leak(tmp_path / "x", 10, seed=1)
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    write_leak(tmp_path / "empty", 10, seed=1)


@pytest.mark.parametrize("kwargs", [dict(quirk_rate=0.5), dict(quirk_rate=-0.1), dict(duplicate_rate=0.9),
                                    dict(regions=["XX"]), dict(workers=0), dict(fill=1.5), dict(fill=-0.1)])
def test_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        write_leak(tmp_path / "leak", 10, seed=1, **kwargs)


def test_leaner_lines_keep_the_numbers_and_the_ground_truth(tmp_path: Path) -> None:
    """``fill`` makes every optional field rarer: fewer bytes a line, the same lines, roles and
    numbers, and a ground truth a reader still matches exactly."""
    full = write_leak(tmp_path / "full", 20_000, seed=11, quirk_rate=0.02)
    lean = write_leak(tmp_path / "lean", 20_000, seed=11, quirk_rate=0.02, fill=0.25)
    _reconcile(lean)
    assert lean.to_dict()["fill"] == 0.25 and full.to_dict()["fill"] == 1.0
    assert (lean.lines, lean.records, lean.rejects, lean.distinct_numbers) == \
        (full.lines, full.records, full.rejects, full.distinct_numbers)
    assert all(np.array_equal(a.numbers, b.numbers) for a, b in zip(full.files, lean.files, strict=True))
    assert lean.bytes < 0.6 * full.bytes


def test_clean_leak_without_quirks(tmp_path: Path) -> None:
    m = write_leak(tmp_path / "leak", 4_000, seed=4, quirk_rate=0.0, duplicate_rate=0.0)
    _reconcile(m)
    assert m.records == m.rows == m.distinct_numbers == m.lines
    assert sum(m.rejects.values()) == 0 and m.blank_lines == 0
    assert all(not any(f.quirks.values()) for f in m.files)


# --------------------------------------------------------------------------- key source


def test_key_source_shapes_and_bits() -> None:
    chunks = list(synthetic_key_source(25_000, seed=1, chunk_rows=10_000))
    assert [len(v) for v, _ in chunks] == [10_000, 10_000, 5_000]
    for v, m in chunks:
        assert v.dtype == np.int64 and m.dtype == np.uint32 and v.shape == m.shape
        assert np.all(m & 1)
        assert m.max() < 1 << len(DATA_CLASSES)
        assert v.min() > 10**9


@pytest.mark.parametrize("fill", [1.0, 0.3])
def test_key_source_is_the_record_stream_of_write_leak(tmp_path: Path, fill: float) -> None:
    m = write_leak(tmp_path / "leak", 70_000, seed=9, quirk_rate=0.0, regions=["NL", "DE", "GB", "EG"], fill=fill)
    numbers: list[int] = []
    masks: list[int] = []
    for f in m.files:
        p = read_reference(m.out_dir / f.name, LAYOUTS[f.layout])
        numbers += p.numbers
        masks += p.masks
    chunks = list(synthetic_key_source(70_000, seed=9, regions=["NL", "DE", "GB", "EG"], chunk_rows=30_000,
                                       fill=fill))
    v = np.concatenate([c[0] for c in chunks])
    k = np.concatenate([c[1] for c in chunks])
    assert v.tolist() == numbers
    assert k.tolist() == masks


def test_key_source_fill_and_duplicate_rates() -> None:
    rows = 400_000
    v = np.concatenate([c[0] for c in synthetic_key_source(rows, seed=5)])
    m = np.concatenate([c[1] for c in synthetic_key_source(rows, seed=5)])
    assert v.size == rows
    dup = 1 - np.unique(v).size / rows
    assert abs(dup - 0.01) < 0.002
    plan = leak_plan(rows)
    no_dob = sum(n for r, n in plan.items() if REGION_LAYOUTS[r] == "fb17")
    for i, cls in enumerate(DATA_CLASSES):
        rate = np.count_nonzero(m & (1 << i)) / rows
        expected = DATA_CLASS_PROBABILITIES[cls]
        if cls == "date_of_birth":
            expected *= 1 - no_dob / rows  # fb17 files carry no birth date
        assert abs(rate - expected) < 0.006, cls
    # names nearly always, location ~60 %, employer ~18 %, e-mail rare
    assert np.count_nonzero(m & BIT["name"]) / rows > 0.97


def test_key_source_numbers_are_distinct_apart_from_duplicates() -> None:
    v = np.concatenate([c[0] for c in synthetic_key_source(300_000, seed=8, duplicate_rate=0.0)])
    assert np.unique(v).size == v.size


# --------------------------------------------------------------------------- command


def test_synth_command_prints_no_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert synth_command(tmp_path / "leak", 2_000, seed=1) == 0
    out = capsys.readouterr().out
    assert "synth: 16 files" in out and "lines/s" in out
    assert not re.search(r"\d{5,}", out.replace(str(tmp_path), ""))
    assert main_synth([str(tmp_path / "leak2"), "--rows", "500", "--seed", "2", "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert main_synth([str(tmp_path / "leak2"), "--rows", "5"]) == 2  # not empty


# --------------------------------------------------------------------------- speed


def test_fast_enough(tmp_path: Path) -> None:
    # Targets: 1M lines/s writing, 5M rows/s from the key source. Generous bounds here (a shared
    # CI machine); the slow tests below check the targets themselves.
    write_leak(tmp_path / "warm", 1_000, seed=1)
    start = time.perf_counter()
    m = write_leak(tmp_path / "leak", 300_000, seed=1)
    assert time.perf_counter() - start < 3.0
    assert m.lines >= 300_000
    start = time.perf_counter()
    assert sum(v.size for v, _ in synthetic_key_source(2_000_000, seed=1)) == 2_000_000
    assert time.perf_counter() - start < 2.0


@pytest.mark.slow
def test_write_leak_one_million_lines_a_second(tmp_path: Path) -> None:
    start = time.perf_counter()
    m = write_leak(tmp_path / "leak", 2_000_000, seed=1)
    rate = m.lines / (time.perf_counter() - start)
    assert rate >= 1_000_000, f"{rate:,.0f} lines/s"


@pytest.mark.slow
def test_key_source_five_million_rows_a_second() -> None:
    start = time.perf_counter()
    rows = sum(v.size for v, _ in synthetic_key_source(20_000_000, seed=1))
    rate = rows / (time.perf_counter() - start)
    assert rate >= 5_000_000, f"{rate:,.0f} rows/s"


def test_the_old_synth_entry_points_warn_and_are_the_one_command_line() -> None:
    import breachindex.cli.synth as cli_synth
    import breachindex.synth.leak as leak

    with pytest.warns(DeprecationWarning, match="cli.synth"):
        assert leak.main_synth is cli_synth.main
    with pytest.warns(DeprecationWarning, match="cli.synth"):
        assert leak.synth_command is cli_synth.synth_command
    with pytest.raises(AttributeError):
        leak.no_such_name  # noqa: B018
