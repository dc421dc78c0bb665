"""Building an index folder from records: normalize, key, merge duplicates, write, rename.

The writer keeps, per accepted record, its key, a second check hash, its E.164 digits and two
small masks, in numpy arrays; full-scale builds that spill to disk stand on the same steps.
"""
from __future__ import annotations

import itertools
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BuildError
from ..keying.keys import hash_e164_digits, key_numbers
from ..keying.secret import Key, KeyLike, as_key
from .files import (
    IndexFilesWriter,
    check_replaceable,
    region_ids,
    release_temp_folder,
    replace_folder,
    temp_folder,
)
from .limits import LIMITS, check_breach_name, check_class_name, check_dir_bits
from .merge import KeyCollision, MergedRows, merge_rows
from .report import BuildReport

__all__ = ["build", "BuildReport", "IndexWriter", "write_sorted", "write_sorted_chunks", "SortedChunk",
           "MAX_BREACHES", "MAX_DATA_CLASSES"]

# the limits' old names (``LIMITS`` is the one place)
MAX_BREACHES = LIMITS.breaches
MAX_DATA_CLASSES = LIMITS.data_classes
MAX_TWEAKS = LIMITS.tweaks
_CHUNK = 1 << 16
Record = tuple[str, str, Iterable[str]]


class IndexWriter:
    """Accumulates records, then writes the index folder atomically with ``finish()``."""

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        key: KeyLike,
        overwrite: bool = False,
        dir_bits: int | None = None,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.key: Key = as_key(key)
        self.overwrite = overwrite
        check_dir_bits(dir_bits)
        self.dir_bits = dir_bits
        if self.out_dir.exists() and not overwrite:
            raise BuildError(f"{str(self.out_dir)!r} exists; pass overwrite=True to replace it")
        if overwrite:
            check_replaceable(self.out_dir)
        self._breach_ids: dict[str, int] = {}
        self._class_ids: dict[str, int] = {}
        self._chunks: list[tuple[np.ndarray, ...]] = []
        self._records = 0
        self._rejected: Counter[str] = Counter()
        self._started = time.perf_counter()

    # ---- input -----------------------------------------------------------------------
    def add(self, records: Iterable[Record]) -> IndexWriter:
        """Add records ``(phone, breach, data_classes)``; may be called several times."""
        it: Iterator[Record] = iter(records)
        while True:
            chunk = list(itertools.islice(it, _CHUNK))
            if not chunk:
                return self
            self._add_chunk(chunk)

    def _breach_id(self, name: str) -> int:
        bid = self._breach_ids.get(name)
        if bid is None:
            check_breach_name(name)
            LIMITS.check_breaches(len(self._breach_ids) + 1)
            bid = self._breach_ids[name] = len(self._breach_ids)
        return bid

    def _class_mask(self, names: Iterable[str]) -> int:
        if isinstance(names, (str, bytes)):
            raise BuildError("data_classes must be an iterable of names, not a single string")
        mask = 0
        for name in names:
            cid = self._class_ids.get(name)
            if cid is None:
                check_class_name(name)
                LIMITS.check_data_classes(len(self._class_ids) + 1)
                cid = self._class_ids[name] = len(self._class_ids)
            mask |= 1 << cid
        return mask

    def _add_chunk(self, chunk: list[Record]) -> None:
        phones: list[str] = []
        breach_masks = np.empty(len(chunk), dtype=np.uint32)
        class_masks = np.empty(len(chunk), dtype=np.uint32)
        for i, record in enumerate(chunk):
            try:
                phone, breach, classes = record
            except (TypeError, ValueError):
                raise BuildError(
                    f"record {self._records + i}: expected (phone, breach, data_classes)"
                ) from None
            phones.append(phone)
            breach_masks[i] = 1 << self._breach_id(breach)
            class_masks[i] = self._class_mask(classes)
        batch = key_numbers(
            phones, siphash_key=self.key.siphash_key(0), check_key=self.key.check_key(0),
            want_e164=True, want_cc=True,
        )
        self._records += len(chunk)
        if not batch.ok.all():
            self._rejected.update(r for r in batch.reasons if r is not None)
        ok = batch.ok
        assert batch.check is not None and batch.e164 is not None
        assert batch.cc is not None
        self._chunks.append(
            (batch.keys[ok], batch.check[ok], batch.e164[ok], breach_masks[ok], class_masks[ok],
             batch.cc[ok])
        )

    # ---- output ----------------------------------------------------------------------
    def _merged(self) -> tuple[MergedRows, int]:
        """Sorted unique rows with united masks; re-keys with a new tweak on a collision."""
        if self._chunks:
            keys, check, e164, bmask, cmask, cc = (
                np.concatenate(parts) for parts in zip(*self._chunks, strict=True))
        else:
            keys = check = np.empty(0, np.uint64)
            e164 = np.empty(0, "S20")
            bmask = cmask = np.empty(0, np.uint32)
            cc = np.empty(0, np.uint16)
        self._chunks.clear()
        for tweak in range(LIMITS.tweaks):
            if tweak:
                keys = hash_e164_digits(e164, self.key.siphash_key(tweak))
                check = hash_e164_digits(e164, self.key.check_key(tweak))
            try:
                return merge_rows(keys, united=[bmask, cmask], first=[cc], check=check), tweak
            except KeyCollision:
                continue
        raise BuildError("key collisions persist across tweaks; is the input degenerate?")  # pragma: no cover

    def finish(self) -> BuildReport:
        """Merge, write every file into a temporary folder, then rename it into place."""
        rows, tweak = self._merged()
        (bmask, cmask), (cc,) = rows.united, rows.first
        rejected = sum(self._rejected.values())
        report = BuildReport(path=self.out_dir, lines=self._records, records=self._records - rejected,
                             rows=len(rows.keys), duplicates=rows.folded, rejected=dict(self._rejected),
                             key_tweak=tweak)
        manifest = write_sorted(
            self.out_dir, rows.keys, bmask, cmask, cc,
            breach_names=list(self._breach_ids), class_names=list(self._class_ids),
            key=self.key, tweak=tweak, dir_bits=self.dir_bits, overwrite=self.overwrite,
            build_info={"records": self._records, "rejected": dict(self._rejected)},
        )
        return report.finish(manifest, self._started)


