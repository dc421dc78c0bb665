"""The vault's item file format on its own (``breachindex.vault.stream``): round trips of every
size around the chunk boundaries and of random sizes and piece splits, and every kind of
tampering refused with its own reason, checked by the format alone (no database, no recorded
size or hash to fall back on)."""
from __future__ import annotations

import hashlib
import io
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_init_push,
    crypto_secretstream_xchacha20poly1305_keygen,
    crypto_secretstream_xchacha20poly1305_push,
    crypto_secretstream_xchacha20poly1305_state,
    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
)
from nacl.public import PrivateKey, SealedBox

from breachindex.errors import ItemTampered
from breachindex.vault.stream import (
    HEADER_SIZE,
    MAGIC,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    Decryptor,
    encrypt,
    item_context,
    stored_size_of,
)

CHUNK = MIN_CHUNK_SIZE  # 1 KiB: many chunks from small inputs
FULL = CHUNK + 17
KEY = PrivateKey.generate()
PUBLIC = bytes(KEY.public_key)
ITEM = bytes(range(16))
CONTEXT = item_context("p" * 32, "meta", "r" * 32, 1_700_000_000_000_000)


def seal(data: bytes, *, chunk_size: int = CHUNK, item: bytes = ITEM, context: bytes = CONTEXT,
         public_key: bytes = PUBLIC, pieces: list[int] | None = None) -> bytes:
    out = io.BytesIO()
    if pieces is None:
        source: object = io.BytesIO(data)
    else:  # an iterable cut at the given lengths
        cuts, at = [], 0
        for n in pieces:
            cuts.append(data[at:at + n])
            at += n
        cuts.append(data[at:])
        source = iter(cuts)
    sealed = encrypt(source, out, public_key=public_key, item_id=item, key_version=1, context=context,  # type: ignore[arg-type]
                     chunk_size=chunk_size)
    blob = out.getvalue()
    assert sealed.size == len(data) and sealed.stored_size == len(blob) == stored_size_of(len(data), chunk_size)
    assert sealed.sha256 == hashlib.sha256(blob).hexdigest()
    assert sealed.chunks == max(1, -(-len(data) // chunk_size))
    return blob


def unseal(blob: bytes, *, item: bytes = ITEM, context: bytes = CONTEXT, key: PrivateKey = KEY,
           expected_sha256: str | None = None, key_version: int = 1) -> bytes:
    decryptor = Decryptor(io.BytesIO(blob), private_key=key, item=item.hex(), key_version=key_version,
                          context=context, expected_sha256=expected_sha256)
    out = b"".join(decryptor.chunks())
    assert decryptor.done and decryptor.sha256 == hashlib.sha256(blob).hexdigest()
    return out


def refused(blob: bytes, reason: str, **kw: object) -> ItemTampered:
    with pytest.raises(ItemTampered) as caught:
        unseal(blob, **kw)  # type: ignore[arg-type]
    assert caught.value.reason == reason, caught.value
    assert caught.value.item == kw.get("item", ITEM).hex()  # type: ignore[union-attr]
    return caught.value


# ---- round trips -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK - 1, 2 * CHUNK, 2 * CHUNK + 1,
                                  5 * CHUNK, 5 * CHUNK + 7])
def test_round_trip_around_chunk_boundaries(size):
    data = os.urandom(size)
    blob = seal(data)
    assert blob[:len(MAGIC)] == MAGIC and len(blob) == HEADER_SIZE + size + max(1, -(-size // CHUNK)) * 17
    assert unseal(blob, expected_sha256=hashlib.sha256(blob).hexdigest()) == data


def test_an_empty_item_is_one_empty_final_chunk():
    blob = seal(b"")
    assert len(blob) == HEADER_SIZE + 17 and unseal(blob) == b""


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=6 * CHUNK + 5), cuts=st.lists(st.integers(0, 3 * CHUNK), max_size=12),
       chunk=st.sampled_from([CHUNK, CHUNK + 1, 3000]))
def test_round_trip_of_random_sizes_and_piece_splits(data, cuts, chunk):
    assert unseal(seal(data, chunk_size=chunk, pieces=cuts)) == data


