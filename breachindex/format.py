"""The on-disk format of an index folder (format version 2).

An index is a folder::

    manifest.json          format, version, counts, names, key fingerprint, per-file size + XXH3
    keys.bin               header + n key suffixes of W bytes + 8 bytes of zero padding: the
                           keys are sorted and unique (row = position), and each is stored
                           without its top B bits, which its directory bucket implies;
                           W = ceil((64 - B) / 8), little-endian
    directory.u32          header + 2^B + 1 uint32: dir[b] = rows whose key's top B bits < b
    profiles.bin           header + n uint16/uint32: per row, an id into the manifest's profiles
    bitmaps/breach-I.roaring, bitmaps/class-I.roaring
                           Roaring bitmaps (portable serialization) of the rows in breach I and
                           the rows with data class I, for set queries with any Roaring library

A profile is one (breaches, data classes) combination; rows share a few hundred of them, so a
lookup reads one small id instead of testing every bitmap. Every binary file starts with a
64-byte header (magic, version, item width, item count, one parameter), which keeps the arrays
after it aligned to a cache line. No file holds a phone number, a name or the secret.
"""
from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import xxhash

from .errors import IndexCorrupted

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "HEADER_SIZE", "KEYS_FILE", "DIRECTORY_FILE",
    "PROFILES_FILE", "MANIFEST_FILE", "Header", "bitmap_file", "read_manifest",
]

FORMAT_NAME = "breachindex"
FORMAT_VERSION = 2
HEADER_SIZE = 64
MANIFEST_FILE = "manifest.json"
KEYS_FILE = "keys.bin"
DIRECTORY_FILE = "directory.u32"
PROFILES_FILE = "profiles.bin"
BITMAP_DIR = "bitmaps"
MAGIC = {
    KEYS_FILE: b"BIKEYS\x00\x02",
    DIRECTORY_FILE: b"BIDIR\x00\x00\x01",
    PROFILES_FILE: b"BIPROF\x00\x01",
    "details.bin": b"BIDETL\x00\x01",
    "details.off": b"BIDOFF\x00\x01",
}
#: Bytes after a file's items: a key suffix is read with one 8-byte load, even the last one.
TRAILER = {KEYS_FILE: 8}
_REGION = re.compile(r"(?:[A-Z]{2}|001)\Z")
_HEADER = struct.Struct("<8sIIQQ32x")  # magic, version, item width, item count, parameter
assert _HEADER.size == HEADER_SIZE


def bitmap_file(kind: str, ident: int | str) -> str:
    """Relative path of the bitmap of breach or data class number ``ident``, or of the
    country (region code) ``ident``."""
    return f"{BITMAP_DIR}/{kind}-{ident}.roaring"


@dataclass(frozen=True)
class Header:
    """The 64-byte header of a binary file."""

    magic: bytes
    version: int
    width: int
    count: int
    param: int

    def pack(self) -> bytes:
        return _HEADER.pack(self.magic, self.version, self.width, self.count, self.param)

    @classmethod
    def parse(cls, name: str, data: Any, *, file_size: int) -> Header:
        """Parse and check a header against the file's name and size."""
        if file_size < HEADER_SIZE:
            raise IndexCorrupted(name, f"truncated: {file_size} bytes, shorter than its header")
        magic, version, width, count, param = _HEADER.unpack_from(data, 0)
        if magic != MAGIC[name]:
            raise IndexCorrupted(name, "wrong magic bytes: not a breachindex file of this kind")
        if version != FORMAT_VERSION:
            raise IndexCorrupted(
                name, f"format version {version}, this breachindex reads version {FORMAT_VERSION}"
            )
        if not 1 <= width <= 8:
            raise IndexCorrupted(name, f"impossible item width {width}")
        expected = HEADER_SIZE + count * width + TRAILER.get(name, 0)
        if file_size != expected:
            raise IndexCorrupted(
                name, f"size {file_size} bytes, header says {expected} ({count} items of {width})"
            )
        return cls(magic, version, width, count, param)


