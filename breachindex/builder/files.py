"""Writing the files of an index folder from sorted, unique keys, chunk by chunk.

Every build ends here: ``build()`` hands over one chunk, the spilling builder one chunk per
partition. Chunks arrive in ascending key order; the writer appends keys and profile ids to
their files, grows the Roaring bitmaps, and at ``finish()`` computes the directory from the
keys file, checksums everything and writes the manifest. Then ``replace_folder`` renames the
temporary folder into place.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import phonenumbers
from pyroaring import BitMap

from .. import format as fmt
from .._core import check_status, ffi, lib
from ..errors import BuildError
from ..index.details import DETAILS_FILE, DETAILS_OFFSETS_FILE
from ..keying.secret import Key
from ..private_files import fsync_dir
from .bitmaps import bitmap_of_mask, bitmap_of_rows

__all__ = ["IndexFilesWriter", "auto_dir_bits", "key_width", "table_bytes", "replace_folder", "check_replaceable",
           "temp_folder", "release_temp_folder", "clean_stale", "MIN_BUCKET", "MAX_BUCKET",
           "REGIONS", "region_ids"]

# Keys per directory bucket, on average. Fewer keys a bucket means a closer interpolation guess
# but a bigger directory (more of it out of cache). Within MIN..MAX_BUCKET the batch lookup
# times differ little, so the smallest files win, which at these sizes is also where the key
# width drops to 5 bytes; a cache-sized directory (far more keys a bucket) was slower. The
# figures (bench/bench_dir_bits.py) are in docs/benchmarks.md, "Layout: keys per directory
# bucket" and "What was tried and dropped".
MIN_BUCKET, MAX_BUCKET = 3, 8
MAX_AUTO_DIR_BITS = 30
_U16_PROFILES = 1 << 16
_FULL_KEYS = "keys.full.tmp"


def key_width(dir_bits: int) -> int:
    """Bytes a stored key takes: the 64 - dir_bits bits its directory bucket does not imply
    (``bi_key_width``: the C core reads the keys, so it says how wide they are)."""
    return int(lib.bi_key_width(dir_bits))


def table_bytes(rows: int, dir_bits: int) -> int:
    """Size of the key file and the directory of a table."""
    return rows * key_width(dir_bits) + 4 * ((1 << dir_bits) + 1)


def auto_dir_bits(rows: int) -> int:
    """Directory bits: the smallest key file plus directory among the sizes that give
    MIN_BUCKET to MAX_BUCKET keys a bucket on average."""
    if rows <= 2 * MIN_BUCKET:
        return 1
    low = max(1, math.ceil(math.log2(rows / MAX_BUCKET)))
    high = max(low, min(MAX_AUTO_DIR_BITS, math.floor(math.log2(rows / MIN_BUCKET))))
    return min(range(low, high + 1), key=lambda bits: (table_bytes(rows, bits), bits))


#: Regions an index counts rows by: every region phonenumbers knows, '001' for non-geographic
#: calling codes and 'ZZ' for unknown. A row's region is the main region of its calling code;
#: Match.country resolves shared codes (+1, +44, ...) exactly.
REGIONS: tuple[str, ...] = tuple(sorted(set(phonenumbers.SUPPORTED_REGIONS) | {"001", "ZZ"}))
_REGION_ID = {r: i for i, r in enumerate(REGIONS)}
_REGION_OF_CC = np.array(
    [_REGION_ID.get(phonenumbers.region_code_for_country_code(cc) if cc else "ZZ", _REGION_ID["ZZ"])
     for cc in range(1000)], dtype=np.uint16)


def region_ids(calling_codes: np.ndarray) -> np.ndarray:
    """Region id (an index into REGIONS) of each calling code."""
    return _REGION_OF_CC[np.minimum(calling_codes.astype(np.intp), 999)]


def _bits(mask: int) -> list[int]:
    return [i for i in range(32) if mask >> i & 1]


class IndexFilesWriter:
    """Appends sorted unique rows to a new index folder ``tmp`` (which it creates)."""

    def __init__(self, tmp: Path, *, key: Key, tweak: int, breach_names: list[str],
                 class_names: list[str], details: bool = False) -> None:
        self.tmp = tmp
        self.key = key
        self.tweak = tweak
        self.breach_names = list(breach_names)
        self.class_names = list(class_names)
        (tmp / fmt.BITMAP_DIR).mkdir(parents=True)
        # full keys until finish(): the stored width depends on the directory, which depends
        # on the row count
        self._keys: BinaryIO = open(tmp / _FULL_KEYS, "wb")  # noqa: SIM115 - closed in finish()
        self._profiles: BinaryIO = open(tmp / fmt.PROFILES_FILE, "wb")  # noqa: SIM115
        placeholder = bytes(fmt.HEADER_SIZE)
        self._profiles.write(placeholder)
        self._profile_width = 2
        self._profile_ids: dict[int, int] = {}
        self._profile_list: list[int] = []
        self.rows = 0
        self._last_key: int | None = None
        self._bitmaps: dict[tuple[str, int], BitMap] = {}
        self._small_table: np.ndarray | None = None
        self._details: BinaryIO | None = None
        self._details_off: BinaryIO | None = None
        self._details_size = 0
        if details:
            self._details = open(tmp / DETAILS_FILE, "wb")  # noqa: SIM115 - closed in finish()
            self._details_off = open(tmp / DETAILS_OFFSETS_FILE, "wb")  # noqa: SIM115
            self._details.write(placeholder)
            self._details_off.write(placeholder)

    def append(self, keys: np.ndarray, breach_masks: np.ndarray, class_masks: np.ndarray,
               regions: np.ndarray, details: list[bytes] | None = None) -> None:
        """Add rows: keys sorted, unique, and above every key appended before; ``regions`` are
        region ids (see ``region_ids``); ``details`` one payload per row (with details on)."""
        n = len(keys)
        if n == 0:
            return
        if (self._details is None) != (details is None):
            raise BuildError("internal error: details given to a writer without them, or missing")
        if self._details is not None and self._details_off is not None and details is not None:
            sizes = np.fromiter(map(len, details), dtype=np.uint64, count=n)
            offsets = self._details_size + np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.uint64)
            self._details_off.write(offsets.astype("<u8").tobytes())
            self._details.write(b"".join(details))
            self._details_size += int(sizes.sum())
        keys = np.ascontiguousarray(keys, dtype="<u8")
        if self._last_key is not None and int(keys[0]) <= self._last_key:
            raise BuildError("internal error: chunks out of key order")
        self._last_key = int(keys[-1])
        if self.rows + n > lib.BI_MAX_ROWS:
            raise BuildError("an index holds at most 2^32-1 distinct numbers")
        self._keys.write(keys.tobytes())

        column_ids = self._profile_ids_of(breach_masks, class_masks)
        if self._profile_width == 2 and len(self._profile_list) > _U16_PROFILES:
            self._widen_profiles()
        column = column_ids.astype(f"<u{self._profile_width}")
        self._profiles.write(column.tobytes())

        for kind, masks in (("breach", breach_masks), ("class", class_masks)):
            present = np.bitwise_or.reduce(masks) if n else 0
            for bit in _bits(int(present)):
                self._add_rows(kind, bit, bitmap_of_mask(self.rows, (masks & np.uint32(1 << bit)) != 0))
        order = np.argsort(regions.astype(np.uint16), kind="stable")
        codes = regions[order]
        starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
        ends = np.append(starts[1:], n)
        rows = order.astype(np.uint32) + np.uint32(self.rows)  # stable: ascending within a region
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            self._add_rows("region", int(codes[s]), bitmap_of_rows(rows[s:e]))
        self.rows += n

    def _profile_ids_of(self, breach_masks: np.ndarray, class_masks: np.ndarray) -> np.ndarray:
        """Profile id per row, new combinations numbered as they come (canonical at finish).

        Most builds have few breaches and classes: then a combination fits 24 bits and a flat
        lookup table maps it in one gather; otherwise np.unique does."""
        bmask = breach_masks.astype(np.uint64)
        cmask = class_masks.astype(np.uint64)
        if int(bmask.max(initial=0)) < 1 << 8 and int(cmask.max(initial=0)) < 1 << 16:
            small = ((bmask << np.uint64(16)) | cmask).astype(np.int64)
            need = int(small.max(initial=0)) + 1
            if self._small_table is None or len(self._small_table) < need:
                # grown as combinations need it: a small build must not pay for 2^24 slots
                grown = np.full(1 << max(10, (need - 1).bit_length()), -1, dtype=np.int32)
                if self._small_table is not None:
                    grown[:len(self._small_table)] = self._small_table
                self._small_table = grown
            ids = self._small_table[small]
            if (ids < 0).any():
                for combo in np.unique(small[ids < 0]).tolist():
                    self._small_table[combo] = self._new_profile(((combo >> 16) << 32) | (combo & 0xFFFF))
                ids = self._small_table[small]
            return ids
        combined = (bmask << np.uint64(32)) | cmask
        uniq, inverse = np.unique(combined, return_inverse=True)
        ids = np.array([self._new_profile(c) for c in uniq.tolist()], dtype=np.int64)
        return ids[inverse.reshape(-1)]

    def _new_profile(self, combo: int) -> int:
        pid = self._profile_ids.get(combo)
        if pid is None:
            pid = self._profile_ids[combo] = len(self._profile_list)
            self._profile_list.append(combo)
        return pid

    def _add_rows(self, kind: str, ident: int, rows: BitMap) -> None:
        bitmap = self._bitmaps.get((kind, ident))
        if bitmap is None:
            self._bitmaps[(kind, ident)] = rows
        else:
            bitmap |= rows

    def _widen_profiles(self) -> None:
        """More than 65,536 profiles: rewrite the column written so far with 4-byte ids."""
        self._profiles.flush()
        path = self.tmp / fmt.PROFILES_FILE
        old = np.fromfile(path, dtype="<u2", offset=fmt.HEADER_SIZE)
        self._profiles.close()
        self._profiles = open(path, "wb")  # noqa: SIM115 - closed in finish()
        self._profiles.write(bytes(fmt.HEADER_SIZE))
        self._profiles.write(old.astype("<u4").tobytes())
        self._profile_width = 4

    def _write_keys(self, bits: int) -> tuple[np.ndarray, dict[str, Any]]:
        """Turn the full keys into the key file (suffixes without the bits the directory
        implies) and the directory, in one pass; returns the directory and the key file's
        manifest entry."""
        directory = np.zeros((1 << bits) + 1, dtype=np.uint32)
        width = key_width(bits)
        step = 1 << 23
        keys = np.empty(step, dtype="<u8")  # both buffers used again: fresh pages cost more than the copy
        piece = np.empty(step * width, dtype=np.uint8)
        next_bucket = ffi.new("uint64_t *", 1)
        out = fmt.ChecksummedWriter(self.tmp / fmt.KEYS_FILE)
        try:
            out.write(fmt.Header(fmt.MAGIC[fmt.KEYS_FILE], fmt.FORMAT_VERSION, width, self.rows, bits).pack())
            # explicit reads, not a memmap: the file's pages must not count as our memory
            with open(self.tmp / _FULL_KEYS, "rb") as f:  # buffered: readinto fills the piece unless at the end
                for start in range(0, self.rows, step):
                    count = min(step, self.rows - start)
                    if f.readinto(keys[:count].view(np.uint8).data) != 8 * count:
                        raise BuildError("internal error: the full keys file is shorter than its rows")
                    check_status(lib.bi_key_suffixes(ffi.from_buffer("uint64_t[]", keys), count, bits,
                                                     start, ffi.from_buffer("uint8_t[]", piece),
                                                     ffi.from_buffer("uint32_t[]", directory), next_bucket))
                    out.write(piece[:count * width])
            out.write(bytes(fmt.TRAILER[fmt.KEYS_FILE]))
        finally:
            entry = out.close()
        directory[next_bucket[0]:] = self.rows
        (self.tmp / _FULL_KEYS).unlink()
        return directory, entry

    def _canonical_profiles(self) -> None:
        """Number profiles in order of their (breaches, classes) value, not of first sight, so
        that the same rows give the same files however they were chunked."""
        order = sorted(range(len(self._profile_list)), key=self._profile_list.__getitem__)
        if order == list(range(len(order))):
            return
        remap = np.empty(len(order), dtype=f"<u{self._profile_width}")
        remap[np.array(order, dtype=np.int64)] = np.arange(len(order))
        self._profile_list = [self._profile_list[i] for i in order]
        self._profiles.flush()
        dtype = np.dtype(f"<u{self._profile_width}")
        step = 1 << 23
        with open(self.tmp / fmt.PROFILES_FILE, "r+b") as f:
            for start in range(0, self.rows, step):
                where = fmt.HEADER_SIZE + start * dtype.itemsize
                f.seek(where)
                column = np.fromfile(f, dtype=dtype, count=min(step, self.rows - start))
                f.seek(where)
                f.write(remap[column].tobytes())

    def finish(self, *, dir_bits: int | None = None, build_info: dict[str, Any] | None = None
               ) -> dict[str, Any]:
        """Close the files, write directory, bitmaps and manifest; returns the manifest."""
        bits = dir_bits or auto_dir_bits(self.rows)
        if self.rows:
            self._canonical_profiles()
        self._keys.close()
        f = self._profiles
        f.seek(0)
        f.write(fmt.Header(fmt.MAGIC[fmt.PROFILES_FILE], fmt.FORMAT_VERSION, self._profile_width,
                           self.rows, len(self._profile_list)).pack())
        f.flush()
        os.fsync(f.fileno())
        f.close()
        directory, keys_entry = self._write_keys(bits)
        files: dict[str, Any] = {
            fmt.KEYS_FILE: keys_entry,
            fmt.DIRECTORY_FILE: fmt.write_array_file(self.tmp / fmt.DIRECTORY_FILE, fmt.DIRECTORY_FILE,
                                                     directory, param=bits),
        }
        names = [fmt.PROFILES_FILE]
        if self._details is not None and self._details_off is not None:
            self._details_off.write(np.array([self._details_size], "<u8").tobytes())
            for f, name, width, count in ((self._details, DETAILS_FILE, 1, self._details_size),
                                          (self._details_off, DETAILS_OFFSETS_FILE, 8, self.rows + 1)):
                f.seek(0)
                f.write(fmt.Header(fmt.MAGIC[name], fmt.FORMAT_VERSION, width, count, self.rows).pack())
                f.flush()
                os.fsync(f.fileno())
                f.close()
            names += [DETAILS_FILE, DETAILS_OFFSETS_FILE]

        for name in names:
            path = self.tmp / name
            files[name] = {"bytes": path.stat().st_size, "xxh3_64": fmt.file_checksum(path)}
        sections: dict[str, list[dict[str, Any]]] = {"breaches": [], "data_classes": [], "countries": []}
        for kind, names, section in (("breach", self.breach_names, "breaches"),
                                     ("class", self.class_names, "data_classes")):
            for ident, name in enumerate(names):
                rel = fmt.bitmap_file(kind, ident)
                files[rel] = self._write_bitmap(rel, self._bitmaps.get((kind, ident), BitMap()))
                sections[section].append({"name": name, "rows": len(self._bitmaps.get((kind, ident), ()))})
        for region_id in sorted(ident for kind, ident in self._bitmaps if kind == "region"):
            region, bitmap = REGIONS[region_id], self._bitmaps[("region", region_id)]
            rel = fmt.bitmap_file("country", region)
            files[rel] = self._write_bitmap(rel, bitmap)
            sections["countries"].append({"name": region, "rows": len(bitmap)})

        manifest = {
            "format": fmt.FORMAT_NAME,
            "format_version": fmt.FORMAT_VERSION,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "rows": self.rows,
            "key_fingerprint": self.key.fingerprint,
            "key_tweak": self.tweak,
            "dir_bits": bits,
            **sections,
            "profiles": [[_bits(c >> 32), _bits(c & 0xFFFFFFFF)] for c in self._profile_list],
            "build": build_info or {},
            "details": self._details is not None,
            "files": files,
        }
        path = self.tmp / fmt.MANIFEST_FILE
        with open(path, "w", encoding="utf-8") as out:
            json.dump(manifest, out, indent=1, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        return manifest

    def _write_bitmap(self, rel: str, bitmap: BitMap) -> dict[str, Any]:
        bitmap.run_optimize()
        w = fmt.ChecksummedWriter(self.tmp / rel)
        w.write(bitmap.serialize())
        return w.close()

    def abort(self) -> None:
        for f in (self._keys, self._profiles, self._details, self._details_off):
            if f is not None:
                f.close()


_LOCKS: dict[Path, int] = {}


def temp_folder(out: Path) -> Path:
    """A new hidden folder beside ``out`` to build into, locked while this process lives.

    First removes what interrupted builds left beside ``out``: building folders whose lock no
    live process holds, and old indexes set aside by a replace that did not finish (an old
    index is put back if ``out`` itself is missing)."""
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out)
    tmp = parent / f".{out.name}.building-{secrets.token_hex(4)}"
    lock = Path(f"{tmp}.lock")
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _LOCKS[tmp] = fd
    tmp.mkdir()
    return tmp


def release_temp_folder(tmp: Path) -> None:
    """Remove a building folder and its lock."""
    shutil.rmtree(tmp, ignore_errors=True)
    fd = _LOCKS.pop(tmp, None)
    lock = Path(f"{tmp}.lock")
    if fd is not None:
        lock.unlink(missing_ok=True)
        os.close(fd)


def clean_stale(out: Path) -> list[Path]:
    """Remove leftovers of interrupted builds of ``out``; returns what was removed."""
    parent = out.resolve().parent
    removed = []
    if not out.exists():  # a replace stopped between its two renames: put the old index back
        olds = sorted(parent.glob(f".{out.name}.old-*"), key=lambda p: p.stat().st_mtime)
        if olds:
            os.rename(olds[-1], out)
    for old in parent.glob(f".{out.name}.old-*"):
        shutil.rmtree(old, ignore_errors=True)
        removed.append(old)
    for tmp in parent.glob(f".{out.name}.building-*"):
        if tmp.name.endswith(".lock") or tmp in _LOCKS:
            continue
        lock = Path(f"{tmp}.lock")
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live build holds it
            os.close(fd)
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        lock.unlink(missing_ok=True)
        os.close(fd)
        removed.append(tmp)
    for lock in parent.glob(f".{out.name}.building-*.lock"):  # locks whose folder is gone
        if Path(str(lock)[: -len(".lock")]) not in _LOCKS and not Path(str(lock)[: -len(".lock")]).exists():
            lock.unlink(missing_ok=True)
    return removed


def check_replaceable(out: Path) -> None:
    """overwrite=True replaces an index or an empty folder, nothing else: a mistyped path
    must not wipe somebody's files."""
    if not out.exists():
        return
    if out.is_dir() and ((out / fmt.MANIFEST_FILE).is_file() or not any(out.iterdir())):
        return
    raise BuildError(f"{str(out)!r} exists and is not an index folder; not replacing it")


def replace_folder(tmp: Path, out: Path, overwrite: bool) -> None:
    """Rename the finished folder into place; an old index is removed only afterwards."""
    fsync_dir(tmp)
    old = None
    if out.exists():
        if not overwrite:
            raise BuildError(f"{str(out)!r} appeared during the build; not replacing it")
        check_replaceable(out)
        old = out.parent / f".{out.name}.old-{secrets.token_hex(4)}"
        os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        if old is not None:  # put the old index back
            os.rename(old, out)
        raise
    fsync_dir(out.resolve().parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
