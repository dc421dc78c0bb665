"""Full-scale builds: leak files (or the synthetic generator) into an index, in bounded memory.

Records flow from the parser as (key, check hash, data classes, breach bit, calling code), 26
bytes each. They collect in memory up to a quarter of the ``memory`` budget; past that they are
spilled to 256 partition files by the top 8 bits of the key. At the end every partition is
read back in key order, sorted, checked for key collisions, merged (one row per number, breach
and class bits united) and appended to the index files. A 64-bit key collision between two
different numbers (detected through the independent check hash) restarts the whole build under
the next key tweak, reading the sources again.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pyroaring import BitMap

from .. import format as fmt
from .._core import PHONE_REASONS, check_status, ffi, lib
from ..errors import BuildError
from ..index.details import DetailsSealer, pack_row, unpack_row
from ..keying.phone import normalize, rules
from ..keying.secret import Key, KeyLike, as_key
from .files import (
    REGIONS,
    IndexFilesWriter,
    check_replaceable,
    region_ids,
    release_temp_folder,
    replace_folder,
    temp_folder,
)
from .layouts import DATA_CLASSES, Layout
from .leakfiles import FileTotals, ParsedBlock, detect_layout, leak_files, read_leak_file, record_fields

__all__ = ["IngestReport", "build_index", "add_breach", "Source", "DEFAULT_MEMORY", "MAX_TWEAKS"]

# A record is three little-endian uint64: key, check hash, and meta = data classes (bits 0-15)
# | breaches (bits 16-47) | calling code (bits 48-63). Duplicates merge by OR-ing meta (the
# calling code of one number is one value, so OR leaves it as it is).
REC_WIDTH = 3
REC_BYTES = 8 * REC_WIDTH
DEFAULT_MEMORY = 4 << 30
REGION_INDEX = {r: i for i, r in enumerate(REGIONS)}
PARTITION_BITS = 8
MAX_TWEAKS = 8
_SPILL_SHIFT = np.uint64(64 - PARTITION_BITS)


class _Collision(Exception):
    """Two different numbers share a 64-bit key: rebuild under the next tweak."""


class SpillingCollector:
    """Collects records within a memory budget, spilling to key-range partitions on disk."""

    def __init__(self, workdir: Path, memory: int, width: int = REC_WIDTH) -> None:
        self.workdir = workdir
        self.width = width
        self.limit = max(memory // 4, REC_BYTES * 1024)
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._files: dict[int, Any] = {}
        self.spilled_bytes = 0

    def add(self, recs: np.ndarray) -> None:
        if len(recs) == 0:
            return
        self._buffer.append(recs)
        self._buffered += recs.nbytes
        if self._buffered >= self.limit:
            self._spill()

    def _spill(self) -> None:
        if not self._buffer:
            return
        recs = np.concatenate(self._buffer)
        self._buffer, self._buffered = [], 0
        part = (recs[:, 0] >> _SPILL_SHIFT).astype(np.uint16)
        order = np.argsort(part, kind="stable")  # a radix sort for 16-bit values
        recs, part = recs[order], part[order]
        bounds = np.searchsorted(part, np.arange((1 << PARTITION_BITS) + 1))
        for p in np.flatnonzero(bounds[1:] > bounds[:-1]).tolist():
            f = self._files.get(p)
            if f is None:
                f = self._files[p] = open(self.workdir / f"part-{p:03d}.rec", "ab")  # noqa: SIM115
            chunk = recs[bounds[p]:bounds[p + 1]].tobytes()
            f.write(chunk)
            self.spilled_bytes += len(chunk)

    def partitions(self) -> Iterator[tuple[int, np.ndarray]]:
        """(partition, its records) for every key range, in ascending key order."""
        empty = np.empty((0, self.width), np.uint64)
        if not self._files:  # everything fitted in memory: split it here
            recs = np.concatenate(self._buffer) if self._buffer else empty
            self._buffer, self._buffered = [], 0
            part = (recs[:, 0] >> _SPILL_SHIFT).astype(np.uint16)
            order = np.argsort(part, kind="stable")
            recs, part = recs[order], part[order]
            bounds = np.searchsorted(part, np.arange((1 << PARTITION_BITS) + 1))
            for p in range(1 << PARTITION_BITS):
                yield p, recs[bounds[p]:bounds[p + 1]]
            return
        self._spill()
        for f in self._files.values():
            f.close()
        for p in range(1 << PARTITION_BITS):
            path = self.workdir / f"part-{p:03d}.rec"
            if p not in self._files:
                yield p, empty
                continue
            recs = np.fromfile(path, dtype="<u8").reshape(-1, self.width)
            path.unlink()
            yield p, recs


_CLASS_MASK = np.uint64(0xFFFF)
_BREACH_SHIFT = np.uint64(16)
_BREACH_MASK = np.uint64(0xFFFFFFFF)
_CC_SHIFT = np.uint64(48)


def _sorted_unique(recs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, meta) of one partition: sorted, duplicates merged, collisions refused."""
    order = np.argsort(recs[:, 0])  # equal keys are one number: their order does not matter
    keys = recs[order, 0]
    meta = recs[order, 2]
    same = keys[1:] == keys[:-1]
    if same.any():
        check = recs[order, 1]
        if np.any(check[1:][same] != check[:-1][same]):
            raise _Collision
        starts = np.flatnonzero(np.concatenate(([True], ~same)))
        keys = keys[starts]
        meta = np.bitwise_or.reduceat(meta, starts)
    return keys, meta


