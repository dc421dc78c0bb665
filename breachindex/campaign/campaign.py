"""``Campaign``: the workflow SOMI's app calls, on top of the campaign store.

Prove it is you (a one-time code by SMS), record the outcome of an ID-document check, check a
number against an index with the view the person asking is entitled to, sign and revoke
mandates, and run the collective request (batches, exports, each request's state and due
date), every change of state recorded in the tamper-evident audit log in the same
transaction as the change itself. See the modules beside this one for each set of rules:
``otp`` (codes, failures, lock-out), ``limits`` (who may receive a code, how often),
``identity`` (the ID gate and its webhook), ``check`` (the two views), ``store`` (the
database), ``pseudonyms`` (what is stored instead of numbers), ``mandates``, ``controllers``,
``sealing`` (evidence kept sealed), ``audit`` / ``merkle`` / ``treehead`` (the log, its
Merkle tree and signed heads), ``requests`` (state machine, due dates), ``batches`` (prepare
and export), and ``breachindex.campaign.deadlines`` (deadlines).

Nothing here logs or raises a message with a phone number, a code or a name.
"""
from __future__ import annotations

import hmac
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import UnknownParticipant, WebhookRejected, WrongKey
from ..keying.phone import normalize
from ..keying.secret import KeyLike, as_key
from .audit import AuditEntry, AuditLog, AuditReport, ConsistencyProof, InclusionProof
from .batches import Batch, Export, export_batch, load_batch, prepare_batch
from .budgets import BudgetStore
from .calendars import PER_CONTROLLER, Calendars
from .check import CheckPolicy, CheckResult, evaluate, owner_view, verified_now
from .checkpoints import SignedCheckpoint
from .clock import MICROSECOND, from_us, now_us
from .context import WorkflowContext
from .controllers import CONTROLLERS, Controller, check_registry, lookup_controller
from .db import Db
from .deadlines import HolidaySpec
from .identity import (
    IDENTITY_STATUSES,
    WEBHOOK_TOLERANCE,
    IdentityCheck,
    IdentityEvent,
    check_text,
    latest_identity_check,
    record_outcome,
    verify_webhook,
)
from .limits import EEA_CALLING_CODES, SMS_NUMBER_TYPES, Limits
from .mandates import (
    Evidence,
    Mandate,
    MandateEvidence,
    check_recorded_mandates,
    clear_review,
    load_mandate,
    mandate_evidence,
    participant_mandates,
    record_mandate,
    revoke_mandate,
)
from .otp import Challenge, CodeRules, Verification
from .pseudonyms import CampaignKeys
from .requests import (
    RequestEvent,
    RequestRecord,
    cancel_for_revocation,
    find_requests,
    freeze_unfrozen,
    load_request,
    mark_notice_sent,
    past_due,
    request_history,
    summary,
    transition,
    unsent_notices,
)
from .sealing import EvidenceKeys
from .sms import DEFAULT_MESSAGE, SmsSender
from .store import Store, open_store
from .templates import TEMPLATES, MandateTemplate, check_templates
from .treehead import AuditSigner, TreeHead
from .verification import Codes, CodeSettings

if TYPE_CHECKING:
    from ..index.reader import Index
    from ..vault import Erasure, KdfParams, PassphrasePolicy, Vault
    from .pgbudgets import PgBudgetStore

__all__ = ["Campaign"]

log = logging.getLogger("breachindex.campaign")


