"""Mandates: a participant authorises SOMI to act for them towards one controller.

What a mandate keeps, so a simple electronic signature (eIDAS Art. 3(10)) holds up later:

* who: the participant id, the name as signed (or, when none is given, as the ID check
  confirmed it; ``name_source`` says which), the one-time-code verification time and the
  ID check (provider, reference, time) that let them sign;
* what: the controller, the scopes (``SCOPES``), the template version and the SHA-256 of the
  exact text shown, as UTF-8 bytes without any normalisation (a text that differs by one
  space or a composed/decomposed accent has another hash); the text itself is kept sealed,
  once per distinct text, so it can be shown again;
* when and how: the UTC time, the IP address and user agent, the boxes ticked (``CONSENTS``);
* the hash and seq of the audit-log entry that recorded it, and an HMAC over all of the above
  in that entry (``sealing``), so an edit of the evidence is detectable.

Name, IP address, user agent and text are sealed (recoverable by SOMI with the secret, for a
court); nothing personal is stored in clear, nor written to the audit log.

Rules: a participant may sign only within the check policy's ``verified_for`` (24 hours) of
confirming a code, while their latest ID check is ``approved``, and while they hold no active
mandate for the same controller. The text must be a published template's text for the
controller, and the scopes and boxes exactly those the template declares (``templates``).
When the ID check confirmed a name and the name typed differs from it (compared with
``same_name``: case, accents, punctuation and word order aside), the mandate is recorded with
``review = "signer_name_mismatch"``: it is on record, but no batch files it until an operator
has looked and cleared it (``Campaign.clear_mandate_review``, logged).

A mandate is active from its signing until its end (``Campaign(mandate_months=12)``: the
same date and time a year later, or the month's last day) unless revoked. Revoked and
expired mandates stay on record and are never reused.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..errors import InvalidMandate, MandateRefused, UnknownMandate, UnknownParticipant
from .audit import AuditLog
from .clock import from_us, iso, to_us
from .controllers import Controller
from .db import Db
from .deadlines import add_months
from .sealing import EvidenceKeys, normalize_ip

if TYPE_CHECKING:
    from .templates import MandateTemplate

__all__ = [
    "ALWAYS_REQUIRED_CONSENTS",
    "CONSENTS",
    "SCOPES",
    "SCOPE_CONSENTS",
    "Evidence",
    "Mandate",
    "MandateEvidence",
    "day_end_us",
    "iso",
    "load_mandate",
    "mandate_evidence",
    "participant_mandates",
    "record_mandate",
    "revoke_mandate",
    "same_name",
    "check_recorded_mandates",
    "clear_review",
]

#: what a mandate may authorise
SCOPES: Mapping[str, str] = MappingProxyType({
    "gdpr_access_art15": "a request for access to personal data (Art. 15 GDPR)",
    "gdpr_erasure_art17": "a request for erasure (Art. 17 GDPR)",
    "gdpr_objection_art21": "an objection to processing (Art. 21 GDPR)",
    "dpa_complaint": "a complaint to a supervisory authority (Art. 77 with Art. 80(1) GDPR)",
    "collective_claim": "a collective claim for damages (Art. 80(1) and 82 GDPR; WAMCA)",
})

#: the boxes a participant may tick
CONSENTS: Mapping[str, str] = MappingProxyType({
    "privacy_notice_read": "I have read SOMI's privacy notice",
    "authorise_access_request": "SOMI may request access to my data for me",
    "authorise_erasure_request": "SOMI may request erasure of my data for me",
    "authorise_objection": "SOMI may object to the processing of my data for me",
    "authorise_dpa_complaint": "SOMI may file a complaint with a data protection authority for me",
    "authorise_collective_claim": "SOMI may claim damages for me in a collective action",
})

#: the box each scope needs ticked
SCOPE_CONSENTS: Mapping[str, str] = MappingProxyType({
    "gdpr_access_art15": "authorise_access_request",
    "gdpr_erasure_art17": "authorise_erasure_request",
    "gdpr_objection_art21": "authorise_objection",
    "dpa_complaint": "authorise_dpa_complaint",
    "collective_claim": "authorise_collective_claim",
})

#: boxes every mandate needs ticked
ALWAYS_REQUIRED_CONSENTS: tuple[str, ...] = ("privacy_notice_read",)

_MAX_TEXT = 200_000
_MAX_SHORT = 200
_MAX_USER_AGENT = 1024


def day_end_us(day: date) -> int:
    """The first microsecond after ``day`` (UTC)."""
    return to_us(datetime.combine(day + timedelta(days=1), time(), tzinfo=timezone.utc))


def _add_months_us(us: int, months: int) -> int:
    moment = from_us(us)
    later = add_months(moment.date(), months)
    return to_us(moment.replace(year=later.year, month=later.month, day=later.day))


def _short_text(name: str, value: object, *, limit: int = _MAX_SHORT, empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > limit or not value.isprintable() or (not empty and not value.strip()):
        raise InvalidMandate(f"{name} must be {'' if empty else 'non-empty '}printable text of at most {limit} "
                             "characters")
    return value


@dataclass(frozen=True)
class Evidence:
    """How the mandate was signed: the client's ``ip`` and ``user_agent``, the ``consents``
    ticked. ``repr`` shows only the consents (the rest is personal data)."""

    ip: str = field(repr=False)
    user_agent: str = field(repr=False)
    consents: tuple[str, ...]

    @classmethod
    def of(cls, value: Evidence | Mapping[str, Any]) -> Evidence:
        """Validated evidence from an ``Evidence`` or a mapping with ``ip``, ``user_agent``,
        ``consents``: IP normalized, consents known, unique and sorted. InvalidMandate else."""
        if isinstance(value, Evidence):
            ip, user_agent, consents = value.ip, value.user_agent, value.consents
        elif isinstance(value, Mapping):
            unknown = set(value) - {"ip", "user_agent", "consents"}
            if unknown or not {"ip", "user_agent", "consents"} <= set(value):
                raise InvalidMandate("evidence has exactly the keys ip, user_agent and consents")
            ip, user_agent, consents = value["ip"], value["user_agent"], value["consents"]
        else:
            raise InvalidMandate("evidence must be an Evidence or a mapping")
        try:
            ip = normalize_ip(ip)
        except ValueError:
            raise InvalidMandate("evidence ip is not an IPv4 or IPv6 address") from None
        user_agent = _short_text("evidence user_agent", user_agent, limit=_MAX_USER_AGENT, empty=True)
        if isinstance(consents, str) or not isinstance(consents, Iterable):
            raise InvalidMandate("evidence consents must be a list of consent names")
        ticked = tuple(sorted(set(consents)))
        if not ticked or not all(isinstance(c, str) and c in CONSENTS for c in ticked):
            raise InvalidMandate(f"consents must be a non-empty list of: {', '.join(CONSENTS)}")
        return cls(ip, user_agent, ticked)


@dataclass(frozen=True)
class Mandate:
    """A signed mandate (no personal data: see ``MandateEvidence`` for that). Times are aware UTC.

    ``log_seq`` and ``log_hash`` (hex) name the audit-log entry that recorded it;
    ``revoked_at`` is None unless it was revoked. ``review``: why no batch may file it until
    an operator clears it (``signer_name_mismatch``, ``unknown_template``,
    ``text_not_template``, ``scopes_not_in_text``, ``consents_not_in_text``), else None.
    """

    id: str
    participant: str
    controller: str
    scopes: tuple[str, ...]
    template_version: str
    text_sha256: str
    signed_at: datetime
    ends_at: datetime
    consents: tuple[str, ...]
    name_source: str
    verified_at: datetime
    identity_provider: str
    identity_reference: str
    identity_checked_at: datetime
    log_seq: int
    log_hash: str
    revoked_at: datetime | None = None
    review: str | None = None

    def status(self, at: datetime) -> str:
        """``revoked``, ``expired``, ``active`` or ``not_yet`` (before its signing) at ``at``."""
        if self.revoked_at is not None and self.revoked_at <= at:
            return "revoked"
        if at >= self.ends_at:
            return "expired"
        return "active" if at >= self.signed_at else "not_yet"


@dataclass(frozen=True)
class MandateEvidence:
    """A mandate with its opened evidence, for SOMI's lawyer or a court. ``intact``: the text
    matches its hash, and the evidence matches the HMAC in the audit-log entry that recorded
    it, whose hash matches the mandate's. ``repr`` hides the personal data."""

    mandate: Mandate
    signer_name: str = field(repr=False)
    ip: str = field(repr=False)
    user_agent: str = field(repr=False)
    text: str = field(repr=False)
    revocation_reason: str | None = field(repr=False)
    intact: bool


