"""C2SP checkpoints and signed notes (``breachindex.campaign.checkpoints``).

The oracle is published test data, so that a standard verifier accepts our notes and we
accept theirs: the test key and signed message of Go's ``golang.org/x/mod/sumdb/note``
(``note_test.go``: our signature must equal theirs byte for byte, Ed25519 being
deterministic), the example of the signed-note spec (c2sp.org/signed-note), a real checkpoint
of ``sum.golang.org`` (in transparency-dev/formats' tests), and the checkpoint text of Go's
``sumdb/tlog`` (``FormatTree``: its root is the RFC 6962 leaf hash of "hello world", which
pins our leaf prefix 0x00 and base64). Then every way to break a note: a flipped bit
anywhere, every truncation, a wrong origin, a wrong key name, extra signature lines, too many
lines, and texts that are not exactly the checkpoint form.
"""
from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from breachindex.campaign.checkpoints import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    NoteError,
    NoteVerifier,
    SignedCheckpoint,
    default_origin,
    format_checkpoint,
    key_hash,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_checkpoint_text,
    parse_note,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verifier_key,
)
from breachindex.campaign.merkle import EMPTY_ROOT, leaf_hash, node_hash
from breachindex.campaign.treehead import AuditSigner, tree_head_message

# ---- golang.org/x/mod/sumdb/note, note_test.go ----------------------------------------------------------
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_PETER_B64 = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
GO_PETER_SIG = f"\u2014 PeterNeumann {GO_PETER_B64}\n"
GO_ENOCH_SIG = ("\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1"
                "RvMc+QQ=\n")
GO_SIGNED = GO_TEXT + "\n" + GO_PETER_SIG

# ---- c2sp.org/signed-note, the example ------------------------------------------------------------------
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = ("This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK"
             "7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")

# ---- a checkpoint of sum.golang.org (transparency-dev/formats, log/note_test.go) --------------------------
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_ORIGIN = "go.sum database tree"
SUMDB_NOTE = ("go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n"
              "\u2014 sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3"
              "GeoWwOoAw=\n")

# ---- golang.org/x/mod/sumdb/tlog, note_test.go: FormatTree of RecordHash("hello world") --------------------
TLOG_TREE = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"


def go_signer() -> AuditSigner:
    raw = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert raw[0] == 0x01  # Ed25519, then the 32-byte seed
    return AuditSigner(Ed25519PrivateKey.from_private_bytes(raw[1:]))


def reason(data: object, verifiers: object, **kw: object) -> str:
    """The NoteError reason ``open_checkpoint`` (with ``origin=``) or ``open_note`` gives."""
    with pytest.raises(NoteError) as caught:
        if "origin" in kw:
            open_checkpoint(data, verifiers, **kw)  # type: ignore[arg-type]
        else:
            open_note(data, verifiers)  # type: ignore[arg-type]
    return caught.value.reason


# ---- the oracle --------------------------------------------------------------------------------------------

def test_our_signature_and_vkey_equal_gos_for_its_test_key():
    signer = go_signer()
    assert verifier_key("PeterNeumann", signer.public_key) == GO_VKEY
    assert key_hash("PeterNeumann", signer.public_key) == 0xC74F20A3
    assert sign_note(GO_TEXT, signer, "PeterNeumann") == GO_SIGNED
    note, verified = open_note(GO_SIGNED, [GO_VKEY])
    assert note.text == GO_TEXT and [s.name for s in verified] == ["PeterNeumann"]
    assert note.encode() == GO_SIGNED


def test_gos_open_cases():
    both = GO_TEXT + "\n" + GO_PETER_SIG + GO_ENOCH_SIG
    _, verified = open_note(both, [GO_VKEY])  # the unknown key's signature is ignored
    assert [s.name for s in verified] == ["PeterNeumann"]
    _, verified = open_note(both, [GO_VKEY, GO_ENOCH_VKEY])
    assert [(s.name, s.key_hash) for s in verified] == [("PeterNeumann", 0xC74F20A3), ("EnochRoot", 0xAF0CFE78)]
    assert reason(both, []) == "unknown_key"
    _, verified = open_note(GO_TEXT + "\n" + GO_PETER_SIG * 2, [GO_VKEY])  # a repeated line counts once
    assert len(verified) == 1
    assert reason(GO_TEXT + "\n" + GO_PETER_SIG * (MAX_SIGNATURES + 1), [GO_VKEY]) == "malformed"
    assert reason(GO_TEXT + "\n" + GO_PETER_SIG[:60] + "ABCD" + GO_PETER_SIG[60:], [GO_VKEY]) == "bad_signature"
    for bad in (GO_TEXT, GO_TEXT + "\n", GO_TEXT + "\n" + GO_PETER_SIG[:-1], "\x01" + GO_SIGNED,
                GO_TEXT + f"\n\u2014 Bad Name {GO_PETER_B64}", GO_SIGNED + "Unexpected line.\n"):
        assert reason(bad, [GO_VKEY]) == "malformed", bad
    assert reason(b"\xff" + GO_SIGNED.encode(), [GO_VKEY]) == "malformed"