def write_sorted(
    out_dir: str | os.PathLike[str],
    keys: np.ndarray,
    breach_masks: np.ndarray,
    class_masks: np.ndarray,
    calling_codes: np.ndarray,
    *,
    breach_names: list[str],
    class_names: list[str],
    key: Key,
    tweak: int = 0,
    dir_bits: int | None = None,
    overwrite: bool = False,
    build_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write an index folder from sorted unique keys and their per-row masks, atomically.

    Bit i of a row's breach mask means breach_names[i], likewise for data classes;
    calling_codes gives each row's country calling code. Returns the manifest.
    """
    return write_sorted_chunks(out_dir, [(keys, breach_masks, class_masks, calling_codes)],
                               breach_names=breach_names, class_names=class_names, key=key,
                               tweak=tweak, dir_bits=dir_bits, overwrite=overwrite,
                               build_info=build_info)


SortedChunk = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def write_sorted_chunks(
    out_dir: str | os.PathLike[str],
    chunks: Iterable[SortedChunk],
    *,
    breach_names: list[str],
    class_names: list[str],
    key: Key,
    tweak: int = 0,
    dir_bits: int | None = None,
    overwrite: bool = False,
    build_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``write_sorted`` from chunks of ``(keys, breach_masks, class_masks, calling_codes)``
    whose keys ascend across chunks too: a table larger than memory is written a chunk at a
    time."""
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise BuildError(f"{str(out)!r} exists; pass overwrite=True to replace it")
    if overwrite:
        check_replaceable(out)
    check_dir_bits(dir_bits)
    tmp = temp_folder(out)
    try:
        files = IndexFilesWriter(tmp, key=key, tweak=tweak, breach_names=breach_names,
                                 class_names=class_names)
        try:
            for keys, breach_masks, class_masks, calling_codes in chunks:
                files.append(keys, breach_masks, class_masks, region_ids(calling_codes))
        except BaseException:
            files.abort()
            raise
        manifest = files.finish(dir_bits=dir_bits, build_info=build_info)
        replace_folder(tmp, out, overwrite)
    finally:
        release_temp_folder(tmp)  # after a replace, tmp is gone and only its lock is left
    return manifest


def build(
    out_dir: str | os.PathLike[str],
    records: Iterable[Record],
    *,
    key: KeyLike,
    overwrite: bool = False,
    dir_bits: int | None = None,
) -> BuildReport:
    """Build an index folder from ``(phone, breach, data_classes)`` records.

    ``phone`` is E.164 or the leak's digits (country code first); ``breach`` a name;
    ``data_classes`` an iterable of names. Duplicates merge into one row (breaches and data
    classes united); records whose phone is not a possible number are counted by reason in the
    report's ``rejected``. The folder appears only when complete.
    """
    return IndexWriter(out_dir, key=key, overwrite=overwrite, dir_bits=dir_bits).add(records).finish()