_COLUMNS = ("m.id, m.participant, m.controller, m.template_version, m.text_sha256, m.signed_us, m.ends_us, "
            "m.consents, m.name_source, m.verified_us, i.provider, i.reference, i.checked_us, m.log_seq, "
            "m.log_hash, m.revoked_us, m.review")
_FROM = "FROM mandates m JOIN identity_checks i ON i.id = m.identity_check"


def _mandate_of(db: Db, row: Sequence[Any]) -> Mandate:
    scopes = tuple(r[0] for r in db.execute("SELECT scope FROM mandate_scopes WHERE mandate = ? ORDER BY scope",
                                            (row[0],)))
    return Mandate(str(row[0]), str(row[1]), str(row[2]), scopes, str(row[3]), str(row[4]), from_us(int(row[5])),
                   from_us(int(row[6])), tuple(json.loads(row[7])), str(row[8]), from_us(int(row[9])), str(row[10]),
                   str(row[11]), from_us(int(row[12])), int(row[13]), bytes(row[14]).hex(),
                   None if row[15] is None else from_us(int(row[15])), None if row[16] is None else str(row[16]))


def load_mandate(db: Db, mandate_id: object) -> Mandate:
    """The mandate with this id; UnknownMandate if there is none."""
    row = None
    if isinstance(mandate_id, str) and len(mandate_id) <= 64:
        row = db.execute(f"SELECT {_COLUMNS} {_FROM} WHERE m.id = ?", (mandate_id,)).fetchone()
    if row is None:
        raise UnknownMandate("no such mandate")
    return _mandate_of(db, row)


