"""The item file: content encrypted to a participant's public key as it arrives, in chunks.

Layout (format 1; integers big-endian)::

    offset  size  field
         0     8  magic            b"\\x89BIVAULT"
         8     2  format version   1
        10     2  flags            0 (anything else is refused)
        12     4  chunk size       plaintext bytes per chunk (1 KiB to 16 MiB)
        16     4  key version      the participant's key pair it is sealed to
        20    16  item id          the item this file belongs to
        36    80  sealed data key  crypto_box_seal (X25519 sealed box) of a fresh 32-byte key
       116    24  stream header    crypto_secretstream_xchacha20poly1305 header
       140        chunks           each: chunk size + 17 bytes, the last one shorter or equal

Every chunk is ``crypto_secretstream_xchacha20poly1305_push`` of ``chunk size`` plaintext bytes
(the last: 0 to ``chunk size``), tagged MESSAGE, except the last, tagged FINAL; an empty item
is one empty FINAL chunk. Each chunk's additional data is SHA-256 over the whole 140-byte
header and the item's context (participant, controller, request, received time): a header
field changed, a file moved to another item or participant, or the row's metadata edited, and
no chunk authenticates. Secretstream's own nonce sequence refuses chunks reordered, dropped or
duplicated, and its FINAL tag a file cut at a chunk boundary. Chunks carry no length: bytes
appended after a short last chunk make it fail to authenticate, bytes after a full-size FINAL
chunk are refused as trailing data.

Only the participant's private key opens the sealed data key: the server that writes the file
can never read it back. The flip side: anyone holding the public key can write a valid file,
so a file's origin is proved by the ciphertext's SHA-256 recorded in the database and in the
audit log when it was stored, which the vault checks on every read (``expected_sha256``).

Memory is bounded by the chunk size whatever the item's size: one chunk is read, encrypted or
decrypted, and written at a time.
"""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_ABYTES,
    crypto_secretstream_xchacha20poly1305_HEADERBYTES,
    crypto_secretstream_xchacha20poly1305_init_pull,
    crypto_secretstream_xchacha20poly1305_init_push,
    crypto_secretstream_xchacha20poly1305_keygen,
    crypto_secretstream_xchacha20poly1305_pull,
    crypto_secretstream_xchacha20poly1305_push,
    crypto_secretstream_xchacha20poly1305_state,
    crypto_secretstream_xchacha20poly1305_TAG_FINAL,
    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
)
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from ..campaign.audit import canonical_json
from ..errors import ItemTampered

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "MAX_CHUNK_SIZE",
    "MIN_CHUNK_SIZE",
    "Decryptor",
    "Sealed",
    "Source",
    "encrypt",
    "item_context",
    "stored_size_of",
]

MAGIC = b"\x89BIVAULT"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">8sHHII16s80s24s")
HEADER_SIZE = _HEADER.size
MIN_CHUNK_SIZE = 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024
DEFAULT_CHUNK_SIZE = 256 * 1024
_ABYTES = crypto_secretstream_xchacha20poly1305_ABYTES
_SEALED_KEY = 80
_TAG_FINAL = crypto_secretstream_xchacha20poly1305_TAG_FINAL
_TAG_MESSAGE = crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_AD_PREFIX = b"breachindex vault item v1\x00"
assert _HEADER.size == 140 and crypto_secretstream_xchacha20poly1305_HEADERBYTES == 24


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


#: what ``encrypt`` reads: a binary file-like object, or an iterable of bytes-like pieces
Source = _Readable | Iterable[bytes | bytearray | memoryview]


@dataclass(frozen=True)
class Sealed:
    """What ``encrypt`` wrote: ``size`` plaintext bytes, ``stored_size`` file bytes, the file's
    SHA-256 (hex) and its number of chunks."""

    size: int
    stored_size: int
    sha256: str
    chunks: int


def item_context(participant: str, controller: str, request: str | None, received_us: int) -> bytes:
    """The item metadata every chunk is bound to (canonical JSON)."""
    return canonical_json({"participant": participant, "controller": controller, "request": request,
                           "received_us": received_us}).encode("ascii")


