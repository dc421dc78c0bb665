"""Telling participants what happened: their data arrived, their request is overdue and SOMI
escalates, a new breach holds their number.

::

    notifier = Notifier(campaign, [SmsChannel(sender), SmtpChannel("smtp.example", sender="somi@...")],
                        page_url="https://check.somi.nl/")
    notifier.set_preferences(participant, email="person@example.org", lang="en")
    notifier.data_arrived(item)                   # after the vault stored a controller's answer
    notifier.request_overdue(records)             # after Campaign.mark_overdue
    notifier.new_breach(index, "scrape-2026")     # after ``breachindex add``

A message says only that something happened and where to look (the page): never the data,
never the number, and the same text whoever it goes to. Each event is told once per
participant (``notifications`` rows: kind and ref; when every channel failed, a later call
tries again), on every channel the participant allows and
has an address for: SMS to the verified number (unless opted out), e-mail to an address the
person gave (sealed; unless opted out). Every attempt is an audit-log entry
``notification_sent`` with the kind, the channel and the outcome (``sent``, ``failed``,
``opted_out``, ``no_address``), never the address or the text. A failing channel does not stop
the others and does not undo what was told about (the item stays stored); it is logged.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import NotificationFailed, UnknownParticipant
from .channels import Channel, Message
from .clock import now_us
from .requests import RequestRecord

if TYPE_CHECKING:
    from ..index.reader import Index
    from ..vault.records import VaultItem
    from .campaign import Campaign

__all__ = ["KINDS", "LANGUAGES", "Delivery", "Notifier", "Preferences", "message_for"]

log = logging.getLogger("breachindex.campaign")

KINDS = ("data_arrived", "request_overdue", "new_breach")
LANGUAGES = ("nl", "en")
_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}\Z")
_BREACH_NAME = re.compile(r"[A-Za-z0-9._ -]{1,64}\Z")

_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "nl": {
        "data_arrived": ("Antwoord van {controller} ontvangen",
                         "SOMI: {controller} heeft geantwoord op uw inzageverzoek. Het antwoord staat "
                         "versleuteld in uw kluis; alleen u kunt het openen: {url}"),
        "request_overdue": ("{controller} antwoordt niet op tijd",
                            "SOMI: {controller} heeft niet binnen de wettelijke termijn geantwoord op uw "
                            "inzageverzoek. Wij sturen een ingebrekestelling en houden u op de hoogte: {url}"),
        "new_breach": ("Uw nummer staat in een nieuw lek",
                       "SOMI: uw telefoonnummer staat in een nieuw gelekt bestand ({breach}). Bekijk wat er over "
                       "u rondgaat: {url}"),
        "footer": ("", "\n\nGeen berichten meer van SOMI? Zet ze uit op {url}"),
    },
    "en": {
        "data_arrived": ("{controller} has answered",
                         "SOMI: {controller} answered your access request. The answer is in your vault, encrypted; "
                         "only you can open it: {url}"),
        "request_overdue": ("{controller} has not answered in time",
                            "SOMI: {controller} did not answer your access request within the legal time limit. We "
                            "are sending a formal notice and will keep you informed: {url}"),
        "new_breach": ("Your number is in a new leak",
                       "SOMI: your phone number is in a newly leaked file ({breach}). See what circulates about "
                       "you: {url}"),
        "footer": ("", "\n\nNo more messages from SOMI? Turn them off at {url}"),
    },
}


def message_for(kind: str, lang: str, *, channel: str, url: str, controller: str = "", breach: str = "") -> Message:
    """The message of ``kind`` in ``lang`` (an e-mail adds how to turn messages off)."""
    texts = _TEXTS[lang]
    subject, body = texts[kind]
    body = body.format(controller=controller, breach=breach, url=url)
    if channel == "email":
        body += texts["footer"][1].format(url=url)
    return Message(subject.format(controller=controller), body)


@dataclass(frozen=True)
class Preferences:
    """How a participant wants to be told: ``email`` (the address, opened for its owner's
    view only), ``sms`` and ``email_allowed`` (False: opted out), ``lang``."""

    email: str | None
    sms: bool
    email_allowed: bool
    lang: str

    def __repr__(self) -> str:
        return f"Preferences(email={'set' if self.email else None}, sms={self.sms}, " \
               f"email_allowed={self.email_allowed}, lang={self.lang!r})"


@dataclass(frozen=True)
class Delivery:
    """One attempt: ``channel`` and ``outcome`` (``sent``, ``failed``, ``opted_out``, ``no_address``)."""

    participant: str
    kind: str
    ref: str
    channel: str
    outcome: str


_DEFAULT = Preferences(None, True, True, "nl")
_UNSET: Any = object()


class Notifier:
    """Sends a campaign's notifications (see the module documentation). ``channels``: at most
    one per name (``sms``, ``email``); ``page_url``: where a message sends the person."""

    def __init__(self, campaign: Campaign, channels: Iterable[Channel], *, page_url: str) -> None:
        self._campaign = campaign
        context = campaign.context
        self._store, self._audit, self._keys = context.store, context.audit, context.evidence
        self._channels: dict[str, Channel] = {}
        for channel in channels:
            if channel.name not in ("sms", "email") or channel.name in self._channels:
                raise ValueError("channels: at most one 'sms' and one 'email'")
            self._channels[channel.name] = channel
        if not page_url.startswith(("https://", "http://")):
            raise ValueError("page_url must be an http(s) URL")
        self._url = page_url

    # ---- preferences -------------------------------------------------------------------
    def preferences(self, participant: str) -> Preferences:
        with self._store.read() as db:
            row = db.execute("SELECT email_sealed, sms_allowed, email_allowed, lang FROM contact_preferences "
                             "WHERE participant = ?", (participant,)).fetchone()
        if row is None:
            return _DEFAULT
        email = None if row[0] is None else self._keys.open("contact_email", participant, bytes(row[0]))
        return Preferences(email, bool(row[1]), bool(row[2]), str(row[3]))

    def set_preferences(self, participant: str, *, email: str | None = _UNSET, sms: bool | None = None,
                        email_allowed: bool | None = None, lang: str | None = None,
                        now: datetime | None = None) -> Preferences:
        """Change what is given (``email=None`` removes the address); logged without the address."""
        if email is not _UNSET and email is not None and (not isinstance(email, str) or not _EMAIL.match(email)):
            raise ValueError("not an e-mail address")
        if lang is not None and lang not in LANGUAGES:
            raise ValueError(f"lang is one of {', '.join(LANGUAGES)}")
        for name, value in (("sms", sms), ("email_allowed", email_allowed)):
            if value is not None and not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool")
        t = now_us(now)
        current = self.preferences(participant)
        chosen = Preferences(current.email if email is _UNSET else email,
                             current.sms if sms is None else sms,
                             current.email_allowed if email_allowed is None else email_allowed,
                             current.lang if lang is None else lang)
        sealed = None if chosen.email is None else self._keys.seal("contact_email", participant, chosen.email)
        with self._store.transaction() as db:
            if db.execute("SELECT 1 FROM participants WHERE id = ?", (participant,)).fetchone() is None:
                raise UnknownParticipant("no such participant")
            db.execute("INSERT INTO contact_preferences (participant, email_sealed, sms_allowed, email_allowed, "
                       "lang, updated_us) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (participant) DO UPDATE SET "
                       "email_sealed = excluded.email_sealed, sms_allowed = excluded.sms_allowed, "
                       "email_allowed = excluded.email_allowed, lang = excluded.lang, updated_us = excluded.updated_us",
                       (participant, sealed, int(chosen.sms), int(chosen.email_allowed), chosen.lang, t))
            self._audit.append(db, "contact_preferences_set", t, participant=participant, payload={
                "email_given": chosen.email is not None, "sms": chosen.sms, "email_allowed": chosen.email_allowed,
                "lang": chosen.lang})
        return chosen

    # ---- events ------------------------------------------------------------------------
    def data_arrived(self, item: VaultItem, *, now: datetime | None = None) -> list[Delivery]:
        """A controller's answer was stored in the participant's vault."""
        return self.notify(item.participant, "data_arrived", item.id, controller=item.controller, now=now)

    def request_overdue(self, records: Sequence[RequestRecord], *, now: datetime | None = None) -> list[Delivery]:
        """Requests moved to ``overdue``: SOMI escalates (the admonition)."""
        out: list[Delivery] = []
        for record in records:
            out += self.notify(record.participant, "request_overdue", record.id, controller=record.controller,
                               now=now)
        return out

    def new_breach(self, index: Index, breach: str, *, now: datetime | None = None) -> list[Delivery]:
        """Every verified participant whose number ``index`` has in ``breach`` (``breachindex
        add`` merged it in), told once."""
        if breach not in index.breaches or not _BREACH_NAME.match(breach):
            raise ValueError("the index has no breach of that name (or its name cannot go in a message)")
        with self._store.read() as db:
            participants = [str(r[0]) for r in db.execute(
                "SELECT id FROM participants WHERE phone_sealed IS NOT NULL ORDER BY id")]
        out: list[Delivery] = []
        for participant in participants:
            try:
                phone = self._campaign.phone_of(participant)
            except UnknownParticipant:  # erased meanwhile
                continue
            match = index.lookup(phone)
            if match is not None and breach in match.breaches:
                out += self.notify(participant, "new_breach", breach, breach=breach, now=now)
        return out

    def notify(self, participant: str, kind: str, ref: str, *, controller: str | None = None, breach: str = "",
               now: datetime | None = None) -> list[Delivery]:
        """Tell ``participant`` of one event (``kind``, ``ref``), once: an event already told
        returns []. Each channel's attempt is logged."""
        if kind not in KINDS:
            raise ValueError(f"kind is one of {', '.join(KINDS)}")
        t = now_us(now)
        with self._store.transaction() as db:  # claim the event first: two workers never both tell it
            claimed = db.execute("INSERT INTO notifications (participant, kind, ref, at_us, outcome) "
                                 "VALUES (?, ?, ?, ?, 'pending') ON CONFLICT DO NOTHING",
                                 (participant, kind, ref, t)).rowcount == 1
        if not claimed:
            return []
        prefs = self.preferences(participant)
        name = "" if controller is None else self._campaign.controllers[controller].legal_name
        deliveries = [self._deliver(participant, kind, ref, channel, prefs, name, breach)
                      for channel in ("sms", "email") if channel in self._channels]
        told = any(d.outcome == "sent" for d in deliveries)
        retry = not told and any(d.outcome == "failed" for d in deliveries)
        with self._store.transaction() as db:
            if retry:  # nothing went out because a channel failed: a later call tries again
                db.execute("DELETE FROM notifications WHERE participant = ? AND kind = ? AND ref = ?",
                           (participant, kind, ref))
            else:
                db.execute("UPDATE notifications SET outcome = ? WHERE participant = ? AND kind = ? AND ref = ?",
                           ("sent" if told else "not_sent", participant, kind, ref))
            for d in deliveries:
                self._audit.append(db, "notification_sent", t, participant=participant, ref=ref, payload={
                    "kind": kind, "ref": ref, "channel": d.channel, "outcome": d.outcome})
        return deliveries

    def _deliver(self, participant: str, kind: str, ref: str, channel: str, prefs: Preferences, controller: str,
                 breach: str) -> Delivery:
        allowed = prefs.sms if channel == "sms" else prefs.email_allowed
        if not allowed:
            return Delivery(participant, kind, ref, channel, "opted_out")
        if channel == "sms":
            try:
                address: str | None = self._campaign.phone_of(participant)
            except UnknownParticipant:
                address = None
        else:
            address = prefs.email
        if address is None:
            return Delivery(participant, kind, ref, channel, "no_address")
        message = message_for(kind, prefs.lang, channel=channel, url=self._url, controller=controller, breach=breach)
        try:
            self._channels[channel].send(address, message)
        except NotificationFailed as exc:
            log.warning("notification %s for participant %s failed on %s: %s", kind, participant[:8], channel, exc)
            return Delivery(participant, kind, ref, channel, "failed")
        return Delivery(participant, kind, ref, channel, "sent")