def test_gos_verifier_key_manglings_are_refused():
    assert parse_verifier_key(GO_VKEY) == NoteVerifier("PeterNeumann", go_signer().public_key)
    for i in range(len(GO_VKEY) + 1):
        for j in range(i + 1, len(GO_VKEY) + 1):
            if (i, j) != (0, len(GO_VKEY)):
                with pytest.raises(NoteError):
                    parse_verifier_key(GO_VKEY[i:j])
    for i in range(len(GO_VKEY)):
        with pytest.raises(NoteError):
            parse_verifier_key(GO_VKEY[:i] + chr(ord(GO_VKEY[i]) + 1) + GO_VKEY[i + 1:])
    for bad in ("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # key length
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"):          # algorithm
        with pytest.raises(NoteError):
            parse_verifier_key(bad)


def test_the_signed_note_specs_example():
    note, verified = open_note(C2SP_NOTE, [C2SP_VKEY])
    assert note.text == "This is an example message.\n" and verified[0].key_hash == 0x530D903A
    assert parse_verifier_key(C2SP_VKEY).vkey == C2SP_VKEY


def test_a_real_sum_golang_org_checkpoint():
    checkpoint = open_checkpoint(SUMDB_NOTE, [SUMDB_VKEY], origin=SUMDB_ORIGIN)
    assert (checkpoint.origin, checkpoint.tree_size) == (SUMDB_ORIGIN, 6476701)
    assert checkpoint.root_hash == base64.b64decode("mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=")
    assert reason(SUMDB_NOTE, [SUMDB_VKEY], origin="Go rocks but I might have the wrong ID") == "wrong_origin"
    assert reason(SUMDB_NOTE, [GO_VKEY], origin=SUMDB_ORIGIN) == "unknown_key"


def test_the_checkpoint_text_and_root_match_go_tlog():
    # RecordHash = SHA-256(0x00 || data): RFC 6962's leaf, as merkle.leaf_hash
    assert format_checkpoint(SUMDB_ORIGIN, 123456789012, leaf_hash(b"hello world")) == TLOG_TREE
    assert parse_checkpoint_text(TLOG_TREE) == Checkpoint(SUMDB_ORIGIN, 123456789012, leaf_hash(b"hello world"))
    assert node_hash(b"\x00" * 32, b"\x01" * 32) == hashlib.sha256(b"\x01" + b"\x00" * 32 + b"\x01" * 32).digest()
    for bad in ("go.sum database tree\n0xabcdef\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n",
                "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n"):
        with pytest.raises(NoteError):
            parse_checkpoint_text(bad)


# ---- our notes ---------------------------------------------------------------------------------------------

SIGNER = AuditSigner(Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"checkpoint tests").digest()))
ORIGIN = default_origin(SIGNER.public_key)
VKEY = verifier_key(ORIGIN, SIGNER.public_key)
ROOT = hashlib.sha256(b"a root").digest()
NOTE = sign_checkpoint(SIGNER, ORIGIN, 1234, ROOT)


def test_our_checkpoint_note_in_full():
    assert ORIGIN.startswith("somi.nl/breachindex/audit/") and len(ORIGIN) == len("somi.nl/breachindex/audit/") + 16
    body, signatures = NOTE.split("\n\n")
    assert body == f"{ORIGIN}\n1234\n{base64.b64encode(ROOT).decode()}"
    name, encoded = signatures.removeprefix("\u2014 ").removesuffix("\n").split(" ")
    raw = base64.b64decode(encoded)
    expected_hash = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + SIGNER.public_key).digest()[:4]
    assert name == ORIGIN and raw[:4] == expected_hash and len(raw) == 68
    encoded_key = base64.b64encode(b"\x01" + SIGNER.public_key).decode()
    assert f"{ORIGIN}+{expected_hash.hex()}+{encoded_key}" == VKEY
    checkpoint = open_checkpoint(NOTE, [VKEY], origin=ORIGIN)
    assert (checkpoint.tree_size, checkpoint.root_hash, checkpoint.checkpoint.extensions) == (1234, ROOT, ())
    assert checkpoint.encode() == NOTE and checkpoint.to_json()["note"] == NOTE
    assert open_checkpoint(NOTE.encode(), [parse_verifier_key(VKEY)], origin=ORIGIN) == checkpoint
    empty = sign_checkpoint(SIGNER, ORIGIN, 0, EMPTY_ROOT)
    assert open_checkpoint(empty, [VKEY], origin=ORIGIN).tree_size == 0


