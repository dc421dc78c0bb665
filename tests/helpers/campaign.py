"""Campaigns for tests: phone numbers, a store with the send limits off, participants enrolled
(code confirmed, ID check approved) and mandates signed.

What differs between test modules (the secret, the clock ``T0``, the text and evidence signed)
is passed as keyword arguments; a module binds its own once, e.g.
``enrol = partial(campaign.enrol, now=T0)``, and call sites override any of them (``now=``,
``status=``, ``confirmed_name=``, ``controller=``, ``scopes=``, ``signer_name=`` ...).

Numbers: ``number(i)`` is the i-th of a block of Dutch mobile numbers (``+3161234`` and four
digits); ``example(region, kind, offset)`` is phonenumbers' metadata example of a region and
type, shifted by ``offset`` where many are needed.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType

from breachindex import Key
from breachindex.campaign import Campaign, Evidence, Limits, Mandate, RecordingSender

from .mandate_texts import ACCESS, BASE, version_for

#: one second and one microsecond, the steps of the tests' clocks
S = timedelta(seconds=1)
US = timedelta(microseconds=1)
#: no send limits (test_campaign_limits tests them)
OPEN = Limits.off()


def number(i: int) -> str:
    """The i-th test number, E.164: ``+3161234`` and ``i`` in four digits."""
    return f"+3161234{i:04d}"


def example(region: str = "NL", kind: int = PhoneNumberType.MOBILE, offset: int = 0) -> str:
    """phonenumbers' example number of a region and type (plus offset), E.164."""
    n = phonenumbers.example_number_for_type(region, kind)
    assert n is not None and n.national_number is not None, (region, kind)
    shifted = PhoneNumber(country_code=n.country_code, national_number=n.national_number + offset)
    return phonenumbers.format_number(shifted, phonenumbers.PhoneNumberFormat.E164)


def wrong(code: str) -> str:
    """A code of the same length that is not ``code``."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


def new_campaign(path: str | os.PathLike[str], sender: RecordingSender | None = None, *, secret: Key,
                 limits: Limits | None = OPEN, **kw: Any) -> Campaign:
    """A campaign store at ``path`` (send limits off unless ``limits`` is given); ``sender``:
    a new RecordingSender if None; ``kw`` goes to Campaign as it is."""
    return Campaign(path, secret=secret, sender=RecordingSender() if sender is None else sender, limits=limits, **kw)


def enrol(c: Campaign, sender: RecordingSender, i: int, *, now: datetime, status: str = "approved",
          confirmed_name: str | None = None) -> str:
    """Participant ``number(i)``: a code sent at ``now`` and confirmed at ``now + S``, an ID
    check ``case-i`` by provider ``idv`` recorded at ``now + 2 S``; returns its id."""
    ch = c.start_verification(number(i), now=now)
    pid = c.confirm_verification(ch.id, sender.last_code(number(i)), now=now + S).participant
    c.record_identity_check(pid, provider="idv", reference=f"case-{i}", status=status, confirmed_name=confirmed_name,
                            now=now + 2 * S)
    return pid


def sign(c: Campaign, participant: str, *, now: datetime, text: str, evidence: Evidence | Mapping[str, Any],
         controller: str = "meta", scopes: Iterable[str] = ACCESS, template_version: str | None = None,
         base: str = BASE, signer_name: str | None = "Jan Jansen") -> Mandate:
    """``participant`` signs ``text`` at ``now``. ``template_version`` (None): the version
    ``helpers.mandate_texts.registry(..., base)`` publishes ``scopes`` under (``base`` if
    ``scopes`` is not a non-empty list or tuple, as in the tests of malformed scopes)."""
    if template_version is None:
        template_version = version_for(scopes, base) if isinstance(scopes, list | tuple) and scopes else base
    return c.sign_mandate(participant, controller=controller, scopes=scopes, template_version=template_version,
                          text=text, evidence=evidence, signer_name=signer_name, now=now)


class SqlResult:
    """What ``sql`` read: its rows and the rows changed."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows, self.rowcount = rows, rowcount

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return list(self._rows)

    def __iter__(self) -> Any:
        return iter(self._rows)


def sql(c: Campaign, statement: str, params: tuple[Any, ...] = ()) -> SqlResult:
    """Run one statement on a campaign's store, SQLite or PostgreSQL, in a transaction of its
    own (what a test reads, or an attacker with the database changes)."""
    with c._store.transaction() as db:
        cur = db.execute(statement, params)
        rows = cur.fetchall() if statement.lstrip().upper().startswith(("SELECT", "WITH", "PRAGMA")) else []
        return SqlResult(rows, cur.rowcount)


def is_sqlite(c: Campaign) -> bool:
    return type(c._store).__name__ == "Store"
