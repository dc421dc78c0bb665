"""``Campaign``: the workflow SOMI's app calls, on top of the campaign store.

Prove it is you (a one-time code by SMS), record the outcome of an ID-document check, and
check a number against an index with the view the person asking is entitled to. See the
modules beside this one for each set of rules: ``otp`` (codes, failures, lock-out), ``limits``
(who may receive a code, how often), ``identity`` (the ID gate and its webhook), ``check``
(the two views), ``store`` (the database), ``pseudonyms`` (what is stored instead of numbers).

Nothing here logs or raises a message with a phone number or a code.
"""
from __future__ import annotations

import hmac
import logging
import os
import secrets
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import (
    CampaignError,
    CodeExpired,
    CodeInvalid,
    SmsSendFailed,
    Throttled,
    TooManyAttempts,
    UnknownParticipant,
    WebhookRejected,
    WrongKey,
)
from ..phone import normalize
from ..secret import KeyLike, as_key
from .check import CheckPolicy, CheckResult, Disclosure, evaluate
from .clock import MICROSECOND, from_us, now_us, seconds
from .identity import (
    IDENTITY_STATUSES,
    WEBHOOK_TOLERANCE,
    IdentityCheck,
    IdentityEvent,
    check_text,
    insert_identity_check,
    latest_identity_check,
    verify_webhook,
)
from .limits import (
    EEA_CALLING_CODES,
    NEVER_SMS_NUMBER_TYPES,
    SMS_NUMBER_TYPES,
    Limits,
    check_sms_allowed,
    enforce,
    number_prefix,
    record_event,
)
from .otp import Challenge, CodeRules, Verification, clean_code, generate_code
from .pseudonyms import CampaignKeys
from .sms import DEFAULT_MESSAGE, SmsSender, render_message
from .store import Store

if TYPE_CHECKING:
    from ..index import Index

__all__ = ["Campaign"]

log = logging.getLogger("breachindex.campaign")

#: how long a challenge row is kept after it expired (then purged; answers stay CodeInvalid)
CHALLENGE_RETENTION = timedelta(days=1)
_MAX_CHALLENGE_ID = 64


