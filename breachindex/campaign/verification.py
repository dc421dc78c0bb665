"""One-time codes in the campaign store: sending one (the limits of ``limits``, the decoy when the
number itself is held back) and confirming it (the rules of ``otp``: tries, waits, locks per
requester), with the SQL they need. ``Campaign`` holds one ``Codes`` and documents the rules.
"""
from __future__ import annotations

import hmac
import logging
import random
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..errors import CampaignError, CodeExpired, CodeInvalid, SmsSendFailed, Throttled, TooManyAttempts
from ..keying.phone import normalize
from .audit import AuditLog
from .clock import MICROSECOND, from_us, now_us, seconds
from .db import CampaignDb, Db, Rows, ask, hold, try_hold
from .limits import (
    NEVER_SMS_NUMBER_TYPES,
    CapWaits,
    Limits,
    RateCounts,
    RateRule,
    Waits,
    cap_margin,
    check_sms_allowed,
    far_from_caps,
    fits_sql,
    forget_events,
    number_prefix,
    question_sql,
    record_event,
    record_event_where,
)
from .mandates import iso
from .networks import LEVELS, Origin, origin_of
from .otp import Challenge, CodeRules, Verification, clean_code, generate_code
from .pseudonyms import CampaignKeys
from .sms import SmsSender, render_message

__all__ = ["CHALLENGE_RETENTION", "FAILURE_RETENTION", "PURGE_EVERY", "Codes", "CodeSettings"]

log = logging.getLogger("breachindex.campaign")

#: how long a challenge row is kept after it expired (then purged; answers stay CodeInvalid)
CHALLENGE_RETENTION = timedelta(days=1)
#: how long a requester's count of failed codes for a number is kept without a new failure
FAILURE_RETENTION = timedelta(days=30)
#: how often a start purges expired challenges and old rate events, at most (each process)
PURGE_EVERY = timedelta(seconds=1)
_MAX_CHALLENGE_ID = 64
#: the requester of a challenge made before schema version 5 (which did not record one)
_LEGACY_HOST = "legacy"
#: the setting, local to its transaction, in which a confirmation in one round trip passes the
#: participant it confirmed from its statement to the audit entry's
_CONFIRMED = "breachindex.confirmed"


@dataclass(frozen=True)
class CodeSettings:
    """Who may receive a code, how often, and what it says (``Campaign``'s arguments, checked)."""

    sender: SmsSender
    limits: Limits
    rules: CodeRules
    calling_codes: frozenset[int]
    number_types: frozenset[int]
    message: str
    minutes: int

    @classmethod
    def of(cls, sender: object, limits: Limits | None, rules: CodeRules | None, calling_codes: Iterable[int],
           number_types: Iterable[int], message: str) -> CodeSettings:
        """The settings, with the defaults filled in; TypeError or ValueError for a bad one."""
        if not isinstance(sender, SmsSender):
            raise TypeError("sender must have a send(e164, text) method")
        chosen_rules = rules if rules is not None else CodeRules()
        types = frozenset(int(t) for t in number_types)
        if types & NEVER_SMS_NUMBER_TYPES:
            raise ValueError("premium-rate and shared-cost numbers can never receive a code")
        minutes = max(1, round(chosen_rules.lifetime / timedelta(minutes=1)))
        render_message(message, "0" * chosen_rules.digits, minutes)  # validates the template
        return cls(sender, limits if limits is not None else Limits(), chosen_rules,
                   frozenset(int(cc) for cc in calling_codes), types, message, minutes)