def test_every_flipped_bit_is_refused():
    data = NOTE.encode()
    for i in range(len(data)):
        for bit in range(8):
            mutated = data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1:]
            with pytest.raises(NoteError):
                open_checkpoint(mutated, [VKEY], origin=ORIGIN)


def test_every_truncation_is_refused():
    data = NOTE.encode()
    for cut in range(len(data)):
        with pytest.raises(NoteError):
            open_checkpoint(data[:cut], [VKEY], origin=ORIGIN)
    with pytest.raises(NoteError):
        open_checkpoint(data + b"\n", [VKEY], origin=ORIGIN)  # a blank line at the end


def test_a_wrong_origin_or_key_name_is_refused():
    other = sign_checkpoint(SIGNER, "somi.nl/another-log", 1234, ROOT)
    assert reason(other, [VKEY], origin=ORIGIN) == "unknown_key"  # its key name is the other origin
    assert reason(other, [verifier_key("somi.nl/another-log", SIGNER.public_key)], origin=ORIGIN) == "wrong_origin"
    # our key name, another log's text: signed, but not this log's checkpoint
    mislabelled = sign_note(format_checkpoint("somi.nl/another-log", 1234, ROOT), SIGNER, ORIGIN)
    assert reason(mislabelled, [VKEY], origin=ORIGIN) == "wrong_origin"
    renamed = NOTE.replace(f"\u2014 {ORIGIN} ", "\u2014 somi.nl/impostor ")
    assert reason(renamed, [VKEY], origin=ORIGIN) == "unknown_key"
    stranger = AuditSigner(Ed25519PrivateKey.generate())  # same name, another key: another key hash
    assert reason(sign_checkpoint(stranger, ORIGIN, 1234, ROOT), [VKEY], origin=ORIGIN) == "unknown_key"


def test_extra_signature_lines():
    witness = AuditSigner(Ed25519PrivateKey.generate())
    cosigned = NOTE + sign_note(parse_note(NOTE).text, witness, "witness.example/w1").split("\n\n")[1]
    assert open_checkpoint(cosigned, [VKEY], origin=ORIGIN).tree_size == 1234  # unknown signers are ignored
    _, verified = open_note(cosigned, [VKEY, verifier_key("witness.example/w1", witness.public_key)])
    assert [s.name for s in verified] == [ORIGIN, "witness.example/w1"]
    ours = parse_note(NOTE).signatures[0]
    forged_line = ours.line.replace(ours.line.split(" ")[2][8:20], "A" * 12)
    assert reason(NOTE + forged_line, [VKEY], origin=ORIGIN) == "bad_signature"  # a known key must verify
    before = NOTE.replace(ours.line, forged_line + ours.line)  # before the good one, too
    assert reason(before, [VKEY], origin=ORIGIN) == "bad_signature"
    unknown = "\u2014 name AAAAAAAA\n"  # a well-formed line of a key nobody trusts here: ignored
    assert open_checkpoint(NOTE + unknown, [VKEY], origin=ORIGIN).tree_size == 1234
    assert reason(parse_note(NOTE).text + "\n" + unknown, [VKEY], origin=ORIGIN) == "unknown_key"  # it alone
    for extra in ("not a signature\n", "\u2014 a+b AAAAAAAA\n", "\u2014 name\n", "\u2014 name AAAA\n",
                  "\u2014 name AAAAAAA\n", "\u2014 name AAAAAAB=\n", "\u2014 name AAAAAAAA \n",
                  "\u2014 name AAAAAAA?\n", "\u2014  name AAAAAAAA\n", "- name AAAAAAAA\n",
                  "\u2014 na\u00a0me AAAAAAAA\n", "\u2014 name AAAAAAAA"):
        assert reason(NOTE + extra, [VKEY], origin=ORIGIN) == "malformed", extra
    assert reason(NOTE + ours.line * MAX_SIGNATURES, [VKEY], origin=ORIGIN) == "malformed"  # one too many
    assert open_checkpoint(NOTE + ours.line * (MAX_SIGNATURES - 1), [VKEY], origin=ORIGIN).tree_size == 1234


