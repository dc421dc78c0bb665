"""``Vault``: what controllers send back, kept so that only the participant can read it.

::

    vault = campaign.vault("/srv/somi/vault")             # or Vault(campaign, folder)
    code = vault.setup(participant, passphrase)            # show the recovery code once
    item = vault.store(participant, "meta", response_stream, request=request_id)
    with vault.open(participant, passphrase, item) as plain:
        for chunk in plain.chunks():
            ...
    vault.open_to(participant, passphrase, item, "download.zip")   # all or nothing

The server holds each participant's public key and their private key wrapped under their
passphrase and under their recovery code (``keys``, ``kdf``); it encrypts what arrives to the
public key as it streams in (``stream``), so it can store but never read. Without the
passphrase and without the recovery code the data is gone: SOMI cannot recover it.
"""
from __future__ import annotations

import io
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from ..campaign.clock import MICROSECOND, from_us, now_us, to_us
from ..campaign.context import WorkflowContext
from ..campaign.controllers import lookup_controller
from ..campaign.db import Db
from ..campaign.mandates import iso
from ..campaign.requests import RequestRecord, check_transition, load_request, transition
from ..errors import (
    ItemTampered,
    UnknownParticipant,
    UnknownRequest,
    VaultConflict,
    VaultRefused,
    WeakPassphrase,
    WrongPassphrase,
    WrongRecoveryCode,
)
from .erasure import checkpoint_wal, erase_participant
from .files import VaultFolder
from .kdf import RFC9106_LOW_MEMORY, KdfParams
from .keys import Wrap, new_key_pair, unwrap_private_key, wrap_private_key
from .passphrases import PassphrasePolicy, encode_passphrase, new_recovery_code, parse_recovery_code
from .records import Erasure, SweepReport, VaultItem, VaultKey, load_item, load_key, load_wrap, participant_items
from .stream import DEFAULT_CHUNK_SIZE, Decryptor, Source, check_chunk_size, encrypt, item_context

if TYPE_CHECKING:
    from ..campaign.campaign import Campaign

__all__ = ["ItemReader", "Vault"]

log = logging.getLogger("breachindex.vault")

_KEY_VERSION = 1
_MAX_NAME = 255
_NAME_PREFIX = b"breachindex vault name v1\x00"


def _check_participant(participant: object) -> str:
    if not isinstance(participant, str) or not participant or len(participant) > 64 or not (
            participant.isascii() and participant.isprintable()):
        raise ValueError("a participant id is a non-empty printable ASCII str of at most 64 characters")
    return participant


def _check_name(name: object) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str) or not name or len(name) > _MAX_NAME or not name.isprintable():
        raise ValueError(f"an item name is printable text of 1 to {_MAX_NAME} characters")
    return name


@dataclass(frozen=True)
class _Unlocked:
    key: VaultKey
    private_key: PrivateKey