class _Trickle(io.RawIOBase):
    """A stream that returns at most 7 bytes per read, like a slow socket."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer):  # type: ignore[no-untyped-def]
        n = min(7, len(buffer), len(self._data))
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def test_short_reads_are_joined_into_full_chunks():
    data = os.urandom(3 * CHUNK + 11)
    out = io.BytesIO()
    encrypt(_Trickle(data), out, public_key=PUBLIC, item_id=ITEM, key_version=1, context=CONTEXT, chunk_size=CHUNK)
    assert len(out.getvalue()) == stored_size_of(len(data), CHUNK)
    assert unseal(out.getvalue()) == data


def test_sources_that_are_not_bytes_are_refused():
    for bad in (b"raw bytes", "text", [b"ok", "text"], io.StringIO("text")):
        with pytest.raises(TypeError):
            encrypt(bad, io.BytesIO(), public_key=PUBLIC, item_id=ITEM, key_version=1, context=CONTEXT,  # type: ignore[arg-type]
                    chunk_size=CHUNK)
    for size in (MIN_CHUNK_SIZE - 1, MAX_CHUNK_SIZE + 1, True):
        with pytest.raises(ValueError):
            encrypt(io.BytesIO(b""), io.BytesIO(), public_key=PUBLIC, item_id=ITEM, key_version=1, context=CONTEXT,
                    chunk_size=size)  # type: ignore[arg-type]


def test_the_same_plaintext_never_gives_the_same_file():
    data = b"x" * 5000
    assert seal(data) != seal(data)  # a fresh data key and stream nonce every time


# ---- tampering: each kind refused on its own -------------------------------------------------------------

DATA = os.urandom(4 * CHUNK + 100)  # 5 chunks: 4 full, the last 100 bytes


def blob() -> bytearray:
    return bytearray(seal(DATA))


def chunk_at(i: int) -> slice:
    return slice(HEADER_SIZE + i * FULL, HEADER_SIZE + (i + 1) * FULL)


def test_an_untouched_file_opens():
    assert unseal(bytes(blob())) == DATA


@pytest.mark.parametrize(("offset", "reason"), [
    (0, "bad_magic"), (7, "bad_magic"),
    (8, "unsupported_version"), (9, "unsupported_version"),
    (10, "bad_header"), (11, "bad_header"),        # flags
    (12, "bad_header"),                            # chunk size: 2**24 + ... is out of bounds
    (16, "wrong_key"), (19, "wrong_key"),          # key version
    (20, "wrong_item"), (35, "wrong_item"),        # item id
    (36, "wrong_key"), (80, "wrong_key"), (115, "wrong_key"),  # sealed data key
    (116, "bad_chunk"), (139, "bad_chunk"),        # secretstream header: the first chunk no longer opens
])
def test_a_bit_flipped_in_the_header_is_refused(offset, reason):
    b = blob()
    b[offset] ^= 0x01 if offset != 12 else 0x10
    refused(bytes(b), reason)


def test_a_changed_chunk_size_is_refused_even_within_bounds():
    b = blob()
    struct.pack_into(">I", b, 12, CHUNK + 1)
    refused(bytes(b), "bad_chunk")  # the header is the additional data of every chunk


@pytest.mark.parametrize("where", [HEADER_SIZE, HEADER_SIZE + 5, HEADER_SIZE + FULL + 300, -1, -17, -18])
def test_a_bit_flipped_in_the_body_is_refused(where):
    b = blob()
    b[where] ^= 0x80
    refused(bytes(b), "bad_chunk")


def test_reordered_chunks_are_refused():
    b = blob()
    first, second = bytes(b[chunk_at(1)]), bytes(b[chunk_at(2)])
    b[chunk_at(1)], b[chunk_at(2)] = second, first
    refused(bytes(b), "bad_chunk")


def test_a_dropped_chunk_is_refused():
    b = blob()
    del b[chunk_at(2)]
    refused(bytes(b), "bad_chunk")


def test_a_duplicated_chunk_is_refused():
    b = blob()
    b[chunk_at(3)] = bytes(b[chunk_at(2)])  # same size, chunk 2 twice
    refused(bytes(b), "bad_chunk")
    b = blob()
    at = chunk_at(2).start
    b[at:at] = bytes(b[chunk_at(2)])  # inserted again
    refused(bytes(b), "bad_chunk")


def test_a_file_cut_at_a_chunk_boundary_is_refused_as_truncated():
    b = blob()
    refused(bytes(b[:chunk_at(4).start]), "truncated")  # 4 full chunks, no final one
    refused(bytes(b[:HEADER_SIZE]), "truncated")


def test_a_file_cut_inside_a_chunk_is_refused():
    b = blob()
    refused(bytes(b[:-1]), "bad_chunk")
    refused(bytes(b[:chunk_at(2).start + 40]), "bad_chunk")
    refused(bytes(b[:HEADER_SIZE + 5]), "truncated")
    refused(bytes(b[:HEADER_SIZE - 1]), "bad_header")
    refused(b"", "bad_magic")


def test_a_stream_without_a_final_tag_is_refused():
    """A writer holding the data key that never says FINAL: every chunk authenticates, yet the
    file is refused as truncated (the FINAL tag is what says the content is complete)."""
    data_key = crypto_secretstream_xchacha20poly1305_keygen()
    state = crypto_secretstream_xchacha20poly1305_state()
    stream_header = crypto_secretstream_xchacha20poly1305_init_push(state, data_key)
    header = struct.pack(">8sHHII16s80s24s", MAGIC, 1, 0, CHUNK, 1, ITEM, SealedBox(KEY.public_key).encrypt(data_key),
                         stream_header)
    ad = hashlib.sha256(b"breachindex vault item v1\x00" + header + CONTEXT).digest()
    body = b"".join(crypto_secretstream_xchacha20poly1305_push(state, b"y" * CHUNK, ad,
                                                               crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
                    for _ in range(3))
    refused(header + body, "truncated")


def test_trailing_bytes_after_the_final_chunk_are_refused():
    whole = seal(os.urandom(3 * CHUNK))  # the final chunk is a full one: what follows is plainly extra
    refused(whole + b"\x00", "trailing_data")
    refused(whole + whole[HEADER_SIZE:HEADER_SIZE + FULL], "trailing_data")
    # after a short final chunk the extra bytes run into it (chunks have no length field): it no longer opens
    refused(bytes(blob()) + b"\x00", "bad_chunk")
    refused(bytes(blob()) + bytes(blob()[chunk_at(1)]), "bad_chunk")


def test_a_file_of_another_item_or_participant_is_refused():
    refused(bytes(blob()), "wrong_item", item=bytes(16))
    refused(bytes(blob()), "wrong_key", key=PrivateKey.generate())
    refused(bytes(blob()), "wrong_key", key_version=2)


def test_the_item_context_is_bound_to_every_chunk():
    for other in (item_context("q" * 32, "meta", "r" * 32, 1_700_000_000_000_000),
                  item_context("p" * 32, "zoom", "r" * 32, 1_700_000_000_000_000),
                  item_context("p" * 32, "meta", None, 1_700_000_000_000_000),
                  item_context("p" * 32, "meta", "r" * 32, 1_700_000_000_000_001)):
        refused(bytes(blob()), "bad_chunk", context=other)


def test_a_valid_file_that_is_not_the_recorded_ciphertext_is_refused():
    """Anyone with the public key can write a valid file: the recorded hash says which one was stored."""
    original = bytes(blob())
    forged = seal(b"z" * len(DATA))
    assert len(forged) == len(original)
    refused(forged, "hash_mismatch", expected_sha256=hashlib.sha256(original).hexdigest())


def test_plaintext_already_given_out_before_a_later_failure():
    """The documented hazard of streaming: chunks before the damage come out, then the error."""
    b = blob()
    b[chunk_at(3).start + 10] ^= 1
    decryptor = Decryptor(io.BytesIO(bytes(b)), private_key=KEY, item=ITEM.hex(), key_version=1, context=CONTEXT)
    got = []
    with pytest.raises(ItemTampered) as caught:
        for piece in decryptor.chunks():
            got.append(piece)
    assert caught.value.reason == "bad_chunk" and b"".join(got) == DATA[:3 * CHUNK] and not decryptor.done