class Campaign:
    """The campaign workflow over one store (a SQLite file, or a ``sqlite:///path`` URL).

    ``secret``: a ``Key``, raw secret bytes or a key file path (the same secret as the index's
    is fine: every use derives its own subkey). The store remembers the secret's fingerprint
    and refuses another one (WrongKey). ``sender``: an ``SmsSender``. ``limits``,
    ``code_rules``, ``policy``: the rules (defaults: see the README). ``allowed_calling_codes``
    (default EU/EEA) and ``allowed_number_types`` (default mobile, fixed line, VoIP; premium
    rate and shared cost can never be allowed) decide who may receive a code. ``message``: the
    SMS template, with ``{code}`` (and optionally ``{minutes}``).

    Every method that depends on time takes ``now=``: a timezone-aware datetime (naive ones are
    refused with ValueError), default the current UTC time. Use as a context manager, or call
    ``close()``. Safe for several threads and several processes on the same file.
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
    ) -> None:
        key = as_key(secret)
        if not isinstance(sender, SmsSender):
            raise TypeError("sender must have a send(e164, text) method")
        self._sender = sender
        self._limits = limits if limits is not None else Limits()
        self._rules = code_rules if code_rules is not None else CodeRules()
        self._policy = policy if policy is not None else CheckPolicy()
        self._calling_codes = frozenset(int(cc) for cc in allowed_calling_codes)
        self._number_types = frozenset(int(t) for t in allowed_number_types)
        if self._number_types & NEVER_SMS_NUMBER_TYPES:
            raise ValueError("premium-rate and shared-cost numbers can never receive a code")
        self._minutes = max(1, round(self._rules.lifetime / timedelta(minutes=1)))
        render_message(message, "0" * self._rules.digits, self._minutes)  # validates the template
        self._message = message
        self._keys = CampaignKeys(key)
        self._store = Store(path_or_url, busy_timeout=busy_timeout)
        try:
            stored = self._store.bind_setting("key_fingerprint", self._keys.fingerprint)
        except BaseException:
            self._store.close()
            raise
        if not hmac.compare_digest(stored, self._keys.fingerprint):
            self._store.close()
            raise WrongKey("the secret is not the one this campaign store was created with")

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
        return f"Campaign({str(self._store.path)!r}, {state})"

    @property
    def schema_version(self) -> int:
        """The store's schema version (the number of migrations applied)."""
        return self._store.schema_version

    @property
    def policy(self) -> CheckPolicy:
        return self._policy

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
            return self._verified_now(db, participant, t)

    def phone_of(self, participant: str) -> str:
        """The verified number of a participant (E.164), for the workflow steps that need it
        (the mandate). UnknownParticipant if none is stored. Never log what this returns."""
        with self._store.read() as db:
            row = db.execute("SELECT phone_sealed FROM participants WHERE id = ?", (participant,)).fetchone()
        if row is None or row[0] is None:
            raise UnknownParticipant("no verified number is stored for this participant")
        return self._keys.open_phone(participant, bytes(row[0]))

    def unlock(self, phone: str, region: str | None = None) -> bool:
        """Operator action: clear a number's failures, wait and lock. True if there was any."""
        pid = self.participant_id(phone, region)
        with self._store.transaction() as db:
            cur = db.execute(
                "UPDATE participants SET failures = 0, wait_until_us = NULL, locked_us = NULL "
                "WHERE id = ? AND (failures > 0 OR wait_until_us IS NOT NULL OR locked_us IS NOT NULL)", (pid,))
            changed = cur.rowcount == 1
        if changed:
            log.info("participant %s unlocked by an operator", pid[:8])
        return changed

    # ---- one-time codes ------------------------------------------------------------------
    def start_verification(self, phone: str, region: str | None = None, *, ip: str | None = None,
                           now: datetime | None = None) -> Challenge:
        """Send a new code to the number; it replaces any earlier code of that number.

        Raises InvalidPhoneNumber, SmsNotAllowed (country or number type), TooManyAttempts
        (the number is locked), Throttled (a rate limit or a growing wait), SmsSendFailed.
        """
        t = now_us(now)
        e164 = normalize(phone, region)
        calling_code = check_sms_allowed(e164, self._calling_codes, self._number_types)
        pid = self._keys.participant_id(e164)
        subjects: dict[str, str | None] = {
            "send:number": pid,
            "send:ip": None if ip is None else self._keys.ip_subject(ip),
            "send:prefix": self._keys.subject("prefix", number_prefix(e164, self._limits.prefix_hidden_digits)),
            "send:country": str(calling_code),
            "send:all": "all",
        }
        challenge_id = secrets.token_urlsafe(16)
        code = generate_code(self._rules.digits)
        expires = t + self._rules.lifetime // MICROSECOND
        refusal: CampaignError | None = None
        with self._store.transaction() as db:
            self._purge_expired(db, t)  # committed even when the send is refused
            refusal = self._lock_or_wait(db, pid, t)
            if refusal is None:
                try:
                    enforce(db, self._limits.send_rules(calling_code), subjects, t)
                except Throttled as exc:
                    refusal = exc
            if refusal is None:
                self._store_challenge(db, pid, e164, challenge_id, code, subjects, t, expires)
        if refusal is not None:
            raise refusal
        try:
            self._sender.send(e164, render_message(self._message, code, self._minutes))
        except Exception as exc:
            with self._store.transaction() as db:
                db.execute("UPDATE challenges SET replaced_us = ?, phone_sealed = NULL WHERE id = ? "
                           "AND used_us IS NULL AND replaced_us IS NULL", (t, challenge_id))
            log.warning("the SMS sender failed (%s); the code was withdrawn", type(exc).__name__)
            raise SmsSendFailed(f"the SMS sender failed ({type(exc).__name__}); the code was withdrawn") from None
        log.debug("a code was sent to participant %s", pid[:8])
        return Challenge(challenge_id, from_us(expires))

    def _store_challenge(self, db: sqlite3.Connection, pid: str, e164: str, challenge_id: str, code: str,
                         subjects: dict[str, str | None], t: int, expires: int) -> None:
        """Replace the number's live challenge by a new one and count the send."""
        db.execute("INSERT INTO participants (id, created_us) VALUES (?, ?) ON CONFLICT (id) DO NOTHING", (pid, t))
        db.execute("UPDATE challenges SET replaced_us = ?, phone_sealed = NULL "
                   "WHERE participant = ? AND used_us IS NULL AND replaced_us IS NULL", (t, pid))
        db.execute("INSERT INTO challenges (id, participant, code_hash, phone_sealed, created_us, expires_us) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   (challenge_id, pid, self._keys.code_hash(challenge_id, code), self._keys.seal_phone(pid, e164),
                    t, expires))
        record_event(db, subjects, t)

    def confirm_verification(self, challenge_id: str, code: str, *, ip: str | None = None,
                             now: datetime | None = None) -> Verification:
        """Confirm a challenge with the code the person received; succeeds once.

        Raises CodeInvalid (wrong code, unknown/used/replaced challenge: one message for all),
        CodeExpired (a CodeInvalid with the same message), TooManyAttempts (the code is burned
        or the number locked), Throttled (a growing wait, or too many failures from the IP).
        """
        t = now_us(now)
        typed = clean_code(code)
        if not isinstance(challenge_id, str):
            raise TypeError(f"a challenge id must be a str, not {type(challenge_id).__name__}")
        ip_subject = None if ip is None else self._keys.ip_subject(ip)
        with self._store.transaction() as db:
            outcome = self._confirm(db, challenge_id, typed, ip_subject, t)
        if isinstance(outcome, Verification):
            log.debug("participant %s confirmed a code", outcome.participant[:8])
            return outcome
        raise outcome

    def _confirm(self, db: sqlite3.Connection, challenge_id: str, typed: str, ip_subject: str | None,
                 t: int) -> Verification | CampaignError:
        """The outcome of a confirmation; what it wrote commits even when it is an error."""
        fail_ip = {"fail:ip": ip_subject}
        try:
            enforce(db, self._limits.failure_rules(), fail_ip, t)
        except Throttled as exc:
            return exc
        row = None
        if len(challenge_id) <= _MAX_CHALLENGE_ID:
            row = db.execute("SELECT participant, code_hash, expires_us, attempts, used_us, replaced_us, "
                             "phone_sealed FROM challenges WHERE id = ?", (challenge_id,)).fetchone()
        if row is None:
            record_event(db, fail_ip, t)
            return CodeInvalid()
        pid, code_hash, expires, attempts, used, replaced, sealed = row
        refusal = self._lock_or_wait(db, pid, t)
        if refusal is not None:
            return refusal
        if used is not None or replaced is not None:
            record_event(db, fail_ip, t)
            return CodeInvalid()
        if attempts >= self._rules.attempts_per_code:
            return TooManyAttempts("code_burned")
        if t >= expires:
            record_event(db, fail_ip, t)
            return CodeExpired()
        if not hmac.compare_digest(self._keys.code_hash(challenge_id, typed), bytes(code_hash)):
            record_event(db, fail_ip, t)
            return self._wrong_code(db, challenge_id, pid, attempts + 1, t)
        done = db.execute(
            "UPDATE challenges SET used_us = ?, phone_sealed = NULL WHERE id = ? AND used_us IS NULL "
            "AND replaced_us IS NULL AND attempts < ? AND expires_us > ?",
            (t, challenge_id, self._rules.attempts_per_code, t))
        if done.rowcount != 1:  # another process confirmed it first
            return CodeInvalid()
        db.execute("UPDATE participants SET verified_us = ?, phone_sealed = COALESCE(?, phone_sealed), failures = 0, "
                   "wait_until_us = NULL WHERE id = ?", (t, sealed, pid))
        return Verification(pid, from_us(t))

    def _wrong_code(self, db: sqlite3.Connection, challenge_id: str, pid: str, attempts: int,
                    t: int) -> CampaignError:
        rules = self._rules
        burned = attempts >= rules.attempts_per_code
        db.execute("UPDATE challenges SET attempts = ? WHERE id = ?", (attempts, challenge_id))
        if burned:
            db.execute("UPDATE challenges SET phone_sealed = NULL WHERE id = ?", (challenge_id,))
        failures = int(db.execute("SELECT failures FROM participants WHERE id = ?", (pid,)).fetchone()[0]) + 1
        if failures >= rules.lock_after_failures:
            db.execute("UPDATE participants SET failures = ?, wait_until_us = NULL, locked_us = ? WHERE id = ?",
                       (failures, t, pid))
            log.warning("participant %s locked after %d consecutive failures", pid[:8], failures)
            return TooManyAttempts("number_locked")
        wait = rules.wait_after(failures)
        wait_until = None if wait is None else t + wait // MICROSECOND
        db.execute("UPDATE participants SET failures = ?, wait_until_us = ? WHERE id = ?", (failures, wait_until, pid))
        if burned:
            return TooManyAttempts("code_burned", None if wait is None else wait.total_seconds())
        return CodeInvalid()

    def _lock_or_wait(self, db: sqlite3.Connection, pid: str, t: int) -> CampaignError | None:
        row = db.execute("SELECT wait_until_us, locked_us FROM participants WHERE id = ?", (pid,)).fetchone()
        if row is None:
            return None
        wait_until, locked = row
        if locked is not None:
            return TooManyAttempts("number_locked")
        if wait_until is not None and wait_until > t:
            return Throttled(seconds(int(wait_until) - t), "failure_wait")
        return None

    def _verified_now(self, db: sqlite3.Connection, participant: str, t: int) -> bool:
        row = db.execute("SELECT verified_us FROM participants WHERE id = ?", (participant,)).fetchone()
        if row is None or row[0] is None:
            return False
        return t < int(row[0]) + self._policy.verified_for // MICROSECOND

    # ---- housekeeping --------------------------------------------------------------------
    def _purge_expired(self, db: sqlite3.Connection, t: int) -> int:
        """Erase sealed numbers of expired challenges, drop old challenges and rate events."""
        longest = max([timedelta(days=1), self._limits.resend_interval])
        db.execute("UPDATE challenges SET phone_sealed = NULL WHERE phone_sealed IS NOT NULL AND expires_us <= ?", (t,))
        gone = db.execute("DELETE FROM challenges WHERE expires_us <= ?",
                          (t - CHALLENGE_RETENTION // MICROSECOND,)).rowcount
        gone += db.execute("DELETE FROM rate_events WHERE at_us <= ?", (t - longest // MICROSECOND,)).rowcount
        return int(gone)

    def purge(self, *, now: datetime | None = None) -> int:
        """Delete what is no longer needed: challenges a day past expiry, rate events past
        every window, participants that never verified and hold no state. Returns rows deleted.
        (Sending a code also does the first two, so calling this is optional.)"""
        t = now_us(now)
        with self._store.transaction() as db:
            gone = self._purge_expired(db, t)
            gone += db.execute(
                "DELETE FROM participants WHERE verified_us IS NULL AND failures = 0 AND locked_us IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM challenges c WHERE c.participant = participants.id) "
                "AND NOT EXISTS (SELECT 1 FROM identity_checks i WHERE i.participant = participants.id)").rowcount
        return int(gone)

    # ---- the ID-verification gate --------------------------------------------------------
    def record_identity_check(self, participant: str, *, provider: str, reference: str, status: str,
                              now: datetime | None = None) -> IdentityCheck:
        """Record the outcome of an ID-document check: only provider, reference, status, time.

        ``status``: approved, declined, needs_review or error (ValueError otherwise). The same
        outcome recorded twice is stored once. UnknownParticipant if there is no such participant
        (one exists from its first code request; ask for the ID check after ``confirm_verification``).
        """
        t = now_us(now)
        if status not in IDENTITY_STATUSES:
            raise ValueError("status must be one of approved, declined, needs_review, error")
        event = IdentityEvent(check_text("participant", participant), check_text("provider", provider),
                              check_text("reference", reference), status)
        with self._store.transaction() as db:
            if db.execute("SELECT 1 FROM participants WHERE id = ?", (participant,)).fetchone() is None:
                raise UnknownParticipant("no such participant")
            return insert_identity_check(db, event, t)

    def identity_status(self, participant: str) -> IdentityCheck | None:
        """The participant's latest ID-check outcome, or None."""
        with self._store.read() as db:
            return latest_identity_check(db, participant)

    def handle_identity_webhook(self, raw_body: bytes, signature_header: str, *, secret: bytes,
                                now: datetime | None = None,
                                tolerance: timedelta = WEBHOOK_TOLERANCE) -> IdentityCheck:
        """Verify a provider's webhook (see ``breachindex.campaign.identity``) and record it.

        WebhookRejected (with ``reason``) unless the signature over the raw body holds, the
        timestamp is within ``tolerance``, the body is well-formed and its participant known.
        """
        t = now_us(now)
        event = verify_webhook(raw_body, signature_header, secret=secret, now_us=t, tolerance=tolerance)
        try:
            return self.record_identity_check(event.participant, provider=event.provider,
                                              reference=event.reference, status=event.status, now=now)
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
        disclosure: Disclosure = "verified" if self._owner_verified(e164, participant, t) else "public"
        return evaluate(index, e164, disclosure, self._policy)

    def _owner_verified(self, e164: str, participant: Any, t: int) -> bool:
        if not isinstance(participant, str) or not participant.isascii():
            return False
        if not hmac.compare_digest(participant.encode("ascii"), self._keys.participant_id(e164).encode("ascii")):
            return False
        with self._store.read() as db:
            if not self._verified_now(db, participant, t):
                return False
            if not self._policy.require_identity:
                return True
            latest = latest_identity_check(db, participant)
        return latest is not None and latest.status == "approved"
