"""Full-scale builds: leak files (or the synthetic generator) into an index, in bounded memory.

Records flow from the parser as (key, check hash, data classes, breach bit, calling code) in
the record word of ``records``. They collect in memory up to a quarter of the ``memory``
budget; past that they are spilled to 256 partition files by the top 8 bits of the key, by a
thread while parsing goes on (``spill``). At the end every partition is read back in key order
and merged (``merge``: one row per number, breach and class bits united, key collisions
refused) into the index files. A 64-bit key collision between two different numbers (detected
through the independent check hash) restarts the whole build under the next key tweak, reading
the sources again.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._core import PHONE_REASONS, lib
from ..errors import BuildError
from ..index.details import DetailsSealer, pack_row
from ..keying.phone import normalize, rules
from ..keying.secret import Key, KeyLike, as_key
from .files import IndexFilesWriter, check_replaceable, release_temp_folder, replace_folder, temp_folder
from .layouts import DATA_CLASSES, Layout
from .leakfiles import FileTotals, ParsedBlock, detect_layout, leak_files, read_leak_file, record_fields
from .limits import LIMITS
from .merge import KeyCollision, MergedRows, merge_rows
from .records import REC_WIDTH, pack, sort_records, unpack, value_records
from .report import BuildReport, peak_rss_bytes
from .spill import PARTITION_BITS, DetailsSpill, SpillingCollector

__all__ = ["IngestReport", "build_index", "Source", "DEFAULT_MEMORY", "MAX_TWEAKS", "collect", "merged_partition",
           "peak_rss_bytes"]

DEFAULT_MEMORY = 4 << 30
MAX_TWEAKS = LIMITS.tweaks
#: the old name of the one build report
IngestReport = BuildReport


@dataclass
class Source:
    """One breach's inputs: files/folders, or a number of synthetic rows."""

    breach: str
    paths: Sequence[str | os.PathLike[str]] = ()
    synthetic_rows: int = 0
    synthetic_seed: int = 2021


