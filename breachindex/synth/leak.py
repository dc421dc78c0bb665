"""A synthetic leak in the facebook-2021 shapes, with exact ground truth, and a text-free key source.

breachindex never touches real leak data. This module writes a folder that *looks* like the
April 2021 dump (one file per country, the same field layouts, the same country mix, fields
filled at realistic rates, duplicates and the usual damage) so the reader, the build and the
benchmarks can be run and reconciled end to end. Nothing in it belongs to a real person: names
are random pairs from small built-in lists of common given names and surnames, employers are
made up, e-mail addresses are at the reserved ``example.*`` domains. The phone numbers come from
real mobile numbering-plan ranges (see :mod:`breachindex.synth.synthetic`), so some belong to real
subscribers: never call or text one, and never print one (this module does not).

Two entry points share one generator:

:func:`write_leak`
    ``write_leak(out_dir, rows, seed=S)`` writes one file per region (``NL.txt``, ...; the UK as
    ``GB.csv`` with a header row) and returns a :class:`LeakManifest`: per file, exactly how
    many lines a reader must count, how many must become records, how many must be rejected and
    why, and the distinct valid numbers. ``rows`` is the number of data lines (records plus
    rejected lines); blank lines come on top of it and the CSV header is not a line.

:func:`synthetic_key_source`
    Yields ``(numbers, masks)`` chunks (int64 leak-form numbers, uint32 data-class masks) for a
    build without any text, at several million rows a second. It is the record stream of
    ``write_leak(..., quirk_rate=0)`` (same seed, rows, regions and duplicate rate), file by
    file in the same order, so a text build and a direct build can be compared.

How lines are made
    Rows are split over regions by :data:`breachindex.synth.synthetic.REGION_WEIGHTS` (largest
    remainder; a region is capped at 95 % of its mobile number space and the excess goes to the
    others, which only matters near the full 533M rows for Tunisia). Each region's lines are
    made in chunks of :data:`CHUNK_LINES`, every chunk from its own random streams derived from
    ``(seed, region, chunk)``, so the output is a pure function of the arguments.

    Each data line gets one *role*, drawn on its own: a duplicate (``duplicate_rate``), one of
    seven line quirks (``quirk_rate`` each: ``+`` before the number, invalid UTF-8 in the first
    name, too few fields, phone empty, too short, too long, not digits) or a plain new record.
    New records take the next number of a per-region pseudo-random permutation of the region's
    mobile number space (a Feistel network with cycle walking over ``[0, capacity)``, keyed
    from the seed), so they are distinct without any look-up, at any scale. A duplicate line
    repeats the number of a uniformly chosen earlier new record of the same file (its other
    fields are drawn afresh). A damaged line has exactly one defect, so every reader
    classifies it the same way whatever the order of its checks: a too-few-fields line is
    ``phone:facebook_id:first_name`` with a valid phone that repeats an earlier number of the
    file (a record a reader keeps with what it has, counted as ``short_line``); a phone-damaged
    line has the full field count. Blank lines (``quirk_rate``, never before the first line)
    come on top. File quirks (``file_quirk_rate`` each, every one in at least one file): CRLF
    line ends for the whole file, a UTF-8 BOM, no newline after the last line.

    Data classes are drawn per line with :data:`breachindex.synth.synthetic.DATA_CLASS_PROBABILITIES`
    and limited to what the file's layout can carry (``fb17`` has no birth date). A field is
    non-empty exactly when its class is in the line's mask, so a reader derives the same mask.

Where the parts live: the numbering model in :mod:`.numbering`, line shapes and made-up content
in :mod:`.shape`, the per-chunk draws in :mod:`.rows`, the bytes of a file in :mod:`.text`; this
module writes the folder and its manifest. The command line is :mod:`breachindex.cli.synth`.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..builder.layouts import DATA_CLASSES, FIELD_CLASS
from .numbering import check_count, check_seed
from .rows import RegionGen, leak_plan
from .shape import (
    CHUNK_LINES,
    CLASS_BIT,
    CSV_HEADER,
    CSV_LAYOUT,
    DEFAULT_FILE_QUIRK_RATE,
    KEY_CHUNK_ROWS,
    MAX_DUPLICATE_RATE,
    MAX_QUIRK_RATE,
    N_ROLES,
    PARALLEL_MIN_ROWS,
    RECORD_FITS,
    RECORD_ROLES,
    REGION_LAYOUTS,
    REJECT_REASONS,
    ROLE_BADUTF8,
    ROLE_DUP,
    ROLE_FEW,
    ROLE_FIT,
    ROLE_PLUS,
    ROLE_REASON,
    STREAM_FILES,
    file_name,
    random_stream,
)
from .text import FileText, date_pools

__all__ = [
    "CHUNK_LINES",
    "KEY_CHUNK_ROWS",
    "RECORD_FITS",
    "REJECT_REASONS",
    "REGION_LAYOUTS",
    "CSV_HEADER",
    "CSV_LAYOUT",
    "LeakFile",
    "LeakManifest",
    "leak_plan",
    "write_leak",
    "synthetic_key_source",
]

#: the command line moved to breachindex.cli.synth; the old names still work, with a warning
_MOVED_TO_CLI = {"synth_command": "synth_command", "main_synth": "main"}


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_CLI:
        import warnings

        from ..cli import synth as cli_synth

        warnings.warn(f"breachindex.synth.leak.{name} moved to breachindex.cli.synth.{_MOVED_TO_CLI[name]}",
                      DeprecationWarning, stacklevel=2)
        return getattr(cli_synth, _MOVED_TO_CLI[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class LeakFile:
    """Ground truth of one written file.

    ``lines`` is what a reader counts: every physical line after the header, blank ones
    included, and a last line without a newline too. ``lines == records + sum(rejects.values())
    + blank_lines``. ``records`` includes duplicate lines, lines with a ``+`` or invalid UTF-8
    in a name, and lines with too few fields, which a reader keeps with what they have and counts
    in ``fits`` (``short_line``); such a line repeats an earlier number of its file, so it counts
    among ``duplicate_lines`` too, and ``distinct_numbers == records - duplicate_lines``.
    ``numbers`` holds the distinct valid numbers in leak form (country code + national number)
    as int64, in order of first appearance; the E.164 form of each is ``"+" + str(number)``.
    ``class_counts`` counts record lines (duplicates included) by data class.
    """

    name: str
    region: str
    layout: str
    rows: int
    lines: int
    header_lines: int
    blank_lines: int
    records: int
    duplicate_lines: int
    distinct_numbers: int
    rejects: dict[str, int]
    fits: dict[str, int]
    quirks: dict[str, int]
    class_counts: dict[str, int]
    bytes: int
    numbers: npt.NDArray[np.int64] = field(repr=False, compare=False)

    def numbers_sha256(self) -> str:
        """SHA-256 over the sorted distinct numbers as little-endian int64 (for reconciling)."""
        return hashlib.sha256(np.sort(self.numbers).astype("<i8").tobytes()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("name", "region", "layout", "rows", "lines", "header_lines",
                                           "blank_lines", "records", "duplicate_lines",
                                           "distinct_numbers", "bytes")}
        d["rejects"] = dict(self.rejects)
        d["fits"] = dict(self.fits)
        d["quirks"] = dict(self.quirks)
        d["class_counts"] = dict(self.class_counts)
        d["numbers_sha256"] = self.numbers_sha256()
        return d


@dataclass(frozen=True)
class LeakManifest:
    """What :func:`write_leak` wrote, with exact ground truth per file (see :class:`LeakFile`)."""

    out_dir: Path
    rows: int
    seed: int
    quirk_rate: float
    duplicate_rate: float
    file_quirk_rate: float
    files: tuple[LeakFile, ...]
    seconds: float = field(compare=False)
    fill: float = 1.0

    def _sum(self, attr: str) -> int:
        return sum(int(getattr(f, attr)) for f in self.files)

    @property
    def lines(self) -> int:
        return self._sum("lines")

    @property
    def records(self) -> int:
        return self._sum("records")

    @property
    def blank_lines(self) -> int:
        return self._sum("blank_lines")

    @property
    def header_lines(self) -> int:
        return self._sum("header_lines")

    @property
    def duplicate_lines(self) -> int:
        return self._sum("duplicate_lines")

    @property
    def distinct_numbers(self) -> int:
        """Distinct valid numbers over all files (regions never share a number)."""
        return self._sum("distinct_numbers")

    @property
    def bytes(self) -> int:
        return self._sum("bytes")

    @property
    def rejects(self) -> dict[str, int]:
        return {r: sum(f.rejects[r] for f in self.files) for r in REJECT_REASONS}

    @property
    def fits(self) -> dict[str, int]:
        return {r: sum(f.fits[r] for f in self.files) for r in RECORD_FITS}

    def file(self, name_or_region: str) -> LeakFile:
        for f in self.files:
            if name_or_region in (f.name, f.region):
                return f
        raise KeyError(name_or_region)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "breachindex-synthleak-truth/2",
            "rows": self.rows,
            "seed": self.seed,
            "quirk_rate": self.quirk_rate,
            "duplicate_rate": self.duplicate_rate,
            "file_quirk_rate": self.file_quirk_rate,
            "fill": self.fill,
            "totals": {
                "files": len(self.files), "lines": self.lines, "header_lines": self.header_lines,
                "blank_lines": self.blank_lines, "records": self.records,
                "duplicate_lines": self.duplicate_lines, "distinct_numbers": self.distinct_numbers,
                "rejects": self.rejects, "fits": self.fits, "bytes": self.bytes,
            },
            "files": [f.to_dict() for f in self.files],
        }


# --------------------------------------------------------------------------- writing


def _check_rate(name: str, value: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number")
    value = float(value)
    if not 0.0 <= value <= hi:
        raise ValueError(f"{name} must be between 0 and {hi}, got {value}")
    return value


def _file_quirks(seed: int, count: int, rate: float) -> list[dict[str, bool]]:
    """CRLF / BOM / no final newline per file: each with probability ``rate``, and each in at
    least one file when ``rate > 0``."""
    names = ("crlf", "bom", "no_final_newline")
    rng = random_stream(seed, STREAM_FILES)
    draws = rng.random((count, len(names))) < rate
    out = [{n: bool(draws[i, j]) for j, n in enumerate(names)} for i in range(count)]
    forced = rng.integers(0, max(count, 1), len(names))
    if rate > 0 and count:
        for j, n in enumerate(names):
            if not draws[:, j].any():
                out[int(forced[j])][n] = True
    return out


def write_leak(
    out_dir: str | os.PathLike[str],
    rows: int,
    *,
    seed: int,
    quirk_rate: float = 0.002,
    duplicate_rate: float = 0.01,
    regions: Sequence[str] | None = None,
    file_quirk_rate: float | None = None,
    truth_path: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    fill: float = 1.0,
) -> LeakManifest:
    """Write a synthetic leak folder and return its exact ground truth.

    Args:
        out_dir: folder to create (it may exist if empty). One file per region with rows:
            ``XX.txt`` (layout ``fb17`` or ``fb12``, see :data:`REGION_LAYOUTS`) or ``GB.csv``.
        rows: data lines in total (records and rejected lines; blank lines and the CSV header
            are extra), split over regions by :func:`leak_plan`.
        seed: non-negative int; the same arguments give byte-identical files.
        quirk_rate: rate of each line quirk and of blank lines (0 .. 0.1).
        duplicate_rate: share of lines that repeat an earlier number of the file (0 .. 0.5).
        regions: region codes (default :data:`synthetic.DEFAULT_REGIONS`).
        file_quirk_rate: chance of each file quirk per file (CRLF, BOM, no final newline);
            default 0.25 when ``quirk_rate > 0``, else 0. Each quirk is in at least one file
            when this is > 0.
        truth_path: also write :meth:`LeakManifest.to_dict` as JSON there (never inside
            ``out_dir``: a reader would take it for a leak file).
        fill: each optional data class (``facebook_id``, ``name``, ...) is drawn with its
            probability times ``fill`` (0 .. 1): below 1, leaner lines (0.06 gives about the 31
            bytes a line of the real dump's 16.5 GB; the default gives about 95).
        workers: processes writing files at once (default: the usable CPUs, at most 8; one
            below 200,000 rows). Files are written whole by one process each, largest first,
            so the output does not depend on it. More than one needs the ``fork`` start method
            and a caller without other threads; otherwise the files are written one after
            another in this process.

    Raises:
        ValueError: bad rates, rows or regions; ``out_dir`` exists and is not an empty folder;
            ``truth_path`` inside ``out_dir``.
    """
    t0 = time.perf_counter()
    seed = check_seed(seed)
    rows = check_count(rows)
    quirk_rate = _check_rate("quirk_rate", quirk_rate, MAX_QUIRK_RATE)
    duplicate_rate = _check_rate("duplicate_rate", duplicate_rate, MAX_DUPLICATE_RATE)
    fill = _check_rate("fill", fill, 1.0)
    fq = (DEFAULT_FILE_QUIRK_RATE if quirk_rate > 0 else 0.0) if file_quirk_rate is None else \
        _check_rate("file_quirk_rate", file_quirk_rate, 1.0)
    nworkers = _workers(workers, 1 << 30)
    out = Path(out_dir)
    truth = Path(truth_path) if truth_path is not None else None
    if truth is not None:
        try:
            truth.resolve().relative_to(out.resolve())
        except ValueError:
            pass
        else:
            raise ValueError("truth_path must not be inside out_dir (a reader would read it)")
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"{out} exists and is not a folder")
        if any(out.iterdir()):
            raise ValueError(f"{out} exists and is not empty; refusing to write a leak into it")
    plan = leak_plan(rows, regions=regions)
    out.mkdir(parents=True, exist_ok=True)
    date_pools(seed)
    quirks = _file_quirks(seed, len(plan), fq)
    tasks = [_FileTask(out, region, count, seed, quirk_rate, duplicate_rate, fquirks, fill)
             for (region, count), fquirks in zip(plan.items(), quirks, strict=True)]
    if workers is None and rows < PARALLEL_MIN_ROWS:
        nworkers = 1  # not worth starting processes for
    files = _run_tasks(tasks, min(nworkers, len(tasks)))
    manifest = LeakManifest(out, rows, seed, quirk_rate, duplicate_rate, fq, tuple(files),
                            time.perf_counter() - t0, fill)
    if truth is not None:
        truth.parent.mkdir(parents=True, exist_ok=True)
        truth.write_text(json.dumps(manifest.to_dict(), indent=1) + "\n", encoding="utf-8")
    return manifest


@dataclass(frozen=True)
class _FileTask:
    out: Path
    region: str
    count: int
    seed: int
    quirk_rate: float
    duplicate_rate: float
    fquirks: dict[str, bool]
    fill: float = 1.0


def _workers(workers: int | None, tasks: int) -> int:
    if workers is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cpus = os.cpu_count() or 1
        workers = min(cpus, 8)
    elif isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError("workers must be a positive int")
    if workers > 1 and ("fork" not in multiprocessing.get_all_start_methods()
                        or threading.active_count() > 1):
        workers = 1  # forking a threaded process is unsafe; spawning would redo all set-up
    return max(1, min(workers, tasks))


def _run_task(item: tuple[int, _FileTask]) -> tuple[int, LeakFile]:
    return item[0], _write_file(item[1])


def _run_tasks(tasks: list[_FileTask], workers: int) -> list[LeakFile]:
    if workers <= 1:
        return [_write_file(t) for t in tasks]
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].count)  # largest first
    results: dict[int, LeakFile] = {}
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for i, leak_file in pool.imap_unordered(_run_task, [(i, tasks[i]) for i in order]):
            results[i] = leak_file
    return [results[i] for i in range(len(tasks))]


def _write_file(task: _FileTask) -> LeakFile:
    out, region, count, seed = task.out, task.region, task.count, task.seed
    quirk_rate, fquirks = task.quirk_rate, task.fquirks
    gen = RegionGen(region, count, seed=seed, quirk_rate=quirk_rate,
                    duplicate_rate=task.duplicate_rate, fill=task.fill)
    text = FileText(gen, seed=seed, quirk_rate=quirk_rate, crlf=fquirks["crlf"],
                     dates=date_pools(seed))
    name = file_name(region, gen.layout.name)
    role_counts = np.zeros(N_ROLES, dtype=np.int64)
    class_counts = np.zeros(len(DATA_CLASSES), dtype=np.int64)
    # a too-few-fields line holds the fields before the first name, and a first name
    before = gen.layout.fields[:gen.layout.fields.index("first_name")]
    few_mask = np.uint32(sum({CLASS_BIT[FIELD_CLASS[f]] for f in before if f in FIELD_CLASS}))
    few_bits = np.uint32(CLASS_BIT["phone_number"] | CLASS_BIT["name"])
    numbers: list[np.ndarray] = []
    blanks = 0
    size = 0
    with open(out / name, "wb") as fh:
        head = (b"\xef\xbb\xbf" if fquirks["bom"] else b"") + text.header.encode("latin-1")
        fh.write(head)
        size += len(head)
        last = gen.chunks - 1
        for chunk in range(gen.chunks):
            core = gen.core(chunk)
            body, b = text.render(core, chunk, chunk * CHUNK_LINES)
            data = body.encode("latin-1")
            if chunk == last and fquirks["no_final_newline"]:
                data = data[: -len(text.term)]
            fh.write(data)
            size += len(data)
            blanks += b
            role_counts += np.bincount(core.role, minlength=N_ROLES)
            is_record = np.isin(core.role, RECORD_ROLES)
            rec = core.masks[is_record]
            few = core.role[is_record] == ROLE_FEW
            rec[few] = (rec[few] & few_mask) | few_bits
            for j in range(len(DATA_CLASSES)):
                class_counts[j] += int(np.count_nonzero(rec & np.uint32(1 << j)))
            numbers.append(core.values[core.fresh])
    rejects = {reason: 0 for reason in REJECT_REASONS}
    for r, reason in ROLE_REASON.items():
        rejects[reason] = int(role_counts[r])
    fits = {fit: 0 for fit in RECORD_FITS}
    for r, fit in ROLE_FIT.items():
        fits[fit] = int(role_counts[r])
    records = int(role_counts[list(RECORD_ROLES)].sum())
    nums = np.concatenate(numbers) if numbers else np.empty(0, dtype=np.int64)
    return LeakFile(
        name=name, region=region, layout=gen.layout.name, rows=count, lines=count + blanks,
        header_lines=1 if gen.layout.csv else 0, blank_lines=blanks, records=records,
        duplicate_lines=int(role_counts[ROLE_DUP] + role_counts[ROLE_FEW]), distinct_numbers=int(nums.size),
        rejects=rejects, fits=fits,
        quirks={"plus_prefix": int(role_counts[ROLE_PLUS]), "invalid_utf8": int(role_counts[ROLE_BADUTF8]),
                "blank_lines": blanks, "crlf": int(fquirks["crlf"]), "bom": int(fquirks["bom"]),
                "no_final_newline": int(fquirks["no_final_newline"])},
        class_counts={c: int(class_counts[j]) for j, c in enumerate(DATA_CLASSES)},
        bytes=size, numbers=nums,
    )


# --------------------------------------------------------------------------- key source


def synthetic_key_source(
    rows: int,
    *,
    seed: int,
    duplicate_rate: float = 0.01,
    regions: Sequence[str] | None = None,
    chunk_rows: int = KEY_CHUNK_ROWS,
    fill: float = 1.0,
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]]:
    """Yield ``(numbers, masks)`` chunks of ``rows`` synthetic records in all, no text involved.

    ``numbers`` is int64, the leak form as an integer (country code then national number, e.g.
    31612345678); ``masks`` is a parallel uint32 array of data-class bits over
    :data:`layouts.DATA_CLASSES` (bit 0, phone_number, always set). Every chunk has
    ``chunk_rows`` rows except the last. The rows are exactly the records of
    ``write_leak(..., rows=rows, seed=seed, quirk_rate=0, duplicate_rate=duplicate_rate,
    regions=regions, fill=fill)`` in file order: the same country mix, fill rates and duplicates.

    Duplicates stay at ``duplicate_rate`` at any scale: new records walk a keyed permutation of
    each region's number space, so they never collide by chance (regions are capped at 95 % of
    their space, see :func:`leak_plan`); only the lines drawn as duplicates repeat a number.
    """
    seed = check_seed(seed)
    rows = check_count(rows)
    duplicate_rate = _check_rate("duplicate_rate", duplicate_rate, MAX_DUPLICATE_RATE)
    fill = _check_rate("fill", fill, 1.0)
    chunk_rows = check_count(chunk_rows)
    if chunk_rows == 0:
        raise ValueError("chunk_rows must be > 0")
    plan = leak_plan(rows, regions=regions)

    def gen() -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]]:
        buf_v: list[np.ndarray] = []
        buf_m: list[np.ndarray] = []
        have = 0
        for region, count in plan.items():
            g = RegionGen(region, count, seed=seed, quirk_rate=0.0, duplicate_rate=duplicate_rate, fill=fill)
            for chunk in range(g.chunks):
                core = g.core(chunk)
                buf_v.append(core.values)
                buf_m.append(core.masks)
                have += core.values.size
                while have >= chunk_rows:
                    v = np.concatenate(buf_v) if len(buf_v) > 1 else buf_v[0]
                    m = np.concatenate(buf_m) if len(buf_m) > 1 else buf_m[0]
                    yield v[:chunk_rows], m[:chunk_rows]
                    buf_v, buf_m = [v[chunk_rows:]], [m[chunk_rows:]]
                    have -= chunk_rows
        if have:
            yield np.concatenate(buf_v), np.concatenate(buf_m)

    return gen()