class Codes:
    """Sends and confirms one-time codes (see ``Campaign.start_verification``)."""

    def __init__(self, store: CampaignDb, audit: AuditLog, keys: CampaignKeys, settings: CodeSettings) -> None:
        self._store, self._audit, self._keys, self._sender = store, audit, keys, settings.sender
        self._limits, self._rules = settings.limits, settings.rules
        self._calling_codes, self._number_types = settings.calling_codes, settings.number_types
        self._message, self._minutes = settings.message, settings.minutes
        self._send_seconds = 0.0  # the SMS sender's recent time a send (see _pause_like_a_send)
        self._purged_us: int | None = None  # when this process's starts last purged
        self._caps_far: dict[int, bool] = {}  # calling code -> its caps were far from their limits last time
        self._checkpoint_seen_us: int | None = None  # the latest audit checkpoint's time this process read

    def unlock(self, pid: str, t: int) -> bool:
        """Clear the failures, waits and locks every requester of a participant earned; logged."""
        with self._store.transaction() as db:
            changed = db.execute("DELETE FROM code_failures WHERE participant = ?", (pid,)).rowcount > 0
            changed = db.execute(  # the state of schema versions before 5, kept per number
                "UPDATE participants SET failures = 0, wait_until_us = NULL, locked_us = NULL "
                "WHERE id = ? AND (failures > 0 OR wait_until_us IS NOT NULL OR locked_us IS NOT NULL)",
                (pid,)).rowcount == 1 or changed
            if changed:
                self._audit.append(db, "participant_unlocked", t, participant=pid, payload={"unlocked_at": iso(t)})
        if changed:
            log.info("participant %s unlocked by an operator", pid[:8])
        return changed

    def start_verification(self, phone: str, region: str | None = None, *, ip: str | None = None,
                           now: datetime | None = None) -> Challenge:
        """See ``Campaign.start_verification``."""
        t = now_us(now)
        e164 = normalize(phone, region)
        calling_code = check_sms_allowed(e164, self._calling_codes, self._number_types)
        origin = self._origin(ip)
        pid = self._keys.participant_id(e164)
        host, site, network = (None if origin.subject(level) is None else
                               self._keys.subject("net", str(origin.subject(level))) for level in LEVELS)
        assert host is not None and network is not None
        prefix = number_prefix(e164, self._limits.prefix_hidden_digits)
        caller = {"send:host": host, "send:site": site, "send:network": network}
        subjects: dict[str, str | None] = {
            **caller,
            "send:country": str(calling_code),
            "send:all": "all",
            "send:number-net": self._keys.subject("number-net", f"{pid}|{network}"),
            "send:number": pid,
            "send:prefix-net": self._keys.subject("prefix-net", f"{prefix}|{network}"),
            "send:prefix": self._keys.subject("prefix", prefix),
        }
        # hex like every other id here: a base64url id starts with '-' one time in 64, and a
        # shell command line then reads it as an option
        challenge_id = secrets.token_hex(16)
        code = generate_code(self._rules.digits)
        expires = t + self._rules.lifetime // MICROSECOND
        # scoped to the number and to the subjects whose counts it reads: starts for other
        # numbers run beside it on PostgreSQL (a confirmation takes the number's name too). The
        # campaign-wide caps every start shares are taken last, held only from their check on:
        # shared with other starts while this process last saw them far from their limits
        # (limits.far_from_caps), alone near them; a start that finds them near while holding
        # them shared starts over holding them alone
        caps = self._limits.cap_rules(calling_code)
        cap_locks = sorted({f"{rule.scope}|{subjects[rule.scope]}" for rule in caps})
        locks = {_participant_lock(pid)} | {f"{rule.scope}|{subjects[rule.scope]}"
                                            for rule in self._limits.caller_rules() + self._limits.number_rules()
                                            if subjects.get(rule.scope) is not None}
        if caps:
            locks.add(f"send:network|{network}")  # CapWaits reads the network's sends
        slack = self._store.max_writers
        shared = slack is not None and self._caps_far.get(calling_code, False)
        tried = 0.0  # the seconds a start in one statement took that then wrote nothing
        if slack is not None and not self._purge_due(t):
            began = time.perf_counter()
            if self._start_at_once(locks, cap_locks, shared, slack, pid, e164, challenge_id, code, host, network,
                                   subjects, calling_code, caps, t, expires):
                return self._send(pid, e164, challenge_id, code, t, Challenge(challenge_id, from_us(expires)))
            tried = time.perf_counter() - began
            shared = self._caps_far.get(calling_code, False)
        while True:
            refusal: CampaignError | None = None
            hidden: str | None = None
            answer = Challenge(challenge_id, from_us(expires))
            try:
                with self._store.transaction(locks) as db:
                    # one purge at a time, each process's at most every PURGE_EVERY; the answer
                    # comes with the next read
                    purging = try_hold(db, "purge") if self._purge_due(t) else None
                    # every question goes out before the first answer is read: one round trip on PostgreSQL
                    failures = self._ask_failures(db, pid, host)
                    hold(db, *cap_locks, shared=shared)  # before the one statement that reads every rate count
                    counts = RateCounts(db, t)
                    told = Waits(counts).ask(self._limits.caller_rules(), subjects)
                    untold = Waits(counts).ask(self._limits.number_rules(), subjects)
                    capped = CapWaits(counts, self._limits, caps, subjects, network)
                    margin = None if slack is None else far_from_caps(counts, self._limits, caps, subjects, slack)
                    if slack is not None:
                        self._caps_far[calling_code] = margin is not None and margin.fit()
                        if shared and not self._caps_far[calling_code]:
                            raise _NearCaps  # rolled back: starts over, holding the caps alone
                    try:  # the requester's networks, then the caps (with their reserve): told
                        told.enforce()
                        capped.enforce()
                    except Throttled as exc:
                        refusal = exc
                    if refusal is None:
                        hidden = _number_refusal(failures, untold, t)
                        if hidden is None:
                            self._store_challenge(db, pid, e164, challenge_id, code, host, network, t, expires)
                            record_event(db, subjects, t)
                        else:
                            record_event(db, caller, t)  # every start counts against the requester, sent or not
                            answer = self._live_challenge(db, pid, host, t) or answer
                    if purging is not None and purging.fetchone()[0]:
                        self._purge_expired(db, t)  # committed even when the send is refused
                        self._purged_us = t
                break
            except _NearCaps:
                shared = False
        if refusal is not None:
            raise refusal
        if hidden is not None:
            log.debug("a start for participant %s sent nothing (%s)", pid[:8], hidden)
            self._pause_like_a_send(tried)
            return answer
        return self._send(pid, e164, challenge_id, code, t, answer)

    def _purge_due(self, t: int) -> bool:
        """True if this process's starts have not purged for ``PURGE_EVERY``."""
        return self._purged_us is None or not 0 <= t - self._purged_us < PURGE_EVERY // MICROSECOND

    def _start_at_once(self, locks: set[str], cap_locks: list[str], shared: bool, slack: int, pid: str, e164: str,
                       challenge_id: str, code: str, host: str, network: str, subjects: Mapping[str, str | None],
                       calling_code: int, caps: list[RateRule], t: int, expires: int) -> bool:
        """On PostgreSQL, a start that sends in one round trip: the same locks, then one
        statement that decides in the database whether every rule lets the code go (no wait or
        lock from the requester's failures, every caller and number rule, the caps without
        their reserve) and, if so, stores the challenge and counts the send. True if it did;
        False if it wrote nothing, and the start then runs as a whole (``start_verification``),
        which tells a refusal, or sends nothing to a number held back, exactly. Remembers, as
        the whole start does, whether the caps were far from their limits."""
        limits = self._limits
        margin = cap_margin(limits, slack)
        reserved = limits.reserve_share > 0  # the strictest a cap can be for this requester
        limits_of = [int(r.limit or 0) for r in caps]  # cap_rules gives none without a limit
        strictest = [limits.reserve_limit(limit) if reserved else limit for limit in limits_of]
        margins = [margin(r) for r in caps]
        counts: list[str] = []
        count_values: list[Any] = []
        for rule in caps:  # a cap's count, once (a column of q), for both its limits; counted by the minute,
            # it does not depend on the limit (MINUTE_COUNTED_SCOPES)
            sql, params = question_sql(rule.scope, str(subjects[rule.scope]), rule.window // MICROSECOND, 0, t)
            counts.append(sql)
            count_values += params
        if any(m is None or m < 1 for m in margins):
            far, far_values = "false", []  # a cap too small to be far from anything
        else:
            far = " AND ".join(f"n{i} < ?" for i in range(len(caps))) or "true"
            far_values = margins
        go = " AND ".join(["q.ok"] + [f"n{i} < ?" for i in range(len(caps))] + ([f"({far})"] if shared else []))
        go_values = [*strictest, *(far_values if shared else [])]
        fits, fit_values = fits_sql(limits.caller_rules() + limits.number_rules(), subjects, t)
        counted, counted_values = record_event_where(subjects, t, "v WHERE v.go")  # the send's events
        statement = (
            f"WITH v AS MATERIALIZED (SELECT {go} AS go, {far} AS far FROM (SELECT NOT EXISTS (SELECT 1 FROM "
            "code_failures WHERE participant = ? AND host = ? AND (locked_us IS NOT NULL OR wait_until_us > ?))"
            + "".join(f" AND {f}" for f in fits) + " AS ok" + "".join(f", {c} AS n{i}" for i, c in enumerate(counts))
            + " OFFSET 0) AS q), "
            "p AS (INSERT INTO participants (id, created_us) SELECT ?, ? FROM v WHERE v.go "
            "ON CONFLICT (id) DO NOTHING), "
            "r AS (UPDATE challenges SET replaced_us = ?, phone_sealed = NULL FROM v WHERE v.go AND participant = ? "
            "AND host = ? AND used_us IS NULL AND replaced_us IS NULL), "
            "c AS (INSERT INTO challenges (id, participant, code_hash, phone_sealed, created_us, expires_us, host, "
            "network) SELECT ?, ?, ?, ?, ?, ?, ?, ? FROM v WHERE v.go)"
            + "".join(f", e{i} AS ({insert})" for i, insert in enumerate(counted))
            + " SELECT v.go, v.far FROM v")
        values: list[Any] = [
            *go_values, *far_values, pid, host, t, *fit_values, *count_values,
            pid, t,
            t, pid, host,
            challenge_id, pid, self._keys.code_hash(challenge_id, code), self._keys.seal_phone(pid, e164), t, expires,
            host, network,
            *counted_values,
        ]
        with self._store.transaction(locks) as db:
            hold(db, *cap_locks, shared=shared)
            decided = db.execute(statement, values)
        row = decided.fetchone()
        self._caps_far[calling_code] = bool(row[1])
        return bool(row[0])

    def _send(self, pid: str, e164: str, challenge_id: str, code: str, t: int, answer: Challenge) -> Challenge:
        """Send the code of a challenge just stored; withdrawn if the sender fails."""
        started = time.perf_counter()
        try:
            self._sender.send(e164, render_message(self._message, code, self._minutes))
        except Exception as exc:
            with self._store.transaction() as db:
                db.execute("UPDATE challenges SET replaced_us = ?, phone_sealed = NULL WHERE id = ? "
                           "AND used_us IS NULL AND replaced_us IS NULL", (t, challenge_id))
            log.warning("the SMS sender failed (%s); the code was withdrawn", type(exc).__name__)
            raise SmsSendFailed(f"the SMS sender failed ({type(exc).__name__}); the code was withdrawn") from None
        finally:
            self._send_seconds = 0.8 * self._send_seconds + 0.2 * min(5.0, time.perf_counter() - started)
        log.debug("a code was sent to participant %s", pid[:8])
        return answer

    def _origin(self, ip: str | None) -> Origin:
        """The requester's networks; ValueError (without the value) for an ``ip`` that is not an
        address (a missing one is the shared ``unknown`` requester)."""
        origin = origin_of(ip)
        if ip is not None and not origin.known:
            raise ValueError("ip is not an IPv4 or IPv6 address")
        return origin

    @staticmethod
    def _ask_failures(db: Db, pid: str, host: str) -> Rows:
        """The requester's wait and lock for the number (read with ``_wait_or_lock``)."""
        return ask(db, "SELECT wait_until_us, locked_us FROM code_failures WHERE participant = ? AND host = ?",
                   (pid, host))

    def _live_challenge(self, db: Db, pid: str, host: str, t: int) -> Challenge | None:
        """The challenge this requester already holds for the number, if it is still usable."""
        row = db.execute(
            "SELECT id, expires_us FROM challenges WHERE participant = ? AND host = ? AND used_us IS NULL "
            "AND replaced_us IS NULL AND expires_us > ? AND attempts < ? ORDER BY created_us DESC LIMIT 1",
            (pid, host, t, self._rules.attempts_per_code)).fetchone()
        return None if row is None else Challenge(str(row[0]), from_us(int(row[1])))

    def _pause_like_a_send(self, spent: float = 0.0) -> None:
        """Take about as long as a real send does, so that a start that sent nothing cannot be
        told apart by its timing (the sender's recent average, jittered), less the ``spent``
        seconds of a start in one statement that a start which sends does not take."""
        pause = self._send_seconds * random.uniform(0.75, 1.25) - spent
        if pause > 0:
            time.sleep(pause)

    def _store_challenge(self, db: Db, pid: str, e164: str, challenge_id: str, code: str,
                         host: str, network: str, t: int, expires: int) -> None:
        """Replace this requester's live challenge for the number by a new one."""
        db.execute("INSERT INTO participants (id, created_us) VALUES (?, ?) ON CONFLICT (id) DO NOTHING", (pid, t))
        db.execute("UPDATE challenges SET replaced_us = ?, phone_sealed = NULL "
                   "WHERE participant = ? AND host = ? AND used_us IS NULL AND replaced_us IS NULL", (t, pid, host))
        db.execute("INSERT INTO challenges (id, participant, code_hash, phone_sealed, created_us, expires_us, host, "
                   "network) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (challenge_id, pid, self._keys.code_hash(challenge_id, code), self._keys.seal_phone(pid, e164),
                    t, expires, host, network))

    def confirm_verification(self, challenge_id: str, code: str, *, ip: str | None = None,
                             now: datetime | None = None) -> Verification:
        """See ``Campaign.confirm_verification``."""
        t = now_us(now)
        typed = clean_code(code)
        if not isinstance(challenge_id, str):
            raise TypeError(f"a challenge id must be a str, not {type(challenge_id).__name__}")
        origin = self._origin(ip)
        fail = {f"fail:{level}": self._keys.subject("net", str(origin.subject(level)))
                for level in ("host", "network")}
        locks = {f"challenge|{challenge_id}"} | {f"{rule.scope}|{fail[rule.scope]}"
                                                 for rule in self._limits.failure_rules()
                                                 if fail.get(rule.scope) is not None}
        if self._store.max_writers is not None and len(challenge_id) <= _MAX_CHALLENGE_ID \
                and not self._audit.due_after(self._checkpoint_seen_us, t):
            pid = self._confirm_at_once(locks, challenge_id, typed, fail, t)
            if pid is not None:
                log.debug("participant %s confirmed a code", pid[:8])
                return Verification(pid, from_us(t))
        with self._store.transaction(locks) as db:
            outcome = self._confirm(db, challenge_id, typed, fail, t)
        if isinstance(outcome, _Confirmed):
            outcome = outcome.outcome()
        if isinstance(outcome, Verification):
            log.debug("participant %s confirmed a code", outcome.participant[:8])
            return outcome
        raise outcome

    def _confirm_at_once(self, locks: set[str], challenge_id: str, typed: str, fail: Mapping[str, str | None],
                         t: int) -> str | None:
        """On PostgreSQL, a confirmation that succeeds in one round trip: the same locks, then
        one statement that marks the challenge used if the code's hash matches and nothing
        refuses it (the challenge live, tries left, no wait or lock from its requester's
        failures, every failure rule), and writes the number's rows from the challenge it
        updated; then the audit entry, whose participant the insert reads. The participant id
        if it did; None if it wrote nothing, and the confirmation then runs as a whole
        (``_confirm``), which tells why exactly and counts a failure. The challenge's row lock,
        rechecked at the update, lets one of a start and a confirmation win, as the number's
        lock does in the whole confirmation; that lock is not needed here because nothing is
        read that a start for the number writes but the challenge itself."""
        fits, fit_values = fits_sql(self._limits.failure_rules(), fail, t)
        live = "used_us IS NULL AND replaced_us IS NULL AND attempts < ? AND expires_us > ?"
        tries = self._rules.attempts_per_code
        with self._store.transaction(locks) as db:
            confirmed = db.execute(
                "WITH v AS MATERIALIZED (SELECT c.phone_sealed, COALESCE(c.host, ?) AS host FROM challenges c "
                "LEFT JOIN code_failures f ON f.participant = c.participant AND f.host = COALESCE(c.host, ?) "
                f"WHERE c.id = ? AND c.code_hash = ? AND c.{live.replace(' AND ', ' AND c.')} "
                "AND f.locked_us IS NULL AND (f.wait_until_us IS NULL OR f.wait_until_us <= ?)"
                + "".join(f" AND {f}" for f in fits) + "), "
                f"u AS (UPDATE challenges SET used_us = ?, phone_sealed = NULL FROM v WHERE id = ? AND {live} "
                "RETURNING participant), "
                "p AS (UPDATE participants SET verified_us = ?, phone_sealed = COALESCE(v.phone_sealed, "
                "participants.phone_sealed) FROM u, v WHERE participants.id = u.participant), "
                "d AS (DELETE FROM code_failures USING u, v WHERE code_failures.participant = u.participant "
                "AND code_failures.host = v.host) "
                # what this statement confirmed, for the next one (none: '')
                f"SELECT set_config('{_CONFIRMED}', COALESCE((SELECT participant FROM u), ''), true), "
                f"{AuditLog.LATEST_CHECKPOINT}",
                (_LEGACY_HOST, _LEGACY_HOST, challenge_id, self._keys.code_hash(challenge_id, typed), tries, t, t,
                 *fit_values, t, challenge_id, tries, t, t))
            # a later statement, so that the chain's lock is taken after the rows' locks, as
            # every append takes it; it reads whom the first one confirmed, in this transaction
            self._audit.append_where(db, "verification_confirmed", t, (f"current_setting('{_CONFIRMED}') <> ''", ()),
                                     payload={"verified_at": iso(t)},
                                     participant_of=(f"current_setting('{_CONFIRMED}')", ()))
        pid, signed_us = confirmed.fetchone()
        self._checkpoint_seen_us = None if signed_us is None else int(signed_us)
        return str(pid) or None

    def _confirm(self, db: Db, challenge_id: str, typed: str, fail: Mapping[str, str | None],
                 t: int) -> Verification | CampaignError | _Confirmed:
        """The outcome of a confirmation (``_Confirmed``: known once the transaction has
        committed); what it wrote commits even when it is an error."""
        checkpoint = self._audit.ask_checkpoint(db)  # with the first read, for the append's path below
        waits = Waits(RateCounts(db, t)).ask(self._limits.failure_rules(), fail)
        found: Rows | None = None
        if len(challenge_id) <= _MAX_CHALLENGE_ID:
            # the challenge and its requester's failures in one statement, asked with the waits
            found = ask(db,
                "SELECT c.participant, c.code_hash, c.expires_us, c.attempts, c.used_us, c.replaced_us, "
                "c.phone_sealed, c.host, f.wait_until_us, f.locked_us FROM challenges c LEFT JOIN code_failures f "
                "ON f.participant = c.participant AND f.host = COALESCE(c.host, ?) WHERE c.id = ?",
                (_LEGACY_HOST, challenge_id))
        try:
            waits.enforce()
        except Throttled as exc:
            return exc
        seen = None if checkpoint is None else checkpoint.fetchone()
        self._checkpoint_seen_us = None if seen is None or seen[0] is None else int(seen[0])
        row = None if found is None else found.fetchone()
        if row is None:
            record_event(db, fail, t)
            return CodeInvalid()
        pid, code_hash, expires, attempts, used, replaced, sealed, host, wait_until, locked = row
        host = str(host or _LEGACY_HOST)
        hold(db, _participant_lock(pid))  # what follows reads and writes the number's rows
        refusal = _wait_or_lock(wait_until, locked, t)
        if refusal is not None:
            return refusal
        if used is not None or replaced is not None:
            record_event(db, fail, t)
            return CodeInvalid()
        if attempts >= self._rules.attempts_per_code:
            return TooManyAttempts("code_burned")
        if t >= expires:
            record_event(db, fail, t)
            return CodeExpired()
        if not hmac.compare_digest(self._keys.code_hash(challenge_id, typed), bytes(code_hash)):
            record_event(db, fail, t)
            return self._wrong_code(db, challenge_id, pid, host, attempts + 1, t)
        done = db.execute(
            "UPDATE challenges SET used_us = ?, phone_sealed = NULL WHERE id = ? AND used_us IS NULL "
            "AND replaced_us IS NULL AND attempts < ? AND expires_us > ?",
            (t, challenge_id, self._rules.attempts_per_code, t))
        # the number's rows and the audit entry are written only if that update was (a start for
        # the number may have replaced the challenge since it was read): all of it goes out with
        # the commit, in one round trip on PostgreSQL, and the update's count is read after it
        used = "EXISTS (SELECT 1 FROM challenges WHERE id = ? AND used_us = ?)"
        db.execute("UPDATE participants SET verified_us = ?, phone_sealed = COALESCE(?, phone_sealed) "
                   f"WHERE id = ? AND {used}", (t, sealed, pid, challenge_id, t))
        db.execute(f"DELETE FROM code_failures WHERE participant = ? AND host = ? AND {used}",
                   (pid, host, challenge_id, t))
        payload = {"verified_at": iso(t)}
        if not self._audit.due_after(self._checkpoint_seen_us, t):
            self._audit.append_where(db, "verification_confirmed", t, (used, (challenge_id, t)), participant=pid,
                                     payload=payload)
            return _Confirmed(done, pid, t)
        # a checkpoint is due (once an interval): the append reads the chain's tail first
        tail = self._audit.ask_tail(db)
        if done.rowcount != 1:  # replaced meanwhile: nothing of the number's was written
            return CodeInvalid()
        self._audit.append(db, "verification_confirmed", t, participant=pid, payload=payload, tail=tail)
        return Verification(pid, from_us(t))

    def _wrong_code(self, db: Db, challenge_id: str, pid: str, host: str, attempts: int,
                    t: int) -> CampaignError:
        """Count a wrong code against the requester who asked for the challenge (its host), so
        that a stranger's failures never make the number's owner wait or lock them out."""
        rules = self._rules
        burned = attempts >= rules.attempts_per_code
        db.execute("UPDATE challenges SET attempts = ? WHERE id = ?", (attempts, challenge_id))
        if burned:
            db.execute("UPDATE challenges SET phone_sealed = NULL WHERE id = ?", (challenge_id,))
        row = db.execute("SELECT failures FROM code_failures WHERE participant = ? AND host = ?",
                         (pid, host)).fetchone()
        failures = (0 if row is None else int(row[0])) + 1
        wait = rules.wait_after(failures)
        locked = failures >= rules.lock_after_failures
        wait_until = None if wait is None or locked else t + wait // MICROSECOND
        db.execute("INSERT INTO code_failures (participant, host, failures, wait_until_us, locked_us, updated_us) "
                   "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (participant, host) DO UPDATE SET "
                   "failures = excluded.failures, wait_until_us = excluded.wait_until_us, "
                   "locked_us = excluded.locked_us, updated_us = excluded.updated_us",
                   (pid, host, failures, wait_until, t if locked else None, t))
        if locked:
            log.warning("a requester of participant %s locked after %d consecutive failures", pid[:8], failures)
            return TooManyAttempts("number_locked")
        if burned:
            return TooManyAttempts("code_burned", None if wait is None else wait.total_seconds())
        return CodeInvalid()

    def _purge_expired(self, db: Db, t: int) -> tuple[Rows, Rows]:
        """Erase sealed numbers of expired challenges, drop old challenges and rate events; the
        two deletions' results (``purge`` counts them; a start does not wait for the counts)."""
        longest = max([timedelta(days=1), self._limits.resend_interval])
        db.execute("UPDATE challenges SET phone_sealed = NULL WHERE phone_sealed IS NOT NULL AND expires_us <= ?", (t,))
        return (db.execute("DELETE FROM challenges WHERE expires_us <= ?", (t - CHALLENGE_RETENTION // MICROSECOND,)),
                forget_events(db, t - longest // MICROSECOND))

    def purge(self, *, now: datetime | None = None) -> int:
        """See ``Campaign.purge``."""
        t = now_us(now)
        with self._store.transaction() as db:
            gone = sum(rows.rowcount for rows in self._purge_expired(db, t))
            gone += db.execute("DELETE FROM code_failures WHERE locked_us IS NULL AND updated_us <= ?",
                               (t - FAILURE_RETENTION // MICROSECOND,)).rowcount
            gone += db.execute(
                "DELETE FROM participants WHERE verified_us IS NULL AND failures = 0 AND locked_us IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM challenges c WHERE c.participant = participants.id) "
                "AND NOT EXISTS (SELECT 1 FROM code_failures f WHERE f.participant = participants.id) "
                "AND NOT EXISTS (SELECT 1 FROM identity_checks i WHERE i.participant = participants.id)").rowcount
        return int(gone)


def _number_refusal(failures: Rows, waits: Waits, t: int) -> str | None:
    """Why the number may not get a code from this requester now (None: it may). Never told."""
    row = failures.fetchone()
    state = None if row is None else _wait_or_lock(row[0], row[1], t)
    if state is not None:
        return str(getattr(state, "reason", "failure_wait"))
    worst = waits.worst()
    return None if worst is None else worst[1]


class _Confirmed:
    """A confirmation whose outcome is known once its transaction has committed: verified if
    its challenge's update was made, CodeInvalid if a start replaced the challenge meanwhile
    (then nothing of the number's was written, and no audit entry)."""

    __slots__ = ("_done", "_pid", "_t")

    def __init__(self, done: Rows, pid: str, t: int) -> None:
        self._done, self._pid, self._t = done, pid, t

    def outcome(self) -> Verification | CampaignError:
        return Verification(self._pid, from_us(self._t)) if self._done.rowcount == 1 else CodeInvalid()


class _NearCaps(Exception):
    """A start holding the caps shared found them near their limits (it starts over)."""


def _participant_lock(pid: str) -> str:
    """The name a transaction holds to read and write one participant's codes and failures."""
    return f"participant|{pid}"


def _wait_or_lock(wait_until: int | None, locked: int | None, t: int) -> CampaignError | None:
    """The refusal a requester's failures earn at ``t`` (a lock, or a wait not over), else None."""
    if locked is not None:
        return TooManyAttempts("number_locked")
    if wait_until is not None and wait_until > t:
        return Throttled(seconds(int(wait_until) - t), "failure_wait")
    return None