def _additional_data(header: bytes, context: bytes) -> bytes:
    return hashlib.sha256(_AD_PREFIX + header + context).digest()


def check_chunk_size(chunk_size: object) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or not (
            MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE):
        raise ValueError(f"chunk_size must be an int from {MIN_CHUNK_SIZE} to {MAX_CHUNK_SIZE}")
    return chunk_size


def stored_size_of(size: int, chunk_size: int) -> int:
    """The file size of an item of ``size`` plaintext bytes."""
    chunks = max(1, -(-size // chunk_size))
    return HEADER_SIZE + size + chunks * _ABYTES


def _read_full(source: _Readable, size: int) -> bytes:
    """Up to ``size`` bytes; fewer only at the end (short reads of pipes and sockets are joined)."""
    first = source.read(size)
    if not isinstance(first, (bytes, bytearray, memoryview)):
        raise TypeError("the stream must be opened in binary mode (read() must return bytes)")
    if len(first) == size or not first:
        return bytes(first)
    parts, have = [bytes(first)], len(first)
    while have < size:
        more = source.read(size - have)
        if not more:
            break
        parts.append(bytes(more))
        have += len(more)
    return b"".join(parts)


def _pieces(source: Source, size: int) -> Iterator[bytes]:
    """The source cut into pieces of exactly ``size`` bytes, the last one shorter (or none)."""
    if hasattr(source, "read"):
        reader: _Readable = source  # type: ignore[assignment]
        while True:
            piece = _read_full(reader, size)
            if piece:
                yield piece
            if len(piece) < size:
                return
    if isinstance(source, (bytes, bytearray, memoryview, str)):
        raise TypeError("pass a binary stream or an iterable of bytes pieces (wrap bytes in io.BytesIO)")
    pending = bytearray()
    for part in source:  # type: ignore[union-attr]
        if not isinstance(part, (bytes, bytearray, memoryview)):
            raise TypeError(f"the stream yielded a {type(part).__name__}, not bytes")
        pending += part
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]  # bytearray drops its head without copying the rest
    if pending:
        yield bytes(pending)


class _HashingWriter:
    """Writes to ``out`` and keeps the SHA-256 and length of everything written."""

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.hash, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.hash.update(data)
        self.size += len(data)
        view = memoryview(data)
        while view:
            written = self.out.write(view)
            view = view[len(view) if written is None else written:]


def encrypt(source: Source, out: BinaryIO, *, public_key: bytes, item_id: bytes, key_version: int, context: bytes,
            chunk_size: int = DEFAULT_CHUNK_SIZE) -> Sealed:
    """Encrypt ``source`` to ``public_key`` into ``out`` as it is read (see the module doc)."""
    check_chunk_size(chunk_size)
    if len(item_id) != 16:
        raise ValueError("an item id is 16 bytes")
    data_key = crypto_secretstream_xchacha20poly1305_keygen()
    sealed_key = SealedBox(PublicKey(public_key)).encrypt(data_key)
    state = crypto_secretstream_xchacha20poly1305_state()
    stream_header = crypto_secretstream_xchacha20poly1305_init_push(state, data_key)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, chunk_size, key_version, item_id, bytes(sealed_key),
                          stream_header)
    ad = _additional_data(header, context)
    writer = _HashingWriter(out)
    writer.write(header)
    pieces = _pieces(source, chunk_size)
    current = next(pieces, b"")
    size = chunks = 0
    while True:
        following = next(pieces, None)  # one piece of lookahead: the last one is tagged FINAL
        tag = _TAG_FINAL if following is None else _TAG_MESSAGE
        writer.write(crypto_secretstream_xchacha20poly1305_push(state, current, ad, tag))
        size, chunks = size + len(current), chunks + 1
        if following is None:
            break
        current = following
    return Sealed(size, writer.size, writer.hash.hexdigest(), chunks)