def progress(total: int, unit: str, quiet: bool, desc: str = "reading") -> Any:
    """A tqdm bar on stderr (rate and ETA), or None when quiet or not on a terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, dynamic_ncols=True, smoothing=0.1, desc=desc)


def merged_partition(recs: np.ndarray, spill: DetailsSpill | None,
                     scratch: np.ndarray | None = None) -> MergedRows:
    """One partition's records merged into rows: ``united[0]`` is the record word (breaches,
    classes and calling code, see ``records.unpack``); ``details`` the sealed records of each
    row when ``spill`` is given. Sorts ``recs`` in place (in C; ``scratch`` as for
    ``sort_records``). Raises ``KeyCollision``."""
    recs = sort_records(np.ascontiguousarray(recs), scratch)
    details = None if spill is None else spill.blobs(recs[:, 3])
    return merge_rows(recs[:, 0], united=[recs[:, 2]], check=recs[:, 1], details=details, presorted=True)


def merged_partitions(collector: SpillingCollector, spill: DetailsSpill | None) -> Iterator[MergedRows | None]:
    """Every partition's rows in key order (None for an empty one). Three stages overlap: a
    thread reads the partition after next from disk, a worker merges the next one (the sort
    runs in C without the GIL, and so does much of numpy's work), and the caller writes this
    one. The collector's three read buffers are enough: each stage holds one, so the rows
    given (which may be views of a read buffer) are valid until the next are asked for."""
    scratch: list[np.ndarray] = []  # one merge at a time: one scratch for all

    def merged(part: np.ndarray) -> MergedRows:
        if not scratch or scratch[0].size < part.size:
            scratch[:] = [np.empty((len(part) * 9 // 8, collector.width), np.uint64)]
        return merged_partition(part, spill, scratch[0])

    parts = collector.partitions()
    with ThreadPoolExecutor(max_workers=1) as pool, ThreadPoolExecutor(max_workers=1) as reader:
        waiting: list[Future[MergedRows] | None] = []
        ahead = reader.submit(next, parts, None)
        while (item := ahead.result()) is not None:
            ahead = reader.submit(next, parts, None)
            part = item[1]
            waiting.append(pool.submit(merged, part) if len(part) else None)
            if len(waiting) > 1:
                done = waiting.pop(0)
                yield None if done is None else done.result()
        for done in waiting:
            yield None if done is None else done.result()


def _ingest_once(out_tmp: Path, sources: Sequence[Source], key: Key, tweak: int, *,
                 memory: int, layout: str | None, threads: int, quiet: bool,
                 rejects_path: Path | None, report: BuildReport, details: bool = False
                 ) -> dict[str, Any]:
    work = out_tmp / "spill"
    work.mkdir()
    collector = SpillingCollector(work, memory, REC_WIDTH + 1 if details else REC_WIDTH)
    spill = DetailsSpill(work / "details.spill", DetailsSealer(key, tweak)) if details else None
    writer = None
    try:
        collect(collector, [(src, 1 << bit) for bit, src in enumerate(sources)], key, tweak,
                layout=layout, threads=threads, quiet=quiet, rejects_path=rejects_path,
                report=report, details=spill)
        writer = IndexFilesWriter(out_tmp / "index", key=key, tweak=tweak,
                                  breach_names=[s.breach for s in sources],
                                  class_names=list(DATA_CLASSES), details=details)
        if spill is not None:
            spill.flush()
        merging = progress(1 << PARTITION_BITS, "part", quiet, "merging")
        for rows in merged_partitions(collector, spill):
            if rows is not None:
                payloads = None if rows.details is None else [pack_row(blobs) for blobs in rows.details]
                writer.append(rows.keys, *unpack(rows.united[0]), payloads)
                report.rows += len(rows.keys)
            if merging is not None:
                merging.update(1)
        if merging is not None:
            merging.close()
        report.spilled_bytes = collector.spilled_bytes  # the records held to the end included
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        collector.close()
        if spill is not None:
            spill.close()
        shutil.rmtree(work, ignore_errors=True)
    return writer.finish(build_info={"lines": report.lines, "records": report.records,
                                     "blank": report.blank, "rejected": report.rejected})


def collect(collector: SpillingCollector, sources: Sequence[tuple[Source, int]], key: Key, tweak: int,
             *, layout: str | None, threads: int, quiet: bool, rejects_path: Path | None,
             report: BuildReport, details: DetailsSpill | None = None) -> None:
    """Read every source into the collector (breach bit given per source)."""
    siphash_key, check_key = key.siphash_key(tweak), key.check_key(tweak)
    files = [(src, bit, [p for path in src.paths for p in leak_files(path)]) for src, bit in sources]
    # refuse undetectable files before any work is done
    for _, _, paths in files:
        for p in paths:
            detect_layout(p, layout)
    total_bytes = sum(p.stat().st_size for _, _, paths in files for p in paths)
    total_rows = sum(src.synthetic_rows for src, _ in sources)
    bar = progress(total_bytes or total_rows, "B" if total_bytes else "rec", quiet)
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
                    collector.add(pack(block.keys, block.check, block.classes, block.cc, bit, refs))
                    if rejects:
                        rejects.writelines(f"{path}\t{ln}\t{why}\n" for ln, why in block.rejects)
                    report.records += len(block.keys)
                    consumed += block.nbytes
                    _tick(bar, block.nbytes, report, started)
                _tick(bar, path.stat().st_size - consumed, report, started)  # BOM, CSV header
                report.files.append({"file": str(path), "breach": src.breach, "layout": totals.layout,
                                     "lines": totals.lines, "records": totals.records,
                                     "blank": totals.blank, "header_lines": totals.header_lines,
                                     "rejected": dict(totals.rejected), "fits": dict(totals.fits)})
                report.lines += totals.lines
                report.blank += totals.blank
                for reason, n in totals.rejected.items():
                    report.rejected[reason] = report.rejected.get(reason, 0) + n
                for fit, n in totals.fits.items():
                    report.fits[fit] = report.fits.get(fit, 0) + n
            if src.synthetic_rows:
                _ingest_synthetic(src, bit, siphash_key, check_key, collector, report, bar, started,
                                  threads)
    finally:
        if rejects:
            rejects.close()
        if bar is not None:
            bar.close()


def _seal_block(block: ParsedBlock, layout: Layout, breach: str, spill: DetailsSpill) -> np.ndarray:
    """Seal the field values of a block's records; their references, in record order."""
    assert block.text is not None and block.record_lines is not None
    lines = block.text.split(b"\n")
    refs = np.empty(len(block.keys), np.uint64)
    for j, i in enumerate(block.record_lines.tolist()):
        phone, fields = record_fields(layout, lines[i])
        e164 = normalize(phone)  # the parser accepted this phone, so it normalizes
        refs[j] = spill.add(e164[1:].encode("ascii"), breach, fields)
    return refs


def _tick(bar: Any, done: int, report: BuildReport, started: float) -> None:
    if bar is not None:
        bar.update(done)
        rate = report.records / max(time.perf_counter() - started, 1e-9)
        bar.set_postfix_str(f"{rate / 1e6:.2f}M records/s", refresh=False)


def _ingest_synthetic(src: Source, breach_bit: int, siphash_key: bytes, check_key: bytes,
                      collector: SpillingCollector, report: BuildReport, bar: Any,
                      started: float, threads: int) -> None:
    from ..synth.leak import synthetic_key_source

    r = rules()
    for values, masks in synthetic_key_source(src.synthetic_rows, seed=src.synthetic_seed):
        recs, status = value_records(r.table, siphash_key, check_key, values, masks, breach_bit,
                                     collector.width, threads)
        counts = np.bincount(status, minlength=lib.BI_N_STATUS)
        for st in np.flatnonzero(counts).tolist():
            if st != lib.BI_OK:
                reason = PHONE_REASONS.get(st, "needs_reference")
                report.rejected[reason] = report.rejected.get(reason, 0) + int(counts[st])
        collector.add(recs)
        report.lines += len(values)
        report.records += len(recs)
        _tick(bar, len(values), report, started)


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
) -> BuildReport:
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
    LIMITS.check_breaches(len(sources))
    if out.exists() and not overwrite:
        raise BuildError(f"{str(out)!r} exists; pass overwrite=True to replace it")
    if overwrite:
        check_replaceable(out)
    if memory < 1 << 20:
        raise BuildError("memory must be at least 1 MiB")
    tmp = temp_folder(out)
    try:
        for tweak in range(LIMITS.tweaks):
            if on_attempt:
                on_attempt(tweak)
            report = BuildReport(path=out, key_tweak=tweak,
                                  rejects_report=str(rejects_path) if rejects_path else None)
            try:
                manifest = _ingest_once(tmp, sources, k, tweak, memory=memory, layout=layout,
                                        threads=threads, quiet=quiet,
                                        rejects_path=tmp / "rejects.tsv" if rejects_path else None,
                                        report=report, details=details)
                break
            except KeyCollision:
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
    return report.finish(manifest, started)


def __getattr__(name: str) -> Any:
    if name == "add_breach":  # its home is builder.add, which builds on this module
        from .add import add_breach

        return add_breach
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
