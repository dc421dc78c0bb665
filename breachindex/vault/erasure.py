"""GDPR erasure of a participant (Art. 17): what goes, what stays, and why.

In one transaction:

* the vault key: both wraps of the private key are overwritten with zeros and deleted, then the
  public key (``secure_delete`` is on, so SQLite zeroes the freed space as well); the item rows
  are deleted. This is the erasure proper, by crypto-shredding: every item was sealed to a key
  of which no copy remains, so the files are noise from here on, whoever holds them (backups,
  disk blocks an SSD or a copy-on-write file system keeps after a delete);
* every mandate not yet revoked is revoked (reason: erasure), which cancels its open requests
  and flags a notice where a filing or the controller must be told (``pending_notices``);
* the participant row loses its sealed phone number, verification and lock state, and its
  one-time-code challenges, contact preferences (with the sealed e-mail address) and
  notification records go. The row itself is deleted, with its ID-check outcomes, when no
  mandate or request refers to it; otherwise it stays (a pseudonymous id) and so do the ID
  checks that mandates refer to, while the others go;
* an audit-log entry ``participant_erased`` records counts and ids, no personal data.

What stays, on purpose: signed mandates with their sealed evidence, requests and their history
(SOMI must be able to show it acted on a valid mandate: Art. 17(3)(e) GDPR, legal claims), and
the audit log, which is append-only and holds only pseudonymous ids, states, times and hashes.
The participant id is a keyed hash of the phone number, so the same person returning later
gets the same id. Rate-limit events (keyed hashes too) are not touched: they expire within a
day on their own.

After the commit the item files are deleted (overwriting them first would mean nothing on SSDs
and copy-on-write file systems; the security argument is the key's destruction) and the
database's write-ahead log is checkpointed and truncated, so the destroyed rows' old pages do
not linger in it. Backups taken before the erasure still hold the wrapped key; they hold it
wrapped, and opening it needs the person's passphrase or recovery code.
"""
from __future__ import annotations

import logging

from ..campaign.audit import AuditLog
from ..campaign.calendars import Calendars
from ..campaign.clock import from_us
from ..campaign.db import CampaignDb
from ..campaign.deadlines import HolidaySpec
from ..campaign.mandates import iso, revoke_mandate
from ..campaign.requests import cancel_for_revocation
from ..campaign.sealing import EvidenceKeys
from ..errors import UnknownParticipant
from .files import VaultFolder
from .records import Erasure

__all__ = ["ERASURE_REASON", "checkpoint_wal", "erase_participant"]

log = logging.getLogger("breachindex.vault")

#: the revocation reason recorded (sealed) for mandates revoked by an erasure
ERASURE_REASON = "the participant asked for erasure of their data"


def checkpoint_wal(store: CampaignDb) -> bool:
    """Fold the write-ahead log into the database and truncate it; False if a reader kept it busy."""
    return store.checkpoint_wal()


def erase_participant(store: CampaignDb, *, audit: AuditLog, keys: EvidenceKeys, holidays: HolidaySpec | Calendars,
                      participant: str, t: int, folder: VaultFolder | None) -> Erasure:
    """Erase a participant (see the module doc). ``folder``: the vault folder whose item files
    to delete (None: they stay as noise, listed in ``files_left``, until ``sweep`` runs)."""
    revoked: list[str] = []
    cancelled: list[str] = []
    with store.transaction() as db:
        known = db.execute("SELECT 1 FROM participants WHERE id = ?", (participant,)).fetchone() is not None
        if not known:
            raise UnknownParticipant("no such participant")
        files = [str(r[0]) for r in db.execute("SELECT file_name FROM vault_items WHERE participant = ?",
                                               (participant,))]
        items = db.execute("DELETE FROM vault_items WHERE participant = ?", (participant,)).rowcount
        # zeros over the wrapped key first: belt and braces beside secure_delete
        db.execute("UPDATE vault_wraps SET salt = ?, nonce = ?, wrapped = ? WHERE participant = ?",
                   (bytes(16), bytes(24), bytes(48), participant))
        db.execute("DELETE FROM vault_wraps WHERE participant = ?", (participant,))
        key_destroyed = db.execute("DELETE FROM vault_keys WHERE participant = ?", (participant,)).rowcount == 1
        on = from_us(t).date()
        for (mandate_id,) in db.execute("SELECT id FROM mandates WHERE participant = ? AND revoked_us IS NULL "
                                        "ORDER BY signed_us, id", (participant,)).fetchall():
            outcome = cancel_for_revocation(db, audit=audit, keys=keys, t=t, on=on, mandate_id=mandate_id,
                                            holidays=holidays)
            revoke_mandate(db, keys=keys, audit=audit, t=t, mandate_id=mandate_id, reason=ERASURE_REASON,
                           outcome=outcome)
            revoked.append(mandate_id)
            cancelled.extend(outcome["cancelled"])
        db.execute("DELETE FROM challenges WHERE participant = ?", (participant,))
        db.execute("DELETE FROM contact_preferences WHERE participant = ?", (participant,))  # the e-mail address too
        db.execute("DELETE FROM notifications WHERE participant = ?", (participant,))
        referred = db.execute(
            "SELECT EXISTS (SELECT 1 FROM mandates WHERE participant = ?) OR "
            "EXISTS (SELECT 1 FROM requests WHERE participant = ?)", (participant, participant)).fetchone()[0]
        if referred:
            db.execute("UPDATE participants SET phone_sealed = NULL, verified_us = NULL, failures = 0, "
                       "wait_until_us = NULL, locked_us = NULL WHERE id = ?", (participant,))
            db.execute("DELETE FROM identity_checks WHERE participant = ? AND id NOT IN "
                       "(SELECT identity_check FROM mandates WHERE participant = ?)", (participant, participant))
            row_outcome = "kept"
        else:
            db.execute("DELETE FROM participants WHERE id = ?", (participant,))  # cascades to identity checks
            row_outcome = "deleted"
        entry = audit.append(db, "participant_erased", t, participant=participant, payload={
            "erased_at": iso(t), "vault_key_destroyed": key_destroyed, "vault_items": items,
            "mandates_revoked": revoked, "requests_cancelled": cancelled, "participant_row": row_outcome})
    left = files if folder is None else folder.remove(files)
    checkpointed = checkpoint_wal(store)
    log.info("participant %s erased: %d vault item(s), %d mandate(s) revoked", participant[:8], items, len(revoked))
    return Erasure(participant, from_us(t), key_destroyed, items, tuple(left), tuple(revoked), tuple(cancelled),
                   row_outcome, entry.seq, checkpointed)
