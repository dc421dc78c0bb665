"""What an index folder must never contain: phone numbers (in any spelling or packing), the
names that travelled with them in the caller's data, or the secret key."""
from __future__ import annotations

import hashlib
import json
import random
import struct

import phonenumbers
import pytest
import xxhash

import breachindex as bi
from breachindex import InvalidKey, InvalidPhoneNumber, Key
from breachindex.synth.synthetic import synthetic_numbers

# A fixed secret: the index files are then the same on every run, so a chance match of a short
# packing (a 4-byte integer) against random key bytes can never make this test flaky.
SECRET = bytes(range(7, 7 + 32))
KEY = Key(SECRET)

PERSON_NAMES = [
    "Jan de Vries", "Anna Müller", "José García", "Fatima El Amrani", "Wei Zhang",
    "Ólafur Þórðarson", "Mohammed Al-Sayed", "Emma Janssen", "Lukas Schmidt", "Chloé Dubois",
    "Sipho Ndlovu", "Ayşe Yılmaz", "Priya Sharma", "John Smith", "Maria Rossi",
]


def _numbers(count: int, seed: int) -> list[str]:
    return synthetic_numbers(count, seed=seed)


FIXED = ["31612345678", "4915112345678", "12025550123", "447400123456", "33612345678"]
NUMBERS = FIXED + [n for n in _numbers(600, seed=404) if n not in FIXED]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The caller's data (number, name) pairs; the index gets only the data class 'name'."""
    rng = random.Random(1)
    people = [(n, rng.choice(PERSON_NAMES)) for n in NUMBERS]
    records = [(n, "facebook-2021", ["name"]) for n, _name in people]
    # the same numbers in other spellings, as a leak would have them
    records += [("+" + n, "scrape-2019", ["name"]) for n in NUMBERS[::3]]
    records += [(_international(n), "scrape-2019", ["name"]) for n in NUMBERS[1::3]]
    folder = tmp_path_factory.mktemp("privacy") / "idx"
    report = bi.build(folder, records, key=KEY)
    assert report.rows == len(NUMBERS)
    files = {p.relative_to(folder).as_posix(): p.read_bytes()
             for p in sorted(folder.rglob("*")) if p.is_file()}
    assert "manifest.json" in files and len(files) >= 5
    return folder, files, people


