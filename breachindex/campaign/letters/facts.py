"""The facts a letter cites, gathered from the campaign: who writes, to whom, and per request its
mandate id, the SHA-256 of the text signed, the dates and (for a complaint) its course.

Only the access request to the controller names the data subjects (name and phone number: the
controller needs them to find the accounts); the admonition and the complaint cite request and
mandate ids, text hashes and dates, which the controller can match to the first letter.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from ...errors import LetterRefused
from ..requests import RequestRecord
from .texts import LANGUAGES, STATES, TEXTS, long_date

if TYPE_CHECKING:
    from ..campaign import Campaign

__all__ = ["DPA", "Foundation", "Letter", "access_requests", "admonition", "complaint"]

#: the Dutch supervisory authority, as it publishes its postal address
DPA = ("Autoriteit Persoonsgegevens", "Postbus 93374", "2509 AJ Den Haag")
#: the states after which an admonition makes sense (the deadline passed, or the answer fell short)
_ADMONISHABLE = frozenset({"overdue", "partially_fulfilled", "refused", "admonished"})
_COMPLAINABLE = frozenset({"overdue", "partially_fulfilled", "refused", "admonished", "complaint_filed"})


@dataclass(frozen=True)
class Foundation:
    """Who writes: ``name``, postal ``address`` lines, ``city`` (for the date line), ``email``."""

    name: str
    address: tuple[str, ...]
    city: str
    email: str

    def __post_init__(self) -> None:
        if not self.name.strip() or not self.address or not self.city.strip() or "@" not in self.email:
            raise ValueError("the sender needs a name, an address, a city and an e-mail address")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Foundation:
        """From a JSON file: ``{"name": ..., "address": [...], "city": ..., "email": ...}``."""
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
        try:
            return cls(str(value["name"]), tuple(str(a) for a in value["address"]), str(value["city"]),
                       str(value["email"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"the sender file needs name, address, city and email ({exc})") from None


@dataclass(frozen=True)
class Letter:
    """One letter, ready to render: every word from ``texts``, every fact from the campaign."""

    kind: str
    lang: str
    sender: Foundation
    addressee: tuple[str, ...]
    day: date
    reference: str
    subject: str
    paragraphs: tuple[str, ...]
    annex_title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...] = field(repr=False)


def _check(lang: str) -> None:
    if lang not in LANGUAGES:
        raise LetterRefused("unknown_language", f"a letter is in one of {', '.join(LANGUAGES)}")


def _letter(kind: str, lang: str, sender: Foundation, addressee: tuple[str, ...], day: date, reference: str,
            rows: Sequence[tuple[str, ...]], **values: str) -> Letter:
    text = TEXTS[lang][kind]
    fill = {"foundation": sender.name, **values}
    return Letter(kind, lang, sender, addressee, day, reference, str(text["subject"]).format(**fill),
                  tuple(str(p).format(**fill) for p in text["paragraphs"]), str(text["annex"]),
                  tuple(text["columns"]), tuple(rows))


def _controller_address(campaign: Campaign, key: str) -> tuple[str, ...]:
    c = campaign.controllers[key]
    return (c.legal_name, *[part.strip() for part in c.postal_address.split(",")])


def access_requests(campaign: Campaign, batch_id: str, *, lang: str, sender: Foundation, day: date,
                    per_person: bool = False) -> list[Letter]:
    """The Art. 15 request of a batch: one collective letter with an annex, or one per person."""
    _check(lang)
    records = campaign.requests(batch=batch_id)
    if not records:
        raise LetterRefused("unknown_batch", "no request in that batch: unknown batch, or nothing in it")
    rows = []
    for r in records:
        m = campaign.mandate(r.mandate)
        ev = campaign.mandate_evidence(m.id)
        rows.append((r.id, ev.signer_name, campaign.phone_of(r.participant), m.id,
                     long_date(m.signed_at.date(), lang), m.text_sha256))
    addressee = _controller_address(campaign, records[0].controller)
    if not per_person:
        return [_letter("request", lang, sender, addressee, day, batch_id, rows, count=str(len(rows)))]
    return [_letter("request", lang, sender, addressee, day, row[0], [row], count="1") for row in rows]


def _overdue(campaign: Campaign, request_ids: Sequence[str], allowed: frozenset[str], day: date,
             what: str) -> list[RequestRecord]:
    if not request_ids:
        raise LetterRefused("no_request", "name at least one request")
    records = [campaign.request(r) for r in request_ids]  # UnknownRequest for a wrong id
    if len({r.controller for r in records}) != 1:
        raise LetterRefused("several_controllers", "one letter goes to one controller: split the requests")
    for r in records:
        if r.state not in allowed or r.due_on is None or not r.due_on < day:
            raise LetterRefused("not_overdue", f"request {r.id} is {r.state}, due {r.due_on}: no {what} yet")
    return records


def _dates(r: RequestRecord, lang: str) -> tuple[str, str, str]:
    assert r.received_on is not None and r.statutory_due_on is not None and r.due_on is not None
    return long_date(r.received_on, lang), long_date(r.statutory_due_on, lang), long_date(r.due_on, lang)


def admonition(campaign: Campaign, request_ids: Sequence[str], *, lang: str, sender: Foundation, day: date,
               term_days: int = 14) -> Letter:
    """The admonition (ingebrekestelling) for requests past their deadline, with a new term."""
    _check(lang)
    records = _overdue(campaign, request_ids, _ADMONISHABLE, day, "admonition")
    rows = [(r.id, r.mandate, campaign.mandate(r.mandate).text_sha256, *_dates(r, lang)) for r in records]
    return _letter("reminder", lang, sender, _controller_address(campaign, records[0].controller), day,
                   records[0].batch, rows, deadline=long_date(day + timedelta(days=term_days), lang))


def complaint(campaign: Campaign, request_ids: Sequence[str], *, lang: str, sender: Foundation,
              day: date) -> Letter:
    """A draft complaint to the Dutch DPA (Art. 77 GDPR) about requests left unanswered."""
    _check(lang)
    records = _overdue(campaign, request_ids, _COMPLAINABLE, day, "complaint")
    controller = campaign.controllers[records[0].controller]
    rows = []
    for r in records:
        course = "; ".join(f"{long_date(e.on, lang)}: {STATES[lang][e.to_state]}"
                           for e in campaign.request_history(r.id))
        received, statutory, _ = _dates(r, lang)
        rows.append((r.id, r.mandate, campaign.mandate(r.mandate).text_sha256, received, statutory, course))
    return _letter("complaint", lang, sender, DPA, day, records[0].batch, rows, controller=controller.legal_name,
                   controller_address=controller.postal_address)