class ChecksummedWriter:
    """Writes a file while computing its XXH3-64, then fsyncs it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._hash = xxhash.xxh3_64()
        self.size = 0

    def write(self, data: bytes | np.ndarray) -> None:
        view = data if isinstance(data, bytes) else memoryview(data).cast("B")  # type: ignore[arg-type]
        step = 1 << 26  # hash and write in 64 MiB pieces: large arrays are never copied whole
        for start in range(0, len(view), step):
            piece = view[start:start + step]
            self._hash.update(piece)
            self._f.write(piece)
        self.size += len(view)

    def close(self) -> dict[str, Any]:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        return {"bytes": self.size, "xxh3_64": self._hash.hexdigest()}


def write_array_file(path: Path, name: str, array: np.ndarray, *, param: int = 0) -> dict[str, Any]:
    """Write header + little-endian array; returns the manifest entry."""
    array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    w = ChecksummedWriter(path)
    try:
        w.write(Header(MAGIC[name], FORMAT_VERSION, array.dtype.itemsize, len(array), param).pack())
        w.write(array)
    finally:
        entry = w.close()
    return entry


def file_checksum(path: Path) -> str:
    """XXH3-64 of a file, read in pieces."""
    h = xxhash.xxh3_64()
    with open(path, "rb") as f:
        while True:
            piece = f.read(1 << 24)
            if not piece:
                break
            h.update(piece)
    return h.hexdigest()


def _require(manifest: dict[str, Any], field: str, kind: type | tuple[type, ...]) -> Any:
    value = manifest.get(field)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise IndexCorrupted(MANIFEST_FILE, f"field {field!r} is missing or of the wrong type")
    return value


def read_manifest(folder: Path) -> dict[str, Any]:
    """Read and structurally validate manifest.json."""
    path = folder / MANIFEST_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if not folder.is_dir():
            raise IndexCorrupted(".", f"index folder {str(folder)!r} does not exist") from None
        raise IndexCorrupted(MANIFEST_FILE, "missing: this folder is not a breachindex index") from None
    except OSError as exc:
        raise IndexCorrupted(MANIFEST_FILE, f"unreadable ({exc.strerror or exc})") from None
    if len(raw) > 64 << 20:
        raise IndexCorrupted(MANIFEST_FILE, "implausibly large (over 64 MiB)")
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise IndexCorrupted(MANIFEST_FILE, f"not valid JSON ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise IndexCorrupted(MANIFEST_FILE, "not a breachindex manifest")
    version = manifest.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise IndexCorrupted(
            MANIFEST_FILE, f"format version {version!r}, this breachindex reads {FORMAT_VERSION}"
        )
    rows = _require(manifest, "rows", int)
    if rows < 0 or rows > 0xFFFFFFFF:
        raise IndexCorrupted(MANIFEST_FILE, f"row count {rows} out of range")
    _require(manifest, "key_fingerprint", str)
    tweak = _require(manifest, "key_tweak", int)
    if not 0 <= tweak < 2**32:
        raise IndexCorrupted(MANIFEST_FILE, "key_tweak out of range")
    manifest.setdefault("countries", [])
    for field in ("breaches", "data_classes", "countries"):
        items = _require(manifest, field, list)
        for item in items:
            if not (isinstance(item, dict) and isinstance(item.get("name"), str)
                    and isinstance(item.get("rows"), int)):
                raise IndexCorrupted(MANIFEST_FILE, f"malformed entry in {field!r}")
            if field == "countries" and not _REGION.match(item["name"]):
                raise IndexCorrupted(MANIFEST_FILE, "malformed country name")
        if len(items) > (32 if field != "countries" else 1000):
            raise IndexCorrupted(MANIFEST_FILE, f"too many {field}")
    profiles = _require(manifest, "profiles", list)
    nb, nc = len(manifest["breaches"]), len(manifest["data_classes"])
    for p in profiles:
        if not (isinstance(p, list) and len(p) == 2 and all(isinstance(x, list) for x in p)
                and all(isinstance(i, int) and 0 <= i < nb for i in p[0])
                and all(isinstance(i, int) and 0 <= i < nc for i in p[1])):
            raise IndexCorrupted(MANIFEST_FILE, "malformed profile table")
    files = _require(manifest, "files", dict)
    for name, entry in files.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("bytes"), int)
                and isinstance(entry.get("xxh3_64"), str)) or ".." in name or name.startswith("/"):
            raise IndexCorrupted(MANIFEST_FILE, f"malformed file entry {name!r}")
    return manifest
