"""Tree heads to keep elsewhere: C2SP checkpoints, signed as C2SP signed notes.

Why this exists. The audit log can only prove what a tree head kept *outside* its store pins
down (``audit``): without one, a cut or rewritten tail cannot be ruled out. Heads are kept
best in a format other people's tools already read and check, so this module writes and
reads the transparency-log checkpoint of https://c2sp.org/tlog-checkpoint, a signed note
(https://c2sp.org/signed-note) whose text is::

    <origin>\\n
    <tree size, ASCII decimal, no leading zeros>\\n
    <base64 of the RFC 6962 Merkle root at that size>\\n

followed by a blank line and one signature line per signer::

    \\u2014 <key name> <base64(4-byte key hash || Ed25519 signature over the text)>\\n

with ``key hash = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]`` (0x01: the
Ed25519 signature type). A verifier is configured with the *verifier key* (vkey)
``<key name>+<hex key hash>+<base64(0x01 || public key)>``; Go's
``golang.org/x/mod/sumdb/note`` and every C2SP witness accept exactly these notes.

The root is the audit log's own (``merkle``: leaf SHA-256(0x00 || entry body), node
SHA-256(0x01 || left || right)), which is the RFC 6962 tree the checkpoint spec names. The
log writes no extension lines (the spec does not recommend them); a parsed checkpoint keeps
any it finds, covered by the signature but meaning nothing to the log.

The origin names the log and is also the key name of its signature. Default:
``somi.nl/breachindex/audit/<first 16 hex digits of the audit key id>`` (``default_origin``),
stable for as long as the audit key is; a foundation that rotates the key, or runs several
stores under one secret, sets its own (``Campaign(audit_origin=...)``) and keeps it.

Strict reading (``parse_note``, ``open_checkpoint``): the note must be UTF-8 without control
characters other than newline, at most ``MAX_NOTE_BYTES``, end in a blank line and at most
``MAX_SIGNATURES`` well-formed signature lines (canonical base64, names without spaces or
``+``); the checkpoint text needs three non-empty lines in exactly the form above and at most
``MAX_EXTENSION_LINES`` non-empty extension lines. Verifying follows the spec: signatures by
unknown keys are ignored, any signature by a known key (name and key hash) must verify or the
whole note is rejected, and at least one must verify. Errors are ``NoteError`` with a
``reason``; their messages never repeat the note's bytes.

Domain separation: the audit key also signs the binary tree-head messages of ``treehead``,
which hold a 0x00 byte; a note text can hold none, so neither signature passes for the other.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .treehead import AuditSigner, key_id_of

__all__ = [
    "Checkpoint",
    "DEFAULT_ORIGIN_PREFIX",
    "MAX_EXTENSION_LINES",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Note",
    "NoteError",
    "NoteSignature",
    "NoteVerifier",
    "SIGNATURE_TYPE_ED25519",
    "SignedCheckpoint",
    "check_origin",
    "default_origin",
    "format_checkpoint",
    "is_key_name",
    "key_hash",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint",
    "parse_checkpoint_text",
    "parse_note",
    "parse_verifier_key",
    "sign_checkpoint",
    "sign_note",
    "verifier_key",
]

#: the signature type byte of Ed25519 in signed notes (c2sp.org/signed-note)
SIGNATURE_TYPE_ED25519 = 0x01
#: the default origin's prefix; the first 16 hex digits of the audit key id follow
DEFAULT_ORIGIN_PREFIX = "somi.nl/breachindex/audit/"
#: the largest note read: 16 signatures of up to 5 kB (the spec's floor, post-quantum sized) fit
MAX_NOTE_BYTES = 256 * 1024
#: the most signature lines a note may carry (the spec asks for at least 16; Go's reader: 100)
MAX_SIGNATURES = 100
#: the most extension lines a checkpoint may carry (the log itself writes none)
MAX_EXTENSION_LINES = 16
#: the longest origin (key name) this module signs under
MAX_ORIGIN_CHARS = 255

_SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_TREE_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_HEX8 = re.compile(r"[0-9a-f]{8}")


class NoteError(ValueError):
    """A note, checkpoint or verifier key that cannot be used; ``reason`` says why, for scripts:
    ``malformed`` (not the format), ``unknown_key`` (no signature by a trusted key),
    ``bad_signature`` (a trusted key's signature does not verify), ``wrong_origin`` (another
    log's checkpoint), ``ambiguous_key`` (two trusted keys share a name and key hash).
    ``file``: the file the note was read from, when a caller knows it."""

    def __init__(self, reason: str, message: str, *, file: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.file = file


def _malformed(what: str) -> NoteError:
    return NoteError("malformed", f"malformed note: {what}")


def is_key_name(name: str) -> bool:
    """True for a usable key name: non-empty, no Unicode spaces, no ``+``, no control characters."""
    return (isinstance(name, str) and name != "" and "+" not in name
            and not any(ch.isspace() or ord(ch) < 0x20 or ch == "\x7f" for ch in name))


def check_origin(origin: str) -> str:
    """``origin`` if it can name a log and key its signature (ValueError otherwise)."""
    if not is_key_name(origin) or len(origin) > MAX_ORIGIN_CHARS:
        raise ValueError(f"an audit origin is 1 to {MAX_ORIGIN_CHARS} characters without spaces, '+' or "
                         "control characters, e.g. somi.nl/breachindex/audit/2025")
    return origin


def default_origin(public_key: bytes) -> str:
    """The default origin of a log signed by ``public_key``: stable while the key is."""
    return DEFAULT_ORIGIN_PREFIX + key_id_of(public_key)[:16]


def key_hash(name: str, public_key: bytes) -> int:
    """The 32-bit key hash of an Ed25519 key under ``name`` (c2sp.org/signed-note)."""
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes")
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([SIGNATURE_TYPE_ED25519]) + bytes(public_key))
    return int.from_bytes(digest.digest()[:4], "big")


def verifier_key(name: str, public_key: bytes) -> str:
    """The vkey string a note verifier is configured with: ``name+hash+base64(0x01 || key)``."""
    if not is_key_name(name):
        raise ValueError("a key name is non-empty, without spaces, '+' or control characters")
    encoded = base64.b64encode(bytes([SIGNATURE_TYPE_ED25519]) + bytes(public_key)).decode("ascii")
    return f"{name}+{key_hash(name, public_key):08x}+{encoded}"


def _b64decode(text: str) -> bytes | None:
    """Standard base64 with padding, in its one canonical spelling (None otherwise)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


@dataclass(frozen=True)
class NoteVerifier:
    """One trusted Ed25519 key under its key name (what a vkey string encodes)."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        if not is_key_name(self.name) or len(self.public_key) != 32:
            raise ValueError("a note verifier is a key name and a raw 32-byte Ed25519 public key")

    @property
    def key_hash(self) -> int:
        return key_hash(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        return verifier_key(self.name, self.public_key)

    def verify(self, text: bytes, signature: bytes) -> bool:
        """True if ``signature`` is this key's Ed25519 signature over ``text``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except (InvalidSignature, ValueError):
            return False
        return True


def parse_verifier_key(vkey: str) -> NoteVerifier:
    """A ``NoteVerifier`` from a vkey string; NoteError (``malformed``) unless it is an Ed25519
    vkey whose key hash matches its name and key."""
    name, _, rest = vkey.partition("+")
    hash_hex, _, key_b64 = rest.partition("+")  # the base64 itself may hold '+'
    raw = _b64decode(key_b64)
    if (not is_key_name(name) or not _HEX8.fullmatch(hash_hex) or raw is None or len(raw) != 33
            or raw[0] != SIGNATURE_TYPE_ED25519):
        raise NoteError("malformed", "not an Ed25519 verifier key (name+hash+base64 key)")
    verifier = NoteVerifier(name, raw[1:])
    if verifier.key_hash != int(hash_hex, 16):
        raise NoteError("malformed", "the verifier key's hash does not match its name and key")
    return verifier


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: who (key name, key hash) and the signature bytes after the hash."""

    name: str
    key_hash: int
    signature: bytes

    @property
    def line(self) -> str:
        """The line as it is written, newline included."""
        raw = self.key_hash.to_bytes(4, "big") + self.signature
        return f"{_SIGNATURE_PREFIX}{self.name} {base64.b64encode(raw).decode('ascii')}\n"


@dataclass(frozen=True)
class Note:
    """A note: its text (final newline included) and its signature lines, verified or not."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def encode(self) -> str:
        """The note as written: text, a blank line, the signature lines."""
        return self.text + "\n" + "".join(s.line for s in self.signatures)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise _malformed("the text must end in a newline")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise _malformed("control characters other than newline")


def parse_note(data: str | bytes) -> Note:
    """The text and signature lines of a signed note, checked for form only (``open_note``
    verifies). NoteError (``malformed``) for anything the spec does not allow."""
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:
            raise _malformed("not valid UTF-8") from None
    if len(data) > MAX_NOTE_BYTES:
        raise _malformed(f"longer than {MAX_NOTE_BYTES} bytes")
    try:
        message = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("not valid UTF-8") from None
    if any(ord(ch) < 0x20 and ch != "\n" for ch in message):
        raise _malformed("control characters other than newline")
    split = message.rfind("\n\n")
    if split < 0:
        raise _malformed("no blank line before the signatures")
    text, block = message[:split + 1], message[split + 2:]
    if not block or not block.endswith("\n"):
        raise _malformed("no signature lines, or the last one does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _malformed(f"more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(_SIGNATURE_PREFIX):
            raise _malformed("a line after the blank line is not a signature line")
        name, space, encoded = line[len(_SIGNATURE_PREFIX):].partition(" ")
        raw = _b64decode(encoded) if space else None
        if not is_key_name(name) or raw is None or len(raw) < 5:
            raise _malformed("a signature line has a bad key name or signature")
        signatures.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return Note(text, tuple(signatures))


def _verifier_map(verifiers: Iterable[NoteVerifier | str]) -> dict[tuple[str, int], NoteVerifier]:
    known: dict[tuple[str, int], NoteVerifier] = {}
    for item in verifiers:
        verifier = parse_verifier_key(item) if isinstance(item, str) else item
        slot = (verifier.name, verifier.key_hash)
        if slot in known and known[slot].public_key != verifier.public_key:
            raise NoteError("ambiguous_key", f"two trusted keys are named {verifier.name}+{verifier.key_hash:08x}")
        known[slot] = verifier
    return known


def open_note(data: str | bytes | Note,
              verifiers: Iterable[NoteVerifier | str]) -> tuple[Note, tuple[NoteSignature, ...]]:
    """A note and the signatures of it that verified under ``verifiers`` (vkey strings or
    ``NoteVerifier``), checked as the spec says: unknown keys are ignored, a known key's
    signature that fails rejects the note (``bad_signature``), and without one verified
    signature the note is rejected (``unknown_key``)."""
    note = data if isinstance(data, Note) else parse_note(data)
    _check_text(note.text)
    known = _verifier_map(verifiers)
    text = note.text.encode("utf-8")
    verified: list[NoteSignature] = []
    for signature in note.signatures:
        verifier = known.get((signature.name, signature.key_hash))
        if verifier is None:
            continue  # another signer's (a witness's, a rotated key's): not ours to judge
        if not verifier.verify(text, signature.signature):
            raise NoteError("bad_signature", f"the signature of {signature.name}+{signature.key_hash:08x} "
                                             "does not verify")
        if signature not in verified:
            verified.append(signature)
    if not verified:
        raise NoteError("unknown_key", "no signature by a trusted key")
    return note, tuple(verified)


def sign_note(text: str, signer: AuditSigner, name: str) -> str:
    """``text`` signed by ``signer`` under the key name ``name``, as a whole note."""
    _check_text(text)
    if not is_key_name(name):
        raise ValueError("a key name is non-empty, without spaces, '+' or control characters")
    signature = signer.sign_note_text(text.encode("utf-8"))
    return Note(text, (NoteSignature(name, key_hash(name, signer.public_key), signature),)).encode()


# ---- checkpoints -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint's text says (not yet whether to believe it): the log, its size, its root."""

    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return format_checkpoint(self.origin, self.tree_size, self.root_hash, self.extensions)


def format_checkpoint(origin: str, tree_size: int, root_hash: bytes, extensions: Iterable[str] = ()) -> str:
    """The text of a checkpoint: origin, decimal size, base64 root, then any extension lines."""
    extra = tuple(extensions)
    if (not origin or "\n" in origin or any(ord(ch) < 0x20 for ch in origin) or isinstance(tree_size, bool)
            or not isinstance(tree_size, int) or not 0 <= tree_size < 1 << 64 or len(root_hash) != 32
            or len(extra) > MAX_EXTENSION_LINES or any(not line or any(ord(ch) < 0x20 for ch in line)
                                                       for line in extra)):
        raise ValueError("a checkpoint needs a one-line origin, a size from 0 to 2**64 - 1, a 32-byte root "
                         f"and at most {MAX_EXTENSION_LINES} non-empty one-line extensions")
    lines = [origin, str(tree_size), base64.b64encode(bytes(root_hash)).decode("ascii"), *extra]
    return "\n".join(lines) + "\n"


def parse_checkpoint_text(text: str) -> Checkpoint:
    """A checkpoint from a note's text; NoteError (``malformed``) unless it is exactly the form."""
    _check_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise _malformed("a checkpoint is at least three non-empty lines")
    if len(lines) > 3 + MAX_EXTENSION_LINES:
        raise _malformed(f"more than {MAX_EXTENSION_LINES} extension lines")
    origin, size_text, root_text = lines[:3]
    root = _b64decode(root_text)
    if not _TREE_SIZE.fullmatch(size_text) or int(size_text) >= 1 << 64:
        raise _malformed("the tree size is not a decimal number without leading zeros")
    if root is None or len(root) != 32:
        raise _malformed("the root hash is not the base64 of 32 bytes")
    return Checkpoint(origin, int(size_text), root, tuple(lines[3:]))


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint with its note. Parsing proves nothing: ``open_checkpoint`` (or the audit
    log's ``verify``, under its own trusted keys and origin) decides whether to believe it."""

    checkpoint: Checkpoint
    note: Note

    @property
    def origin(self) -> str:
        return self.checkpoint.origin

    @property
    def tree_size(self) -> int:
        return self.checkpoint.tree_size

    @property
    def root_hash(self) -> bytes:
        return self.checkpoint.root_hash

    def encode(self) -> str:
        """The signed note as written."""
        return self.note.encode()

    def verify(self, verifiers: Iterable[NoteVerifier | str], *, origin: str) -> bool:
        """True if the checkpoint is ``origin``'s and verifies under ``verifiers`` (see ``open_note``)."""
        try:
            open_checkpoint(self, verifiers, origin=origin)
        except NoteError:
            return False
        return True

    def to_json(self) -> dict[str, object]:
        """JSON-ready values: origin, size, root (hex) and the note itself."""
        return {"origin": self.origin, "tree_size": self.tree_size, "root_hash": self.root_hash.hex(),
                "note": self.encode()}


def parse_checkpoint(data: str | bytes) -> SignedCheckpoint:
    """A signed checkpoint, checked for form only (NoteError ``malformed``)."""
    note = parse_note(data)
    return SignedCheckpoint(parse_checkpoint_text(note.text), note)


def open_checkpoint(data: str | bytes | SignedCheckpoint, verifiers: Iterable[NoteVerifier | str], *,
                    origin: str) -> SignedCheckpoint:
    """A checkpoint of the log ``origin`` that verifies under ``verifiers`` (vkey strings or
    ``NoteVerifier``): NoteError ``malformed``, ``wrong_origin``, ``unknown_key``,
    ``bad_signature`` or ``ambiguous_key`` otherwise."""
    checkpoint = data if isinstance(data, SignedCheckpoint) else parse_checkpoint(data)
    open_note(checkpoint.note, verifiers)
    if parse_checkpoint_text(checkpoint.note.text) != checkpoint.checkpoint:
        raise _malformed("the checkpoint does not match its note's text")
    if checkpoint.origin != origin:
        raise NoteError("wrong_origin", "the checkpoint is another log's (its origin differs)")
    return checkpoint


def sign_checkpoint(signer: AuditSigner, origin: str, tree_size: int, root_hash: bytes) -> str:
    """The signed note of a checkpoint, its key name the origin (as the checkpoint spec advises)."""
    return sign_note(format_checkpoint(check_origin(origin), tree_size, root_hash), signer, origin)