def participant_mandates(db: Db, participant: str) -> list[Mandate]:
    rows = db.execute(f"SELECT {_COLUMNS} {_FROM} WHERE m.participant = ? ORDER BY m.signed_us, m.id",
                      (participant,)).fetchall()
    return [_mandate_of(db, row) for row in rows]


def _check_scopes(scopes: object, consents: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(scopes, str) or not isinstance(scopes, Iterable):
        raise InvalidMandate("scopes must be a list of scope names")
    chosen = tuple(sorted(set(scopes)))
    if not chosen or not all(isinstance(s, str) and s in SCOPES for s in chosen):
        raise InvalidMandate(f"scopes must be a non-empty list of: {', '.join(SCOPES)}")
    needed = set(ALWAYS_REQUIRED_CONSENTS) | {SCOPE_CONSENTS[s] for s in chosen}
    missing = sorted(needed - set(consents))
    if missing:
        raise InvalidMandate(f"the consents ticked do not cover the scopes: missing {', '.join(missing)}")
    return chosen


_FOLDED = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
                         "ı": "i", "ĳ": "ij"})


def _name_words(name: str) -> list[str]:
    """A name's words, compared without case, accents, punctuation or order."""
    decomposed = unicodedata.normalize("NFKD", name.casefold().translate(_FOLDED))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_FOLDED)
    return sorted("".join(ch if ch.isalnum() else " " for ch in plain).split())


def same_name(typed: str, confirmed: str) -> bool:
    """True if a typed name is the name an ID check confirmed, once case, accents (``é`` = ``e``,
    ``ß`` = ``ss``), punctuation, spacing and word order are set aside (``"DE VRIES, Jan"`` is
    ``"Jan de Vries"``). Anything else (a calling name for a given name, a missing middle
    name) is not the same: the mandate then waits for an operator's review."""
    return bool(_name_words(typed)) and _name_words(typed) == _name_words(confirmed)


