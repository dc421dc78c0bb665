"""Reading leak files (reader ``facebook-2021``): layout detection and the parallel C parser.

A file is read in blocks of whole lines; each block is parsed in C (split, classify, normalize
and key the phone, GIL released) on a small thread pool, so both cores work. Every line ends
as a record, a blank, or a rejection counted by reason with its line number; nothing else.
A record whose line has fewer fields than its layout (a truncated line) or more (a ``:``
inside a name) keeps what it has, and is counted by how it fits (``RECORD_FITS``).
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._core import check_status, ffi, lib
from ..errors import BreachIndexError, InvalidPhoneNumber
from ..keying.phone import calling_code, normalize_reference, rules
from .layouts import DATA_CLASSES, FB12, FB17, LAYOUTS, Layout, csv_layout

__all__ = ["LayoutError", "detect_layout", "read_leak_file", "ParsedBlock", "FileTotals",
           "LINE_REJECTIONS", "RECORD_FITS", "leak_files", "record_fields"]

BOM = b"\xef\xbb\xbf"
BLOCK_BYTES = 16 << 20
_PHONE_BIT = 1 << DATA_CLASSES.index("phone_number")

#: C line status -> reject reason (names are stable: they appear in reports)
LINE_REJECTIONS = {
    lib.BI_LINE_PHONE_EMPTY: "phone_empty",
    lib.BI_LINE_PHONE_NOT_DIGITS: "phone_not_digits",
    lib.BI_LINE_PHONE_TOO_SHORT: "phone_too_short",
    lib.BI_LINE_PHONE_TOO_LONG: "phone_too_long",
    lib.BI_LINE_NOT_POSSIBLE_SHORT: "too_short",
    lib.BI_LINE_NOT_POSSIBLE_LONG: "too_long",
    lib.BI_LINE_NOT_POSSIBLE_LENGTH: "invalid_length",
    lib.BI_LINE_BAD_QUOTES: "unbalanced_quotes",
}
#: C fit -> the name a record of that fit is counted by (names are stable: they appear in reports)
RECORD_FITS = {lib.BI_FIT_SHORT: "short_line", lib.BI_FIT_EXTRA: "extra_fields"}


class LayoutError(BreachIndexError):
    """A leak file whose field layout cannot be told (or does not fit the one given)."""


def leak_files(source: str | os.PathLike[str]) -> list[Path]:
    """A file, or the regular files of a folder (sorted, hidden ones skipped)."""
    path = Path(source)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if path.is_file():
        return [path]
    raise BreachIndexError(f"source {str(path)!r} is neither a file nor a folder")


def _first_lines(path: Path, count: int = 50) -> list[bytes]:
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if head.startswith(BOM):
        head = head[len(BOM):]
    lines = [ln.rstrip(b"\r") for ln in head.split(b"\n")]
    if len(head) == 1 << 16 and lines:
        lines.pop()  # possibly cut in the middle
    return [ln for ln in lines if ln.strip()][:count]


def detect_layout(path: str | os.PathLike[str], layout: str | None = None) -> Layout:
    """The layout of a file: given by name (fb12, fb17, csv), or told from its first lines."""
    p = Path(path)
    lines = _first_lines(p)
    if layout == "csv" or (layout is None and lines and b"," in lines[0] and b":" not in lines[0]):
        header = lines[0].decode("utf-8", "replace") if lines else ""
        found = csv_layout(header.split(","))
        if found is None:
            raise LayoutError(f"{p.name}: CSV header has no phone column; cannot read this file")
        return found
    if layout is not None:
        if layout not in LAYOUTS:
            raise LayoutError(f"unknown layout {layout!r}; use one of fb12, fb17, csv")
        return LAYOUTS[layout]
    if not lines:
        raise LayoutError(f"{p.name}: empty file, no layout to detect; pass --layout")
    counts = Counter(ln.count(b":") + 1 for ln in lines)
    for candidate in (FB17, FB12):
        if counts[len(candidate.fields)] * 2 >= len(lines):
            return candidate
    common = ", ".join(f"{n} fields x{c}" for n, c in counts.most_common(3))
    raise LayoutError(
        f"{p.name}: cannot tell the layout from its first lines ({common}); "
        "pass --layout fb12, fb17 or csv"
    )


def _c_layout(layout: Layout) -> Any:
    c = ffi.new("bi_layout *")
    c.n_fields = len(layout.fields)
    c.phone_field = layout.phone_field
    c.csv = 1 if layout.csv else 0
    c.base_classes = _PHONE_BIT
    for i in range(min(len(layout.fields), lib.BI_MAX_FIELDS)):
        c.class_of_field[i] = layout.class_mask_of_field(i) & ~_PHONE_BIT
    return c


@dataclass
class ParsedBlock:
    """The records of a block of lines, and what became of the other lines."""

    keys: np.ndarray  # uint64
    check: np.ndarray  # uint64
    classes: np.ndarray  # uint32 masks over DATA_CLASSES
    cc: np.ndarray  # uint16 calling codes
    lines: int
    blank: int
    rejected: Counter[str]
    rejects: list[tuple[int, str]]  # (line number, reason)
    fits: Counter[str] = field(default_factory=Counter)  # records whose fields did not fit, by RECORD_FITS
    nbytes: int = 0  # bytes of the file this block covers
    text: bytes | None = None  # the block itself, when the caller keeps field values
    record_lines: np.ndarray | None = None  # index (in the block) of each record's line


@dataclass
class FileTotals:
    """Per-file reconciliation: lines == records + rejected + blank (header not a line);
    ``fits`` counts records among ``records`` by how their fields fit (``RECORD_FITS``)."""

    path: Path
    layout: str
    lines: int = 0
    records: int = 0
    blank: int = 0
    header_lines: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    fits: Counter[str] = field(default_factory=Counter)


def _parse_block(buf: bytes, layout_c: Any, first_line: int, siphash_key: bytes,
                 check_key: bytes, keep_text: bool = False, size: int | None = None) -> ParsedBlock:
    """Parse buf[:size] (all of buf by default): whole lines only."""
    r = rules()
    size = len(buf) if size is None else size
    counted = ffi.new("size_t *")
    check_status(lib.bi_count_lines(buf, size, counted))
    cap = max(1, counted[0])
    status = np.empty(cap, np.uint8)
    keys = np.empty(cap, np.uint64)
    check = np.empty(cap, np.uint64)
    classes = np.empty(cap, np.uint32)
    cc = np.empty(cap, np.uint16)
    off = np.empty(cap, np.uint64)
    plen = np.empty(cap, np.uint32)
    fit = np.empty(cap, np.uint8)
    out = ffi.new("bi_line_out *")
    out.status = ffi.from_buffer("uint8_t[]", status)
    out.keys = ffi.from_buffer("uint64_t[]", keys)
    out.check = ffi.from_buffer("uint64_t[]", check)
    out.classes = ffi.from_buffer("uint32_t[]", classes)
    out.cc = ffi.from_buffer("uint16_t[]", cc)
    out.phone_off = ffi.from_buffer("uint64_t[]", off)
    out.phone_len = ffi.from_buffer("uint32_t[]", plen)
    out.fit = ffi.from_buffer("uint8_t[]", fit)
    parsed = ffi.new("size_t *")
    check_status(lib.bi_parse_lines(layout_c, r.table, siphash_key, check_key, buf, size, cap, out, parsed))
    n = parsed[0]
    status = status[:n]
    rejected: Counter[str] = Counter()
    rejects: list[tuple[int, str]] = []
    for i in np.flatnonzero(status == lib.BI_LINE_FALLBACK).tolist():
        raw = buf[int(off[i]):int(off[i]) + int(plen[i])].decode("utf-8", "replace").strip()
        try:
            digits = normalize_reference(raw)[1:].encode("ascii")
        except InvalidPhoneNumber as exc:
            status[i] = 255
            rejected[exc.reason] += 1
            rejects.append((first_line + i, exc.reason))
            continue
        keys[i] = lib.bi_siphash24(siphash_key, digits, len(digits))
        check[i] = lib.bi_siphash24(check_key, digits, len(digits))
        cc[i] = calling_code(digits.decode("ascii"))
        status[i] = lib.BI_LINE_RECORD
    bad = np.flatnonzero((status != lib.BI_LINE_RECORD) & (status != lib.BI_LINE_BLANK)
                         & (status != 255))
    for i in bad.tolist():
        reason = LINE_REJECTIONS[int(status[i])]
        rejected[reason] += 1
        rejects.append((first_line + i, reason))
    rejects.sort()
    ok = status == lib.BI_LINE_RECORD
    fits = Counter({name: int(np.count_nonzero(ok & (fit[:n] == code))) for code, name in RECORD_FITS.items()})
    return ParsedBlock(keys[:n][ok], check[:n][ok], classes[:n][ok], cc[:n][ok], lines=n,
                       blank=int(np.count_nonzero(status == lib.BI_LINE_BLANK)),
                       rejected=rejected, rejects=rejects, fits=+fits, nbytes=size,
                       text=(buf if size == len(buf) else buf[:size]) if keep_text else None,
                       record_lines=np.flatnonzero(ok) if keep_text else None)


def _start(path: Path, has_header: bool) -> tuple[int, int]:
    """(byte offset where records start, blank lines before a CSV header).

    Skips a UTF-8 BOM and, for CSV, the header: the first non-blank line, as detect_layout
    reads it. Blank lines before it count as blank lines of the file."""
    with open(path, "rb") as f:
        pos = len(BOM) if f.read(len(BOM)) == BOM else 0
        if not has_header:
            return pos, 0
        f.seek(pos)
        blank = 0
        for line in f:
            pos += len(line)
            if line.strip():
                return pos, blank
            blank += 1
        return pos, blank


def _blocks(path: Path, start: int, block_bytes: int) -> Iterator[tuple[bytes, int]]:
    """(data, size): blocks of whole lines, data[:size], in file order from ``start``. Each
    byte is read once or twice at most: a block ends at its last newline, the next read starts
    right after it. (Plain bytes and a size rather than memoryview slices: memoryviews of a
    buffer that C is reading must not be left to the garbage collector.)"""
    pos = start
    with open(path, "rb") as f:  # buffered: read(n) returns n bytes unless at the end
        while True:
            f.seek(pos)
            data = f.read(block_bytes)
            if not data:
                return
            if len(data) < block_bytes:  # the rest of the file
                yield data, len(data)
                return
            cut = data.rfind(b"\n")
            if cut < 0:  # a line longer than a block: read more at once
                block_bytes *= 2
                continue
            yield data, cut + 1
            pos += cut + 1


def read_leak_file(
    path: str | os.PathLike[str],
    *,
    siphash_key: bytes,
    check_key: bytes,
    layout: str | None = None,
    threads: int = 2,
    block_bytes: int = BLOCK_BYTES,
    totals: FileTotals | None = None,
    keep_text: bool = False,
) -> Iterator[ParsedBlock]:
    """Parse one leak file in blocks, ``threads`` blocks at a time, yielding them in order.

    The layout is detected (or checked) before any block is parsed; ``totals``, if given, is
    filled in as blocks are yielded.
    """
    p = Path(path)
    lay = detect_layout(p, layout)
    layout_c = _c_layout(lay)
    if totals is not None:
        totals.layout = lay.name
        totals.header_lines = 1 if lay.csv else 0
    start, blank_before_header = _start(p, lay.csv)
    if totals is not None:
        totals.lines += blank_before_header
        totals.blank += blank_before_header
    # physical line number of the next block's first line
    next_line = 1 + blank_before_header + (1 if lay.csv else 0)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        pending: list[Future[ParsedBlock]] = []
        for data, size in _blocks(p, start, block_bytes):
            pending.append(pool.submit(_parse_block, data, layout_c, 0, siphash_key, check_key,
                                       keep_text, size))
            if len(pending) > threads:
                parsed = _account(pending.pop(0).result(), totals, next_line)
                next_line += parsed.lines
                yield parsed
        for fut in pending:
            parsed = _account(fut.result(), totals, next_line)
            next_line += parsed.lines
            yield parsed


def _account(block: ParsedBlock, totals: FileTotals | None, first_line: int) -> ParsedBlock:
    block.rejects = [(first_line + i, reason) for i, reason in block.rejects]
    if totals is not None:
        totals.lines += block.lines
        totals.records += len(block.keys)
        totals.blank += block.blank
        totals.rejected.update(block.rejected)
        totals.fits.update(block.fits)
    return block


def record_fields(layout: Layout, line: bytes) -> tuple[str, dict[str, str]]:
    """(phone field, {field name: value} of the other non-empty fields) of one record line."""
    text = line.rstrip(b"\r").decode("utf-8", "replace")
    if layout.csv:
        import csv

        values = next(csv.reader([text]), [])
    else:
        values = text.split(layout.separator)
    phone = values[layout.phone_field].strip() if len(values) > layout.phone_field else ""
    fields = {}
    for i, value in enumerate(values[:len(layout.fields)]):
        value = value.strip()
        if value and i != layout.phone_field:
            fields[layout.fields[i]] = value
    return phone, fields
