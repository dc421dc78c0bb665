"""Keys of the vault on their own: Argon2id parameters and their bounds, the passphrase policy,
recovery codes, and a wrapped private key that opens only for its secret, participant, slot,
key version and public key."""
from __future__ import annotations

import unicodedata
from dataclasses import replace

import pytest
from argon2.low_level import Type, hash_secret_raw
from nacl.public import PrivateKey

from breachindex.errors import VaultCorrupted, WeakPassphrase, WrongRecoveryCode
from breachindex.vault import KDF_NAME, RFC9106_LOW_MEMORY, KdfParams, PassphrasePolicy
from breachindex.vault.kdf import derive_key
from breachindex.vault.keys import new_key_pair, unwrap_private_key, wrap_private_key
from breachindex.vault.passphrases import encode_passphrase, new_recovery_code, parse_recovery_code

FAST = KdfParams(time_cost=1, memory_kib=8, parallelism=1)
PID = "a" * 32


def test_the_default_is_rfc_9106s_second_recommendation():
    assert (RFC9106_LOW_MEMORY.time_cost, RFC9106_LOW_MEMORY.parallelism, RFC9106_LOW_MEMORY.memory_kib,
            RFC9106_LOW_MEMORY.salt_bytes) == (3, 4, 64 * 1024, 16)
    assert KdfParams() == RFC9106_LOW_MEMORY and KDF_NAME == "argon2id-v19"


def test_derive_key_is_argon2id_with_those_parameters():
    salt = bytes(range(16))
    expected = hash_secret_raw(b"secret", salt, time_cost=1, memory_cost=8, parallelism=1, hash_len=32, type=Type.ID)
    assert derive_key(b"secret", salt, FAST) == expected
    assert derive_key(b"secret", salt, replace(FAST, time_cost=2)) != expected
    with pytest.raises(ValueError):
        derive_key(b"secret", salt[:15], FAST)


@pytest.mark.parametrize("bad", [dict(time_cost=0), dict(time_cost=65), dict(parallelism=0), dict(memory_kib=7),
                                 dict(parallelism=4, memory_kib=31), dict(memory_kib=4 * 1024 * 1024 + 1),
                                 dict(salt_bytes=15), dict(time_cost=True), dict(memory_kib=1.5)])
def test_parameters_out_of_bounds_are_refused(bad):
    with pytest.raises(ValueError):
        KdfParams(**{**dict(time_cost=1, memory_kib=64, parallelism=1), **bad})


def test_stored_parameters_are_outside_data():
    assert KdfParams.stored(KDF_NAME, 3, 65536, 4, bytes(16)) == RFC9106_LOW_MEMORY
    for args in [("argon2i-v19", 3, 65536, 4, bytes(16)), (KDF_NAME, 3, 2**40, 4, bytes(16)),
                 (KDF_NAME, 3, 65536, 4, bytes(8)), (KDF_NAME, "x", 65536, 4, bytes(16))]:
        with pytest.raises(VaultCorrupted) as caught:
            KdfParams.stored(*args)  # type: ignore[arg-type]
        assert caught.value.reason == "bad_kdf_params"


# ---- passphrases and recovery codes ------------------------------------------------------------------------

def test_the_passphrase_policy():
    policy = PassphrasePolicy()
    assert policy.check("correct horse battery") == b"correct horse battery"
    for bad, reason in [("short", "too_short"), ("x" * 11, "too_short"), (" " * 20, "too_short"),
                        ("x" * 1025, "too_long"), (b"bytes are not text", "not_text"), (None, "not_text")]:
        with pytest.raises(WeakPassphrase) as caught:
            policy.check(bad)
        assert caught.value.reason == reason and isinstance(caught.value, ValueError)
        assert str(bad) not in str(caught.value) or reason == "not_text"
    assert PassphrasePolicy(min_length=20).check("x" * 20)
    with pytest.raises(ValueError):
        PassphrasePolicy(min_length=7)
    with pytest.raises(ValueError):
        PassphrasePolicy(min_length=30, max_length=20)


