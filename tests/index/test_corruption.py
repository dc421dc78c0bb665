"""Damaged index folders: every case must raise IndexCorrupted naming the damaged file.

Structure (sizes, magic, version, header fields, the directory's ends) is checked on open;
content (checksums, directory order, key order, profile ids, bitmaps) on verify(). A lookup that
meets a directory bucket pointing outside the key file raises instead of reading there. Every case runs in-process, so a
crash of the C core would take the test run down with it.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import xxhash

import breachindex as bi
from breachindex import IndexCorrupted, Key, WrongKey
from breachindex.synth.synthetic import synthetic_numbers

KEY = Key.generate()
MANIFEST = "manifest.json"
KEYS = "keys.bin"
DIRECTORY = "directory.u32"
PROFILES = "profiles.bin"
BINARY = [KEYS, DIRECTORY, PROFILES]
HEADER = 64
BREACHES = ["facebook-2021", "scrape-2019", "combo"]
CLASSES = ["name", "email_address", "gender", "location"]


def _numbers(count: int, seed: int) -> list[str]:
    return synthetic_numbers(count, seed=seed)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """(folder, {number: (row, breaches, data_classes)}) of a healthy 2000-number index."""
    nums = _numbers(2000, seed=2)
    rng = random.Random(2)
    records = [(n, BREACHES[i % 3], rng.sample(CLASSES, rng.randint(0, 3))) for i, n in enumerate(nums)]
    records += [(n, BREACHES[(i + 1) % 3], ["name"]) for i, n in enumerate(nums[:300])]
    folder = tmp_path_factory.mktemp("pristine") / "idx"
    bi.build(folder, records, key=KEY)
    with bi.open(folder, key=KEY) as index:
        index.verify()
        expected = {}
        for n in nums:
            m = index.lookup(n)
            expected[n] = (m.row, m.breaches, m.data_classes)
        bitmaps = sorted(k for k in index.manifest["files"] if k.startswith("bitmaps/"))
    assert len(bitmaps) == len(BREACHES) + len(CLASSES) + len(index.countries)
    return folder, expected, bitmaps


@pytest.fixture
def idx(pristine, tmp_path):
    """A fresh copy of the healthy index, to damage."""
    folder = tmp_path / "idx"
    shutil.copytree(pristine[0], folder)
    return folder


# ---- helpers --------------------------------------------------------------------------------

def manifest(folder: Path) -> dict:
    return json.loads((folder / MANIFEST).read_text())


def write_manifest(folder: Path, m: dict) -> None:
    (folder / MANIFEST).write_text(json.dumps(m))


def rehash(folder: Path, rel: str) -> None:
    """Make the manifest agree with the file's current size and checksum (a consistent lie)."""
    m = manifest(folder)
    data = (folder / rel).read_bytes()
    m["files"][rel] = {"bytes": len(data), "xxh3_64": xxhash.xxh3_64_hexdigest(data)}
    write_manifest(folder, m)


def flip(path: Path, offset: int, mask: int = 0xFF) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ mask]))