@pytest.mark.parametrize("body", [
    "{o}\n1234\n",                              # two lines
    "{o}\n01234\n{r}\n",                        # a leading zero
    "{o}\n+1234\n{r}\n", "{o}\n 1234\n{r}\n", "{o}\n1_234\n{r}\n", "{o}\n\u0661\u0662\n{r}\n",
    "{o}\n-1\n{r}\n", "{o}\n18446744073709551616\n{r}\n", "{o}\n\n{r}\n",
    "{o}\n1234\n{r}\n\n",                       # an empty extension line
    "{o}\n1234\n{short}\n", "{o}\n1234\n{r}=\n", "{o}\n1234\n{unpadded}\n", "{o}\n1234\n{urlsafe}\n",
    "{o}\n1234\n{noncanonical}\n",
    "\n1234\n{r}\n",                            # no origin
    "{o}\n1234\n{r}\n" + "x\n" * 17,           # too many extension lines
])
def test_texts_not_exactly_a_checkpoint_are_refused_even_when_signed(body):
    r = base64.b64encode(ROOT).decode()
    short = base64.b64encode(ROOT[:31]).decode()
    urlsafe_root = bytes([0xFB, 0xFF]) + ROOT[2:]
    urlsafe = base64.urlsafe_b64encode(urlsafe_root).decode()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    noncanonical = r[:-2] + alphabet[alphabet.index(r[-2]) ^ 1] + "="  # the same 32 bytes, an unused bit set
    text = body.format(o=ORIGIN, r=r, short=short, unpadded=r.rstrip("="), urlsafe=urlsafe,
                       noncanonical=noncanonical)
    note = sign_note(text, SIGNER, ORIGIN)
    assert open_note(note, [VKEY])  # the signature holds: it is the text that is refused
    assert reason(note, [VKEY], origin=ORIGIN) == "malformed"


def test_extensions_and_limits():
    signed = sign_note(format_checkpoint(ORIGIN, 7, ROOT, ["ext one", "ext two"]), SIGNER, ORIGIN)
    assert open_checkpoint(signed, [VKEY], origin=ORIGIN).checkpoint.extensions == ("ext one", "ext two")
    for bad in (NOTE.replace("\n", "\r\n"), NOTE.replace("1234", "12\t34"), "x" * (MAX_NOTE_BYTES + 1)):
        assert reason(bad, [VKEY], origin=ORIGIN) == "malformed"
    with pytest.raises(ValueError):
        format_checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(ValueError):
        format_checkpoint(ORIGIN, 1, ROOT[:31])
    with pytest.raises(ValueError):
        format_checkpoint("two\nlines", 1, ROOT)
    for origin in ("", "with space", "with+plus", "x" * 256):
        with pytest.raises(ValueError):
            sign_checkpoint(SIGNER, origin, 1, ROOT)
    # a forged checkpoint beside a genuine note is caught: the text is what counts
    genuine = parse_checkpoint(NOTE)
    swapped = SignedCheckpoint(Checkpoint(ORIGIN, 99999, ROOT), genuine.note)
    assert reason(swapped, [VKEY], origin=ORIGIN) == "malformed" and not swapped.verify([VKEY], origin=ORIGIN)
    assert genuine.verify([VKEY], origin=ORIGIN)


def test_the_audit_key_never_signs_a_tree_head_message_as_a_note():
    message = tree_head_message(1, 2, ROOT)
    assert b"\x00" in message
    with pytest.raises(ValueError):
        SIGNER.sign_note_text(message)
    with pytest.raises(ValueError):
        SIGNER.sign_note_text(b"no final newline")
    with pytest.raises(ValueError):
        SIGNER.sign_note_text(b"\xff\n")
    head = SIGNER.sign(1, ROOT, 2)  # and a tree head's signature is no note signature
    raw = key_hash(ORIGIN, SIGNER.public_key).to_bytes(4, "big") + head.signature
    line = f"\u2014 {ORIGIN} {base64.b64encode(raw).decode()}\n"
    assert reason(format_checkpoint(ORIGIN, 1, ROOT) + "\n" + line, [VKEY], origin=ORIGIN) == "bad_signature"


key_names = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), blacklist_characters="+"),
                    min_size=1, max_size=40).filter(lambda s: not any(ch.isspace() for ch in s))


@settings(max_examples=60, deadline=None)
@given(origin=key_names, size=st.integers(0, (1 << 64) - 1), root=st.binary(min_size=32, max_size=32))
def test_any_checkpoint_round_trips(origin, size, root):
    note = sign_checkpoint(SIGNER, origin, size, root)
    checkpoint = open_checkpoint(note, [verifier_key(origin, SIGNER.public_key)], origin=origin)
    assert (checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash) == (origin, size, root)
    assert parse_checkpoint(note.encode("utf-8")).encode() == note


def test_the_manuals_example_note_verifies():

    manual = (REPO / "docs" / "audit.md").read_text(encoding="utf-8")
    blocks = manual.split("```\n")
    note = next(b for b in blocks if b.startswith("somi.nl/breachindex/audit/") and "\u2014" in b)
    vkey = next(b for b in blocks if b.startswith("somi.nl/breachindex/audit/") and "+" in b.split("\n")[0]).strip()
    origin = note.split("\n")[0]
    checkpoint = open_checkpoint(note, [vkey], origin=origin)
    assert checkpoint.tree_size == 1234 and parse_verifier_key(vkey).name == origin