def _evidence_record(mandate_id: str, participant: str, controller: str, scopes: Sequence[str], template_version: str,
                     text_sha256: str, signed_us: int, signer_name: str, evidence: Evidence) -> dict[str, Any]:
    """What the evidence HMAC covers."""
    return {"mandate": mandate_id, "participant": participant, "controller": controller, "scopes": list(scopes),
            "template_version": template_version, "text_sha256": text_sha256, "signed_at": iso(signed_us),
            "signer_name": signer_name, "ip": evidence.ip, "user_agent": evidence.user_agent,
            "consents": list(evidence.consents)}


def record_mandate(db: Db, *, keys: EvidenceKeys, audit: AuditLog, t: int, verified_for_us: int,
                   months: int, participant: str, controller: Controller, scopes: object, template_version: object,
                   text: object, evidence: Evidence | Mapping[str, Any], signer_name: object,
                   templates: Mapping[str, MandateTemplate]) -> Mandate:
    """Check the rules and record a signed mandate with its log entry, in the caller's transaction."""
    checked = Evidence.of(evidence)
    chosen = _check_scopes(scopes, checked.consents)
    version = _short_text("template_version", template_version, limit=64)
    if not isinstance(text, str) or not text.strip() or len(text) > _MAX_TEXT:
        raise InvalidMandate(f"the mandate text must be non-empty text of at most {_MAX_TEXT} characters")
    template = templates.get(version)
    if template is None:
        raise InvalidMandate("no published mandate text has that template version", reason="unknown_template")
    template.check(controller, text, chosen, checked.consents)
    if signer_name is not None:
        signer_name = _short_text("signer_name", signer_name)
    row = db.execute("SELECT verified_us, phone_sealed FROM participants WHERE id = ?", (participant,)).fetchone()
    if row is None:
        raise UnknownParticipant("no such participant")
    verified_us = row[0]
    if verified_us is None or row[1] is None or not t < int(verified_us) + verified_for_us:
        raise MandateRefused("not_verified", "the participant must confirm a one-time code shortly before signing")
    check = db.execute("SELECT id, provider, reference, status, checked_us, name_sealed FROM identity_checks "
                       "WHERE participant = ? ORDER BY checked_us DESC, id DESC LIMIT 1", (participant,)).fetchone()
    if check is None or check[3] != "approved":
        raise MandateRefused("identity_not_approved", "the participant's latest ID check is not approved")
    check_id = int(check[0])
    name_source = "signed"
    review: str | None = None
    confirmed = None if check[5] is None else keys.open("confirmed_name", str(check_id), bytes(check[5]))
    if signer_name is None:
        if confirmed is None:
            raise MandateRefused("no_signer_name", "no signer name was given and the ID check confirmed none")
        signer_name, name_source = confirmed, "identity_check"
    elif confirmed is not None and not same_name(str(signer_name), confirmed):
        review = "signer_name_mismatch"
    active = db.execute("SELECT 1 FROM mandates WHERE participant = ? AND controller = ? AND revoked_us IS NULL "
                        "AND ends_us > ? LIMIT 1", (participant, controller.key, t)).fetchone()
    if active is not None:
        raise MandateRefused("already_active", "the participant already has an active mandate for this controller; "
                                               "revoke it first")
    mandate_id = secrets.token_hex(16)
    text_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    ends_us = _add_months_us(t, months)
    evidence_mac = keys.mac("mandate_evidence", _evidence_record(
        mandate_id, participant, controller.key, chosen, version, text_sha256, t, str(signer_name), checked))
    entry = audit.append(db, "mandate_signed", t, participant=participant, ref=mandate_id, payload={
        "mandate": mandate_id, "controller": controller.key, "scopes": list(chosen), "template_version": version,
        "text_sha256": text_sha256, "signed_at": iso(t), "ends_at": iso(ends_us), "consents": list(checked.consents),
        "name_source": name_source, "verified_at": iso(int(verified_us)),
        "identity_check": {"id": check_id, "provider": check[1], "reference": check[2],
                           "checked_at": iso(int(check[4]))},
        "evidence_mac": evidence_mac, "review": review})
    db.execute("INSERT INTO mandate_texts (sha256, text_sealed) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING",
               (text_sha256, keys.seal("mandate_text", text_sha256, text)))
    db.execute(
        "INSERT INTO mandates (id, participant, controller, template_version, text_sha256, signed_us, ends_us, "
        "signer_name_sealed, name_source, ip_sealed, ip_lookup, user_agent_sealed, consents, verified_us, "
        "identity_check, evidence_mac, log_seq, log_hash, review, template_checked) VALUES ("
        + ", ".join("?" * 20) + ")",
        (mandate_id, participant, controller.key, version, text_sha256, t, ends_us,
         keys.seal("signer_name", mandate_id, str(signer_name)), name_source,
         keys.seal("ip", mandate_id, checked.ip), keys.ip_lookup(checked.ip),
         keys.seal("user_agent", mandate_id, checked.user_agent), json.dumps(list(checked.consents)),
         int(verified_us), check_id, evidence_mac, entry.seq, entry.entry_hash, review, 1))
    db.executemany("INSERT INTO mandate_scopes (mandate, scope) VALUES (?, ?)", [(mandate_id, s) for s in chosen])
    return load_mandate(db, mandate_id)