class Decryptor:
    """Reads an item file: checks its header now, then ``chunks()`` yields the plaintext.

    ``item``: the item id (hex) the file must belong to; ``key_version`` and ``context`` as
    recorded; ``expected_sha256``: the file's recorded SHA-256 (hex), checked before the last
    chunk is given out (None: not checked). Anything wrong raises ItemTampered.
    """

    def __init__(self, f: BinaryIO, *, private_key: PrivateKey, item: str, key_version: int, context: bytes,
                 expected_sha256: str | None = None) -> None:
        self._f = f
        self._item = item
        self._expected = expected_sha256
        self._hash = hashlib.sha256()
        self.stored_size = 0
        header = self._read(HEADER_SIZE)
        if header[:len(MAGIC)] != MAGIC:
            raise self._tampered("bad_magic", "not a vault item file (wrong magic bytes)")
        if len(header) < HEADER_SIZE:
            raise self._tampered("bad_header", "the file is shorter than its header")
        magic, version, flags, chunk_size, file_key_version, item_id, sealed_key, stream_header = _HEADER.unpack(
            header)
        if version != FORMAT_VERSION:
            raise self._tampered("unsupported_version", f"unknown item format version {version}")
        if flags != 0 or not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise self._tampered("bad_header", "the header's flags or chunk size are invalid")
        if item_id.hex() != item:
            raise self._tampered("wrong_item", "the file belongs to another item")
        if file_key_version != key_version:
            raise self._tampered("wrong_key", "the file is sealed to another key version")
        try:
            data_key = SealedBox(private_key).decrypt(sealed_key)
        except CryptoError:
            raise self._tampered("wrong_key", "the data key does not open: the file was sealed to another "
                                              "participant's key, or altered") from None
        if len(data_key) != 32:
            raise self._tampered("wrong_key", "the sealed data key has the wrong length")
        self._state = crypto_secretstream_xchacha20poly1305_state()
        crypto_secretstream_xchacha20poly1305_init_pull(self._state, stream_header, data_key)
        self._ad = _additional_data(header, context)
        self.chunk_size = chunk_size
        self.done = False

    def _tampered(self, reason: str, message: str) -> ItemTampered:
        return ItemTampered(self._item, reason, message)

    def _read(self, size: int) -> bytes:
        data = _read_full(self._f, size)
        self._hash.update(data)
        self.stored_size += len(data)
        return data

    def chunks(self) -> Iterator[bytes]:
        """The plaintext, one chunk at a time; ItemTampered as soon as something does not hold.

        Chunks already yielded are authentic, but the item may still turn out incomplete or
        altered further on: see ``Vault.open_to`` for all-or-nothing output.
        """
        full = self.chunk_size + _ABYTES
        index = 0
        while not self.done:
            sealed = self._read(full)
            if len(sealed) < _ABYTES:
                raise self._tampered("truncated", f"the file ends after chunk {index} without its final chunk: "
                                                  "truncated")
            try:
                plain, tag = crypto_secretstream_xchacha20poly1305_pull(self._state, sealed, self._ad)
            except CryptoError:
                raise self._tampered("bad_chunk", f"chunk {index} does not authenticate: altered, reordered, "
                                                  "dropped, duplicated, cut, extended, or from another file") from None
            if tag == _TAG_FINAL:
                if self._f.read(1):
                    raise self._tampered("trailing_data", "there are bytes after the final chunk")
                self.done = True
                digest = self._hash.hexdigest()
                if self._expected is not None and digest != self._expected:
                    raise self._tampered("hash_mismatch", "the file is not the ciphertext recorded when it was "
                                                          "stored")
            elif tag != _TAG_MESSAGE or len(sealed) != full:
                raise self._tampered("bad_chunk", f"chunk {index} is not a well-formed middle chunk")
            index += 1
            yield plain

    @property
    def sha256(self) -> str:
        """The SHA-256 (hex) of what was read so far (the whole file once ``done``)."""
        return self._hash.hexdigest()
