"""The encrypted per-person vault: what controllers send back stays the participant's.

When Meta (or Zoom, Palantir, TikTok) answers a participant's request, SOMI stores the answer so
that only that person can read it, by logging in: not SOMI's staff, not its database
administrator, not whoever copies the disk::

    vault = campaign.vault("/srv/somi/vault")
    code = vault.setup(participant, passphrase)      # show the recovery code once; it is not kept
    item = vault.store(participant, "meta", stream, request=request_id)   # request -> fulfilled
    vault.open_to(participant, passphrase, item, "download.zip")
    vault.change_passphrase(participant, old, new)   # rewraps one key; items untouched
    new_code = vault.recover(participant, code, new_passphrase)   # the code works once
    vault.erase(participant)                         # GDPR erasure: key and items destroyed

How: each participant has an X25519 key pair. The private key is kept only wrapped
(XChaCha20-Poly1305) under a key derived by Argon2id (RFC 9106: t=3, p=4, 64 MiB) from the
person's passphrase, and a second time under a one-time recovery code. An item is encrypted as
it arrives: a fresh data key sealed to the public key (libsodium sealed box), the content in
XChaCha20-Poly1305 secretstream chunks, in constant memory whatever its size.

**Without the passphrase and without the recovery code the data is gone.** SOMI holds no copy
of either and no other key: it cannot reset access, and neither can anyone it is ordered to
hand the data to. The person must keep the recovery code somewhere safe.

What the server sees: who has items, from which controller, when, how large, and for which
request; never the content or the original file name (sealed to the
person). What it cannot prevent: someone with the public key (the server itself) can write a
new, valid item for a participant; the ciphertext's SHA-256 is recorded in the store and the
signed, hash-chained audit log when an item is stored, and checked on every read. A
passphrase change does not protect against someone who copied the database earlier and
learns the old passphrase: old wraps live on in backups. Online guessing must be rate-limited
by the application's login, as any password check.

Modules, one job each: ``kdf`` (Argon2id parameters), ``passphrases`` (the passphrase policy,
recovery codes), ``keys`` (key pairs, wrapping), ``stream`` (the item file format),
``files`` (the folder, atomic writes, what a sweep removes), ``records`` (rows and results),
``erasure`` (what erasure destroys and keeps), ``vault`` (the ``Vault`` facade).
"""
from __future__ import annotations

from .erasure import ERASURE_REASON
from .kdf import KDF_NAME, RFC9106_LOW_MEMORY, KdfParams
from .passphrases import RECOVERY_CODE_LENGTH, PassphrasePolicy
from .records import Erasure, SweepReport, VaultItem, VaultKey
from .stream import DEFAULT_CHUNK_SIZE, FORMAT_VERSION, HEADER_SIZE, MAGIC, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE
from .vault import ItemReader, Vault

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ERASURE_REASON",
    "Erasure",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "ItemReader",
    "KDF_NAME",
    "KdfParams",
    "MAGIC",
    "MAX_CHUNK_SIZE",
    "MIN_CHUNK_SIZE",
    "PassphrasePolicy",
    "RECOVERY_CODE_LENGTH",
    "RFC9106_LOW_MEMORY",
    "SweepReport",
    "Vault",
    "VaultItem",
    "VaultKey",
]