def _template_problem(db: Db, keys: EvidenceKeys, mandate: Mandate,
                      templates: Mapping[str, MandateTemplate], controllers: Mapping[str, Controller]) -> str | None:
    """Why a recorded mandate's text, scopes or boxes are not those of its template (None: they are)."""
    template = templates.get(mandate.template_version)
    if template is None:
        return "unknown_template"
    controller = controllers.get(mandate.controller)
    row = db.execute("SELECT text_sealed FROM mandate_texts WHERE sha256 = ?", (mandate.text_sha256,)).fetchone()
    if controller is None or row is None:
        return "text_not_template"
    text = keys.open("mandate_text", mandate.text_sha256, bytes(row[0]))
    try:
        template.check(controller, text, mandate.scopes, mandate.consents)
    except InvalidMandate as exc:
        return exc.reason
    return None


def _name_problem(db: Db, keys: EvidenceKeys, mandate: Mandate) -> str | None:
    row = db.execute("SELECT m.signer_name_sealed, m.identity_check, i.name_sealed FROM mandates m "
                     "JOIN identity_checks i ON i.id = m.identity_check WHERE m.id = ?", (mandate.id,)).fetchone()
    if mandate.name_source != "signed" or row is None or row[2] is None:
        return None
    typed = keys.open("signer_name", mandate.id, bytes(row[0]))
    confirmed = keys.open("confirmed_name", str(row[1]), bytes(row[2]))
    return None if same_name(typed, confirmed) else "signer_name_mismatch"


def check_recorded_mandates(db: Db, *, keys: EvidenceKeys, audit: AuditLog, t: int,
                            templates: Mapping[str, MandateTemplate], controllers: Mapping[str, Controller]) -> int:
    """Check the mandates recorded before signing checked them (``template_checked`` unset):
    text, scopes and boxes against their template, the typed name against the ID check's. A
    mismatch holds the mandate (``review``) and is logged as ``mandate_flagged``. Returns how
    many were held."""
    held = 0
    for (mandate_id,) in db.execute("SELECT id FROM mandates WHERE template_checked IS NULL "
                                    "ORDER BY signed_us, id").fetchall():
        mandate = load_mandate(db, mandate_id)
        problem = _template_problem(db, keys, mandate, templates, controllers) or _name_problem(db, keys, mandate)
        db.execute("UPDATE mandates SET template_checked = 1, review = COALESCE(review, ?) WHERE id = ?",
                   (problem, mandate.id))
        if problem is not None:
            held += 1
            audit.append(db, "mandate_flagged", t, participant=mandate.participant, ref=mandate.id, payload={
                "mandate": mandate.id, "review": problem, "template_version": mandate.template_version,
                "scopes": list(mandate.scopes), "text_sha256": mandate.text_sha256, "flagged_at": iso(t)})
    return held