class Campaign:
    """The campaign workflow over one store (a SQLite file, or a ``sqlite:///path`` URL).

    ``secret``: a ``Key``, raw secret bytes or a key file path (the same secret as the index's
    is fine: every use derives its own subkey). The store remembers the secret's fingerprint
    and refuses another one (WrongKey). ``sender``: an ``SmsSender``. ``limits``,
    ``code_rules``, ``policy``: the rules (defaults: docs/campaign.md, "Rules adopted"). ``allowed_calling_codes``
    (default EU/EEA) and ``allowed_number_types`` (default mobile, fixed line, VoIP; premium
    rate and shared cost can never be allowed) decide who may receive a code. ``message``: the
    SMS template, with ``{code}`` (and optionally ``{minutes}``).

    Mandates and requests: ``controllers`` (default ``CONTROLLERS``) is the registry of
    controllers; ``templates`` (default ``TEMPLATES``) the published mandate texts and what
    each authorises; ``mandate_months`` how long a mandate lasts (12); ``deadline_holidays`` the
    public holidays for the GDPR deadlines: ``PER_CONTROLLER`` (default; each controller's own,
    see ``calendars``) or one ``HolidaySpec`` for all (``deadlines``), frozen per request when sent.

    The audit log: ``audit_key`` signs its checkpoints (default: an Ed25519 key derived from
    the secret, see ``treehead``); ``trusted_audit_keys`` are earlier public keys still
    accepted when verifying; ``checkpoint_interval``: a change that finds the latest
    checkpoint older than this signs a new one (None: only ``checkpoint_audit_log`` and
    exports do); ``audit_origin``: the log's name in its signed checkpoint notes (default
    ``somi.nl/breachindex/audit/`` and the first 16 hex digits of the audit key id, see
    ``checkpoints``; set it, and keep it, if the key rotates or one secret serves several stores).

    Every method that depends on time takes ``now=``: a timezone-aware datetime (naive ones are
    refused with ValueError), default the current UTC time. A request's dates (``on=``,
    ``today``) are calendar dates; their default is the UTC date of ``now``. Use as a context
    manager, or call ``close()``. Safe for several threads and several processes on the same file.
    """

    def __init__(
        self,
        path_or_url: str | os.PathLike[str],
        *,
        secret: KeyLike,
        sender: SmsSender,
        limits: Limits | None = None,
        code_rules: CodeRules | None = None,
        policy: CheckPolicy | None = None,
        allowed_calling_codes: Iterable[int] = EEA_CALLING_CODES,
        allowed_number_types: Iterable[int] = SMS_NUMBER_TYPES,
        message: str = DEFAULT_MESSAGE,
        busy_timeout: float = 10.0,
        controllers: Mapping[str, Controller] = CONTROLLERS,
        mandate_months: int = 12,
        deadline_holidays: HolidaySpec = PER_CONTROLLER,
        audit_key: Ed25519PrivateKey | None = None,
        trusted_audit_keys: Iterable[bytes] = (),
        checkpoint_interval: timedelta | None = timedelta(hours=1),
        audit_origin: str | None = None,
        templates: Mapping[str, MandateTemplate] = TEMPLATES,
    ) -> None:
        key = as_key(secret)
        self._controllers = check_registry(controllers)
        self._templates = check_templates(templates)
        if isinstance(mandate_months, bool) or not isinstance(mandate_months, int) or not 1 <= mandate_months <= 120:
            raise ValueError("mandate_months must be an int from 1 to 120")
        self._mandate_months = mandate_months
        self._holidays = Calendars.checked(deadline_holidays, self._controllers)
        if checkpoint_interval is not None and checkpoint_interval <= timedelta(0):
            raise ValueError("checkpoint_interval must be positive (or None)")
        signer = AuditSigner.from_secret(key) if audit_key is None else AuditSigner(audit_key)
        self._audit = AuditLog(signer, trusted_keys=trusted_audit_keys,
                               checkpoint_interval_us=None if checkpoint_interval is None
                               else checkpoint_interval // MICROSECOND, origin=audit_origin)
        self._evidence = EvidenceKeys(key)
        codes = CodeSettings.of(sender, limits, code_rules, allowed_calling_codes, allowed_number_types, message)
        self._policy = policy if policy is not None else CheckPolicy()
        self._keys = CampaignKeys(key)
        self._budget_key = key.subkey(b"bi.cmp-budgets")
        self._store = open_store(path_or_url, busy_timeout=busy_timeout)
        self._codes = Codes(self._store, self._audit, self._keys, codes)
        try:
            stored = self._store.bind_setting("key_fingerprint", self._keys.fingerprint)
        except BaseException:
            self._store.close()
            raise
        if not hmac.compare_digest(stored, self._keys.fingerprint):
            self._store.close()
            raise WrongKey("the secret is not the one this campaign store was created with")
        try:
            self._check_unchecked_mandates(now_us(None))
        except BaseException:
            self._store.close()
            raise
        self._context = WorkflowContext(self._store, self._audit, self._evidence, self._holidays, self._controllers,
                                        self._policy.verified_for)

    # ---- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        """Close the database connection (idempotent)."""
        self._store.close()

    @property
    def closed(self) -> bool:
        return self._store.closed

    def __enter__(self) -> Campaign:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"schema {self._store.schema_version}"
        return f"Campaign({self._store.name!r}, {state})"

    @property
    def schema_version(self) -> int:
        """The store's schema version (the number of migrations applied)."""
        return self._store.schema_version

    @property
    def policy(self) -> CheckPolicy:
        return self._policy

    @property
    def context(self) -> WorkflowContext:
        """What the vault (and any part built on the campaign) may use of it."""
        return self._context

    def open_budgets(self) -> BudgetStore | PgBudgetStore:
        """The budgets every worker of a server shares, in this campaign's store (see
        ``budgets``, ``pgbudgets``): connections of their own, closed by the caller."""
        if isinstance(self._store, Store):
            return BudgetStore(self._store.path, self._budget_key)
        from .pgbudgets import PgBudgetStore  # psycopg is optional

        return PgBudgetStore(self._store.url, self._budget_key)  # type: ignore[attr-defined]

    # ---- participants --------------------------------------------------------------------
    def participant_id(self, phone: str, region: str | None = None) -> str:
        """The participant id of a number: the keyed hash of its E.164 form (stable)."""
        return self._keys.participant_id(normalize(phone, region))

    def verified_at(self, participant: str) -> datetime | None:
        """When the participant last confirmed a code (None: never, or unknown participant)."""
        with self._store.read() as db:
            row = db.execute("SELECT verified_us FROM participants WHERE id = ?", (participant,)).fetchone()
        return None if row is None or row[0] is None else from_us(int(row[0]))

    def is_verified(self, participant: str, *, now: datetime | None = None) -> bool:
        """True if the participant confirmed a code within the policy's ``verified_for``."""
        t = now_us(now)
        with self._store.read() as db:
            return verified_now(db, participant, t, self._policy)

    def phone_of(self, participant: str) -> str:
        """The verified number of a participant (E.164), for the workflow steps that need it
        (the mandate). UnknownParticipant if none is stored. Never log what this returns."""
        with self._store.read() as db:
            row = db.execute("SELECT phone_sealed FROM participants WHERE id = ?", (participant,)).fetchone()
        if row is None or row[0] is None:
            raise UnknownParticipant("no verified number is stored for this participant")
        return self._keys.open_phone(participant, bytes(row[0]))

    def unlock(self, phone: str, region: str | None = None, *, now: datetime | None = None) -> bool:
        """Operator action: clear the failures, waits and locks every requester of a number
        earned. True if there was any."""
        return self._codes.unlock(self.participant_id(phone, region), now_us(now))

    # ---- the vault and erasure -----------------------------------------------------------
    def vault(self, folder: str | os.PathLike[str], *, kdf: KdfParams | None = None, chunk_size: int | None = None,
              policy: PassphrasePolicy | None = None) -> Vault:
        """The encrypted per-person vault of this campaign, its item files in ``folder`` (see
        ``breachindex.vault.Vault``; the keyword arguments default to the vault's own)."""
        from ..vault import Vault
        from ..vault.kdf import RFC9106_LOW_MEMORY
        from ..vault.stream import DEFAULT_CHUNK_SIZE

        return Vault(self, folder, kdf=RFC9106_LOW_MEMORY if kdf is None else kdf,
                     chunk_size=DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size, policy=policy)

    def erase_participant(self, participant: str, *, vault_folder: str | os.PathLike[str] | None = None,
                          now: datetime | None = None) -> Erasure:
        """GDPR erasure: destroy the participant's vault key and items, revoke their mandates,
        wipe their sealed number (see ``breachindex.vault.erasure`` for what stays and why).
        ``vault_folder``: the vault's folder, so the item files go too; without it they stay as
        undecryptable noise until ``Vault.sweep`` removes them. UnknownParticipant if none."""
        if vault_folder is not None:
            return self.vault(vault_folder).erase(participant, now=now)
        from ..vault.erasure import erase_participant

        check_text("participant", participant)
        return erase_participant(self._store, audit=self._audit, keys=self._evidence, holidays=self._holidays,
                                 participant=participant, t=now_us(now), folder=None)

    # ---- one-time codes ------------------------------------------------------------------
    def start_verification(self, phone: str, region: str | None = None, *, ip: str | None = None,
                           now: datetime | None = None) -> Challenge:
        """Send a new code to the number; it replaces the earlier code this requester (``ip``'s
        host: IPv4 address or IPv6 /64) asked for that number, and no one else's.

        ``ip``: the end user's address (None: unknown; all unknown requesters share one budget).
        Raises InvalidPhoneNumber, SmsNotAllowed (country or number type), Throttled (a limit
        of the requester's networks, or a daily cap: see ``limits``), SmsSendFailed; ValueError
        if ``ip`` is not an IP address.

        What is never told: a refusal because of the number itself (its own limits, its
        prefix's, a wait or lock after failed codes). Then no code is sent and the answer is a
        challenge like any other, which no code opens (or, for the same requester within the
        resend interval, its live challenge again), given after about as long as a real send
        takes, so the answer says nothing about what others did with that number.
        """
        return self._codes.start_verification(phone, region, ip=ip, now=now)

    def confirm_verification(self, challenge_id: str, code: str, *, ip: str | None = None,
                             now: datetime | None = None) -> Verification:
        """Confirm a challenge with the code the person received; succeeds once.

        Raises CodeInvalid (wrong code, unknown/used/replaced challenge: one message for all),
        CodeExpired (a CodeInvalid with the same message), TooManyAttempts (the code is burned,
        or the requester who asked for it is locked out of that number), Throttled (a growing
        wait, or too many failures from the ``ip``'s networks).
        """
        return self._codes.confirm_verification(challenge_id, code, ip=ip, now=now)

    # ---- housekeeping --------------------------------------------------------------------
    def purge(self, *, now: datetime | None = None) -> int:
        """Delete what is no longer needed: challenges a day past expiry, rate events past
        every window, failure counts untouched for ``FAILURE_RETENTION`` (30 days; locks stay
        until ``unlock``), participants that never verified and hold no state. Returns rows deleted.
        (Sending a code also does the first two, so calling this is optional.)"""
        return self._codes.purge(now=now)

    # ---- the ID-verification gate --------------------------------------------------------
    def record_identity_check(self, participant: str, *, provider: str, reference: str, status: str,
                              confirmed_name: str | None = None, now: datetime | None = None,
                              checked_at: datetime | None = None) -> IdentityCheck:
        """Record the outcome of an ID-document check: only provider, reference, status, time.

        ``status``: approved, declined, needs_review or error (ValueError otherwise).
        ``checked_at``: the outcome's time (the provider's; default ``now``): the latest outcome
        by this time counts, whatever the order of recording. Every change of status of a case
        (participant, provider, reference) is stored and logged; an outcome that repeats the
        case's outcome in force at its time (a replay) is not, and that outcome is returned.
        UnknownParticipant if there is no such participant (one exists from its first code
        request; ask for the ID check after ``confirm_verification``). ``confirmed_name``: the
        name the provider read from the document, if it gives one: stored sealed, used as the
        signer name of a mandate signed without one (the log records only that a name was
        confirmed).
        """
        t = now_us(now)
        checked_us = t if checked_at is None else now_us(checked_at)
        if status not in IDENTITY_STATUSES:
            raise ValueError("status must be one of approved, declined, needs_review, error")
        event = IdentityEvent(check_text("participant", participant), check_text("provider", provider),
                              check_text("reference", reference), status)
        if confirmed_name is not None:
            check_text("confirmed_name", confirmed_name)
        with self._store.transaction() as db:
            return record_outcome(db, audit=self._audit, keys=self._evidence, t=t, event=event, checked_us=checked_us,
                                  confirmed_name=confirmed_name)

    def identity_status(self, participant: str) -> IdentityCheck | None:
        """The participant's latest ID-check outcome, or None."""
        with self._store.read() as db:
            return latest_identity_check(db, participant)

    def handle_identity_webhook(self, raw_body: bytes, signature_header: str, *, secret: bytes,
                                now: datetime | None = None,
                                tolerance: timedelta = WEBHOOK_TOLERANCE) -> IdentityCheck:
        """Verify a provider's webhook (see ``breachindex.campaign.identity``) and record it, as
        of its signed timestamp (so out-of-order deliveries end in the provider's latest outcome).

        WebhookRejected (with ``reason``) unless the signature over the raw body holds, the
        timestamp is within ``tolerance``, the body is well-formed and its participant known.
        """
        t = now_us(now)
        event = verify_webhook(raw_body, signature_header, secret=secret, now_us=t, tolerance=tolerance)
        signed = None if event.signed_us is None else from_us(event.signed_us)
        try:
            return self.record_identity_check(event.participant, provider=event.provider,
                                              reference=event.reference, status=event.status, now=from_us(t),
                                              checked_at=signed)
        except UnknownParticipant:
            raise WebhookRejected("unknown_participant", "the webhook names an unknown participant") from None

    # ---- the check -----------------------------------------------------------------------
    def check(self, index: Index, phone: str, region: str | None = None, *, participant: str | None = None,
              now: datetime | None = None) -> CheckResult:
        """Is the number in the index, and what may the person asking see of it?

        The verified view needs ``participant`` to be the id of this very number, with a code
        confirmed within the policy's ``verified_for`` (and an approved ID check if the policy
        says so); anything else gets the public view, never an error. Raises InvalidPhoneNumber.

        ``participant`` must come from the app's own session (what ``confirm_verification``
        returned), never from the client: the id is a pseudonym, not a password.
        """
        t = now_us(now)
        e164 = normalize(phone, region)
        verified, approved = False, False
        if isinstance(participant, str) and participant.isascii() and hmac.compare_digest(
                participant.encode("ascii"), self._keys.participant_id(e164).encode("ascii")):
            with self._store.read() as db:
                verified, approved = owner_view(db, participant, t, self._policy)
        return evaluate(index, e164, "verified" if verified else "public", self._policy, identity_approved=approved)

    # ---- mandates ------------------------------------------------------------------------
    @property
    def controllers(self) -> Mapping[str, Controller]:
        """The registry of controllers this campaign sends requests to."""
        return self._controllers

    def sign_mandate(self, participant: str, *, controller: str, scopes: Iterable[str], template_version: str,
                     text: str, evidence: Evidence | Mapping[str, Any], signer_name: str | None = None,
                     now: datetime | None = None) -> Mandate:
        """Record a participant's signed mandate for one controller (see ``mandates``).

        ``evidence``: an ``Evidence`` or a mapping with ``ip``, ``user_agent`` and ``consents``
        (the boxes ticked; they must include ``privacy_notice_read`` and the box of each scope).
        ``signer_name``: the name as typed; None takes the name the ID check confirmed.

        Raises UnknownController, InvalidMandate (scopes, consents, text, evidence),
        UnknownParticipant, MandateRefused (``not_verified``: no code confirmed within the check
        policy's ``verified_for``; ``identity_not_approved``; ``no_signer_name``;
        ``already_active``).
        """
        t = now_us(now)
        entry = lookup_controller(self._controllers, controller)
        check_text("participant", participant)
        with self._store.transaction() as db:
            mandate = record_mandate(
                db, keys=self._evidence, audit=self._audit, t=t,
                verified_for_us=self._policy.verified_for // MICROSECOND, months=self._mandate_months,
                participant=participant, controller=entry, scopes=scopes, template_version=template_version,
                text=text, evidence=evidence, signer_name=signer_name, templates=self._templates)
        log.info("participant %s signed mandate %s", participant[:8], mandate.id[:8])
        return mandate

    def revoke_mandate(self, mandate_id: str, *, reason: str, now: datetime | None = None) -> Mandate:
        """Revoke a mandate: its draft and queued requests are cancelled, and so are those sent
        already, which are flagged for a notice (``pending_notices``): ``withdraw_from_filing``
        for a queued one (the lawyer has it in an export), ``notify_controller`` for one the
        controller received. Fulfilled and resolved requests are left as they are. ``reason``
        (free text) is stored sealed. Revoking a revoked mandate returns it unchanged.
        UnknownMandate if there is no such mandate.
        """
        t = now_us(now)
        with self._store.transaction() as db:
            mandate = load_mandate(db, mandate_id)
            if mandate.revoked_at is not None:
                return mandate
            outcome = cancel_for_revocation(db, audit=self._audit, keys=self._evidence, t=t, on=from_us(t).date(),
                                            mandate_id=mandate.id, holidays=self._holidays)
            revoked = revoke_mandate(db, keys=self._evidence, audit=self._audit, t=t, mandate_id=mandate.id,
                                     reason=reason, outcome=outcome)
        log.info("mandate %s revoked; %d request(s) cancelled", revoked.id[:8], len(outcome["cancelled"]))
        return revoked

    def mandate(self, mandate_id: str) -> Mandate:
        """A mandate by id (UnknownMandate if none)."""
        with self._store.read() as db:
            return load_mandate(db, mandate_id)

    def mandates(self, participant: str) -> list[Mandate]:
        """A participant's mandates, active or not, oldest first."""
        with self._store.read() as db:
            return participant_mandates(db, participant)

    def mandate_evidence(self, mandate_id: str) -> MandateEvidence:
        """A mandate with its sealed evidence opened (signer name, IP, user agent, text) and
        checked against its audit-log entry (``intact``). For the lawyer or a court; never log it."""
        with self._store.read() as db:
            return mandate_evidence(db, self._evidence, self._audit, mandate_id)

    @property
    def templates(self) -> Mapping[str, MandateTemplate]:
        """The published mandate texts this campaign records mandates on."""
        return self._templates

    def clear_mandate_review(self, mandate_id: str, *, note: str, now: datetime | None = None) -> Mandate:
        """Operator action after looking at a mandate held for ``signer_name_mismatch`` (e.g.
        a calling name typed for the given names on the ID document): it may then be filed.
        ``note`` (why it is fine, free text) is stored sealed; the clearing is logged. A
        mandate held because its text or scopes do not match a template cannot be cleared
        (InvalidMandate): the person must sign again. ValueError if it is not held."""
        t = now_us(now)
        with self._store.transaction() as db:
            mandate = load_mandate(db, mandate_id)
            clear_review(db, keys=self._evidence, audit=self._audit, t=t, mandate=mandate, note=note)
            cleared = load_mandate(db, mandate.id)
        log.info("mandate %s cleared after review", cleared.id[:8])
        return cleared

    def _check_unchecked_mandates(self, t: int) -> None:
        """Check mandates recorded before signing checked them (schema 5): a mismatch is held, logged;
        freeze the deadlines of requests sent before they were stored (schema 6)."""
        with self._store.transaction() as db:
            flagged = check_recorded_mandates(db, keys=self._evidence, audit=self._audit, t=t,
                                              templates=self._templates, controllers=self._controllers)
            freeze_unfrozen(db, audit=self._audit, t=t, holidays=self._holidays)  # requests sent before schema 6
        if flagged:
            log.warning("%d mandate(s) recorded before this version do not match their text: held for review",
                        flagged)

    # ---- the audit log -------------------------------------------------------------------
    @property
    def audit_public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key that checks the audit log's signed heads."""
        return self._audit.signer.public_key

    @property
    def audit_public_key_pem(self) -> str:
        """The same public key as PEM."""
        return self._audit.signer.public_key_pem

    @property
    def audit_origin(self) -> str:
        """The audit log's name in its signed checkpoint notes (their first line and key name)."""
        return self._audit.origin

    @property
    def audit_verifier_key(self) -> str:
        """The verifier key (vkey) of the checkpoint notes: ``<origin>+<key hash>+<base64 key>``,
        what a witness or ``golang.org/x/mod/sumdb/note`` is configured with."""
        return self._audit.verifier_key

    def verify_audit_log(self, *, heads: Iterable[TreeHead | SignedCheckpoint] = ()) -> AuditReport:
        """Recompute the hash chain and check it against every signed checkpoint and against
        ``heads``: tree heads kept elsewhere (a manifest's ``TreeHead.from_json``, a checkpoint
        note read with ``checkpoints.parse_checkpoint``). ``report.ok`` needs at least one of
        them: the store alone proves only ``report.consistent`` (see ``audit.AuditReport``)."""
        with self._store.read() as db:
            return self._audit.verify(db, heads)

    def checkpoint_audit_log(self, *, now: datetime | None = None) -> TreeHead:
        """Sign the log's current Merkle root (the latest head if nothing changed since).
        Call it periodically too (a scheduler), and keep the heads somewhere else as well."""
        t = now_us(now)
        with self._store.transaction() as db:
            return self._audit.checkpoint(db, t)

    def audit_checkpoint_note(self, *, heads: Iterable[TreeHead | SignedCheckpoint] = ()) -> str:
        """The latest checkpoint as a signed note (C2SP tlog-checkpoint), to keep elsewhere.
        ValueError if there is no checkpoint yet, or if the log is not consistent (also with
        ``heads``, e.g. the notes kept so far): nothing is signed over a tampered log."""
        with self._store.read() as db:
            return self._audit.checkpoint_note(db, heads)

    def audit_tree_head(self) -> TreeHead | None:
        """The latest signed checkpoint, or None."""
        with self._store.read() as db:
            return self._audit.latest_head(db)

    def audit_entry(self, seq: int) -> AuditEntry:
        """The entry with this seq (LookupError if there is none)."""
        with self._store.read() as db:
            entry = self._audit.entry(db, seq)
        if entry is None:
            raise LookupError("no audit-log entry with that seq")
        return entry

    def audit_entries(self, *, participant: str | None = None, ref: str | None = None) -> list[AuditEntry]:
        """The entries about a participant and/or a mandate, request or batch id (all: neither)."""
        with self._store.read() as db:
            return self._audit.entries(db, participant=participant, ref=ref)

    def audit_inclusion_proof(self, seq: int, *, tree_size: int | None = None) -> InclusionProof:
        """The proof that entry ``seq`` is in the tree of ``tree_size`` entries (default: the
        latest checkpoint's). Check it with ``audit.verify_entry``."""
        with self._store.read() as db:
            size = self._checkpointed_size(db) if tree_size is None else tree_size
            return self._audit.inclusion_proof(db, seq, size)

    def audit_consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """The proof that the log of ``old_size`` entries is a prefix of the log of
        ``new_size`` (default: the latest checkpoint's size)."""
        with self._store.read() as db:
            size = self._checkpointed_size(db) if new_size is None else new_size
            return self._audit.consistency_proof(db, old_size, size)

    def _checkpointed_size(self, db: Db) -> int:
        """The size of the log at its latest checkpoint."""
        head = self._audit.latest_head(db)
        if head is None:
            raise ValueError("no checkpoint yet: call checkpoint_audit_log() first")
        return head.tree_size

    # ---- the collective request ----------------------------------------------------------
    def prepare_batch(self, controller: str, *, filing_date: date, scope: str = "gdpr_access_art15",
                      now: datetime | None = None) -> Batch:
        """One draft request per participant with an active mandate for ``controller`` covering
        ``scope`` on ``filing_date`` and no open request of that kind (see ``batches``).
        UnknownController, InvalidMandate (scope), BatchError (``empty``)."""
        t = now_us(now)
        entry = lookup_controller(self._controllers, controller)
        with self._store.transaction() as db:
            batch = prepare_batch(db, audit=self._audit, keys=self._evidence, t=t, today=from_us(t).date(),
                                  controller=entry, scope=scope, filing_date=filing_date)
        log.info("batch %s prepared for %s: %d request(s)", batch.id[:8], entry.key, batch.requests)
        return batch

    def batch(self, batch_id: str) -> Batch:
        """A batch by id (BatchError ``unknown_batch`` if none)."""
        with self._store.read() as db:
            return load_batch(db, batch_id)

    def export_batch(self, batch: Batch | str, out_dir: str | os.PathLike[str], *,
                     now: datetime | None = None) -> Export:
        """Write what the lawyer files into the new folder ``out_dir``: ``participants.csv`` and
        ``manifest.json`` (see ``batches``). The requests move to ``queued``; the export is
        logged and a checkpoint signed. BatchError: ``exists``, ``no_folder``,
        ``already_exported``, ``empty``, ``unknown_batch``."""
        t = now_us(now)
        batch_id = batch.id if isinstance(batch, Batch) else batch
        target = Path(out_dir)
        with self._store.read() as db:
            entry = lookup_controller(self._controllers, load_batch(db, batch_id).controller)
        written: Path | None = None
        try:
            with self._store.transaction() as db:
                export = export_batch(db, audit=self._audit, keys=self._evidence, open_phone=self._keys.open_phone,
                                      t=t, today=from_us(t).date(), controller=entry, batch_id=batch_id,
                                      out_dir=target, holidays=self._holidays)
                written = export.path
        except BaseException:
            if written is not None:  # the folder is in place but the commit failed: take it away
                shutil.rmtree(written, ignore_errors=True)
            raise
        log.info("batch %s exported: %d request(s)", export.batch[:8], export.requests)
        return export

    @staticmethod
    def _day(value: object, name: str) -> date:
        """A calendar date argument (a datetime is refused: its day depends on a time zone)."""
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"{name} must be a datetime.date")
        return value

    def request(self, request_id: str, *, now: datetime | None = None) -> RequestRecord:
        """A request by id, with its due date as of ``now`` (UnknownRequest if none)."""
        today = from_us(now_us(now)).date()
        with self._store.read() as db:
            return load_request(db, request_id, today=today, holidays=self._holidays)

    def requests(self, *, batch: str | None = None, participant: str | None = None, controller: str | None = None,
                 state: str | None = None, now: datetime | None = None) -> list[RequestRecord]:
        """The requests matching every filter given, by id."""
        today = from_us(now_us(now)).date()
        with self._store.read() as db:
            return find_requests(db, today=today, holidays=self._holidays, batch=batch, participant=participant,
                                 controller=controller, state=state)

    def request_history(self, request_id: str) -> list[RequestEvent]:
        """Every state change of a request, oldest first (notes opened: do not log them)."""
        with self._store.read() as db:
            record = load_request(db, request_id, today=date(2000, 1, 1), holidays=None)  # UnknownRequest if none
            return request_history(db, self._evidence, record.id)

    def transition_request(self, request_id: str, to_state: str, *, now: datetime | None = None,
                           on: date | None = None, note: str | None = None) -> RequestRecord:
        """Move a request to ``to_state`` (see ``requests`` for the table and the dates).

        ``on``: the date it happened (the controller received it, announced the extension,
        asked for information, ...), default the UTC date of ``now``. ``note``: free text,
        stored sealed. IllegalTransition (nothing changes) if the move is not allowed;
        ExtensionTooLate for an extension announced after the first month.
        """
        t = now_us(now)
        day = from_us(t).date() if on is None else self._day(on, "on")
        with self._store.transaction() as db:
            return transition(db, audit=self._audit, keys=self._evidence, t=t, request_id=request_id,
                              to_state=to_state, on=day, note=note, holidays=self._holidays)

    def overdue(self, today: date) -> list[RequestRecord]:
        """Requests waiting for an answer (sent or extended) whose due date is before ``today``."""
        day = self._day(today, "today")
        with self._store.read() as db:
            return past_due(db, today=day, holidays=self._holidays)

    def mark_overdue(self, today: date, *, now: datetime | None = None) -> list[RequestRecord]:
        """Move every request ``overdue(today)`` lists to ``overdue``; the requests moved."""
        t = now_us(now)
        day = self._day(today, "today")
        with self._store.transaction() as db:
            return [transition(db, audit=self._audit, keys=self._evidence, t=t, request_id=record.id,
                               to_state="overdue", on=day, note=None, holidays=self._holidays)
                    for record in past_due(db, today=day, holidays=self._holidays)]

    def request_summary(self, controller: str | None = None) -> dict[str, int]:
        """How many requests are in each state (every state listed), for one controller or all."""
        if controller is not None:
            lookup_controller(self._controllers, controller)
        with self._store.read() as db:
            return summary(db, controller)

    def pending_notices(self, controller: str | None = None, *, now: datetime | None = None) -> list[RequestRecord]:
        """Cancelled requests whose revocation SOMI must still pass on (``notice``): take the
        person out of a filing (``withdraw_from_filing``) or tell the controller
        (``notify_controller``); then call ``mark_notice_sent``."""
        today = from_us(now_us(now)).date()
        with self._store.read() as db:
            return unsent_notices(db, controller, today=today, holidays=self._holidays)

    def mark_notice_sent(self, request_id: str, *, now: datetime | None = None) -> RequestRecord:
        """Record that the revocation notice of a request was passed on (logged)."""
        t = now_us(now)
        with self._store.transaction() as db:
            return mark_notice_sent(db, audit=self._audit, t=t, request_id=request_id, holidays=self._holidays)
