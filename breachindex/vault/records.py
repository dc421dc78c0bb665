"""The vault's rows: participants' keys, their wraps, and items, as read from the campaign store."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..campaign.clock import from_us
from ..campaign.db import Db
from ..errors import UnknownItem, VaultNotSetUp
from .kdf import KdfParams
from .keys import Wrap

__all__ = ["Erasure", "SweepReport", "VaultItem", "VaultKey", "load_item", "load_key", "load_wrap",
           "participant_items"]


@dataclass(frozen=True)
class VaultItem:
    """An item the vault holds for a participant: where it came from and what was stored.

    ``size``: plaintext bytes; ``stored_size`` and ``sha256``: the encrypted file as stored
    (the SHA-256 is also in the audit-log entry ``log_seq``). ``partial``: stored as a partial
    answer. No plaintext metadata: the original file name, if one was given, is sealed to the
    participant's key and comes back only when the item is opened.
    """

    id: str
    participant: str
    controller: str
    request: str | None
    partial: bool
    received_at: datetime
    size: int
    stored_size: int
    sha256: str
    file_name: str
    key_version: int
    log_seq: int
    name_sealed: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class VaultKey:
    """A participant's vault key: the public key (raw, 32 bytes), its version, and for each
    slot (``passphrase``, ``recovery``) the key derivation and parameters its wrap was made with."""

    participant: str
    key_version: int
    public_key: bytes
    created_at: datetime
    updated_at: datetime
    kdf: dict[str, tuple[str, KdfParams]]


@dataclass(frozen=True)
class Erasure:
    """What ``Vault.erase`` / ``Campaign.erase_participant`` did.

    ``key_destroyed``: a vault key existed and its wraps are gone; ``items``: item rows
    deleted; ``files_left``: item files that could not be deleted now (``sweep`` removes them;
    without the private key they are noise either way); ``mandates_revoked`` and
    ``requests_cancelled``: ids; ``participant_row``: ``deleted`` (nothing referred to it),
    ``kept`` (mandates or requests refer to it: its sealed number and verification are wiped)
    or ``absent``; ``log_seq``: the audit-log entry that records the erasure;
    ``wal_checkpointed``: the database's write-ahead log was folded in and truncated, so old
    copies of the destroyed rows are gone from it too (False if a reader held it open).
    """

    participant: str
    erased_at: datetime
    key_destroyed: bool
    items: int
    files_left: tuple[str, ...]
    mandates_revoked: tuple[str, ...]
    requests_cancelled: tuple[str, ...]
    participant_row: str
    log_seq: int
    wal_checkpointed: bool


@dataclass(frozen=True)
class SweepReport:
    """What ``Vault.sweep`` found: ``temp_removed`` abandoned temporary files and
    ``orphans_removed`` item files without a row (their item ids), ``missing``: items whose
    file is gone (ids; reported, never deleted), ``unknown``: other entries, left alone."""

    temp_removed: int
    orphans_removed: tuple[str, ...]
    missing: tuple[str, ...]
    unknown: int


_ITEM_COLUMNS = ("id, participant, controller, request, partial, received_us, size, stored_size, sha256, file_name, "
                 "key_version, log_seq, name_sealed")


def _item_of(row: Any) -> VaultItem:
    return VaultItem(str(row[0]), str(row[1]), str(row[2]), row[3], bool(row[4]), from_us(int(row[5])), int(row[6]),
                     int(row[7]), str(row[8]), str(row[9]), int(row[10]), int(row[11]),
                     None if row[12] is None else bytes(row[12]))


def load_item(db: Db, item_id: object, participant: str | None = None) -> VaultItem:
    """The item with this id (of this participant, when given); UnknownItem if there is none."""
    row = None
    if isinstance(item_id, str) and len(item_id) <= 64:
        row = db.execute(f"SELECT {_ITEM_COLUMNS} FROM vault_items WHERE id = ?", (item_id,)).fetchone()
    if row is None or (participant is not None and row[1] != participant):
        raise UnknownItem("no such vault item" + ("" if participant is None else " for this participant"))
    return _item_of(row)


def participant_items(db: Db, participant: str) -> list[VaultItem]:
    rows = db.execute(f"SELECT {_ITEM_COLUMNS} FROM vault_items WHERE participant = ? ORDER BY received_us, id",
                      (participant,)).fetchall()
    return [_item_of(row) for row in rows]


def load_key(db: Db, participant: str) -> VaultKey:
    """The participant's vault key; VaultNotSetUp if there is none."""
    row = db.execute("SELECT key_version, public_key, created_us, updated_us FROM vault_keys WHERE participant = ?",
                     (participant,)).fetchone()
    if row is None:
        raise VaultNotSetUp("this participant has no vault key (not set up, or erased)")
    kdf: dict[str, tuple[str, KdfParams]] = {}
    for slot in ("passphrase", "recovery"):
        try:
            wrap = load_wrap(db, participant, slot)
        except VaultNotSetUp:
            continue
        kdf[slot] = (wrap.kdf, wrap.params)
    return VaultKey(participant, int(row[0]), bytes(row[1]), from_us(int(row[2])), from_us(int(row[3])), kdf)


def load_wrap(db: Db, participant: str, slot: str) -> Wrap:
    """The participant's wrap in ``slot``; VaultNotSetUp if there is none, VaultCorrupted if its
    parameters are unusable."""
    row = db.execute("SELECT kdf, time_cost, memory_kib, parallelism, salt, nonce, wrapped FROM vault_wraps "
                     "WHERE participant = ? AND slot = ?", (participant, slot)).fetchone()
    if row is None:
        raise VaultNotSetUp("this participant has no vault key (not set up, or erased)")
    params = KdfParams.stored(str(row[0]), row[1], row[2], row[3], bytes(row[4]))
    return Wrap(slot, params, bytes(row[4]), bytes(row[5]), bytes(row[6]), str(row[0]))