def clear_review(db: Db, *, keys: EvidenceKeys, audit: AuditLog, t: int, mandate: Mandate,
                 note: object) -> None:
    """Clear a mandate held for ``signer_name_mismatch`` (see ``Campaign.clear_mandate_review``)."""
    if mandate.review is None:
        raise ValueError("this mandate is not held for review")
    if mandate.review != "signer_name_mismatch":
        raise InvalidMandate("a mandate whose text or scopes do not match its template cannot be cleared: the "
                             "participant must sign a published text again", reason=mandate.review)
    note_text = _short_text("note", note, limit=1000)
    db.execute("UPDATE mandates SET review = NULL, review_note_sealed = ? WHERE id = ?",
               (keys.seal("review_note", mandate.id, note_text), mandate.id))
    audit.append(db, "mandate_review_cleared", t, participant=mandate.participant, ref=mandate.id, payload={
        "mandate": mandate.id, "review": mandate.review, "cleared_at": iso(t),
        "note_mac": keys.mac("review_note", {"mandate": mandate.id, "note": note_text})})


def revoke_mandate(db: Db, *, keys: EvidenceKeys, audit: AuditLog, t: int, mandate_id: object,
                   reason: object, outcome: Mapping[str, Any]) -> Mandate:
    """Mark a mandate revoked and log it (with ``outcome``: what happened to its requests)."""
    mandate = load_mandate(db, mandate_id)
    reason_text = _short_text("reason", reason, limit=1000)
    db.execute("UPDATE mandates SET revoked_us = ?, revocation_sealed = ? WHERE id = ? AND revoked_us IS NULL",
               (t, keys.seal("revocation_reason", mandate.id, reason_text), mandate.id))
    audit.append(db, "mandate_revoked", t, participant=mandate.participant, ref=mandate.id, payload={
        "mandate": mandate.id, "controller": mandate.controller, "revoked_at": iso(t),
        "reason_mac": keys.mac("revocation_reason", {"mandate": mandate.id, "reason": reason_text}), **outcome})
    return load_mandate(db, mandate.id)


def mandate_evidence(db: Db, keys: EvidenceKeys, audit: AuditLog,
                     mandate_id: object) -> MandateEvidence:
    """Open a mandate's sealed evidence and check it against its log entry."""
    mandate = load_mandate(db, mandate_id)
    row = db.execute("SELECT signer_name_sealed, ip_sealed, user_agent_sealed, revocation_sealed, evidence_mac "
                     "FROM mandates WHERE id = ?", (mandate.id,)).fetchone()
    text_row = db.execute("SELECT text_sealed FROM mandate_texts WHERE sha256 = ?", (mandate.text_sha256,)).fetchone()
    name = keys.open("signer_name", mandate.id, bytes(row[0]))
    evidence = Evidence(keys.open("ip", mandate.id, bytes(row[1])), keys.open("user_agent", mandate.id, bytes(row[2])),
                        mandate.consents)
    reason = None if row[3] is None else keys.open("revocation_reason", mandate.id, bytes(row[3]))
    text = "" if text_row is None else keys.open("mandate_text", mandate.text_sha256, bytes(text_row[0]))
    mac = keys.mac("mandate_evidence", _evidence_record(
        mandate.id, mandate.participant, mandate.controller, mandate.scopes, mandate.template_version,
        mandate.text_sha256, to_us(mandate.signed_at), name, evidence))
    try:
        entry = audit.entry(db, mandate.log_seq)
    except ValueError:  # the entry's payload was damaged
        entry = None
    intact = (text_row is not None and hashlib.sha256(text.encode("utf-8")).hexdigest() == mandate.text_sha256
              and mac == row[4] and entry is not None and entry.kind == "mandate_signed"
              and entry.entry_hash.hex() == mandate.log_hash and entry.payload.get("evidence_mac") == mac
              and entry.payload.get("mandate") == mandate.id)
    return MandateEvidence(mandate, name, evidence.ip, evidence.user_agent, text, reason, intact)