class ItemReader(io.RawIOBase):
    """An opened item: a readable binary stream of its plaintext (``read``, ``readinto``), or
    ``chunks()`` to take it chunk by chunk. ``item``: the item; ``original_name``: the name it
    was stored with (sealed; None if none was given). Memory stays at one chunk.

    Every chunk is authenticated before it is given out, but the item is only known to be
    whole (nothing cut, dropped or added, the recorded ciphertext) when the last chunk has been
    read: a stream may fail with ItemTampered after handing out part of the plaintext. Whoever
    consumes it must treat the output as incomplete until the end is reached without an error,
    or use ``Vault.open_to``, which renames its output into place only then.
    """

    def __init__(self, f: BinaryIO, decryptor: Decryptor, item: VaultItem, original_name: str | None) -> None:
        super().__init__()
        self._f = f
        self._chunks = decryptor.chunks()
        self._pending = memoryview(b"")
        self.item = item
        self.original_name = original_name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        count = min(len(target), len(self._pending))
        target[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def chunks(self) -> Iterator[bytes]:
        """The rest of the plaintext, one chunk at a time (ItemTampered when something fails)."""
        if self._pending:
            rest, self._pending = bytes(self._pending), memoryview(b"")
            yield rest
        yield from self._chunks

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()


class Vault:
    """The encrypted per-person vault of one campaign: keys in its store, item files in ``folder``.

    ``campaign``: an open ``Campaign``, or its ``context`` (its store holds the keys and item
    rows, its audit log records every change). ``folder``: the item files (created, mode 0700, if it does not exist;
    bound to this campaign store by a marker file). ``kdf``: the Argon2id parameters for new
    wraps (default RFC 9106's second recommendation: t=3, p=4, 64 MiB); wraps made under other
    parameters still open. ``chunk_size``: plaintext bytes per encrypted chunk (256 KiB).
    ``policy``: what a new passphrase must be (at least 12 characters).

    Every method that depends on time takes ``now=`` (aware datetime; default: now, UTC).
    """

    def __init__(self, campaign: Campaign | WorkflowContext, folder: str | os.PathLike[str], *,
                 kdf: KdfParams = RFC9106_LOW_MEMORY,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, policy: PassphrasePolicy | None = None) -> None:
        if not isinstance(kdf, KdfParams):
            raise TypeError("kdf must be a KdfParams")
        context = campaign if isinstance(campaign, WorkflowContext) else campaign.context
        self._context = context
        self._store, self._audit, self._evidence = context.store, context.audit, context.evidence
        self._holidays = context.holidays
        self._kdf = kdf
        self._chunk_size = check_chunk_size(chunk_size)
        self._policy = policy if policy is not None else PassphrasePolicy()
        vault_id = self._store.bind_setting("vault_id", secrets.token_hex(16))
        with self._store.read() as db:
            stored = int(db.execute("SELECT COUNT(*) FROM vault_items").fetchone()[0])
        self._folder = VaultFolder(folder, vault_id, stored_items=stored)

    def __repr__(self) -> str:
        return f"Vault({str(self._folder.path)!r})"

    @property
    def folder(self) -> Path:
        return self._folder.path

    @property
    def kdf(self) -> KdfParams:
        """The Argon2id parameters new wraps are made with."""
        return self._kdf

    # ---- keys ----------------------------------------------------------------------------
    def is_set_up(self, participant: str) -> bool:
        """True if the participant has a vault key."""
        with self._store.read() as db:
            return db.execute("SELECT 1 FROM vault_keys WHERE participant = ?", (participant,)).fetchone() is not None

    def key(self, participant: str) -> VaultKey:
        """The participant's public key, key version and each wrap's parameters (VaultNotSetUp)."""
        with self._store.read() as db:
            return load_key(db, participant)

    def setup(self, participant: str, passphrase: str, *, now: datetime | None = None) -> str:
        """Create the participant's key pair, wrapped under ``passphrase`` and under a new
        recovery code, which is returned: show it to the person once; it is not kept anywhere.

        The participant must have confirmed a one-time code within the check policy's
        ``verified_for`` (whoever sets the passphrase owns what arrives later). Raises
        WeakPassphrase, UnknownParticipant, VaultRefused (``not_verified``, ``already_set_up``).
        """
        t = now_us(now)
        pid = _check_participant(participant)
        secret = self._policy.check(passphrase)
        with self._store.read() as db:
            self._may_set_up(db, pid, t)
        private_key, public_key = new_key_pair()
        code = new_recovery_code()
        wraps = [wrap_private_key(private_key, secret, participant=pid, slot="passphrase", key_version=_KEY_VERSION,
                                  public_key=public_key, params=self._kdf),
                 wrap_private_key(private_key, parse_recovery_code(code), participant=pid, slot="recovery",
                                  key_version=_KEY_VERSION, public_key=public_key, params=self._kdf)]
        with self._store.transaction() as db:
            self._may_set_up(db, pid, t)
            db.execute("INSERT INTO vault_keys (participant, key_version, public_key, created_us, updated_us) "
                       "VALUES (?, ?, ?, ?, ?)", (pid, _KEY_VERSION, public_key, t, t))
            for wrap in wraps:
                self._insert_wrap(db, pid, wrap, t)
            self._audit.append(db, "vault_set_up", t, participant=pid, payload={
                "key_version": _KEY_VERSION, "public_key": public_key.hex(), "kdf": self._kdf_json(self._kdf),
                "set_up_at": iso(t)})
        log.info("vault key set up for participant %s", pid[:8])
        return code

    def _may_set_up(self, db: Db, pid: str, t: int) -> None:
        row = db.execute("SELECT verified_us FROM participants WHERE id = ?", (pid,)).fetchone()
        if row is None:
            raise UnknownParticipant("no such participant")
        if db.execute("SELECT 1 FROM vault_keys WHERE participant = ?", (pid,)).fetchone() is not None:
            raise VaultRefused("already_set_up", "this participant already has a vault key: change the passphrase "
                                                 "or recover instead")
        verified_for = self._context.verified_for // MICROSECOND
        if row[0] is None or not t < int(row[0]) + verified_for:
            raise VaultRefused("not_verified", "the participant must confirm a one-time code shortly before setting "
                                               "up the vault")

    @staticmethod
    def _kdf_json(params: KdfParams) -> dict[str, int]:
        return {"time_cost": params.time_cost, "memory_kib": params.memory_kib, "parallelism": params.parallelism,
                "salt_bytes": params.salt_bytes}

    @staticmethod
    def _insert_wrap(db: Db, pid: str, wrap: Wrap, t: int) -> None:
        db.execute("INSERT INTO vault_wraps (participant, slot, kdf, time_cost, memory_kib, parallelism, salt, nonce, "
                   "wrapped, created_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (pid, wrap.slot, wrap.kdf, wrap.params.time_cost, wrap.params.memory_kib, wrap.params.parallelism,
                    wrap.salt, wrap.nonce, wrap.wrapped, t))

    @staticmethod
    def _replace_wrap(db: Db, pid: str, old: Wrap, new: Wrap, t: int) -> bool:
        """Swap a wrap for a new one if it is still ``old`` (compare-and-swap); False otherwise."""
        cur = db.execute("UPDATE vault_wraps SET kdf = ?, time_cost = ?, memory_kib = ?, parallelism = ?, salt = ?, "
                         "nonce = ?, wrapped = ?, created_us = ? WHERE participant = ? AND slot = ? AND wrapped = ?",
                         (new.kdf, new.params.time_cost, new.params.memory_kib, new.params.parallelism, new.salt,
                          new.nonce, new.wrapped, t, pid, new.slot, old.wrapped))
        return cur.rowcount == 1

    def _unlock(self, pid: str, slot: str, secret: bytes | None) -> tuple[_Unlocked, Wrap] | None:
        """The private key opened through ``slot``, and the wrap it came from; None if the secret is wrong."""
        with self._store.read() as db:
            key = load_key(db, pid)
            wrap = load_wrap(db, pid, slot)
        if secret is None:
            return None
        private_key = unwrap_private_key(wrap, secret, participant=pid, key_version=key.key_version,
                                         public_key=key.public_key)
        return None if private_key is None else (_Unlocked(key, private_key), wrap)

    def _with_passphrase(self, pid: str, passphrase: str) -> tuple[_Unlocked, Wrap]:
        opened = self._unlock(pid, "passphrase", encode_passphrase(passphrase))
        if opened is None:
            raise WrongPassphrase("the passphrase does not open this participant's vault")
        return opened

    def change_passphrase(self, participant: str, old: str, new: str, *, now: datetime | None = None) -> None:
        """Rewrap the private key under ``new`` (and the current Argon2id parameters); items
        are untouched. WrongPassphrase, WeakPassphrase (``same_as_old`` too), VaultNotSetUp,
        VaultConflict (changed meanwhile by someone else)."""
        t = now_us(now)
        pid = _check_participant(participant)
        secret = self._policy.check(new)
        if secret == encode_passphrase(old):
            raise WeakPassphrase("same_as_old", "the new passphrase is the same as the old one")
        unlocked, old_wrap = self._with_passphrase(pid, old)
        key = unlocked.key
        new_wrap = wrap_private_key(unlocked.private_key, secret, participant=pid, slot="passphrase",
                                    key_version=key.key_version, public_key=key.public_key, params=self._kdf)
        with self._store.transaction() as db:
            if not self._replace_wrap(db, pid, old_wrap, new_wrap, t):
                raise VaultConflict("the passphrase was changed meanwhile; nothing was changed")
            db.execute("UPDATE vault_keys SET updated_us = ? WHERE participant = ?", (t, pid))
            self._audit.append(db, "vault_passphrase_changed", t, participant=pid, payload={
                "key_version": key.key_version, "kdf": self._kdf_json(self._kdf), "changed_at": iso(t)})
        checkpoint_wal(self._store)  # the old wrap's pages leave the write-ahead log now, not at some later point
        log.info("vault passphrase changed for participant %s", pid[:8])

    def recover(self, participant: str, recovery_code: str, new_passphrase: str, *,
                now: datetime | None = None) -> str:
        """Open the private key with the recovery code, wrap it under ``new_passphrase``, and
        return a new recovery code (the one used no longer works: show the new one once).
        WrongRecoveryCode (wrong, malformed or already used), WeakPassphrase, VaultNotSetUp."""
        t = now_us(now)
        pid = _check_participant(participant)
        secret = self._policy.check(new_passphrase)
        opened = self._unlock(pid, "recovery", parse_recovery_code(recovery_code))
        if opened is None:
            raise WrongRecoveryCode("the recovery code does not open this participant's vault (wrong, or used "
                                    "already)")
        unlocked, old_recovery = opened
        key = unlocked.key
        code = new_recovery_code()
        new_passphrase_wrap = wrap_private_key(unlocked.private_key, secret, participant=pid, slot="passphrase",
                                               key_version=key.key_version, public_key=key.public_key,
                                               params=self._kdf)
        new_recovery = wrap_private_key(unlocked.private_key, parse_recovery_code(code), participant=pid,
                                        slot="recovery", key_version=key.key_version, public_key=key.public_key,
                                        params=self._kdf)
        with self._store.transaction() as db:
            if not self._replace_wrap(db, pid, old_recovery, new_recovery, t):  # the code is spent exactly once
                raise WrongRecoveryCode("the recovery code does not open this participant's vault (wrong, or used "
                                        "already)")
            current = load_wrap(db, pid, "passphrase")
            self._replace_wrap(db, pid, current, new_passphrase_wrap, t)
            db.execute("UPDATE vault_keys SET updated_us = ? WHERE participant = ?", (t, pid))
            self._audit.append(db, "vault_recovered", t, participant=pid, payload={
                "key_version": key.key_version, "kdf": self._kdf_json(self._kdf), "recovered_at": iso(t)})
        checkpoint_wal(self._store)
        log.info("vault recovered for participant %s; a new recovery code was issued", pid[:8])
        return code

    def new_recovery_code(self, participant: str, passphrase: str, *, now: datetime | None = None) -> str:
        """Replace the recovery code (the old one stops working) and return the new one, shown
        once. WrongPassphrase, VaultNotSetUp, VaultConflict."""
        t = now_us(now)
        pid = _check_participant(participant)
        unlocked, _ = self._with_passphrase(pid, passphrase)
        key = unlocked.key
        code = new_recovery_code()
        new_wrap = wrap_private_key(unlocked.private_key, parse_recovery_code(code), participant=pid, slot="recovery",
                                    key_version=key.key_version, public_key=key.public_key, params=self._kdf)
        with self._store.read() as db:
            old_wrap = load_wrap(db, pid, "recovery")
        with self._store.transaction() as db:
            if not self._replace_wrap(db, pid, old_wrap, new_wrap, t):
                raise VaultConflict("the recovery code was replaced meanwhile; nothing was changed")
            db.execute("UPDATE vault_keys SET updated_us = ? WHERE participant = ?", (t, pid))
            self._audit.append(db, "vault_recovery_replaced", t, participant=pid, payload={
                "key_version": key.key_version, "kdf": self._kdf_json(self._kdf), "replaced_at": iso(t)})
        checkpoint_wal(self._store)
        return code

    # ---- items ---------------------------------------------------------------------------
    def store(self, participant: str, source: str, stream: Source, *, request: str | None = None,
              partial: bool = False, name: str | None = None, now: datetime | None = None) -> VaultItem:
        """Encrypt ``stream`` to the participant's public key as it is read, and record it.

        ``source``: the controller it came from (a key of the campaign's registry). ``stream``:
        a binary file-like object or an iterable of bytes pieces, of any size (constant memory).
        ``request``: the participant's request it answers; it moves to ``fulfilled``, or to
        ``partially_fulfilled`` with ``partial=True``, through the request state machine, in the
        same transaction as the item (a request already in that state just gains the item:
        an answer in several files). A request that cannot move there (``draft``, ``queued``,
        ``refused``, ``closed``, ...) is refused with IllegalTransition before anything is read.
        ``name``: the original file name, kept sealed to the participant's key.

        Raises UnknownController, VaultNotSetUp, UnknownRequest (no such request for this
        participant), ValueError (the request is to another controller), IllegalTransition,
        VaultConflict (the participant was erased meanwhile).
        """
        t = now_us(now)
        pid = _check_participant(participant)
        controller = lookup_controller(self._context.controllers, source).key
        label = _check_name(name)
        if not isinstance(partial, bool):
            raise TypeError("partial must be a bool")
        target = "partially_fulfilled" if partial else "fulfilled"
        with self._store.read() as db:
            key = load_key(db, pid)
            if request is not None:
                self._check_request(db, pid, controller, request, target, t)
        item_id = secrets.token_hex(16)
        context = item_context(pid, controller, request, t)
        name_sealed = None if label is None else SealedBox(PublicKey(key.public_key)).encrypt(
            _NAME_PREFIX + item_id.encode("ascii") + b"\x00" + label.encode("utf-8"))
        temp, fd = self._folder.create_temp(item_id)
        placed: Path | None = None
        try:
            with open(fd, "wb", buffering=0, closefd=True) as out:
                sealed = encrypt(stream, out, public_key=key.public_key, item_id=bytes.fromhex(item_id),
                                 key_version=key.key_version, context=context, chunk_size=self._chunk_size)
                os.fsync(out.fileno())
            file_name = self._folder.file_name(item_id)
            with self._store.transaction() as db:
                current = db.execute("SELECT key_version, public_key FROM vault_keys WHERE participant = ?",
                                     (pid,)).fetchone()
                if current is None or int(current[0]) != key.key_version or bytes(current[1]) != key.public_key:
                    raise VaultConflict("the participant's vault key was erased or replaced while the item was "
                                        "stored; nothing was stored")
                if request is not None:
                    record = self._check_request(db, pid, controller, request, target, t)
                    if record.state != target:
                        transition(db, audit=self._audit, keys=self._evidence, t=t, request_id=record.id,
                                   to_state=target, on=from_us(t).date(), note=None, holidays=self._holidays)
                entry = self._audit.append(db, "vault_item_stored", t, participant=pid, ref=item_id, payload={
                    "item": item_id, "controller": controller, "request": request, "partial": partial,
                    "received_at": iso(t), "key_version": key.key_version, "stored_size": sealed.stored_size,
                    "sha256": sealed.sha256})
                db.execute("INSERT INTO vault_items (id, participant, key_version, controller, request, partial, "
                           "received_us, size, stored_size, sha256, file_name, name_sealed, log_seq) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (item_id, pid, key.key_version, controller, request, int(partial), t, sealed.size,
                            sealed.stored_size, sealed.sha256, file_name, name_sealed, entry.seq))
                # in place before the commit: a crash leaves an orphan file at worst, never a row without a file
                placed = self._folder.place(temp, item_id)
        except BaseException:
            for path in (temp, placed):
                if path is not None:
                    path.unlink(missing_ok=True)
            raise
        log.info("vault item %s stored for participant %s (%d bytes)", item_id[:8], pid[:8], sealed.size)
        return VaultItem(item_id, pid, controller, request, partial, from_us(t), sealed.size, sealed.stored_size,
                         sealed.sha256, file_name, key.key_version, entry.seq, name_sealed)

    def _check_request(self, db: Db, pid: str, controller: str, request_id: str, target: str,
                       t: int) -> RequestRecord:
        record = load_request(db, request_id, today=from_us(t).date(), holidays=self._holidays)
        if record.participant != pid:
            raise UnknownRequest("this participant has no request with that id")
        if record.controller != controller:
            raise ValueError("the request is to another controller than the item's source")
        if record.state != target:
            check_transition(record.state, target)
        return record

    def items(self, participant: str) -> list[VaultItem]:
        """The participant's items, oldest first."""
        with self._store.read() as db:
            return participant_items(db, participant)

    def item(self, item_id: str) -> VaultItem:
        """An item by id (UnknownItem if none)."""
        with self._store.read() as db:
            return load_item(db, item_id)

    def _item_file(self, db: Db, pid: str, item: VaultItem | str) -> tuple[VaultItem, BinaryIO]:
        """The item's row, checked against its audit-log entry, and its file opened and sized."""
        row = load_item(db, item.id if isinstance(item, VaultItem) else item, pid)
        try:
            entry = self._audit.entry(db, row.log_seq)
        except ValueError:
            entry = None
        payload = {} if entry is None else entry.payload
        if (entry is None or entry.kind != "vault_item_stored" or entry.participant != pid
                or payload.get("item") != row.id or payload.get("sha256") != row.sha256
                or payload.get("stored_size") != row.stored_size or payload.get("controller") != row.controller
                or payload.get("request") != row.request or entry.at_us != to_us(row.received_at)):
            raise ItemTampered(row.id, "log_mismatch", "the item's row disagrees with the audit-log entry that "
                                                       "recorded it")
        path = self._folder.path_of(row.file_name)
        if path is None:
            raise ItemTampered(row.id, "bad_header", "the item's recorded file name is not one the vault writes")
        try:
            f = open(path, "rb")  # noqa: SIM115 -- handed to the reader, which closes it
        except FileNotFoundError:
            raise ItemTampered(row.id, "missing_file", "the item's file is missing") from None
        actual = os.fstat(f.fileno()).st_size
        if actual != row.stored_size:
            f.close()
            raise ItemTampered(row.id, "size_mismatch", f"the file has {actual} bytes, {row.stored_size} were "
                                                        "stored: truncated or extended")
        return row, f

    def open(self, participant: str, passphrase: str, item: VaultItem | str) -> ItemReader:
        """The item's plaintext as a stream (see ``ItemReader``; use it as a context manager).

        WrongPassphrase; UnknownItem (no such item for this participant); ItemTampered with a
        ``reason`` when the file or its row fails a check: missing, truncated or extended,
        another item's or participant's file, a header or chunk altered, chunks reordered,
        dropped or duplicated, no final chunk, bytes after it, not the ciphertext recorded.
        """
        pid = _check_participant(participant)
        with self._store.read() as db:
            row, f = self._item_file(db, pid, item)
        try:
            unlocked, _ = self._with_passphrase(pid, passphrase)
            if unlocked.key.key_version != row.key_version:
                raise ItemTampered(row.id, "wrong_key", "the item is sealed to another key version")
            name = self._open_name(row, unlocked.private_key)
            decryptor = Decryptor(f, private_key=unlocked.private_key, item=row.id, key_version=row.key_version,
                                  context=item_context(pid, row.controller, row.request, to_us(row.received_at)),
                                  expected_sha256=row.sha256)
        except BaseException:
            f.close()
            raise
        return ItemReader(f, decryptor, row, name)

    @staticmethod
    def _open_name(row: VaultItem, private_key: PrivateKey) -> str | None:
        if row.name_sealed is None:
            return None
        prefix = _NAME_PREFIX + row.id.encode("ascii") + b"\x00"
        try:
            plain = SealedBox(private_key).decrypt(row.name_sealed)
        except CryptoError:
            plain = b""
        if not plain.startswith(prefix):
            raise ItemTampered(row.id, "wrong_key", "the item's sealed name does not open, or is another item's")
        return plain[len(prefix):].decode("utf-8")

    def open_to(self, participant: str, passphrase: str, item: VaultItem | str, path: str | os.PathLike[str], *,
                overwrite: bool = False) -> Path:
        """Write the item's plaintext to ``path``, all or nothing: into a temporary file beside
        it (mode 0600), renamed into place only once the whole item has verified; on any error
        nothing is left behind. FileExistsError if ``path`` exists, unless ``overwrite``."""
        target = Path(path)
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} exists")
        temp = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
        try:
            with self.open(participant, passphrase, item) as plain:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with open(fd, "wb", buffering=0, closefd=True) as out:
                    for chunk in plain.chunks():
                        view = memoryview(chunk)
                        while view:
                            view = view[out.write(view) or 0:]
                    os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return target

    # ---- erasure and housekeeping --------------------------------------------------------
    def erase(self, participant: str, *, now: datetime | None = None) -> Erasure:
        """GDPR erasure of the participant: their vault key and items are destroyed, their
        mandates revoked, their sealed number wiped; see ``breachindex.vault.erasure`` for what
        stays and why. UnknownParticipant if there is no such participant."""
        t = now_us(now)
        return erase_participant(self._store, audit=self._audit, keys=self._evidence, holidays=self._holidays,
                                 participant=_check_participant(participant), t=t, folder=self._folder)

    def sweep(self, *, older_than: timedelta = timedelta(hours=1), now: datetime | None = None) -> SweepReport:
        """Remove what an interrupted store or erasure left: temporary files not written to for
        ``older_than`` (a store in progress keeps writing to its own), and item files without a
        row (under the store's write lock, so never one being committed). Items whose file is
        missing are reported, not touched."""
        if older_than < timedelta(0):
            raise ValueError("older_than must not be negative")
        cutoff = (now_us(now) - older_than // MICROSECOND) / 1e6
        with self._store.read() as db:  # before the scan: every row seen here had its file in place already
            recorded = {str(r[0]) for r in db.execute("SELECT id FROM vault_items")}
        temp_removed, unknown = 0, 0
        present: set[str] = set()
        candidates: dict[str, Path] = {}
        for kind, item_id, path in self._folder.scan():
            if kind == "temp":
                try:
                    stale = path.stat().st_mtime <= cutoff
                except FileNotFoundError:
                    continue
                if stale:
                    path.unlink(missing_ok=True)
                    temp_removed += 1
            elif kind == "item" and item_id is not None:
                if item_id in recorded:
                    present.add(item_id)
                else:
                    candidates[item_id] = path
            else:
                unknown += 1
        orphans: list[str] = []
        if candidates:
            # under the write lock: a store that renamed its file but has not committed holds it
            with self._store.transaction() as db:
                for item_id, path in sorted(candidates.items()):
                    if db.execute("SELECT 1 FROM vault_items WHERE id = ?", (item_id,)).fetchone() is None:
                        path.unlink(missing_ok=True)
                        orphans.append(item_id)
        missing = tuple(sorted(recorded - present))
        if temp_removed or orphans:
            log.info("vault sweep removed %d temporary file(s) and %d orphan(s)", temp_removed, len(orphans))
        if missing:
            log.warning("vault sweep: %d item(s) have no file", len(missing))
        return SweepReport(temp_removed, tuple(orphans), missing, unknown)
