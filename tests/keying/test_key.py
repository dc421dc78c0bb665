"""The secret key: generation, the key file, fingerprints and keyed phone numbers."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import breachindex as bi
from breachindex import InvalidKey, InvalidPhoneNumber, Key, WrongKey

NUMBERS = ["31612345678", "+4915112345678", "+1 202 555 0123", "447400123456", "33612345678"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- generation -----------------------------------------------------------------------------

def test_generate_length_and_uniqueness(tmp_path):
    keys = [Key.generate() for _ in range(200)]
    secrets = set()
    for i, k in enumerate(keys):
        path = tmp_path / f"k{i}"
        k.save(path)
        lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
        assert len(lines) == 1
        secret = bytes.fromhex(lines[0])
        assert len(secret) == 32
        secrets.add(secret)
    assert len(secrets) == 200
    assert len({k.fingerprint for k in keys}) == 200
    assert len({k for k in keys}) == 200


@pytest.mark.parametrize("length", [0, 1, 8, 15])
def test_short_secret_is_refused(length):
    with pytest.raises(InvalidKey):
        Key(b"\x01" * length)


@pytest.mark.parametrize("length", [16, 17, 32, 64, 65, 1000])
def test_secret_lengths_accepted(length):
    secret = (bytes(range(256)) * 4)[:length]
    k = Key(secret)
    assert len(k.fingerprint) == 32
    assert k == Key(secret)


def test_long_secrets_are_not_truncated():
    """Two secrets longer than BLAKE2b's 64-byte key that differ only at the end."""
    a = Key(b"\x07" * 100 + b"a")
    b = Key(b"\x07" * 100 + b"b")
    assert a.fingerprint != b.fingerprint
    assert a != b


@pytest.mark.parametrize("secret", ["0123456789abcdef0123", 1234567890123456, None, ["x"] * 16])
def test_secret_must_be_bytes(secret):
    with pytest.raises(InvalidKey):
        Key(secret)  # type: ignore[arg-type]


def test_bytearray_secret():
    raw = bytearray(os.urandom(32))
    k = Key(raw)
    fp = k.fingerprint
    raw[0] ^= 0xFF  # the key keeps its own copy
    assert Key(bytes(raw)).fingerprint != fp
    assert k.fingerprint == fp


# ---- the key file -----------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    k = Key.generate()
    path = tmp_path / "secret.key"
    k.save(path)
    loaded = Key.load(path)
    assert loaded == k
    assert loaded.fingerprint == k.fingerprint
    assert Key.load(str(path)) == k
    assert _mode(path) == 0o600


def test_save_mode_is_0600_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        Key.generate().save(tmp_path / "a.key")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.key") == 0o600


def test_save_refuses_overwrite(tmp_path):
    path = tmp_path / "secret.key"
    first, second = Key.generate(), Key.generate()
    first.save(path)
    with pytest.raises(InvalidKey):
        second.save(path)
    assert Key.load(path) == first
    second.save(path, overwrite=True)
    assert Key.load(path) == second
    assert _mode(path) == 0o600


def test_overwrite_tightens_an_open_file(tmp_path):
    path = tmp_path / "secret.key"
    path.write_text("old")
    path.chmod(0o644)
    k = Key.generate()
    k.save(path, overwrite=True)
    assert _mode(path) == 0o600
    assert Key.load(path) == k


def test_save_does_not_follow_into_an_existing_file_without_overwrite(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "secret.key"
    link.symlink_to(target)
    with pytest.raises(InvalidKey):
        Key.generate().save(link)
    assert target.read_text() == "keep me"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o666, 0o700 | 0o040, 0o610])
def test_load_refuses_a_file_others_can_access(tmp_path, mode):
    path = tmp_path / "secret.key"
    Key.generate().save(path)
    path.chmod(mode)
    with pytest.raises(InvalidKey):
        Key.load(path)
    with pytest.raises(InvalidKey):
        bi.phone_keys(NUMBERS, key=path)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_load_accepts_a_private_file(tmp_path, mode):
    path = tmp_path / "secret.key"
    k = Key.generate()
    k.save(path)
    path.chmod(mode)
    assert Key.load(path) == k


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"# only a comment\n",
        b"not hex at all\n",
        b"0123456789abcdef0123456789abcdef\nfedcba9876543210fedcba9876543210\n",
        b"0123456789abcdef0123456789abcde\n",  # odd number of digits
        b"00112233445566778899aabbccddee\n",  # 15 bytes: too short
        b"\xff\xfe\x00\x01binary",
        "0123456789abcdef0123456789abcdéf\n".encode(),
    ],
    ids=["empty", "comment-only", "not-hex", "two-secrets", "odd-hex", "short", "binary", "non-ascii"],
)
def test_load_refuses_malformed_files(tmp_path, content):
    path = tmp_path / "secret.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    with pytest.raises(InvalidKey):
        Key.load(path)


