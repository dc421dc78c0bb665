"""``breachindex add``: a new breach merged into an existing index, without its sources.

The index's rows (``Index.export_rows``, a key range at a time) and the new breach's records
(read and spilled as in a build) meet partition by partition in ``merge_rows``, and a complete
new index replaces the old one in one rename.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BuildError
from ..index.details import DetailsSealer, pack_row
from ..index.reader import Index, open_index
from ..index.rows import RowBlock
from ..keying.secret import Key, KeyLike, as_key
from .files import REGIONS, IndexFilesWriter, release_temp_folder, replace_folder, temp_folder
from .ingest import DEFAULT_MEMORY, Source, collect, merged_partition
from .layouts import DATA_CLASSES
from .limits import LIMITS
from .merge import KeyCollision, MergedRows, merge_rows
from .records import REC_WIDTH, unpack
from .report import BuildReport
from .spill import PARTITION_BITS, DetailsSpill, SpillingCollector

__all__ = ["add_breach"]


@dataclass
class _Plan:
    """The new index's names, and how the new records' bits map onto them."""

    breach_names: list[str]
    class_names: list[str]
    #: the new records' class mask (bits over DATA_CLASSES) -> the same classes in class_names
    class_remap: np.ndarray
    #: region id (format REGIONS) of each of the old index's countries
    region_of_country: np.ndarray

    @classmethod
    def of(cls, old: Index, breach: str) -> _Plan:
        if breach in old.breaches:
            raise BuildError(f"breach {breach!r} is already in this index")
        LIMITS.check_breaches(len(old.breaches) + 1)
        class_names = [*old.data_classes, *(n for n in DATA_CLASSES if n not in old.data_classes)]
        LIMITS.check_data_classes(len(class_names))
        bit = [class_names.index(n) for n in DATA_CLASSES]
        remap = np.array([sum(1 << bit[i] for i in range(len(DATA_CLASSES)) if mask >> i & 1)
                          for mask in range(1 << len(DATA_CLASSES))], dtype=np.uint32)
        region_id = {r: i for i, r in enumerate(REGIONS)}
        regions = np.array([region_id[c] for c in old.countries] or [0], dtype=np.uint16)
        return cls([*old.breaches, breach], class_names, remap, regions)


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
) -> BuildReport:
    """Merge a new breach into an existing index, without the index's original sources.

    Collisions among the new records are detected as in a build; a new number whose 64-bit key
    equals an existing row's key (probability ~ rows x new / 2^64) cannot be told apart from
    it, since an index keeps no check hash.
    """
    started = time.perf_counter()
    path = Path(index_dir)
    k = as_key(key)
    with open_index(path, key=k) as old:
        plan = _Plan.of(old, source.breach)
        old_rows = len(old)
        report = BuildReport(path=path, key_tweak=old.key_tweak,
                             rejects_report=str(rejects_path) if rejects_path else None)
        tmp = temp_folder(path)
        try:
            manifest = _write_merged(old, plan, source, k, tmp, report, memory=memory, layout=layout,
                                     threads=threads, quiet=quiet, rejects=bool(rejects_path))
            replace_folder(tmp / "index", path, overwrite=True)
            if rejects_path:
                os.replace(tmp / "rejects.tsv", rejects_path)
        except KeyCollision:
            raise BuildError("two new numbers share a 64-bit key; rebuild the index from its "
                             "sources (a build picks a new key tweak)") from None
        finally:
            release_temp_folder(tmp)
    report.added_rows = report.rows - old_rows
    report.duplicates = report.records - report.added_rows - report.updated_rows
    return report.finish(manifest, started)


def _write_merged(old: Index, plan: _Plan, source: Source, key: Key, tmp: Path, report: BuildReport, *,
                  memory: int, layout: str | None, threads: int, quiet: bool, rejects: bool) -> dict:
    """Read the new breach, merge it with the old rows range by range, write tmp/index."""
    work = tmp / "spill"
    work.mkdir()
    details = old.has_details  # an index with details keeps them for every breach
    collector = SpillingCollector(work, memory, REC_WIDTH + 1 if details else REC_WIDTH)
    spill = DetailsSpill(work / "details.spill", DetailsSealer(key, old.key_tweak)) if details else None
    try:
        collect(collector, [(source, 1 << (len(plan.breach_names) - 1))], key, old.key_tweak, layout=layout,
                threads=threads, quiet=quiet, rejects_path=tmp / "rejects.tsv" if rejects else None,
                report=report, details=spill)
        if spill is not None:
            spill.flush()
        writer = IndexFilesWriter(tmp / "index", key=key, tweak=old.key_tweak, breach_names=plan.breach_names,
                                  class_names=plan.class_names, details=details)
        try:
            blocks = old.export_rows(ranges=1 << PARTITION_BITS, details=details)
            for (_, part), block in zip(collector.partitions(), blocks, strict=True):
                rows = _merge_block(block, merged_partition(part, spill) if len(part) else None, plan)
                report.updated_rows += rows.folded
                (breaches, classes), (regions,) = rows.united, rows.first
                writer.append(rows.keys, breaches, classes, regions,
                              None if rows.details is None else [pack_row(blobs) for blobs in rows.details])
                report.rows += len(rows.keys)
            report.spilled_bytes = collector.spilled_bytes  # the records held to the end included
        except BaseException:
            writer.abort()
            raise
    finally:
        collector.close()
        if spill is not None:
            spill.close()
        shutil.rmtree(work, ignore_errors=True)
    return writer.finish(build_info={**old.manifest.get("build", {}),
                                     "added": {"breach": source.breach, "records": report.records}})


def _merge_block(block: RowBlock, new: MergedRows | None, plan: _Plan) -> MergedRows:
    """One key range of the new index: the old rows and the new breach's, old row first."""
    old_regions = plan.region_of_country[block.countries]
    if new is None:
        return MergedRows(block.keys, [block.breaches, block.data_classes], [old_regions], block.details, 0)
    # breaches and classes apart: the index may have up to 32 classes, which do not fit beside
    # 32 breaches in the record word (its classes have 16 bits)
    breaches, classes, regions = unpack(new.united[0])
    details = None if block.details is None else block.details + (new.details or [[] for _ in new.keys])
    return merge_rows(np.concatenate([block.keys, new.keys]),
                      united=[np.concatenate([block.breaches, breaches]),
                              np.concatenate([block.data_classes, plan.class_remap[classes]])],
                      first=[np.concatenate([old_regions, regions])], details=details, stable=True)
