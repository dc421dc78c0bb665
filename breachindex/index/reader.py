"""Opening an index folder and answering "is this number in the leak?"."""
from __future__ import annotations

import array
import contextlib
import mmap
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyroaring import BitMap, FrozenBitMap

from .. import format as fmt
from .._core import Lookups, check_status, ffi, lib, new_reason, single_lookups
from ..errors import IndexCorrupted, InvalidPhoneNumber, WrongKey
from ..keying.keys import Numbers, check_threads, key_numbers
from ..keying.phone import _check_region, normalize, normalize_reference, region_of, rules
from ..keying.secret import KeyLike, as_key
from .details import DETAILS_FILE, DETAILS_OFFSETS_FILE, DetailsSealer, unpack_row
from .memory import MappingPages, Warming, auto_prefault, lock, mapping_pages, populate
from .rows import RowBlock, export_rows

__all__ = ["Index", "Match", "RowBlock", "VerifyReport", "open_index", "MAX_THREADS"]

MAX_THREADS: int = lib.BI_MAX_THREADS
ACCESS_ADVICE: dict[str, int | None] = {
    "random": getattr(mmap, "MADV_RANDOM", None),
    "hugepage": getattr(mmap, "MADV_HUGEPAGE", None),
    "normal": None,
}
_ACCEPT_BARE = lib.BI_ACCEPT_BARE


_UNSET: Any = object()


class Match:
    """A number found in the index.

    ``row`` is the number's row (its key's position, stable for this index); ``breaches`` the
    names of the breaches it is in; ``data_classes`` what circulates with it (``name``,
    ``email_address``, ...); ``country`` its ISO region (None for non-geographic codes),
    worked out on first access from the number the caller gave.
    """

    __slots__ = ("row", "breaches", "data_classes", "_query", "_country")

    def __init__(self, row: int, breaches: tuple[str, ...], data_classes: frozenset[str],
                 query: tuple[str, str | None], country: str | None = _UNSET) -> None:
        self.row = row
        self.breaches = breaches
        self.data_classes = data_classes
        self._query = query  # (raw, region): kept for country, never shown in repr
        self._country = country

    @property
    def country(self) -> str | None:
        if self._country is _UNSET:
            self._country = region_of(normalize(*self._query))
        return self._country  # type: ignore[no-any-return]

    def _fields(self) -> tuple[int, str | None, tuple[str, ...], frozenset[str]]:
        return (self.row, self.country, self.breaches, self.data_classes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Match) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (f"Match(row={self.row}, country={self.country!r}, breaches={self.breaches!r}, "
                f"data_classes={set(self.data_classes)!r})")


@dataclass(frozen=True)
class VerifyReport:
    """What ``Index.verify()`` checked."""

    files: int
    bytes: int
    rows: int
    seconds: float


def _advise(mm: mmap.mmap, advice: int | None) -> None:
    if advice is not None and hasattr(mmap.mmap, "madvise"):
        with contextlib.suppress(OSError):  # a hint: a kernel that refuses it changes nothing
            mm.madvise(advice)


def _willneed(mm: mmap.mmap, start: int, length: int) -> None:
    """Start reading the pages of mm[start:start+length] without waiting for them."""
    if hasattr(mmap, "MADV_WILLNEED") and len(mm):
        start = max(0, min(start, len(mm) - 1)) // mmap.PAGESIZE * mmap.PAGESIZE
        with contextlib.suppress(OSError, ValueError):
            mm.madvise(mmap.MADV_WILLNEED, start, min(length + mmap.PAGESIZE, len(mm) - start))