def poke(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


def header(path: Path) -> tuple:
    return struct.unpack_from("<8sIIQQ", path.read_bytes(), 0)


def open_fails(folder: Path, *files: str) -> IndexCorrupted:
    with pytest.raises(IndexCorrupted) as info:
        bi.open(folder, key=KEY)
    assert info.value.file in files, (info.value.file, info.value.problem)
    return info.value


def verify_fails(folder: Path, *files: str) -> IndexCorrupted:
    index = bi.open(folder, key=KEY)  # content damage: opening still works
    with pytest.raises(IndexCorrupted) as info:
        index.verify()
    assert info.value.file in files, (info.value.file, info.value.problem)
    index.close()
    return info.value


def lookups_do_not_crash(folder: Path, expected: dict, *, exact_or_absent: bool) -> None:
    """Every lookup returns None, a Match, or raises IndexCorrupted; never anything else.

    With exact_or_absent, a Match must be the right one: damage may hide a number, but never
    make the index answer with another number's row or data.
    """
    nums = list(expected)
    with bi.open(folder, key=KEY) as index:
        for n in nums:
            try:
                m = index.lookup(n)
            except IndexCorrupted as exc:
                assert exc.file in (PROFILES, DIRECTORY), exc
                continue
            if m is not None:
                assert 0 <= m.row < len(index)
                if exact_or_absent:
                    assert (m.row, m.breaches, m.data_classes) == expected[n]
        keys = index.phone_keys(nums)
        try:
            rows = index.rows_of(nums)
        except IndexCorrupted as exc:  # a bucket out of range: the whole batch says so
            assert exc.file == DIRECTORY, exc
            for threads in (1, 4):
                with pytest.raises(IndexCorrupted):
                    index.lookup_keys(keys, threads=threads)
            return
        assert np.array_equal(index.lookup_keys(keys), rows)
        assert np.array_equal(index.lookup_keys(keys, threads=4), rows)
        assert ((rows >= -1) & (rows < len(index))).all()
        if exact_or_absent:
            want = np.array([expected[n][0] for n in nums])
            assert ((rows == want) | (rows == -1)).all()
        rng = np.random.default_rng(0)
        noise = rng.integers(0, 2**64 - 1, 50_000, dtype=np.uint64, endpoint=True)
        try:
            got = index.lookup_keys(noise, threads=2)
        except IndexCorrupted as exc:
            assert exc.file == DIRECTORY, exc
            return
        assert ((got >= -1) & (got < len(index))).all()


# ---- binary files: sizes -------------------------------------------------------------------

@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("size", ["0", "10", "63", "64", "minus-1", "minus-item"])
@pytest.mark.parametrize("consistent", [False, True], ids=["plain", "manifest-agrees"])
def test_truncated_binary_file(idx, name, size, consistent):
    path = idx / name
    full = path.stat().st_size
    width = header(path)[2]
    new = {"0": 0, "10": 10, "63": 63, "64": 64, "minus-1": full - 1, "minus-item": full - width}[size]
    truncate(path, new)
    if consistent:
        rehash(idx, name)
    open_fails(idx, name)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("extra", [1, 8, 4096])
@pytest.mark.parametrize("consistent", [False, True], ids=["plain", "manifest-agrees"])
def test_garbage_appended_to_binary_file(idx, name, extra, consistent):
    with open(idx / name, "ab") as f:
        f.write(os.urandom(extra))
    if consistent:
        rehash(idx, name)
    open_fails(idx, name)


# ---- binary files: headers -------------------------------------------------------------------

@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("offset", range(8))
def test_flipped_magic_byte(idx, name, offset):
    flip(idx / name, offset, 0x01)
    open_fails(idx, name)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("version", [0, 1, 3, 255, 0xFFFFFFFF])
def test_changed_version_field(idx, name, version):
    poke(idx / name, 8, struct.pack("<I", version))
    open_fails(idx, name)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("width", [0, 1, 3, 16, 0xFFFFFFFF])
def test_changed_width_field(idx, name, width):
    poke(idx / name, 12, struct.pack("<I", width))
    open_fails(idx, name)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("delta", [1, -1, 2**40, 2**63])
def test_changed_count_field(idx, name, delta):
    count = header(idx / name)[3]
    poke(idx / name, 16, struct.pack("<Q", (count + delta) % 2**64))
    open_fails(idx, name)


def test_reinterpreted_width_and_count(idx):
    """keys.u64 claiming 4-byte items, twice as many: sizes agree, the meaning does not."""
    count = header(idx / KEYS)[3]
    poke(idx / KEYS, 12, struct.pack("<IQ", 4, count * 2))
    open_fails(idx, KEYS)


@pytest.mark.parametrize("bits", [0, 33, "plus-1", "minus-1", 0xFFFFFFFF])
def test_changed_directory_bits(idx, bits):
    cur = header(idx / DIRECTORY)[4]
    value = {"plus-1": cur + 1, "minus-1": cur - 1}.get(bits, bits)
    poke(idx / DIRECTORY, 24, struct.pack("<Q", value))
    open_fails(idx, DIRECTORY)


@pytest.mark.parametrize("delta", [1, -1, 2**31])
def test_changed_profile_count(idx, delta):
    cur = header(idx / PROFILES)[4]
    poke(idx / PROFILES, 24, struct.pack("<Q", (cur + delta) % 2**64))
    open_fails(idx, PROFILES)


@pytest.mark.parametrize("name", BINARY)
def test_every_header_byte(pristine, tmp_path, name):
    """Each of the 64 header bytes flipped: open or verify must name the file; no other error."""
    folder = tmp_path / "idx"
    shutil.copytree(pristine[0], folder)
    path = folder / name
    original = path.read_bytes()
    structural = set(range(32))  # magic, version, width, count, parameter
    if name == KEYS:
        structural -= set(range(24, 32))  # keys.u64 has no parameter
    for offset in range(HEADER):
        for mask in (0x01, 0x80):
            flip(path, offset, mask)
            try:
                index = bi.open(folder, key=KEY)
            except IndexCorrupted as exc:
                assert exc.file == name, (offset, exc)
            else:
                assert offset not in structural, f"byte {offset} of {name} flipped: not caught on open"
                with pytest.raises(IndexCorrupted) as info:
                    index.verify()
                assert info.value.file == name, (offset, info.value)
                index.close()
            path.write_bytes(original)
    bi.open(folder, key=KEY).verify()


# ---- binary files: content --------------------------------------------------------------------

def _key_width(folder: Path) -> int:
    return header(folder / KEYS)[2]


def _multi_row_bucket_rows(folder: Path) -> list[int]:
    """Rows that have a successor in their directory bucket."""
    d = _dir_entries(folder)
    return [r for b in range(len(d) - 1) for r in range(int(d[b]), int(d[b + 1]) - 1)]


@pytest.mark.parametrize("row", ["first", "middle", "last"])
@pytest.mark.parametrize("byte", ["low", "middle", "top"])
def test_flipped_key_byte(pristine, idx, row, byte):
    n, w = header(idx / KEYS)[3], _key_width(idx)
    r = {"first": 0, "middle": n // 2, "last": n - 1}[row]
    flip(idx / KEYS, HEADER + w * r + {"low": 0, "middle": w // 2, "top": w - 1}[byte], 0x5A)
    lookups_do_not_crash(idx, pristine[1], exact_or_absent=True)
    verify_fails(idx, KEYS)


@pytest.mark.parametrize("row", ["first", "middle", "last"])
def test_key_out_of_order_with_matching_checksum(pristine, idx, row):
    """A key made equal to its successor, the manifest's checksum updated too: verify's
    structure pass must still catch it."""
    w = _key_width(idx)
    rows = _multi_row_bucket_rows(idx)
    r = {"first": rows[0], "middle": rows[len(rows) // 2], "last": rows[-1]}[row]
    data = (idx / KEYS).read_bytes()
    poke(idx / KEYS, HEADER + w * r, data[HEADER + w * (r + 1):HEADER + w * (r + 2)])
    rehash(idx, KEYS)
    # two rows now hold one key, so its number may get the other row: not exact, but in bounds
    lookups_do_not_crash(idx, pristine[1], exact_or_absent=False)
    assert "increasing" in verify_fails(idx, KEYS).problem


def test_key_with_implied_bits_set_with_matching_checksum(pristine, tmp_path):
    """With 12 directory bits a key keeps 52 bits in 7 bytes: the 4 spare top bits must be 0."""
    folder = tmp_path / "idx"
    bi.build(folder, [(n, "facebook-2021", ["name"]) for n in list(pristine[1])[:500]], key=KEY, dir_bits=12)
    assert _key_width(folder) == 7
    r = len(_multi_row_bucket_rows(folder)) and _multi_row_bucket_rows(folder)[-1] + 1  # a bucket's last row
    flip(folder / KEYS, HEADER + 7 * r + 6, 0x80)
    rehash(folder, KEYS)
    assert "implies" in verify_fails(folder, KEYS).problem


def test_many_key_bytes_scrambled(pristine, idx):
    data = bytearray((idx / KEYS).read_bytes())
    rng = random.Random(9)
    for _ in range(200):
        data[rng.randrange(HEADER, len(data))] ^= rng.randrange(1, 256)
    (idx / KEYS).write_bytes(bytes(data))
    lookups_do_not_crash(idx, pristine[1], exact_or_absent=True)
    verify_fails(idx, KEYS)


def _dir_entries(folder: Path) -> np.ndarray:
    return np.frombuffer((folder / DIRECTORY).read_bytes(), dtype="<u4", offset=HEADER).copy()


@pytest.mark.parametrize("where", ["first", "middle", "last-bucket"])
def test_non_monotonic_directory(pristine, idx, where):
    """An entry that jumps by 2^31: open only checks the ends, so it opens; every lookup that
    reads the bad bucket raises; verify names the directory."""
    d = _dir_entries(idx)
    nb = len(d) - 1
    b = {"first": 1, "middle": nb // 2, "last-bucket": nb - 1}[where]
    flip(idx / DIRECTORY, HEADER + 4 * b + 3, 0x80)
    lookups_do_not_crash(idx, pristine[1], exact_or_absent=True)
    with bi.open(idx, key=KEY) as index:
        bad = [n for n in pristine[1] if index.phone_keys([n])[0] >> np.uint64(64 - index.manifest["dir_bits"])
               in (b - 1, b)]
        for n in bad:
            with pytest.raises(IndexCorrupted) as info:
                index.lookup(n)
            assert info.value.file == DIRECTORY
        assert bad
    verify_fails(idx, DIRECTORY)


def test_last_directory_entry_is_checked_on_open(idx):
    nb = len(_dir_entries(idx)) - 1
    flip(idx / DIRECTORY, HEADER + 4 * nb + 3, 0x80)
    open_fails(idx, DIRECTORY)


@pytest.mark.parametrize("change", ["start", "end-high", "end-low"])
def test_directory_bounds(idx, change):
    d = _dir_entries(idx)
    nb = len(d) - 1
    if change == "start":
        poke(idx / DIRECTORY, HEADER, struct.pack("<I", 1))
    elif change == "end-high":
        poke(idx / DIRECTORY, HEADER + 4 * nb, struct.pack("<I", int(d[nb]) + 1))
    else:
        poke(idx / DIRECTORY, HEADER + 4 * nb, struct.pack("<I", int(d[nb]) - 1))
    open_fails(idx, DIRECTORY)


def test_directory_decrease_by_one(pristine, idx):
    d = _dir_entries(idx)
    b = next(b for b in range(1, len(d) - 1) if d[b] < d[b + 1])
    poke(idx / DIRECTORY, HEADER + 4 * b, struct.pack("<I", int(d[b + 1]) + 1))
    rehash(idx, DIRECTORY)
    lookups_do_not_crash(idx, pristine[1], exact_or_absent=True)
    assert "decreases" in verify_fails(idx, DIRECTORY).problem


@pytest.mark.parametrize("consistent", [False, True], ids=["plain", "manifest-agrees"])
def test_monotonic_but_wrong_directory(pristine, idx, consistent):
    """Still monotonic, so open accepts it; lookups stay in bounds; verify catches it."""
    d = _dir_entries(idx)
    b = next(b for b in range(1, len(d) - 1) if d[b - 1] < d[b])
    poke(idx / DIRECTORY, HEADER + 4 * b, struct.pack("<I", int(d[b]) - 1))
    if consistent:
        rehash(idx, DIRECTORY)
    lookups_do_not_crash(idx, pristine[1], exact_or_absent=True)
    verify_fails(idx, DIRECTORY, KEYS)


def _profile_width(folder: Path) -> int:
    return header(folder / PROFILES)[2]


@pytest.mark.parametrize("row", [0, 1000, 1999])
def test_flipped_profile_byte_in_range(pristine, idx, row):
    """The low bit of a profile id: another valid profile. Caught by verify."""
    flip(idx / PROFILES, HEADER + _profile_width(idx) * row, 0x01)
    lookups_do_not_crash(idx, pristine[1], exact_or_absent=False)
    verify_fails(idx, PROFILES)


@pytest.mark.parametrize("row", [0, 1000, 1999])
def test_flipped_profile_byte_out_of_range(pristine, idx, row):
    """The top byte of a profile id: no such profile. The lookup must say so, not crash."""
    w = _profile_width(idx)
    flip(idx / PROFILES, HEADER + w * row + w - 1, 0x80)
    number = next(n for n, (r, _, _) in pristine[1].items() if r == row)
    with bi.open(idx, key=KEY) as index:
        with pytest.raises(IndexCorrupted) as info:
            index.lookup(number)
        assert info.value.file == PROFILES
    lookups_do_not_crash(idx, pristine[1], exact_or_absent=False)
    verify_fails(idx, PROFILES)


def test_out_of_range_profile_with_matching_checksum(idx):
    """verify()'s structure pass finds the bad profile id: it must blame profiles.bin."""
    w = _profile_width(idx)
    flip(idx / PROFILES, HEADER + w * 7 + w - 1, 0x80)
    rehash(idx, PROFILES)
    verify_fails(idx, PROFILES)


def test_in_range_profile_change_with_matching_checksum(idx):
    """A valid but different profile id: only the bitmaps can tell; verify must."""
    flip(idx / PROFILES, HEADER + _profile_width(idx) * 7, 0x01)
    rehash(idx, PROFILES)
    bitmaps = [k for k in manifest(idx)["files"] if k.startswith("bitmaps/")]
    verify_fails(idx, PROFILES, *bitmaps)


# ---- bitmaps ------------------------------------------------------------------------------------

def _bitmap_query(index: bi.Index, rel: str):
    kind, ident = rel.removeprefix("bitmaps/").removesuffix(".roaring").split("-")
    if kind == "country":
        return index.rows_in(country=ident)
    names = index.breaches if kind == "breach" else index.data_classes
    name = names[int(ident)]
    return index.rows_in(breach=name) if kind == "breach" else index.rows_in(data_class=name)


@pytest.mark.parametrize("which", [0, 3, -1])
@pytest.mark.parametrize("where", ["cookie", "middle", "last"])
def test_flipped_bitmap_byte(pristine, idx, which, where):
    rel = pristine[2][which]
    size = (idx / rel).stat().st_size
    flip(idx / rel, {"cookie": 0, "middle": size // 2, "last": size - 1}[where], 0x10)
    with bi.open(idx, key=KEY) as index:
        try:
            _bitmap_query(index, rel)
        except IndexCorrupted as exc:
            assert exc.file == rel
    verify_fails(idx, rel)


def test_every_bitmap_byte(pristine, idx):
    """rows_in on a bitmap with any one byte flipped: a bitmap or IndexCorrupted, nothing else."""
    rel = pristine[2][-1]
    path = idx / rel
    original = path.read_bytes()
    index = bi.open(idx, key=KEY)
    for offset in range(len(original)):
        data = bytearray(original)
        data[offset] ^= 0xFF
        path.write_bytes(bytes(data))
        try:
            got = _bitmap_query(index, rel)
        except IndexCorrupted as exc:
            assert exc.file == rel
        else:
            assert all(0 <= r < len(index) for r in got)
    index.close()


@pytest.mark.parametrize("which", [0, -1])
@pytest.mark.parametrize("size", ["0", "4", "minus-1", "plus-garbage"])
@pytest.mark.parametrize("consistent", [False, True], ids=["plain", "manifest-agrees"])
def test_resized_bitmap(pristine, idx, which, size, consistent):
    if consistent and size == "plus-garbage":
        pytest.skip("trailing bytes after a valid Roaring bitmap, with the manifest agreeing, "
                    "leave its meaning intact")
    rel = pristine[2][which]
    path = idx / rel
    full = path.stat().st_size
    if size == "plus-garbage":
        with open(path, "ab") as f:
            f.write(b"\x00garbage\xff" * 3)
    else:
        truncate(path, {"0": 0, "4": 4, "minus-1": full - 1}[size])
    if consistent:
        rehash(idx, rel)
    with bi.open(idx, key=KEY) as index:
        with pytest.raises(IndexCorrupted) as info:
            _bitmap_query(index, rel)
        assert info.value.file == rel
    verify_fails(idx, rel)


@pytest.mark.parametrize("change", ["one row more", "one row less", "a row moved"])
@pytest.mark.parametrize("chunk_rows", [1 << 24, 7, 1000])
def test_bitmap_that_lies_consistently(pristine, idx, monkeypatch, change, chunk_rows):
    """A well-formed bitmap that says one thing the profile column does not, with the manifest
    rehashed to agree: only verify's comparison can catch it, whatever its chunk size."""
    from pyroaring import BitMap

    from breachindex.index import reader as index_module

    monkeypatch.setattr(index_module, "_VERIFY_CHUNK_ROWS", chunk_rows)
    rel = next(r for r in pristine[2] if r.startswith("bitmaps/class-"))
    path = idx / rel
    rows = BitMap.deserialize(path.read_bytes())
    total = len(pristine[1]) - 1
    absent = next(r for r in range(total // 2, total) if r not in rows)  # past the first chunks
    present = max(rows)
    if change == "one row more":
        rows.add(absent)
    elif change == "one row less":
        rows.remove(present)
    else:
        rows.remove(present)
        rows.add(absent)
    path.write_bytes(rows.serialize())
    rehash(idx, rel)
    verify_fails(idx, rel)
    # and the untouched copy verifies at the same chunk size
    bi.open(pristine[0], key=KEY).verify()


# ---- missing files --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", BINARY)
def test_missing_binary_file(idx, name):
    (idx / name).unlink()
    open_fails(idx, name)


def test_missing_manifest(idx):
    (idx / MANIFEST).unlink()
    open_fails(idx, MANIFEST)


def test_missing_folder(tmp_path):
    open_fails(tmp_path / "nothing-here", ".")


@pytest.mark.parametrize("which", [0, 3, -1])
def test_missing_bitmap(pristine, idx, which):
    rel = pristine[2][which]
    (idx / rel).unlink()
    with bi.open(idx, key=KEY) as index:
        with pytest.raises(IndexCorrupted) as info:
            _bitmap_query(index, rel)
        assert info.value.file == rel
    verify_fails(idx, rel)


def test_missing_bitmap_folder(pristine, idx):
    shutil.rmtree(idx / "bitmaps")
    verify_fails(idx, *pristine[2])


@pytest.mark.parametrize("name", BINARY)
def test_binary_file_replaced_by_a_folder(idx, name):
    (idx / name).unlink()
    (idx / name).mkdir()
    open_fails(idx, name)


def test_manifest_replaced_by_a_folder(idx):
    (idx / MANIFEST).unlink()
    (idx / MANIFEST).mkdir()
    open_fails(idx, MANIFEST)


def test_bitmap_replaced_by_a_folder(pristine, idx):
    rel = pristine[2][0]
    (idx / rel).unlink()
    (idx / rel).mkdir()
    with bi.open(idx, key=KEY) as index:
        with pytest.raises(IndexCorrupted) as info:
            _bitmap_query(index, rel)
        assert info.value.file == rel
    verify_fails(idx, rel)


# ---- the manifest ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"{", b"\xff\xfe\x00garbage", b"[]", b'"breachindex"', b"null", b"42",
     b"[" * 100_000, b'{"format": "breachindex", "format_version": 1}'],
    ids=["empty", "text", "open-brace", "binary", "list", "string", "null", "number", "deep",
         "fields-missing"],
)
def test_manifest_not_a_manifest(idx, content):
    (idx / MANIFEST).write_bytes(content)
    open_fails(idx, MANIFEST)


def test_manifest_truncated(idx):
    raw = (idx / MANIFEST).read_bytes()
    (idx / MANIFEST).write_bytes(raw[: len(raw) // 2])
    open_fails(idx, MANIFEST)


def test_manifest_garbage_appended(idx):
    with open(idx / MANIFEST, "ab") as f:
        f.write(b"\x00\x01garbage")
    open_fails(idx, MANIFEST)


@pytest.mark.parametrize("version", [0, 1, 3, 99, "2", None, [2], "missing"])
def test_manifest_wrong_format_version(idx, version):
    m = manifest(idx)
    if version == "missing":
        del m["format_version"]
    else:
        m["format_version"] = version
    write_manifest(idx, m)
    open_fails(idx, MANIFEST)


@pytest.mark.parametrize("fmt_name", ["breachindex2", "", None])
def test_manifest_wrong_format_name(idx, fmt_name):
    m = manifest(idx)
    m["format"] = fmt_name
    write_manifest(idx, m)
    open_fails(idx, MANIFEST)


@pytest.mark.parametrize("rows", ["plus-1", "minus-1", 0, -5, 2**40, "2000", 2000.0, True, None])
def test_manifest_rows_changed(idx, rows):
    m = manifest(idx)
    if rows == "plus-1":
        m["rows"] += 1
    elif rows == "minus-1":
        m["rows"] -= 1
    else:
        m["rows"] = rows
    write_manifest(idx, m)
    open_fails(idx, MANIFEST, KEYS)


@pytest.mark.parametrize("field", ["key_tweak", "dir_bits", "breaches", "data_classes", "profiles", "files"])
@pytest.mark.parametrize("value", ["missing", "wrong-type"])
def test_manifest_field_damaged(idx, field, value):
    m = manifest(idx)
    if value == "missing":
        del m[field]
    else:
        m[field] = "oops" if not isinstance(m[field], str) else 12
    write_manifest(idx, m)
    open_fails(idx, MANIFEST, DIRECTORY)


@pytest.mark.parametrize("dir_bits", ["plus-1", 0, 40])
def test_manifest_dir_bits_changed(idx, dir_bits):
    m = manifest(idx)
    m["dir_bits"] = m["dir_bits"] + 1 if dir_bits == "plus-1" else dir_bits
    write_manifest(idx, m)
    open_fails(idx, MANIFEST, DIRECTORY)


def test_manifest_profile_table_shortened(idx):
    m = manifest(idx)
    m["profiles"] = m["profiles"][:-1]
    write_manifest(idx, m)
    open_fails(idx, MANIFEST, PROFILES)


def test_manifest_profile_names_a_missing_breach(idx):
    m = manifest(idx)
    m["profiles"][0][0].append(len(m["breaches"]))
    write_manifest(idx, m)
    open_fails(idx, MANIFEST)


@pytest.mark.parametrize("name", BINARY)
def test_manifest_size_of_a_file_changed(idx, name):
    m = manifest(idx)
    m["files"][name]["bytes"] += 8
    write_manifest(idx, m)
    open_fails(idx, name, MANIFEST)


@pytest.mark.parametrize("name", BINARY)
def test_manifest_file_entry_missing(idx, name):
    m = manifest(idx)
    del m["files"][name]
    write_manifest(idx, m)
    open_fails(idx, name, MANIFEST)


@pytest.mark.parametrize("name", BINARY + ["bitmap"])
def test_manifest_checksum_changed(pristine, idx, name):
    rel = pristine[2][1] if name == "bitmap" else name
    m = manifest(idx)
    m["files"][rel]["xxh3_64"] = "0" * 16
    write_manifest(idx, m)
    verify_fails(idx, rel)


@pytest.mark.parametrize("path", ["../keys.bin", "/etc/passwd"])
def test_manifest_file_entry_outside_the_folder(idx, path):
    m = manifest(idx)
    m["files"][path] = {"bytes": 1, "xxh3_64": "0" * 16}
    write_manifest(idx, m)
    open_fails(idx, MANIFEST)


def test_manifest_bitmap_row_count_changed(pristine, idx):
    rel = pristine[2][0]
    m = manifest(idx)
    m["breaches"][0]["rows"] += 1
    write_manifest(idx, m)
    with bi.open(idx, key=KEY) as index:
        with pytest.raises(IndexCorrupted) as info:
            index.rows_in(breach=index.breaches[0])
        assert info.value.file == rel
    verify_fails(idx, rel)


# ---- keys ----------------------------------------------------------------------------------------------

def test_wrong_key(idx):
    for other in (Key.generate(), b"\x00" * 32, Key(b"\x01" * 16)):
        with pytest.raises(WrongKey):
            bi.open(idx, key=other)
    bi.open(idx, key=KEY).verify()


def test_manifest_fingerprint_changed(idx):
    m = manifest(idx)
    m["key_fingerprint"] = Key.generate().fingerprint
    write_manifest(idx, m)
    with pytest.raises(WrongKey):
        bi.open(idx, key=KEY)


def test_pristine_copy_is_healthy(pristine, idx):
    """The control case: an undamaged copy opens, verifies and answers."""
    with bi.open(idx, key=KEY) as index:
        index.verify()
    lookups_do_not_crash(idx, pristine[1], exact_or_absent=True)