def test_load_accepts_hand_written_file(tmp_path):
    secret = bytes(range(16, 48))
    path = tmp_path / "secret.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# my key\n\n  " + secret.hex().upper() + "  \r\n")
    assert Key.load(path) == Key(secret)


def test_load_missing_file_or_folder(tmp_path):
    with pytest.raises(InvalidKey):
        Key.load(tmp_path / "absent.key")
    (tmp_path / "dir.key").mkdir(mode=0o700)
    with pytest.raises(InvalidKey):
        Key.load(tmp_path / "dir.key")


def test_repr_hides_the_secret(tmp_path):
    secret = os.urandom(32)
    k = Key(secret)
    for text in (repr(k), str(k), f"{k}", f"{k!r}"):
        assert secret.hex() not in text
        assert secret.hex().upper() not in text
        assert secret.hex()[:16] not in text
        assert repr(secret) not in text


# ---- key= arguments ------------------------------------------------------------------------------

def test_key_argument_forms(tmp_path):
    secret = os.urandom(32)
    k = Key(secret)
    path = tmp_path / "secret.key"
    k.save(path)
    folder = tmp_path / "idx"
    bi.build(folder, [(n, "b", ["name"]) for n in NUMBERS], key=path)  # built from a Path
    want = bi.phone_keys(NUMBERS, key=k)
    for form in (k, secret, bytearray(secret), str(path), path):
        assert np.array_equal(bi.phone_keys(NUMBERS, key=form), want)
        with bi.open(folder, key=form) as index:
            assert len(index) == len(NUMBERS)
            assert index.lookup(NUMBERS[0]) is not None
    for bad in (12345, None, 1.5, ["k"]):
        with pytest.raises(InvalidKey):
            bi.phone_keys(NUMBERS, key=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidKey):
            bi.open(folder, key=bad)  # type: ignore[arg-type]
    with pytest.raises(WrongKey):
        bi.open(folder, key=Key.generate())


# ---- fingerprints --------------------------------------------------------------------------------

def test_fingerprint_stable_and_distinct(tmp_path):
    k = Key.generate()
    fp = k.fingerprint
    assert isinstance(fp, str) and len(fp) == 32 and int(fp, 16) >= 0
    path = tmp_path / "secret.key"
    k.save(path)
    assert Key.load(path).fingerprint == fp
    assert Key.load(path).fingerprint == fp
    assert k.fingerprint == fp
    assert Key.generate().fingerprint != fp
    # a fingerprint is not the secret nor a plain hash of it
    import hashlib

    secret_hex = path.read_text().splitlines()[-1].strip()
    secret = bytes.fromhex(secret_hex)
    assert fp not in secret_hex
    for h in (hashlib.sha256, hashlib.blake2b, hashlib.md5, hashlib.sha1):
        assert fp not in h(secret).hexdigest()


def test_fingerprint_known_answer():
    """The fingerprint is the index's only link to its key: it must never change silently."""
    assert Key(bytes(range(32))).fingerprint == "dead91a7dff4ea1073dc52641278b53c"


# ---- keyed phone numbers ---------------------------------------------------------------------------

def test_phone_keys_deterministic_and_keyed():
    secret = os.urandom(32)
    a, b = Key(secret), Key.generate()
    ka1 = bi.phone_keys(NUMBERS, key=a)
    ka2 = bi.phone_keys(list(NUMBERS), key=Key(secret))
    kb = bi.phone_keys(NUMBERS, key=b)
    assert ka1.dtype == np.uint64 and ka1.shape == (len(NUMBERS),)
    assert np.array_equal(ka1, ka2)
    assert not np.any(ka1 == kb)
    assert len(set(ka1.tolist())) == len(NUMBERS)
    # tweaks give independent keys
    kt = bi.phone_keys(NUMBERS, key=a, tweak=1)
    assert not np.any(kt == ka1)


def test_phone_keys_same_for_every_spelling():
    k = Key.generate()
    spellings = ["31612345678", "+31612345678", "+31 6 12345678", "tel:+31-6-12345678",
                 " +31 (0)6 1234 5678 "]
    keys = bi.phone_keys(spellings, key=k)
    assert len(set(keys.tolist())) == 1
    national = bi.phone_keys(["06 12345678", "0031612345678"], key=k, region="NL")
    assert set(national.tolist()) == set(keys.tolist())