class _Mapped:
    """The mapped files and the C view over them. A call that holds a reference to this
    object keeps the mappings alive, so ``Index.close()`` can never unmap under a reader."""

    def __init__(self, folder: Path, manifest: dict[str, Any], advice: int | None = None) -> None:
        self.maps: dict[str, mmap.mmap] = {}
        self.headers: dict[str, fmt.Header] = {}
        self.buffers: list[Any] = []
        self.advice = advice
        names = (fmt.KEYS_FILE, fmt.DIRECTORY_FILE, fmt.PROFILES_FILE)
        for name in names:
            self._map(folder, name, manifest, parse=False)
        # a cold open reads four pages (three headers, the directory's last entry): ask for all
        # of them first, so the disk serves them at once instead of one after another
        directory = self.maps[fmt.DIRECTORY_FILE]
        _willneed(directory, len(directory) - 16, 16)
        for name in names:
            self._parse(name)
        rows = manifest["rows"]
        keys_h = self.headers[fmt.KEYS_FILE]
        dir_h = self.headers[fmt.DIRECTORY_FILE]
        prof_h = self.headers[fmt.PROFILES_FILE]
        bits = dir_h.param
        if (dir_h.width != 4 or not lib.BI_MIN_DIR_BITS <= bits <= lib.BI_MAX_DIR_BITS
                or dir_h.count != (1 << bits) + 1):
            raise IndexCorrupted(fmt.DIRECTORY_FILE, "header does not describe a directory")
        if bits != manifest.get("dir_bits"):
            raise IndexCorrupted(fmt.DIRECTORY_FILE, "directory bits differ from the manifest")
        if keys_h.count != rows:
            raise IndexCorrupted(fmt.KEYS_FILE, f"holds {keys_h.count} keys, manifest says {rows}")
        if keys_h.param != bits or keys_h.width != lib.bi_key_width(bits):
            raise IndexCorrupted(fmt.KEYS_FILE, "key width does not match the directory")
        if prof_h.width not in (2, 4) or prof_h.count != rows:
            raise IndexCorrupted(fmt.PROFILES_FILE, f"holds {prof_h.count} rows, manifest says {rows}")
        if prof_h.param != len(manifest["profiles"]):
            raise IndexCorrupted(fmt.PROFILES_FILE, "profile count differs from the manifest")
        self.table = ffi.new("bi_table *")
        self.table.suffixes = ffi.cast("uint8_t *", self._data(fmt.KEYS_FILE))
        self.table.n = rows
        self.table.dir = ffi.cast("uint32_t *", self._data(fmt.DIRECTORY_FILE))
        self.table.dir_bits = bits
        self.table.key_width = keys_h.width
        self.table.profiles = self._data(fmt.PROFILES_FILE)
        self.table.profile_width = prof_h.width
        self.table.n_profiles = len(manifest["profiles"])
        reason = new_reason()
        check_status(lib.bi_table_check(self.table, reason), reason)
        self.rows = rows
        self.profiles = np.frombuffer(self.maps[fmt.PROFILES_FILE], dtype=f"<u{prof_h.width}",
                                      count=rows, offset=fmt.HEADER_SIZE)
        self.phone_ctx: Any = None  # set by Index: it needs the rules and the key
        self.details: tuple[np.ndarray, Any] | None = None
        if manifest.get("details"):
            self.map_details(folder, manifest)

    def map_details(self, folder: Path, manifest: dict[str, Any]) -> None:
        """Map details.bin and details.off and check their structure."""
        rows = manifest["rows"]
        for name in (DETAILS_FILE, DETAILS_OFFSETS_FILE):
            self._map(folder, name, manifest)
        off_h, bin_h = self.headers[DETAILS_OFFSETS_FILE], self.headers[DETAILS_FILE]
        if off_h.width != 8 or off_h.count != rows + 1 or off_h.param != rows:
            raise IndexCorrupted(DETAILS_OFFSETS_FILE, "header does not match the index")
        if bin_h.width != 1 or bin_h.param != rows:
            raise IndexCorrupted(DETAILS_FILE, "header does not match the index")
        offsets = np.frombuffer(self.maps[DETAILS_OFFSETS_FILE], dtype="<u8", count=rows + 1,
                                offset=fmt.HEADER_SIZE)
        if offsets[-1] != bin_h.count or (rows and offsets[0] != 0):
            raise IndexCorrupted(DETAILS_OFFSETS_FILE, "offsets do not span details.bin")
        self.details = (offsets, self.maps[DETAILS_FILE])

    def _map(self, folder: Path, name: str, manifest: dict[str, Any], *, parse: bool = True) -> None:
        path = folder / name
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise IndexCorrupted(name, "missing") from None
        try:
            size = os.fstat(fd).st_size
            entry = manifest["files"].get(name)
            if entry is None:
                raise IndexCorrupted(name, "not listed in the manifest")
            if entry["bytes"] != size:
                raise IndexCorrupted(name, f"size {size} bytes, manifest says {entry['bytes']}")
            if size < fmt.HEADER_SIZE:
                raise IndexCorrupted(name, f"truncated: {size} bytes, shorter than its header")
            mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        # the hint before the first touch: a fault without it reads a whole readahead window
        # around the header (docs/benchmarks.md, "Cold open")
        _advise(mm, self.advice)
        _willneed(mm, 0, fmt.HEADER_SIZE)
        self.maps[name] = mm
        if parse:
            self._parse(name)

    def _parse(self, name: str) -> None:
        mm = self.maps[name]
        self.headers[name] = fmt.Header.parse(name, mm, file_size=len(mm))


    def _data(self, name: str) -> Any:
        buf = ffi.from_buffer("char[]", self.maps[name])
        self.buffers.append(buf)
        return buf + fmt.HEADER_SIZE

    def keys(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The full uint64 keys of rows start..stop-1, rebuilt from suffixes and directory."""
        stop = self.rows if stop is None else stop
        if not 0 <= start <= stop <= self.rows:
            raise ValueError(f"rows {start}..{stop} outside 0..{self.rows}")
        out = np.empty(stop - start, dtype=np.uint64)
        reason = new_reason()
        status = lib.bi_table_keys(self.table, start, stop - start, ffi.from_buffer("uint64_t[]", out), reason)
        check_status(status, reason)
        return out

    def lower_bound(self, key: int) -> int:
        """The first row whose key is at least ``key`` (the row count if none)."""
        row = ffi.new("uint64_t *")
        reason = new_reason()
        check_status(lib.bi_lower_bound(self.table, key, row, reason), reason)
        return int(row[0])


class Index:
    """A built index, memory-mapped read-only; open it with ``breachindex.open``.

    Opening maps the files and checks their structure (it reads the small directory, never
    the keys); ``verify()`` reads everything. Many threads and processes can read one index at
    once: the page cache holds a single copy.
    """

    def __init__(self, path: str | os.PathLike[str], *, key: KeyLike, access: str = "random",
                 prefault: bool | str = "auto", lock: bool = False) -> None:
        if access not in ACCESS_ADVICE:
            raise ValueError(f"access must be one of {', '.join(ACCESS_ADVICE)}")
        if prefault not in (False, True, "reload", "auto"):
            raise ValueError('prefault must be "auto", False, True or "reload"')
        self.path = Path(path)
        self._key = as_key(key)
        self.manifest = fmt.read_manifest(self.path)
        if self._key.fingerprint != self.manifest["key_fingerprint"]:
            raise WrongKey("this key is not the one the index was built with")
        self.key_tweak: int = self.manifest["key_tweak"]
        self._siphash_key = self._key.siphash_key(self.key_tweak)
        self.breaches: tuple[str, ...] = tuple(b["name"] for b in self.manifest["breaches"])
        self.data_classes: tuple[str, ...] = tuple(c["name"] for c in self.manifest["data_classes"])
        self.countries: tuple[str, ...] = tuple(c["name"] for c in self.manifest["countries"])
        # per profile id, the two fields of a Match, built once
        self._profiles: list[tuple[tuple[str, ...], frozenset[str]]] = [
            (tuple(self.breaches[i] for i in b), frozenset(self.data_classes[i] for i in c))
            for b, c in self.manifest["profiles"]
        ]
        self._mapped: _Mapped | None = _Mapped(self.path, self.manifest, ACCESS_ADVICE[access])
        self._warming: Warming | None = None
        if prefault == "auto":
            if auto_prefault(sum(len(mm) for mm in self._mapped.maps.values())):
                self._warming = Warming(self._mapped.maps, self._mapped)
        elif prefault:
            self.prefault(reload=prefault == "reload")
        if lock:
            self.lock()
        self._rows = int(self.manifest["rows"])
        self._rules = rules()
        self._rules_table = self._rules.table
        # the single-number call's fixed arguments, owned by the mapping they point into
        ctx = ffi.new("bi_phone_ctx *")
        ctx.table = self._mapped.table
        ctx.rules = self._rules_table
        ffi.memmove(ctx.key16, self._siphash_key, 16)
        self._mapped.phone_ctx = ctx
        # holds the mapping alive for the calls in flight; kept here, not on the mapping, so
        # that closing frees the mapping without waiting for the cycle collector
        self._single: Lookups | None = single_lookups(self._mapped, self._mapped.table, ctx)

    # ---- life cycle ------------------------------------------------------------------
    def close(self) -> None:
        """Release the mappings (once the calls in flight have returned, and the warming has
        stopped at its next chunk)."""
        if self._warming is not None:
            self._warming.stop()
        self._mapped = None
        self._single = None

    def warmed(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (None: as long as it takes) for the warming that
        ``open()`` started by itself (``prefault="auto"``); True once it is done, or if there was
        none. Queries need not wait: they run meanwhile."""
        return self._warming is None or self._warming.wait(timeout)

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _live(self) -> _Mapped:
        mapped = self._mapped
        if mapped is None:
            raise ValueError("the index is closed")
        return mapped

    def __len__(self) -> int:
        return self._rows

    def prefault(self, *, reload: bool = False) -> None:
        """Bring every mapped file (keys, directory, profiles, details) into memory and map it,
        before the first query; bitmaps are read when first asked for.

        Where the kernel allows (Linux, transparent huge pages not switched off), the mappings
        are marked ``MADV_HUGEPAGE`` and populated, so that the page cache reads them 2 MB at a
        time and lookups miss the TLB less; otherwise each file is read in order. Pages already
        cached keep their size: ``reload=True`` first drops the index's cached pages that no
        process maps (clean pages: a re-read, nothing lost). ``page_report()`` shows the result.
        """
        mapped = self._live()
        for name, mm in mapped.maps.items():
            populate(mm, self.path / name, reload=reload)

    def lock(self) -> None:
        """Pin the mapped files (keys, directory, profiles, details) in memory with ``mlock``:
        read in if not yet, then never reclaimed while this index is open, so checks after an
        idle spell stay warm. Call ``prefault()`` first for 2 MB pages. The locked memory counts
        against this process's ``RLIMIT_MEMLOCK`` (the whole index, about 4.9 GB at 533M keys;
        each process that locks it counts it, though the page cache holds one copy); a refusal
        raises ``OSError`` saying what to raise. Closing the index releases the lock."""
        mapped = self._live()
        for name, mm in mapped.maps.items():
            lock(mm, name)

    def page_report(self) -> dict[str, MappingPages] | None:
        """Per file, how much of it this process has resident and mapped with 2 MB entries
        (``MappingPages``); None where the system does not say (not Linux)."""
        return mapping_pages(self._live().maps)

    def __repr__(self) -> str:
        state = "closed" if self._mapped is None else f"{self._rows:,} numbers"
        return f"<breachindex.Index {str(self.path)!r}: {state}>"

    # ---- single lookups --------------------------------------------------------------
    def _find(self, raw: str, region: str | None) -> tuple[int, int]:
        """(row or -1, profile id); raises InvalidPhoneNumber."""
        # the hot path of a single check: kept to attribute reads and one C call
        single, mapped = self._single, self._mapped
        if single is None or mapped is None:
            raise ValueError("the index is closed")
        try:
            data = raw.encode("utf-8", "surrogatepass")
        except AttributeError:
            raise InvalidPhoneNumber("not_text", f"expected a str, got {type(raw).__name__}") from None
        if region is None:
            flags = _ACCEPT_BARE
        else:
            region = _check_region(region)
            flags = self._rules.flags_for(region)
        found = single.phone(data, flags)  # raises InvalidPhoneNumber, IndexCorrupted
        if found is not None:
            return (found & 0xFFFFFFFF, found >> 32) if found >= 0 else (-1, 0)
        # the fast path left it to the reference
        digits = normalize_reference(raw, region)[1:].encode("ascii")
        row = single.key(lib.bi_siphash24(self._siphash_key, digits, len(digits)))  # raises if damaged
        if row < 0:
            return -1, 0
        profile = ffi.new("uint32_t *")
        check_status(lib.bi_profile_of(mapped.table, row, profile))
        return row, profile[0]

    def lookup(self, raw: str, region: str | None = None) -> Match | None:
        """The Match for a phone number, or None if it is not in the index.

        ``raw`` is any form ``normalize`` accepts; raises InvalidPhoneNumber if it is not a
        possible number (so a user can be told their input is wrong, not that they are safe).
        """
        single = self._single
        if single is not None and region is None and type(raw) is str:
            # the common case inline (one C call, no helper frame): E.164 or leak digits
            data = raw.encode("utf-8", "surrogatepass")
            found = single.phone(data, _ACCEPT_BARE)  # raises InvalidPhoneNumber, IndexCorrupted
            if found is not None:
                if found < 0:
                    return None
                breaches, classes = self._profiles[found >> 32]
                return Match(found & 0xFFFFFFFF, breaches, classes, (raw, None))
        row, profile = self._find(raw, region)  # everything else
        if row < 0:
            return None
        breaches, classes = self._profiles[profile]
        return Match(row, breaches, classes, (raw, region))

    def __contains__(self, raw: object) -> bool:
        """``number in index``; False for anything that is not a possible number."""
        try:
            return self._find(raw, None)[0] >= 0  # type: ignore[arg-type]
        except InvalidPhoneNumber:
            return False

    def lookup_key(self, key: int) -> int:
        """Row of one uint64 key (from ``phone_keys``), -1 if absent."""
        # the hot path of a single key: one attribute read and one call, which checks the range
        # and raises IndexCorrupted itself
        single = self._single
        if single is None:
            raise ValueError("the index is closed")
        row: int = single.key(key)
        return row

    # ---- batches ---------------------------------------------------------------------
    def lookup_keys(self, keys: np.ndarray, *, threads: int | None = 1) -> np.ndarray:
        """Rows (int64, -1 where absent) of uint64 keys, with the GIL released, on ``threads``
        threads (None: every core this process may use)."""
        mapped = self._live()
        threads = check_threads(threads)
        q = np.asarray(keys)
        if q.dtype != np.uint64:
            raise TypeError(
                f"keys must be a numpy uint64 array, not {q.dtype} "
                "(a float or signed array would silently mangle keys)"
            )
        q = np.ascontiguousarray(q.reshape(-1))
        rows = np.empty(len(q), dtype=np.int64)
        reason = new_reason()
        status = lib.bi_lookup_many(mapped.table, ffi.from_buffer("uint64_t[]", q), len(q),
                                    ffi.from_buffer("int64_t[]", rows), threads, reason)
        check_status(status, reason)
        return rows

    def phone_keys(self, numbers: Numbers, *, region: str | None = None,
                   threads: int | None = None) -> np.ndarray:
        """``breachindex.phone_keys`` under this index's key and tweak: a list of ``str``, a
        numpy ``U``/``S`` array or a buffer of lines, keyed without a loop in Python on every
        usable core (or ``threads``)."""
        from ..keying.keys import phone_keys

        return phone_keys(numbers, key=self._key, region=region, tweak=self.key_tweak,
                          threads=threads)

    def rows_of(self, numbers: Numbers, *, region: str | None = None,
                threads: int | None = None) -> np.ndarray:
        """Rows (int64) of many numbers: -1 where absent or not a possible number. Keyed and
        looked up on ``threads`` threads (None: every core this process may use)."""
        batch = key_numbers(numbers, siphash_key=self._siphash_key, region=region, threads=threads)
        rows = self.lookup_keys(batch.keys, threads=threads)
        rows[~batch.ok] = -1
        return rows

    def contains_many(self, numbers: Numbers, *, region: str | None = None,
                      threads: int | None = None) -> np.ndarray:
        """Bool array: which numbers are in the index (False for impossible numbers)."""
        return self.rows_of(numbers, region=region, threads=threads) >= 0

    def profile_ids(self, rows: np.ndarray) -> np.ndarray:
        """Profile id of each row (see ``profile``)."""
        return np.asarray(self._live().profiles[np.asarray(rows, dtype=np.int64)])

    def profile(self, profile_id: int) -> tuple[tuple[str, ...], frozenset[str]]:
        """(breaches, data classes) of a profile id."""
        return self._profiles[profile_id]

    # ---- set queries -----------------------------------------------------------------
    def rows_in(self, *, breach: str | None = None, data_class: str | None = None,
                country: str | None = None) -> FrozenBitMap:
        """Roaring bitmap of the rows in a breach, with a data class, or of a country (the
        main region of the numbers' calling code). Combine them with ``&``, ``|``, ``-``."""
        given = [(kind, name) for kind, name in (("breach", breach), ("class", data_class),
                                                 ("country", country)) if name is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of breach=, data_class= or country=")
        kind, name = given[0]
        names = {"breach": self.breaches, "class": self.data_classes, "country": self.countries}[kind]
        if name not in names:
            raise KeyError(name)
        return self._bitmap(kind, names.index(name))

    def _bitmap(self, kind: str, ident: int) -> FrozenBitMap:
        self._live()
        section = {"breach": "breaches", "class": "data_classes", "country": "countries"}[kind]
        entry = self.manifest[section][ident]
        rel = fmt.bitmap_file(kind, entry["name"] if kind == "country" else ident)
        path = self.path / rel
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise IndexCorrupted(rel, "missing") from None
        except OSError as exc:
            raise IndexCorrupted(rel, f"unreadable ({exc.strerror or exc})") from None
        listed = self.manifest["files"].get(rel)
        if listed is None or listed["bytes"] != len(data):
            raise IndexCorrupted(rel, "size differs from the manifest")
        try:
            bitmap = FrozenBitMap.deserialize(data)
        except Exception:  # pyroaring raises ValueError or IndexError on bad bytes
            raise IndexCorrupted(rel, "not a valid Roaring bitmap") from None
        if len(bitmap) and bitmap.max() >= self._rows:
            raise IndexCorrupted(rel, "holds a row beyond the end of the index")
        if len(bitmap) != entry["rows"]:
            raise IndexCorrupted(rel, f"holds {len(bitmap)} rows, manifest says {entry['rows']}")
        return bitmap

    def export_rows(self, *, ranges: int = 1, details: bool = False) -> Iterator[RowBlock]:
        """Every row as a build writes it (key, breach and class masks, country, and with
        ``details`` its sealed records), in ``ranges`` key ranges, one block at a time: what
        merging a new breach into this index needs (``breachindex add``)."""
        return export_rows(self, ranges=ranges, details=details)

    # ---- details ---------------------------------------------------------------------
    @property
    def has_details(self) -> bool:
        """True if the index was built with ``--details`` (sealed field values per record)."""
        return bool(self.manifest.get("details"))

    def _details_maps(self) -> tuple[np.ndarray, Any]:
        mapped = self._live()
        if mapped.details is None:
            if not self.has_details:
                raise ValueError("this index was built without --details: it holds no field values")
            mapped.map_details(self.path, self.manifest)
        assert mapped.details is not None
        return mapped.details

    def details(self, raw: str, region: str | None = None) -> list[dict[str, Any]] | None:
        """What circulates about a number: per record, its breach and leaked field values.

        None if the number is not in the index. Only for an index built with ``--details``;
        show this only to a person who proved they own the number.
        """
        row, _ = self._find(raw, region)
        if row < 0:
            return None
        offsets, blob = self._details_maps()
        start, end = int(offsets[row]), int(offsets[row + 1])
        if not start <= end <= len(blob) - fmt.HEADER_SIZE:
            raise IndexCorrupted(DETAILS_OFFSETS_FILE, f"offsets of row {row} out of range")
        payload = bytes(blob[fmt.HEADER_SIZE + start:fmt.HEADER_SIZE + end])
        digits = normalize(raw, region)[1:].encode("ascii")
        sealer = DetailsSealer(self._key, self.key_tweak)
        return [sealer.open(digits, sealed) for sealed in unpack_row(payload)]

    # ---- integrity -------------------------------------------------------------------
    def verify(self) -> VerifyReport:
        """Check every file's checksum, the key order and the bitmaps against the profiles."""
        mapped = self._live()
        started = time.perf_counter()
        total = 0
        for rel, entry in sorted(self.manifest["files"].items()):
            path = self.path / rel
            if not path.is_file():
                raise IndexCorrupted(rel, "missing")
            if fmt.file_checksum(path) != entry["xxh3_64"]:
                raise IndexCorrupted(rel, "checksum mismatch: the file's content was changed")
            total += entry["bytes"]
        reason = new_reason()
        for content_check in (lib.bi_directory_verify, lib.bi_table_verify, lib.bi_profiles_verify):
            check_status(content_check(mapped.table, reason), reason)  # IndexCorrupted names the file
        # the bitmaps must say exactly what the profile column says
        profile_masks = [
            (sum(1 << i for i in b), sum(1 << i for i in c)) for b, c in self.manifest["profiles"]
        ]
        for kind, names, which in (("breach", self.breaches, 0), ("class", self.data_classes, 1)):
            for ident in range(len(names)):
                with_bit = np.array([bool(m[which] >> ident & 1) for m in profile_masks] or [False])
                if self._bitmap(kind, ident) != _rows_where(with_bit, mapped.profiles):
                    raise IndexCorrupted(fmt.bitmap_file(kind, ident), "disagrees with the profile column")
        if self.has_details:
            offsets, _ = self._details_maps()
            if np.any(offsets[1:] < offsets[:-1]):
                raise IndexCorrupted(DETAILS_OFFSETS_FILE, "offsets decrease")
        # every row has exactly one country
        seen = 0
        union = FrozenBitMap()
        for ident in range(len(self.countries)):
            bitmap = self._bitmap("country", ident)
            seen += len(bitmap)
            union = union | bitmap
        if self.countries and (seen != self._rows or len(union) != self._rows):
            raise IndexCorrupted(fmt.bitmap_file("country", self.countries[0]),
                                 "country bitmaps do not partition the rows")
        return VerifyReport(files=len(self.manifest["files"]), bytes=total, rows=self._rows,
                            seconds=time.perf_counter() - started)


# rows a verify pass handles at once: 16M rows need about 250 MB of scratch, where the whole
# 533M-row column at once peaked at 12 GB
_VERIFY_CHUNK_ROWS = 1 << 24


def _rows_where(with_bit: np.ndarray, profiles: np.ndarray) -> BitMap:
    """The rows whose profile has the bit (``with_bit[profile]``), built a chunk at a time."""
    rows = BitMap()
    for start in range(0, len(profiles), _VERIFY_CHUNK_ROWS):
        hits = np.flatnonzero(with_bit[profiles[start:start + _VERIFY_CHUNK_ROWS]])
        chunk = array.array("I")
        chunk.frombytes((hits + start).astype(np.uint32).tobytes())
        rows.update(chunk)
    return rows


def open_index(path: str | os.PathLike[str], *, key: KeyLike, access: str = "random",
               prefault: bool | str = "auto", lock: bool = False) -> Index:
    """Open an index folder (``breachindex.open``).

    ``access`` is the madvise hint for the mappings (measured on the 533M index in
    docs/benchmarks.md, "Page-cache hints"): ``"random"`` (default) turns off readahead, so a
    cold lookup reads a 4 KiB page instead of a readahead window; ``"hugepage"`` asks for
    transparent huge pages, 2 MB a fault (warm lookups faster, cold ones as slow as ``"normal"``);
    ``"normal"`` leaves the kernel's default.

    ``prefault="auto"`` (the default) warms a large index by itself: where the kernel has huge
    pages, an index of 64 MiB or more that fits twice in the available memory is mapped with
    2 MB pages and read in by a background thread while queries run (``Index.warmed`` waits for
    it); a small one, or one the machine has no room for, is left to the page cache.
    ``prefault=True`` brings every file into memory before ``open`` returns, mapped with 2 MB
    pages where the kernel allows (``Index.prefault``); ``False`` leaves every page to the
    first query that needs it.
    ``prefault="reload"`` first drops the index's cached pages that no process maps, so that
    pages an earlier reader left in 4 KiB pieces come back in 2 MB ones (faster batches at full
    scale: docs/benchmarks.md, "Huge pages"); ``Index.page_report()`` tells how the files ended
    up mapped.
    ``lock=True`` then pins the files in memory (``Index.lock``), so that the kernel never
    reclaims an index that sits idle between checks.
    """
    return Index(path, key=key, access=access, prefault=prefault, lock=lock)