def test_passphrases_are_normalized_nfkc():
    composed, decomposed = "caf\u00e9 au lait, s'il vous pla\u00eet", unicodedata.normalize("NFD", "café au lait, "
                                                                                                  "s'il vous plaît")
    assert composed != decomposed
    assert PassphrasePolicy().check(composed) == PassphrasePolicy().check(decomposed) == encode_passphrase(decomposed)
    assert PassphrasePolicy().check("ｆｕｌｌｗｉｄｔｈ ｐａｓｓ") == b"fullwidth pass"
    assert encode_passphrase("x" * 5000) is None and encode_passphrase(42) is None


def test_recovery_codes_are_150_random_bits_in_six_groups():
    codes = {new_recovery_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        groups = code.split("-")
        assert len(groups) == 6 and all(len(g) == 5 for g in groups)
        assert set(code) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ-")
        assert parse_recovery_code(code) == code.replace("-", "").encode("ascii")


def test_a_recovery_code_as_typed_is_forgiven_case_spaces_and_look_alikes():
    code = "7KQ2M-0XW41-ABCDE-FGHJK-MNPQR-STVWX"
    canonical = parse_recovery_code(code)
    assert parse_recovery_code(code.lower()) == canonical
    assert parse_recovery_code(code.replace("-", " ")) == canonical
    assert parse_recovery_code(code.replace("-", "")) == canonical
    assert parse_recovery_code(code.replace("0", "O").replace("1", "l")) == canonical
    for bad in ["", code[:-1], code + "Z", code.replace("K", "U"), None, "x" * 200]:
        with pytest.raises(WrongRecoveryCode):
            parse_recovery_code(bad)


# ---- wrapping --------------------------------------------------------------------------------------------

def test_a_wrap_opens_only_for_its_secret_participant_slot_version_and_key():
    private_key, public_key = new_key_pair()
    wrap = wrap_private_key(private_key, b"secret", participant=PID, slot="passphrase", key_version=1,
                            public_key=public_key, params=FAST)
    assert len(wrap.salt) == 16 and len(wrap.nonce) == 24 and len(wrap.wrapped) == 48
    assert b"secret" not in repr(wrap).encode() and wrap.wrapped.hex() not in repr(wrap)
    opened = unwrap_private_key(wrap, b"secret", participant=PID, key_version=1, public_key=public_key)
    assert opened is not None and bytes(opened) == bytes(private_key)
    assert unwrap_private_key(wrap, b"Secret", participant=PID, key_version=1, public_key=public_key) is None
    assert unwrap_private_key(wrap, b"secret", participant="b" * 32, key_version=1, public_key=public_key) is None
    assert unwrap_private_key(wrap, b"secret", participant=PID, key_version=2, public_key=public_key) is None
    other = bytes(PrivateKey.generate().public_key)
    assert unwrap_private_key(wrap, b"secret", participant=PID, key_version=1, public_key=other) is None
    assert unwrap_private_key(replace(wrap, slot="recovery"), b"secret", participant=PID, key_version=1,
                              public_key=public_key) is None
    assert unwrap_private_key(replace(wrap, params=replace(FAST, time_cost=2)), b"secret", participant=PID,
                              key_version=1, public_key=public_key) is None
    flipped = bytearray(wrap.wrapped)
    flipped[3] ^= 1
    assert unwrap_private_key(replace(wrap, wrapped=bytes(flipped)), b"secret", participant=PID, key_version=1,
                              public_key=public_key) is None
    assert unwrap_private_key(replace(wrap, wrapped=wrap.wrapped[:-1]), b"secret", participant=PID, key_version=1,
                              public_key=public_key) is None


def test_two_wraps_of_one_key_share_nothing_but_the_key():
    private_key, public_key = new_key_pair()
    a = wrap_private_key(private_key, b"secret", participant=PID, slot="passphrase", key_version=1,
                         public_key=public_key, params=FAST)
    b = wrap_private_key(private_key, b"secret", participant=PID, slot="passphrase", key_version=1,
                         public_key=public_key, params=FAST)
    assert a.salt != b.salt and a.nonce != b.nonce and a.wrapped != b.wrapped