def _siphash24(key: bytes, data: bytes) -> int:
    """SipHash-2-4 in plain Python (Aumasson & Bernstein), to check the C core against."""
    mask = 2**64 - 1

    def rotl(x: int, b: int) -> int:
        return ((x << b) | (x >> (64 - b))) & mask

    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:16], "little")
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261,
         k1 ^ 0x7465646279746573]

    def rounds(n: int) -> None:
        for _ in range(n):
            v[0] = (v[0] + v[1]) & mask; v[1] = rotl(v[1], 13); v[1] ^= v[0]; v[0] = rotl(v[0], 32)  # noqa: E702
            v[2] = (v[2] + v[3]) & mask; v[3] = rotl(v[3], 16); v[3] ^= v[2]  # noqa: E702
            v[0] = (v[0] + v[3]) & mask; v[3] = rotl(v[3], 21); v[3] ^= v[0]  # noqa: E702
            v[2] = (v[2] + v[1]) & mask; v[1] = rotl(v[1], 17); v[1] ^= v[2]; v[2] = rotl(v[2], 32)  # noqa: E702

    tail = len(data) % 8
    for i in range(0, len(data) - tail, 8):
        m = int.from_bytes(data[i:i + 8], "little")
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    b = (len(data) << 56) & mask | int.from_bytes(data[len(data) - tail:], "little")
    v[3] ^= b
    rounds(2)
    v[0] ^= b
    v[2] ^= 0xFF
    rounds(4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def test_reference_siphash_vector():
    # the paper's test vector: key 00..0f, message 00..0e
    assert _siphash24(bytes(range(16)), bytes(range(15))) == 0xA129CA6149BE45E5


def test_phone_keys_are_siphash_of_the_e164_digits():
    """The on-disk key of a number: SipHash-2-4 of its E.164 digits under the derived key.

    Build and lookup share the C SipHash, so a mistake in it would go unnoticed by every other
    test; this pins it to an independent implementation and to known answers.
    """
    import hashlib

    secret = bytes(range(32))
    k = Key(secret)
    numbers = ["31612345678", "+12025550123", "+4915112345678", "447400123456",
               "+86 138 0013 8000", "+800 1234 5678"]
    for tweak in (0, 1, 7):
        sip_key = hashlib.blake2b(tweak.to_bytes(8, "little"), key=secret, digest_size=16,
                                  person=b"bi.index-key").digest()
        want = [_siphash24(sip_key, bi.normalize(n)[1:].encode()) for n in numbers]
        assert bi.phone_keys(numbers, key=k, tweak=tweak).tolist() == want
    assert bi.phone_keys(["31612345678", "+12025550123"], key=k).tolist() == [
        10198443976647959009, 12042768525915695938]


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=16, max_size=16), st.binary(max_size=40))
def test_c_siphash_matches_reference(sip_key, data):
    from breachindex._core import lib

    assert lib.bi_siphash24(sip_key, data, len(data)) == _siphash24(sip_key, data)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=20))
def test_phone_keys_batch_equals_single(numbers):
    k = Key(b"k" * 16)
    batch = bi.phone_keys(numbers, key=k)
    singles = [int(bi.phone_keys([n], key=k)[0]) for n in numbers]
    assert batch.tolist() == singles


@pytest.mark.parametrize("position", [0, 1, 4])
@pytest.mark.parametrize("bad,reason", [("abc", "not_a_number"), ("123", "too_short"),
                                        ("06 12345678", "missing_region"), ("+999123", "invalid_country_code")])
def test_phone_keys_invalid_number_position(position, bad, reason):
    numbers = list(NUMBERS)
    numbers.insert(position, bad)
    numbers.append("also bad")
    with pytest.raises(InvalidPhoneNumber) as info:
        bi.phone_keys(numbers, key=Key(b"k" * 16))
    assert info.value.position == position
    assert info.value.reason == reason
    assert bad not in str(info.value)


def test_phone_keys_non_text():
    with pytest.raises(InvalidPhoneNumber) as info:
        bi.phone_keys(["31612345678", None], key=Key(b"k" * 16))  # type: ignore[list-item]
    assert info.value.position == 1 and info.value.reason == "not_text"


def test_phone_keys_empty():
    out = bi.phone_keys([], key=Key(b"k" * 16))
    assert out.dtype == np.uint64 and len(out) == 0


# ---- the command line ------------------------------------------------------------------------------

def _cli():
    import breachindex.cli

    return breachindex.cli


def test_cli_keygen(tmp_path, capsys):
    cli = _cli()
    path = tmp_path / "secret.key"
    assert cli.main(["keygen", str(path)]) == 0
    out = capsys.readouterr()
    k = Key.load(path)
    assert _mode(path) == 0o600
    secret_hex = path.read_text().splitlines()[-1].strip()
    assert secret_hex not in out.out and secret_hex not in out.err
    # refuses to overwrite, with an error exit status, and leaves the key alone
    assert cli.main(["keygen", str(path)]) != 0
    assert Key.load(path) == k
    assert cli.main(["keygen", str(path), "--force"]) == 0
    assert Key.load(path) != k


def test_cli_keygen_refuses_index_folder(tmp_path):
    cli = _cli()
    folder = tmp_path / "idx"
    bi.build(folder, [("31612345678", "b", ["name"])], key=Key.generate())
    assert cli.main(["keygen", str(folder / "secret.key")]) != 0
    assert not (folder / "secret.key").exists()


def test_cli_keygen_subprocess(tmp_path):
    _cli()
    path = tmp_path / "secret.key"
    proc = subprocess.run([sys.executable, "-m", "breachindex", "keygen", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert _mode(path) == 0o600
    assert len(Key.load(path).fingerprint) == 32