def _international(n: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse("+" + n),
                                      phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _text_forms(n: str) -> set[str]:
    parsed = phonenumbers.parse("+" + n)
    nsn = phonenumbers.national_significant_number(parsed)
    fmt = phonenumbers.PhoneNumberFormat
    return {
        "+" + n,
        n,
        nsn,
        "00" + n,
        phonenumbers.format_number(parsed, fmt.INTERNATIONAL),
        phonenumbers.format_number(parsed, fmt.NATIONAL),
        phonenumbers.format_number(parsed, fmt.RFC3966),
    }


def _encodings(text: str) -> list[bytes]:
    return [text.encode("utf-8"), text.encode("utf-16-le"), text.encode("utf-16-be"),
            text.encode("utf-32-le")]


def _packings(n: str) -> list[bytes]:
    nsn = phonenumbers.national_significant_number(phonenumbers.parse("+" + n))
    out = []
    for value in (int(n), int(nsn)):
        out += [struct.pack("<Q", value), struct.pack(">Q", value)]
        if value < 2**32:
            out += [struct.pack("<I", value), struct.pack(">I", value)]
    # an unkeyed hash of the number would be as good as the number (they can be enumerated)
    for text in ("+" + n, n):
        raw = text.encode()
        for digest in (hashlib.md5(raw).digest(), hashlib.sha1(raw).digest(),
                       hashlib.sha256(raw).digest(), hashlib.blake2b(raw).digest()):
            out.append(digest[:8])
        for h in (xxhash.xxh64_intdigest(raw), xxhash.xxh3_64_intdigest(raw)):
            out += [struct.pack("<Q", h), struct.pack(">Q", h)]
    return out


def test_no_phone_number_in_any_file(built):
    _folder, files, _people = built
    for n in NUMBERS:
        needles = [e for t in _text_forms(n) for e in _encodings(t)] + _packings(n)
        for rel, data in files.items():
            for needle in needles:
                assert needle not in data, f"a number's form ({len(needle)} bytes) is in {rel}"


def test_no_phone_number_in_file_names(built):
    folder, files, _ = built
    names = " ".join(files) + " " + folder.name
    for n in NUMBERS:
        nsn = phonenumbers.national_significant_number(phonenumbers.parse("+" + n))
        assert n not in names and nsn not in names


def test_no_name_in_any_file(built):
    _folder, files, people = built
    assert {name for _, name in people} == set(PERSON_NAMES)
    for name in PERSON_NAMES:
        needles = set()
        for variant in (name, name.lower(), name.upper(), *name.split()):
            if len(variant) >= 4:
                needles.update(_encodings(variant))
        for rel, data in files.items():
            for needle in needles:
                assert needle not in data.lower() and needle not in data, f"a name is in {rel}"


def test_no_secret_in_any_file(built):
    _folder, files, _ = built
    needles = [SECRET, SECRET.hex().encode(), SECRET.hex().upper().encode(),
               SECRET.hex().encode("utf-16-le"),
               KEY.siphash_key(0), KEY.check_key(0),
               KEY.siphash_key(0).hex().encode(), KEY.check_key(0).hex().encode()]
    import base64

    needles += [base64.b64encode(SECRET), base64.b64encode(SECRET).rstrip(b"=")]
    for rel, data in files.items():
        for needle in needles:
            assert needle not in data, f"key material is in {rel}"
    # no 8-byte window of the secret either
    for rel, data in files.items():
        for i in range(len(SECRET) - 7):
            assert SECRET[i:i + 8] not in data, f"part of the secret is in {rel}"


def test_manifest_has_fingerprint_not_secret(built):
    folder, files, _ = built
    m = json.loads(files["manifest.json"])
    assert m["key_fingerprint"] == KEY.fingerprint
    text = files["manifest.json"].decode()
    assert SECRET.hex() not in text and SECRET.hex().upper() not in text
    assert KEY.fingerprint != SECRET.hex()[: len(KEY.fingerprint)]


def test_keys_differ_under_another_key(built, tmp_path):
    """Nothing in the key file is a function of the numbers alone."""
    _folder, files, _ = built
    other = tmp_path / "other"
    bi.build(other, [(n, "facebook-2021", ["name"]) for n in NUMBERS], key=Key.generate())
    mine, theirs = files["keys.bin"], (other / "keys.bin").read_bytes()
    w = mine[12]  # the header's item width: both indexes have the same row count, so the same
    assert w == theirs[12] and 4 <= w <= 8
    mine, theirs = mine[64:-8], theirs[64:-8]  # without header and padding
    a = {mine[i:i + w] for i in range(0, len(mine), w)}
    b = {theirs[i:i + w] for i in range(0, len(theirs), w)}
    assert len(a) == len(b) == len(NUMBERS)
    assert not a & b


def test_key_save_into_index_folder_is_refused(built):
    folder, _, _ = built
    target = folder / "secret.key"
    with pytest.raises(InvalidKey):
        KEY.save(target)
    assert not target.exists()
    with pytest.raises(InvalidKey):
        KEY.save(target, overwrite=True)
    assert not target.exists()


def test_key_save_into_an_index_subfolder_is_refused(built):
    folder, _, _ = built
    target = folder / "bitmaps" / "secret.key"
    try:
        with pytest.raises(InvalidKey):
            KEY.save(target)
    finally:
        leaked = target.exists()
        if leaked:
            target.unlink()
    assert not leaked


def test_key_save_relative_path_inside_index_is_refused(built, monkeypatch):
    folder, _, _ = built
    monkeypatch.chdir(folder)
    with pytest.raises(InvalidKey):
        KEY.save("secret.key")
    assert not (folder / "secret.key").exists()


def test_errors_and_reprs_never_show_a_number(built):
    folder, _, _ = built
    index = bi.open(folder, key=KEY)
    texts = [repr(index), str(index), repr(KEY), str(KEY)]
    for n in NUMBERS[:50]:
        m = index.lookup(n)
        texts.append(repr(m))
        for bad in (n + "9999999", n[:4], "0" + n):
            try:
                index.lookup(bad)
            except InvalidPhoneNumber as exc:
                texts.append(str(exc))
                texts.append(repr(exc))
        try:
            index.phone_keys([NUMBERS[0], n + "123456789"])
        except InvalidPhoneNumber as exc:
            texts.append(str(exc))
    report = bi.build(folder.parent / "again", [(n, "b", ["name"]) for n in NUMBERS[:50]] + [("abc", "b", [])],
                      key=KEY)
    texts += [str(report), repr(report)]
    blob = "\n".join(texts)
    for n in NUMBERS[:50]:
        nsn = phonenumbers.national_significant_number(phonenumbers.parse("+" + n))
        assert n not in blob and nsn not in blob
    index.close()