def _append(writer: IndexFilesWriter, keys: np.ndarray, meta: np.ndarray,
            details: list[bytes] | None = None) -> int:
    """Append rows whose breaches, leak data classes and country are packed in ``meta`` (the
    record word of a build: the classes of ``DATA_CLASSES``, at most 16 bits)."""
    writer.append(keys, ((meta >> _BREACH_SHIFT) & _BREACH_MASK).astype(np.uint32),
                  (meta & _CLASS_MASK).astype(np.uint32), region_ids(meta >> _CC_SHIFT), details)
    return len(keys)


class _DetailsSpill:
    """Sealed detail records, appended as they are read; a record's reference is
    (offset << 24) | length in this file."""

    def __init__(self, path: Path, sealer: DetailsSealer) -> None:
        self.sealer = sealer
        self._f = open(path, "wb+")  # noqa: SIM115 - closed in close()
        self._pos = 0

    def add(self, e164_digits: bytes, breach: str, fields: dict[str, str]) -> int:
        blob = self.sealer.seal(e164_digits, breach, fields)
        self._f.write(blob)
        ref = (self._pos << 24) | len(blob)
        self._pos += len(blob)
        return ref

    def read(self, ref: int) -> bytes:
        return os.pread(self._f.fileno(), ref & 0xFFFFFF, ref >> 24)

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def _merge_details_into(writer: IndexFilesWriter, recs: np.ndarray, spill: _DetailsSpill) -> int:
    """As _merge_into, carrying each row's sealed detail records along."""
    if len(recs) == 0:
        return 0
    order = np.argsort(recs[:, 0])
    keys, check, meta, refs = (recs[order, c] for c in range(4))
    same = keys[1:] == keys[:-1]
    if np.any(check[1:][same] != check[:-1][same]):
        raise _Collision
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    ends = np.append(starts[1:], len(keys))
    payloads = [pack_row([spill.read(r) for r in refs[a:b].tolist() if r != _NO_DETAILS])
                for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    return _append(writer, keys[starts], np.bitwise_or.reduceat(meta, starts), details=payloads)


_NO_DETAILS = (1 << 64) - 1


def _merge_into(writer: IndexFilesWriter, recs: np.ndarray) -> int:
    """Sort, check and merge one partition; append its rows. Returns the rows added."""
    if len(recs) == 0:
        return 0
    return _append(writer, *_sorted_unique(recs))


@dataclass
class IngestReport:
    """What a full build did. ``lines == records + rejected + blank`` (headers not counted)."""

    path: str
    lines: int = 0
    records: int = 0
    blank: int = 0
    rows: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    breaches: dict[str, int] = field(default_factory=dict)
    countries: dict[str, int] = field(default_factory=dict)
    data_classes: dict[str, int] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    key_tweak: int = 0
    spilled_bytes: int = 0
    added_rows: int = 0  # add: numbers new to the index
    updated_rows: int = 0  # add: numbers already in it, now also in the new breach
    seconds: float = 0.0
    peak_memory_bytes: int = 0
    rejects_report: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    def __str__(self) -> str:
        rejected = ", ".join(f"{k} {v:,}" for k, v in sorted(self.rejected.items())) or "none"
        top = ", ".join(f"{c} {n:,}" for c, n in sorted(self.countries.items(), key=lambda x: -x[1])[:8])
        return "\n".join([
            f"built {self.path} in {self.seconds:.1f} s, peak memory {self.peak_memory_bytes / 2**30:.2f} GiB",
            f"  lines {self.lines:,} = records {self.records:,} + rejected {sum(self.rejected.values()):,}"
            f" + blank {self.blank:,}",
            f"  distinct numbers {self.rows:,} ({self.duplicates:,} duplicate records merged)",
            f"  rejected: {rejected}",
            "  breaches: " + ", ".join(f"{b} {n:,}" for b, n in self.breaches.items()),
            f"  countries: {top}" + (" ..." if len(self.countries) > 8 else ""),
            f"  spilled {self.spilled_bytes / 2**30:.2f} GiB; key tweak {self.key_tweak}"
            + (f"; rejects listed in {self.rejects_report}" if self.rejects_report else ""),
        ])


@dataclass
class Source:
    """One breach's inputs: files/folders, or a number of synthetic rows."""

    breach: str
    paths: Sequence[str | os.PathLike[str]] = ()
    synthetic_rows: int = 0
    synthetic_seed: int = 2021


def _progress(total: int, unit: str, quiet: bool, desc: str = "reading") -> Any:
    """A tqdm bar on stderr (rate and ETA), or None when quiet or not on a terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, dynamic_ncols=True, smoothing=0.1, desc=desc)


def _records(keys: np.ndarray, check: np.ndarray, classes: np.ndarray, cc: np.ndarray,
             breach_bit: int, refs: np.ndarray | None = None) -> np.ndarray:
    recs = np.empty((len(keys), REC_WIDTH if refs is None else REC_WIDTH + 1), np.uint64)
    if refs is not None:
        recs[:, 3] = refs
    recs[:, 0] = keys
    recs[:, 1] = check
    recs[:, 2] = (classes.astype(np.uint64) | np.uint64(breach_bit << 16)
                  | (cc.astype(np.uint64) << _CC_SHIFT))
    return recs


def _ingest_once(out_tmp: Path, sources: Sequence[Source], key: Key, tweak: int, *,
                 memory: int, layout: str | None, threads: int, quiet: bool,
                 rejects_path: Path | None, report: IngestReport, details: bool = False
                 ) -> dict[str, Any]:
    work = out_tmp / "spill"
    work.mkdir()
    collector = SpillingCollector(work, memory, REC_WIDTH + 1 if details else REC_WIDTH)
    spill = _DetailsSpill(work / "details.spill", DetailsSealer(key, tweak)) if details else None
    writer = None
    try:
        _collect(collector, [(src, 1 << bit) for bit, src in enumerate(sources)], key, tweak,
                 layout=layout, threads=threads, quiet=quiet, rejects_path=rejects_path,
                 report=report, details=spill)
        report.spilled_bytes = collector.spilled_bytes
        writer = IndexFilesWriter(out_tmp / "index", key=key, tweak=tweak,
                                  breach_names=[s.breach for s in sources],
                                  class_names=list(DATA_CLASSES), details=details)
        if spill is not None:
            spill.flush()
        merging = _progress(1 << PARTITION_BITS, "part", quiet, "merging")
        for _, part in collector.partitions():
            if spill is not None:
                report.rows += _merge_details_into(writer, part, spill)
            else:
                report.rows += _merge_into(writer, part)
            if merging is not None:
                merging.update(1)
        if merging is not None:
            merging.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if spill is not None:
            spill.close()
        shutil.rmtree(work, ignore_errors=True)
    return writer.finish(build_info={"lines": report.lines, "records": report.records,
                                     "blank": report.blank, "rejected": report.rejected})


def _collect(collector: SpillingCollector, sources: Sequence[tuple[Source, int]], key: Key, tweak: int,
             *, layout: str | None, threads: int, quiet: bool, rejects_path: Path | None,
             report: IngestReport, details: _DetailsSpill | None = None) -> None:
    """Read every source into the collector (breach bit given per source)."""
    siphash_key, check_key = key.siphash_key(tweak), key.check_key(tweak)
    files = [(src, bit, [p for path in src.paths for p in leak_files(path)]) for src, bit in sources]
    # refuse undetectable files before any work is done
    for _, _, paths in files:
        for p in paths:
            detect_layout(p, layout)
    total_bytes = sum(p.stat().st_size for _, _, paths in files for p in paths)
    total_rows = sum(src.synthetic_rows for src, _ in sources)
    bar = _progress(total_bytes or total_rows, "B" if total_bytes else "rec", quiet)
    rejects = open(rejects_path, "w", encoding="utf-8") if rejects_path else None  # noqa: SIM115
    started = time.perf_counter()
    try:
        if rejects:
            rejects.write("file\tline\treason\n")
        for src, bit, paths in files:
            for path in paths:
                totals = FileTotals(path, "")
                file_layout = detect_layout(path, layout)
                consumed = 0
                for block in read_leak_file(path, siphash_key=siphash_key, check_key=check_key,
                                            layout=layout, threads=threads, totals=totals,
                                            keep_text=details is not None):
                    refs = None if details is None else _seal_block(block, file_layout, src.breach, details)
                    collector.add(_records(block.keys, block.check, block.classes, block.cc, bit, refs))
                    if rejects:
                        rejects.writelines(f"{path}\t{ln}\t{why}\n" for ln, why in block.rejects)
                    report.records += len(block.keys)
                    consumed += block.nbytes
                    _tick(bar, block.nbytes, report, started)
                _tick(bar, path.stat().st_size - consumed, report, started)  # BOM, CSV header
                report.files.append({"file": str(path), "breach": src.breach, "layout": totals.layout,
                                     "lines": totals.lines, "records": totals.records,
                                     "blank": totals.blank, "header_lines": totals.header_lines,
                                     "rejected": dict(totals.rejected)})
                report.lines += totals.lines
                report.blank += totals.blank
                for reason, n in totals.rejected.items():
                    report.rejected[reason] = report.rejected.get(reason, 0) + n
            if src.synthetic_rows:
                _ingest_synthetic(src, bit, siphash_key, check_key, collector, report, bar, started)
    finally:
        if rejects:
            rejects.close()
        if bar is not None:
            bar.close()


def _seal_block(block: ParsedBlock, layout: Layout, breach: str, spill: _DetailsSpill) -> np.ndarray:
    """Seal the field values of a block's records; their references, in record order."""
    assert block.text is not None and block.record_lines is not None
    lines = block.text.split(b"\n")
    refs = np.empty(len(block.keys), np.uint64)
    for j, i in enumerate(block.record_lines.tolist()):
        phone, fields = record_fields(layout, lines[i])
        e164 = normalize(phone)  # the parser accepted this phone, so it normalizes
        refs[j] = spill.add(e164[1:].encode("ascii"), breach, fields)
    return refs


def _tick(bar: Any, done: int, report: IngestReport, started: float) -> None:
    if bar is not None:
        bar.update(done)
        rate = report.records / max(time.perf_counter() - started, 1e-9)
        bar.set_postfix_str(f"{rate / 1e6:.2f}M records/s", refresh=False)


def _ingest_synthetic(src: Source, breach_bit: int, siphash_key: bytes, check_key: bytes,
                      collector: SpillingCollector, report: IngestReport, bar: Any,
                      started: float) -> None:
    from ..synth.leak import synthetic_key_source

    r = rules()
    for values, masks in synthetic_key_source(src.synthetic_rows, seed=src.synthetic_seed):
        n = len(values)
        values = np.ascontiguousarray(values, dtype=np.int64)
        keys = np.empty(n, np.uint64)
        check = np.empty(n, np.uint64)
        cc = np.empty(n, np.uint16)
        status = np.empty(n, np.uint8)
        check_status(lib.bi_value_keys(r.table, siphash_key, check_key, ffi.from_buffer("int64_t[]", values), n,
                                       ffi.from_buffer("uint64_t[]", keys), ffi.from_buffer("uint64_t[]", check),
                                       ffi.from_buffer("uint16_t[]", cc), ffi.from_buffer("uint8_t[]", status)))
        ok = status == lib.BI_OK
        for st, count in Counter(status[~ok].tolist()).items():
            reason = PHONE_REASONS.get(st, "needs_reference")
            report.rejected[reason] = report.rejected.get(reason, 0) + count
        refs = None if collector.width == REC_WIDTH else np.full(int(ok.sum()), _NO_DETAILS, np.uint64)
        collector.add(_records(keys[ok], check[ok], np.asarray(masks, np.uint32)[ok], cc[ok],
                               breach_bit, refs))
        report.lines += n
        report.records += int(ok.sum())
        _tick(bar, n, report, started)


def _finished(report: IngestReport, manifest: dict[str, Any], started: float) -> IngestReport:
    """Fill in the counts a manifest knows, the time and the peak memory."""
    report.breaches = {b["name"]: b["rows"] for b in manifest["breaches"]}
    report.countries = {c["name"]: c["rows"] for c in manifest["countries"]}
    report.data_classes = {c["name"]: c["rows"] for c in manifest["data_classes"]}
    report.seconds = time.perf_counter() - started
    report.peak_memory_bytes = peak_rss_bytes()
    return report


def peak_rss_bytes() -> int:
    """This process's peak resident memory. Linux's VmHWM first: ru_maxrss carries a parent's
    peak over fork and exec, so a build run from a large process would report that."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def build_index(
    out_dir: str | os.PathLike[str],
    sources: Sequence[Source],
    *,
    key: KeyLike,
    memory: int = DEFAULT_MEMORY,
    layout: str | None = None,
    threads: int = 2,
    overwrite: bool = False,
    quiet: bool = True,
    rejects_path: str | os.PathLike[str] | None = None,
    on_attempt: Callable[[int], None] | None = None,
    details: bool = False,
) -> IngestReport:
    """Build an index from leak files and/or synthetic rows, one breach per Source.

    Works in ``memory`` bytes plus the Roaring bitmaps and one partition being merged (about
    memory/256 of records times three). Writes to a hidden folder beside ``out_dir`` and
    renames it into place only when complete; rejects go to ``rejects_path`` (TSV of file,
    line, reason: never the line's content). ``details`` keeps every record's field values,
    sealed per number (see ``breachindex.index.details``).
    """
    started = time.perf_counter()
    out = Path(out_dir)
    k = as_key(key)
    if not sources:
        raise BuildError("nothing to build: give at least one source")
    if len({s.breach for s in sources}) != len(sources):
        raise BuildError("each breach may be named once")
    if len(sources) > 32:
        raise BuildError("an index holds at most 32 breaches")
    if out.exists() and not overwrite:
        raise BuildError(f"{str(out)!r} exists; pass overwrite=True to replace it")
    if overwrite:
        check_replaceable(out)
    if memory < 1 << 20:
        raise BuildError("memory must be at least 1 MiB")
    tmp = temp_folder(out)
    try:
        for tweak in range(MAX_TWEAKS):
            if on_attempt:
                on_attempt(tweak)
            report = IngestReport(path=str(out), key_tweak=tweak,
                                  rejects_report=str(rejects_path) if rejects_path else None)
            try:
                manifest = _ingest_once(tmp, sources, k, tweak, memory=memory, layout=layout,
                                        threads=threads, quiet=quiet,
                                        rejects_path=tmp / "rejects.tsv" if rejects_path else None,
                                        report=report, details=details)
                break
            except _Collision:
                shutil.rmtree(tmp / "index", ignore_errors=True)
                continue
        else:  # pragma: no cover - probability ~ 2^-64 per retry
            raise BuildError("key collisions persist across tweaks")
        replace_folder(tmp / "index", out, overwrite)
        if rejects_path:  # only a finished build replaces the report of the one before
            os.replace(tmp / "rejects.tsv", rejects_path)
    finally:
        release_temp_folder(tmp)
    report.duplicates = report.records - report.rows
    return _finished(report, manifest, started)


def add_breach(
    index_dir: str | os.PathLike[str],
    source: Source,
    *,
    key: KeyLike,
    memory: int = DEFAULT_MEMORY,
    layout: str | None = None,
    threads: int = 2,
    quiet: bool = True,
    rejects_path: str | os.PathLike[str] | None = None,
) -> IngestReport:
    """Merge a new breach into an existing index, without the index's original sources.

    The index's rows (keys, profiles, countries) are merged, a key range at a time, with the
    new breach's records into a complete new index, which then replaces the old one in one
    rename. Collisions among the new records are detected as in a build; a new number whose
    64-bit key equals an existing row's key (probability ~ rows x new / 2^64) cannot be told
    apart from it, since an index keeps no check hash.
    """
    from ..index.reader import open_index

    started = time.perf_counter()
    path = Path(index_dir)
    k = as_key(key)
    with open_index(path, key=k) as old:
        if source.breach in old.breaches:
            raise BuildError(f"breach {source.breach!r} is already in this index")
        if len(old.breaches) >= 32:
            raise BuildError("an index holds at most 32 breaches")
        class_names = list(old.data_classes)
        for name in DATA_CLASSES:
            if name not in class_names:
                class_names.append(name)
        if len(class_names) > lib.BI_MAX_CLASSES:
            raise BuildError(f"an index holds at most {lib.BI_MAX_CLASSES} data classes")
        # new records carry DATA_CLASSES bits: map them to the index's class numbering
        class_bit = np.array([class_names.index(n) for n in DATA_CLASSES], dtype=np.uint64)
        remap = np.zeros(1 << len(DATA_CLASSES), dtype=np.uint64)
        for mask in range(1 << len(DATA_CLASSES)):
            remap[mask] = sum(np.uint64(1) << class_bit[i] for i in range(len(DATA_CLASSES))
                              if mask >> i & 1)
        profile_b = np.array([sum(1 << i for i in b) for b, _ in old.manifest["profiles"]] or [0],
                             dtype=np.uint64)
        profile_c = np.array([sum(1 << i for i in c) for _, c in old.manifest["profiles"]] or [0],
                             dtype=np.uint64)
        countries = [(REGION_INDEX[c], old.rows_in(country=c)) for c in old.countries]
        old_table = old._live()
        profiles_all = old._live().profiles
        tweak = old.key_tweak
        new_bit = len(old.breaches)
        report = IngestReport(path=str(path), key_tweak=tweak,
                              rejects_report=str(rejects_path) if rejects_path else None)
        tmp = temp_folder(path)
        try:
            work = tmp / "spill"
            work.mkdir()
            details = old.has_details  # an index with details keeps them for every breach
            collector = SpillingCollector(work, memory, REC_WIDTH + 1 if details else REC_WIDTH)
            spill = _DetailsSpill(work / "details.spill", DetailsSealer(k, tweak)) if details else None
            old_details = old._details_maps() if details else None
            _collect(collector, [(source, 1 << new_bit)], k, tweak, layout=layout, threads=threads,
                     quiet=quiet, rejects_path=tmp / "rejects.tsv" if rejects_path else None,
                     report=report, details=spill)
            if spill is not None:
                spill.flush()
            report.spilled_bytes = collector.spilled_bytes
            writer = IndexFilesWriter(tmp / "index", key=k, tweak=tweak,
                                      breach_names=[*old.breaches, source.breach],
                                      class_names=class_names, details=details)
            bounds = [old_table.lower_bound(p << int(_SPILL_SHIFT)) for p in range(1 << PARTITION_BITS)]
            bounds.append(old_table.rows)
            try:
                for p, part in collector.partitions():
                    lo, hi = int(bounds[p]), int(bounds[p + 1])
                    if len(part):
                        part = part[np.argsort(part[:, 0], kind="stable")]
                    keys_new, meta_new = _sorted_unique(part) if len(part) else (
                        np.empty(0, np.uint64), np.empty(0, np.uint64))
                    blobs_new: list[list[bytes]] = []
                    if spill is not None and len(part):  # sealed records of each new number
                        starts_new = np.searchsorted(part[:, 0], keys_new)
                        ends_new = np.append(starts_new[1:], len(part))
                        blobs_new = [[spill.read(r) for r in part[a:b, 3].tolist() if r != _NO_DETAILS]
                                     for a, b in zip(starts_new.tolist(), ends_new.tolist(), strict=True)]
                    regions_new = region_ids(meta_new >> _CC_SHIFT)
                    # breaches and classes apart: the index may have up to 32 classes, which do
                    # not fit beside 32 breaches in the record word (its classes have 16 bits)
                    breaches_new = (meta_new >> _BREACH_SHIFT) & _BREACH_MASK
                    classes_new = remap[(meta_new & _CLASS_MASK).astype(np.intp)]
                    ids = profiles_all[lo:hi].astype(np.intp)
                    regions_old = np.zeros(hi - lo, dtype=np.uint16)
                    window = BitMap(range(lo, hi))
                    for region, bitmap in countries:
                        rows = np.array((bitmap & window).to_array(), dtype=np.int64) - lo
                        regions_old[rows] = region
                    keys = np.concatenate([old_table.keys(lo, hi), keys_new])
                    breaches = np.concatenate([profile_b[ids], breaches_new])
                    classes = np.concatenate([profile_c[ids], classes_new])
                    regions = np.concatenate([regions_old, regions_new])
                    order = np.argsort(keys, kind="stable")  # old row first among equals
                    keys, regions = keys[order], regions[order]
                    breaches, classes = breaches[order], classes[order]
                    same = keys[1:] == keys[:-1]
                    report.updated_rows += int(same.sum())
                    starts = np.flatnonzero(np.concatenate(([True], ~same)))
                    payloads = None
                    if old_details is not None:
                        offsets, blob = old_details
                        base = fmt.HEADER_SIZE
                        rows_blobs = [unpack_row(bytes(blob[base + int(offsets[r]):base + int(offsets[r + 1])]))
                                      for r in range(lo, hi)] + blobs_new
                        merged = [rows_blobs[i] for i in order.tolist()]
                        ends = np.append(starts[1:], len(keys))
                        payloads = [pack_row([b for j in range(x, y) for b in merged[j]])
                                    for x, y in zip(starts.tolist(), ends.tolist(), strict=True)]
                    if same.any():
                        keys, regions = keys[starts], regions[starts]
                        breaches = np.bitwise_or.reduceat(breaches, starts)
                        classes = np.bitwise_or.reduceat(classes, starts)
                    writer.append(keys, breaches.astype(np.uint32), classes.astype(np.uint32), regions, payloads)
                    report.rows += len(keys)
            except BaseException:
                writer.abort()
                raise
            finally:
                if spill is not None:
                    spill.close()
                shutil.rmtree(work, ignore_errors=True)
            manifest = writer.finish(build_info={**old.manifest.get("build", {}),
                                                 "added": {"breach": source.breach,
                                                           "records": report.records}})
            replace_folder(tmp / "index", path, overwrite=True)
            if rejects_path:
                os.replace(tmp / "rejects.tsv", rejects_path)
        except _Collision:
            raise BuildError("two new numbers share a 64-bit key; rebuild the index from its "
                             "sources (a build picks a new key tweak)") from None
        finally:
            release_temp_folder(tmp)
    report.added_rows = report.rows - old_table.rows
    report.duplicates = report.records - report.added_rows - report.updated_rows
    return _finished(report, manifest, started)
