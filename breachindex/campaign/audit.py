"""The tamper-evident audit log: every change of state, hash-chained, with signed checkpoints.

Each entry is a row of ``audit_log``: ``seq`` (1, 2, 3, ... without gaps), ``at_us`` (when),
``kind`` (one of ``KINDS``), ``participant`` and ``ref`` (the ids it is about: a participant
id, a mandate, request or batch id; never a number or a name), ``payload`` (canonical JSON),
``prev_hash`` and ``entry_hash``. An entry's bytes (its *body*) are the canonical JSON of::

    {"at_us": ..., "kind": ..., "participant": ..., "payload": {...}, "ref": ..., "seq": ...}

Canonical JSON: keys sorted, no whitespace, ASCII only (``\\u`` escapes), integers, strings,
booleans, null, lists and objects; floats are refused (their text is not unique).
``entry_hash = SHA-256(prev_hash || body)``, ``prev_hash`` being the previous entry's hash
(32 zero bytes for entry 1). Payloads hold ids, codes of state, ISO-8601 UTC times, SHA-256
digests and keyed MACs of personal data (``sealing``), never the data itself.

What it proves. ``verify`` recomputes the chain and names the first entry that was edited
(its hash no longer matches), removed (a gap in ``seq``, or a broken link) or moved, and
checks every signed checkpoint (``audit_checkpoints``: tree size, RFC 6962 Merkle root over
the entry bodies, time, Ed25519 signature, see ``treehead``): a log shorter than a checkpoint
was cut, a range that no longer hashes to a signed root was rewritten. All of that is
*internal consistency* (``AuditReport.consistent``), and it is all the store can give: whoever
can write the file (the SQLite triggers are no obstacle to them) can delete the checkpoints
together with the last entries, or rewrite a range, recompute every hash after it and delete
the checkpoints that covered it, and the store is consistent again. Rewriting the checkpoints
themselves needs the audit key, which in the default set-up derives from the campaign secret,
so that is an attacker with the file but not the secret.

Only a tree head kept *elsewhere* rules that out: one the attacker cannot delete, passed to
``verify(heads=...)`` (a batch manifest's head, a signed checkpoint note kept by a cron job
or a witness, see ``checkpoints``). ``AuditReport.ok`` is True only when the log is
consistent and such a head verifies under a trusted key and matches the log: then the first
``anchored_size`` entries are exactly those that head was signed for, and only the
``unanchored`` entries after it could still be cut off or rewritten unnoticed.

An inclusion proof shows a third party that one entry is in the log a signed head covers,
without the rest of the log: ``verify_entry`` needs only the entry's body, the proof, the
head and the foundation's public key.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

from .checkpoints import NoteVerifier, SignedCheckpoint, check_origin, default_origin, sign_checkpoint, verifier_key
from .clock import from_us
from .db import AUDIT_TAIL, Db, Rows, ask, hold
from .merkle import (
    RootBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from .treehead import AuditSigner, TreeHead, key_id_of

__all__ = [
    "AuditEntry",
    "AuditLog",
    "AuditReport",
    "ConsistencyProof",
    "GENESIS_HASH",
    "Head",
    "InclusionProof",
    "KINDS",
    "UNPROVED",
    "audit_entry_hash",
    "canonical_json",
    "entry_body",
    "verify_entry",
]

#: the prev_hash of entry 1
GENESIS_HASH = bytes(32)

#: a tree head ``verify`` accepts as kept elsewhere: the log's own JSON head or a checkpoint note
Head: TypeAlias = TreeHead | SignedCheckpoint

#: ``AuditReport.problem`` of a consistent log that no head kept elsewhere anchors
UNPROVED = ("the chain is internally consistent, but a cut or rewritten tail (or a rewrite together with deleted "
            "checkpoints) cannot be ruled out without a tree head kept elsewhere")

#: every kind of entry, i.e. every change of state the campaign records
KINDS: frozenset[str] = frozenset({
    "verification_confirmed",   # a participant confirmed a one-time code
    "identity_check_recorded",  # an ID-check outcome was recorded (directly or by webhook)
    "participant_unlocked",     # an operator cleared a number's lock
    "mandate_signed",
    "mandate_revoked",
    "mandate_flagged",          # a mandate recorded earlier does not match its text: held for review
    "mandate_review_cleared",   # an operator cleared a mandate held for review (signer name)
    "batch_prepared",
    "request_created",          # a request in draft, in a batch
    "request_transition",       # a request changed state
    "request_deadline_frozen",  # a request sent before deadlines were stored got its calendar frozen
    "contact_preferences_set",  # how a participant wants to be told (whether an e-mail address was given, not it)
    "notification_sent",        # a notification's attempt on one channel: kind, channel, outcome
    "notice_sent",              # SOMI told the controller (or the filing lawyer) of a revocation
    "batch_exported",
    "vault_set_up",             # a participant's vault key pair was created (breachindex.vault)
    "vault_passphrase_changed", # the private key was rewrapped under a new passphrase
    "vault_recovered",          # a recovery code was used: new passphrase, new code
    "vault_recovery_replaced",  # a new recovery code replaced the previous one
    "vault_item_stored",        # an encrypted item was stored (ciphertext hash and size only)
    "participant_erased",       # GDPR erasure: vault key and items destroyed, sealed number wiped
})


def _check_json(value: Any, depth: int = 0) -> None:
    if depth > 16:
        raise ValueError("an audit payload is nested too deeply")
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        raise ValueError("an audit payload may not hold floats (their text is not canonical)")
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_json(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("audit payload keys must be str")
            _check_json(item, depth + 1)
        return
    raise ValueError(f"an audit payload may not hold a {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of a value (sorted keys, no spaces, ASCII, no floats)."""
    _check_json(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def entry_body(seq: int, at_us: int, kind: str, participant: str | None, ref: str | None,
               payload: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash and its Merkle leaf are computed over."""
    return canonical_json({"seq": seq, "at_us": at_us, "kind": kind, "participant": participant, "ref": ref,
                           "payload": dict(payload)}).encode("ascii")


_SEQ_LAST = ',"seq":0}'


def _head_of(body: bytes) -> str:
    """The body of an entry of seq 0 without its seq: ``seq`` sorts last of the body's keys, so
    an entry's body is this head, its seq, and ``}``."""
    text = body.decode("ascii")
    if not text.endswith(_SEQ_LAST):
        raise AssertionError("an audit entry's body does not end with its seq")
    return text[:-len(_SEQ_LAST) + len(',"seq":')]


def audit_entry_hash(prev: bytes, head: str, seq: int) -> bytes:
    """SHA-256(prev || body) of the body ``head``, ``seq``, ``}`` (see ``_head_of``): what
    ``AuditLog.append_where``'s insert computes, as SQL function ``audit_entry_hash``
    (PostgreSQL: migration 12; SQLite: its store registers this one)."""
    return hashlib.sha256(bytes(prev) + f"{head}{seq}}}".encode("ascii")).digest()


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit log (``payload`` holds no personal data, see the module doc)."""

    seq: int
    at_us: int
    kind: str
    participant: str | None
    ref: str | None
    payload: dict[str, Any] = field(repr=False, hash=False)
    prev_hash: bytes = field(repr=False)
    entry_hash: bytes

    @property
    def at(self) -> datetime:
        return from_us(self.at_us)

    @property
    def body(self) -> bytes:
        """The canonical bytes of the entry (the Merkle leaf data)."""
        return entry_body(self.seq, self.at_us, self.kind, self.participant, self.ref, self.payload)


@dataclass(frozen=True)
class AuditReport:
    """The outcome of ``Campaign.verify_audit_log``: what was proved, and nothing more.

    ``ok``: the log is ``consistent``, at least one head kept elsewhere was given, every one
    given verifies under a trusted key, and they match the log (it is at least as long as each,
    and its first entries hash to each one's root). Without a head kept elsewhere ``ok`` is
    False, however intact the store looks: a cut or rewritten tail cannot be ruled out.

    ``consistent``: the hash chain holds, every stored checkpoint's signature holds, and every
    signed head (stored or kept elsewhere) matches the log. ``entries``: how many entries the
    log holds. ``first_bad``: the seq of the first entry edited, removed, moved or cut off (for
    a rewritten range that only a signed head reveals: the first seq of that range), else
    None. ``problem``: why ``ok`` is False, in words (``UNPROVED`` when nothing is wrong but no
    head kept elsewhere anchors the log), else None. ``claim``: what the report does prove, in
    words. ``checkpoints``: how many checkpoints the store holds. ``bad_checkpoint``: the id
    of the first stored checkpoint whose signature does not hold, else None. ``kept_heads``:
    how many heads kept elsewhere were given. ``bad_head``: the index (from 0) of the first of
    them that does not verify under a trusted key (or names another log), else None.
    ``anchored_size``: the largest tree size of a head kept elsewhere that verified and that
    the log matches (0: none). ``unanchored``: the entries after it, which only a newer head
    kept elsewhere could vouch for.
    """

    ok: bool
    entries: int
    first_bad: int | None = None
    problem: str | None = None
    checkpoints: int = 0
    bad_checkpoint: int | None = None
    consistent: bool = False
    anchored_size: int = 0
    unanchored: int = 0
    kept_heads: int = 0
    bad_head: int | None = None
    claim: str = ""


@dataclass(frozen=True)
class InclusionProof:
    """An RFC 6962 audit path: entry ``leaf_index + 1`` is in the tree of ``tree_size`` entries."""

    leaf_index: int
    tree_size: int
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"leaf_index": self.leaf_index, "tree_size": self.tree_size, "path": [p.hex() for p in self.path]}


@dataclass(frozen=True)
class ConsistencyProof:
    """An RFC 6962 consistency proof: the log of ``old_size`` is a prefix of that of ``new_size``."""

    old_size: int
    new_size: int
    path: tuple[bytes, ...]

    def verify(self, old: TreeHead, new: TreeHead) -> bool:
        """True if the proof links the two heads (check their signatures separately)."""
        return (old.tree_size == self.old_size and new.tree_size == self.new_size
                and verify_consistency(self.old_size, self.new_size, self.path, old.root_hash, new.root_hash))


def verify_entry(body: bytes, proof: InclusionProof, head: TreeHead, public_key: bytes) -> bool:
    """A third party's check: ``body`` (an entry's canonical bytes) is entry ``proof.leaf_index
    + 1`` of the log ``head`` covers, and ``head`` is signed by ``public_key`` (raw Ed25519)."""
    try:
        seq = json.loads(body)["seq"]
    except (ValueError, KeyError, TypeError):
        return False
    return (seq == proof.leaf_index + 1 and proof.tree_size == head.tree_size and head.verify(public_key)
            and verify_inclusion(leaf_hash(body), proof.leaf_index, proof.tree_size, proof.path, head.root_hash))


_ROW = "SELECT seq, at_us, kind, participant, ref, payload, prev_hash, entry_hash FROM audit_log"


def _entry_of(row: tuple[Any, ...]) -> AuditEntry:
    """An entry from its row; ValueError if the payload is not canonical JSON of an object."""
    seq, at_us, kind, participant, ref, payload_text, prev_hash, entry_hash = row
    payload = json.loads(payload_text)
    if not isinstance(payload, dict) or canonical_json(payload) != payload_text:
        raise ValueError("the payload is not canonical JSON of an object")
    return AuditEntry(int(seq), int(at_us), str(kind), participant, ref, payload, bytes(prev_hash), bytes(entry_hash))


class AuditLog:
    """The audit log of one store: appends, checkpoints, verification and proofs.

    ``signer`` signs checkpoints; ``trusted_keys`` (raw Ed25519 public keys) are also accepted
    when verifying (earlier keys, after a rotation). ``checkpoint_interval_us``: an append
    that finds the latest checkpoint older than this signs a new one in the same transaction
    (None: only ``checkpoint`` and exports sign). ``origin``: the log's name in its checkpoint
    notes (``checkpoints``; default ``default_origin`` of the signer's key). It is taken from
    here, never from the store, so a note of another log never vouches for this one.
    """

    def __init__(self, signer: AuditSigner, *, trusted_keys: Iterable[bytes] = (),
                 checkpoint_interval_us: int | None = None, origin: str | None = None) -> None:
        self.signer = signer
        self.origin = default_origin(signer.public_key) if origin is None else check_origin(origin)
        self._trusted = {signer.key_id: signer.public_key}
        for public_key in trusted_keys:
            if len(public_key) != 32:
                raise ValueError("a trusted audit key is a raw 32-byte Ed25519 public key")
            self._trusted[key_id_of(public_key)] = bytes(public_key)
        if checkpoint_interval_us is not None and checkpoint_interval_us <= 0:
            raise ValueError("the checkpoint interval must be positive")
        self._interval = checkpoint_interval_us

    @property
    def verifier_key(self) -> str:
        """The vkey string of the signer under the log's origin (what a note verifier is given)."""
        return verifier_key(self.origin, self.signer.public_key)

    def note_verifiers(self) -> list[NoteVerifier]:
        """Every trusted key as a note verifier under the log's origin."""
        return [NoteVerifier(self.origin, public_key) for public_key in self._trusted.values()]

    # ---- writing -----------------------------------------------------------------------
    def ask_tail(self, db: Db) -> Rows:
        """Hold the chain's tail and ask for it, for an ``append`` later in the transaction: on
        PostgreSQL the answer comes with the transaction's next read, not a round trip of its own."""
        hold(db, AUDIT_TAIL)  # a scoped transaction on PostgreSQL: one append at a time, to commit
        # the chain's tail and the latest checkpoint's time in one statement (the insert of an
        # append does not change the checkpoints)
        return ask(db, "SELECT (SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1), "
                       "(SELECT entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1), "
                       "(SELECT signed_us FROM audit_checkpoints ORDER BY id DESC LIMIT 1)")

    def ask_checkpoint(self, db: Db) -> Rows | None:
        """Ask when the latest checkpoint was signed, for ``due_after`` later in the transaction
        (None: this log makes no checkpoints). It reads without the chain's lock, so it may see
        a checkpoint too old (another append made a newer one meanwhile), never one too new."""
        if self._interval is None:
            return None
        return ask(db, "SELECT " + self.LATEST_CHECKPOINT)

    def due_after(self, signed_us: int | None, at_us: int) -> bool:
        """Whether an append at ``at_us`` would make a checkpoint if the latest one was signed
        at ``signed_us`` (None: none yet). A time read earlier is never newer than the truth, so
        it can only say "due" wrongly, never miss a checkpoint."""
        if self._interval is None:
            return False
        return signed_us is None or at_us - int(signed_us) >= self._interval

    #: the time the latest checkpoint was signed, as an expression a statement can return
    LATEST_CHECKPOINT = "(SELECT signed_us FROM audit_checkpoints ORDER BY id DESC LIMIT 1)"

    def append_where(self, db: Db, kind: str, at_us: int, condition: tuple[str, Sequence[Any]], *,
                     participant: str | None = None, ref: str | None = None, payload: Mapping[str, Any],
                     participant_of: tuple[str, Sequence[Any]] | None = None) -> Rows:
        """Append an entry in the caller's transaction if ``condition`` (SQL true or false, and
        its values) holds when the insert runs: its rowcount, 1 or 0, tells which. The insert
        itself takes the chain's tail and hashes the entry (``audit_entry_hash``), so nothing is
        read: on PostgreSQL it goes out with the commit, and the chain's lock is held from the
        insert to the commit, not across a round trip to the client. It makes no checkpoint:
        use it only when ``due_after`` says none is due (``append`` otherwise).

        ``participant_of`` (SQL and its values) gives the participant instead of
        ``participant``, read by the insert: a participant id (hex, which JSON writes as it is),
        for a caller that does not know it yet."""
        if kind not in KINDS:
            raise ValueError(f"unknown audit entry kind {kind!r}")
        text = canonical_json(dict(payload))
        where, values = condition
        who_values: Sequence[Any]
        if participant_of is None:
            who, who_values = "?", [participant]
            head, tail_values = "?", [_head_of(entry_body(0, at_us, kind, participant, ref, payload))]
        else:
            (who, who_values), blank = participant_of, _head_of(entry_body(0, at_us, kind, "", ref, payload))
            before, after = blank.split('"participant":""', 1)
            head, tail_values = "? || t.who || ?", [before + '"participant":"', '"' + after]
        hold(db, AUDIT_TAIL)
        return db.execute(
            "INSERT INTO audit_log (seq, at_us, kind, participant, ref, payload, prev_hash, entry_hash) "
            f"SELECT t.seq, ?, ?, t.who, ?, ?, t.prev, audit_entry_hash(t.prev, {head}, t.seq) FROM "
            "(SELECT COALESCE((SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1), 0) + 1 AS seq, "
            f"COALESCE((SELECT entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1), ?) AS prev, {who} AS who) AS t "
            f"WHERE {where}", (at_us, kind, ref, text, *tail_values, GENESIS_HASH, *who_values, *values))

    def append(self, db: Db, kind: str, at_us: int, *, participant: str | None = None,
               ref: str | None = None, payload: Mapping[str, Any], tail: Rows | None = None) -> AuditEntry:
        """Append an entry in the caller's transaction (so it commits with the change it records);
        ``tail``: what ``ask_tail`` asked earlier in it, else it is asked now."""
        if kind not in KINDS:
            raise ValueError(f"unknown audit entry kind {kind!r}")
        text = canonical_json(dict(payload))
        last_seq, last_hash, signed_us = (tail if tail is not None else self.ask_tail(db)).fetchone()
        seq, prev = (1, GENESIS_HASH) if last_seq is None else (int(last_seq) + 1, bytes(last_hash))
        body = entry_body(seq, at_us, kind, participant, ref, payload)
        digest = hashlib.sha256(prev + body).digest()
        db.execute("INSERT INTO audit_log (seq, at_us, kind, participant, ref, payload, prev_hash, entry_hash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (seq, at_us, kind, participant, ref, text, prev, digest))
        if self._interval is not None and (signed_us is None or at_us - int(signed_us) >= self._interval):
            self.checkpoint(db, at_us)
        return AuditEntry(seq, at_us, kind, participant, ref, dict(payload), prev, digest)

    def checkpoint(self, db: Db, at_us: int) -> TreeHead:
        """Sign the current root and store it; the latest head if nothing was added since."""
        leaves = self._leaves(db)
        if not leaves:
            raise ValueError("the audit log is empty: nothing to sign")
        latest = self.latest_head(db)
        if latest is not None and latest.tree_size == len(leaves) and latest.key_id == self.signer.key_id:
            return latest
        head = self.signer.sign(len(leaves), root_of(leaves), at_us)
        db.execute("INSERT INTO audit_checkpoints (tree_size, root_hash, signed_us, key_id, signature) "
                   "VALUES (?, ?, ?, ?, ?)", (head.tree_size, head.root_hash, head.timestamp_us,
                                              bytes.fromhex(head.key_id), head.signature))
        return head

    # ---- reading -----------------------------------------------------------------------
    def _rows(self, db: Db, upto: int | None = None) -> Iterator[tuple[Any, ...]]:
        if upto is None:
            yield from db.execute(f"{_ROW} ORDER BY seq")
        else:
            yield from db.execute(f"{_ROW} WHERE seq <= ? ORDER BY seq", (upto,))

    def _leaves(self, db: Db, upto: int | None = None) -> list[bytes]:
        return [leaf_hash(_entry_of(row).body) for row in self._rows(db, upto)]

    def entry(self, db: Db, seq: int) -> AuditEntry | None:
        row = db.execute(f"{_ROW} WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else _entry_of(row)

    def entries(self, db: Db, *, participant: str | None = None,
                ref: str | None = None) -> list[AuditEntry]:
        """The entries about a participant and/or a ref, in order."""
        if participant is None and ref is None:
            return [_entry_of(row) for row in self._rows(db)]
        clauses, args = [], []
        for column, value in (("participant", participant), ("ref", ref)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        return [_entry_of(row) for row in db.execute(f"{_ROW} WHERE {' AND '.join(clauses)} ORDER BY seq", args)]

    def size(self, db: Db) -> int:
        return int(db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0])

    def _checkpoint_rows(self, db: Db) -> list[tuple[int, TreeHead | None]]:
        """The stored checkpoints, oldest first, with their ids (None: a row too damaged to read)."""
        found: list[tuple[int, TreeHead | None]] = []
        for row in db.execute("SELECT id, tree_size, root_hash, signed_us, signature, key_id FROM audit_checkpoints "
                              "ORDER BY id"):
            try:
                head: TreeHead | None = TreeHead(int(row[1]), bytes(row[2]), int(row[3]), bytes(row[4]),
                                                 bytes(row[5]).hex())
            except (TypeError, ValueError):
                head = None
            found.append((int(row[0]), head))
        return found

    def heads(self, db: Db) -> list[tuple[int, TreeHead]]:
        """The stored checkpoints that can be read, oldest first, with their ids."""
        return [(checkpoint_id, head) for checkpoint_id, head in self._checkpoint_rows(db) if head is not None]

    def latest_head(self, db: Db) -> TreeHead | None:
        heads = self.heads(db)
        return heads[-1][1] if heads else None

    def checkpoint_note(self, db: Db, heads: Iterable[Head] = ()) -> str:
        """The latest stored checkpoint as a signed note (C2SP checkpoint, ``checkpoints``).

        Refused (ValueError) unless the log is consistent, also with ``heads``: a log must never
        sign a checkpoint that contradicts one it signed before, and a note is signed only for a
        size and root that a stored checkpoint already vouched for and the entries still match.
        """
        report = self.verify(db, heads)
        if not report.consistent:
            raise ValueError(f"the audit log is not intact, so no checkpoint note is signed: {report.problem}")
        stored = self.heads(db)
        if not stored:
            raise ValueError("no checkpoint yet: sign one first (checkpoint)")
        head = max((h for _, h in stored), key=lambda h: h.tree_size)
        return sign_checkpoint(self.signer, self.origin, head.tree_size, head.root_hash)

    # ---- proofs ------------------------------------------------------------------------
    def inclusion_proof(self, db: Db, seq: int, tree_size: int) -> InclusionProof:
        if not 1 <= seq <= tree_size:
            raise ValueError("the entry is not within that tree size")
        leaves = self._leaves(db, tree_size)
        if len(leaves) != tree_size:
            raise ValueError("the audit log has fewer entries than that tree size")
        return InclusionProof(seq - 1, tree_size, tuple(inclusion_proof(seq - 1, leaves)))

    def consistency_proof(self, db: Db, old_size: int, new_size: int) -> ConsistencyProof:
        leaves = self._leaves(db, new_size)
        if len(leaves) != new_size:
            raise ValueError("the audit log has fewer entries than the new tree size")
        return ConsistencyProof(old_size, new_size, tuple(consistency_proof(old_size, leaves)))

    # ---- verification ------------------------------------------------------------------
    def _holds(self, head: Head) -> bool:
        """True if a head's signature holds under a trusted key (a checkpoint: and names this log)."""
        if isinstance(head, SignedCheckpoint):
            return head.verify(self.note_verifiers(), origin=self.origin)
        if not isinstance(head, TreeHead):
            raise TypeError("a head kept elsewhere is a TreeHead or a SignedCheckpoint (checkpoints.parse_checkpoint)")
        public_key = self._trusted.get(head.key_id)
        if (public_key is None or isinstance(head.tree_size, bool) or not isinstance(head.tree_size, int)
                or not 0 <= head.tree_size < 1 << 64 or not 0 <= head.timestamp_us < 1 << 64
                or len(head.root_hash) != 32):
            return False
        return head.verify(public_key)

    def verify(self, db: Db, heads: Iterable[Head] = ()) -> AuditReport:
        """Recompute the chain and check it against every stored checkpoint and against
        ``heads``, the tree heads kept elsewhere (``TreeHead`` or ``SignedCheckpoint``): see
        ``AuditReport`` for what the outcome proves."""
        total = self.size(db)
        stored = self._checkpoint_rows(db)
        kept = list(heads)
        bad_checkpoint: int | None = None
        bad_head: int | None = None
        signed: list[tuple[int, bytes, bool]] = []  # (tree size, root, kept elsewhere), every one that holds
        for checkpoint_id, stored_head in stored:
            if stored_head is not None and self._holds(stored_head):
                signed.append((stored_head.tree_size, stored_head.root_hash, False))
            elif bad_checkpoint is None:
                bad_checkpoint = checkpoint_id
        for index, head in enumerate(kept):
            if self._holds(head):
                signed.append((head.tree_size, head.root_hash, True))
            elif bad_head is None:
                bad_head = index
        signed.sort(key=lambda s: s[0])
        problems: list[tuple[int, str]] = []
        builder, prev, expected, pending, covered, anchored = RootBuilder(), GENESIS_HASH, 1, 0, 0, 0

        def settle() -> None:
            """Check every signed head of the size built so far against its root."""
            nonlocal pending, covered, anchored
            while pending < len(signed) and signed[pending][0] == builder.size:
                size, root, elsewhere = signed[pending]
                if not hmac.compare_digest(builder.root(), root):
                    what = "a head kept elsewhere" if elsewhere else "the signed checkpoint"
                    problems.append((covered + 1, f"entries {covered + 1} to {size} do not match {what} of "
                                                  f"{size} entries: rewritten"))
                elif elsewhere:
                    anchored = max(anchored, size)
                covered, pending = size, pending + 1

        settle()  # a head of 0 entries
        for row in self._rows(db):
            seq = int(row[0])
            if seq != expected:
                problems.append((expected, f"entry {expected} is missing or out of place"))
                break
            try:
                body = _entry_of(row).body
                stored_prev, stored_hash = bytes(row[6]), bytes(row[7])
            except (TypeError, ValueError):
                problems.append((seq, f"entry {seq} was edited: it is not a well-formed entry"))
                break
            if not hmac.compare_digest(stored_prev, prev):
                problems.append((seq, f"entry {seq} does not link to entry {seq - 1}: one was removed, moved or "
                                      "edited"))
                break
            if not hmac.compare_digest(hashlib.sha256(prev + body).digest(), stored_hash):
                problems.append((seq, f"entry {seq} was edited: its hash does not match its content"))
                break
            prev, expected = stored_hash, expected + 1
            builder.add(leaf_hash(body))
            settle()
        length = expected - 1
        if not problems and pending < len(signed):
            beyond = signed[pending:]
            what = "a head kept elsewhere" if any(s[2] for s in beyond) else "a signed checkpoint"
            problems.append((length + 1, f"the log ends at entry {length} but {what} covers "
                                         f"{max(s[0] for s in beyond)} entries: the last ones were removed"))
        first = min(problems, default=None)
        consistent = first is None and bad_checkpoint is None
        ok = consistent and bad_head is None and anchored > 0
        if first is not None:
            problem: str | None = first[1]
        elif bad_checkpoint is not None:
            problem = "a checkpoint's signature does not hold"
        elif bad_head is not None:
            problem = (f"head {bad_head + 1} of those kept elsewhere does not verify under a trusted key "
                       "(forged, another key, or another log's)")
        elif not ok:
            problem = UNPROVED
        else:
            problem = None
        unanchored = max(0, total - anchored)
        if not consistent:
            claim = f"the log is not intact: {problem}"
        elif ok:
            tail = ("every entry is covered" if unanchored == 0 else
                    f"entries {anchored + 1} to {total} are not covered by a head kept elsewhere yet: they could "
                    "still be cut off or rewritten unnoticed")
            claim = (f"entries 1 to {anchored} are exactly those a head kept elsewhere signed for, and the hash "
                     f"chain and every stored checkpoint agree; {tail}")
        else:
            claim = (f"the hash chain of {total} entries and its {len(stored)} stored checkpoint(s) agree with each "
                     "other, but a cut or rewritten tail (or a rewrite together with deleted checkpoints) cannot be "
                     "ruled out without a tree head kept elsewhere")
        return AuditReport(ok=ok, entries=total, first_bad=None if first is None else first[0], problem=problem,
                           checkpoints=len(stored), bad_checkpoint=bad_checkpoint, consistent=consistent,
                           anchored_size=anchored, unanchored=unanchored, kept_heads=len(kept), bad_head=bad_head,
                           claim=claim)
