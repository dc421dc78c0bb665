"""``breachindex campaign letter ...``: the lawyer's letters as PDF (Dutch or English).

    letter request --batch B --from SENDER.json --out DIR [--per-person] [--lang nl|en] [--date D]
    letter reminder REQUEST... --from SENDER.json --out FILE [--term-days 14] [--lang] [--date]
    letter complaint REQUEST... --from SENDER.json --out FILE [--lang] [--date]

SENDER.json: ``{"name": ..., "address": [...], "city": ..., "email": ...}`` (who signs). Each
command prints the files it wrote with their SHA-256 (the PDF is the same bytes for the same
facts). The access request names the data subjects (the controller needs them); the output
does not.
"""
from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..campaign.letters import LANGUAGES, Foundation, Letter, access_requests, admonition, complaint, render_pdf

if TYPE_CHECKING:
    from ..campaign import Campaign

__all__ = ["register"]


def _write(letters: list[Letter], target: Path, single: bool) -> Any:
    from .campaign import Answer

    written = []
    if not single:
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
    for letter in letters:
        path = target if single else target / f"{letter.kind}-{letter.reference}-{letter.lang}.pdf"
        data = render_pdf(letter)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never over an earlier letter
        with open(fd, "wb") as f:
            f.write(data)
        written.append({"file": str(path), "sha256": hashlib.sha256(data).hexdigest(), "kind": letter.kind,
                        "reference": letter.reference, "lang": letter.lang, "rows": len(letter.rows)})
    return Answer({"letters": written}, [f"{w['file']}\t{w['sha256']}" for w in written])


def _day(args: argparse.Namespace) -> date:
    if args.date is not None:
        return date.fromisoformat(args.date)
    return (args.now.date() if args.now is not None else date.today())


def _request(c: Campaign, args: argparse.Namespace) -> Any:
    letters = access_requests(c, args.batch, lang=args.lang, sender=Foundation.from_file(args.sender),
                              day=_day(args), per_person=args.per_person)
    return _write(letters, Path(args.out), single=False)


def _reminder(c: Campaign, args: argparse.Namespace) -> Any:
    letter = admonition(c, args.requests, lang=args.lang, sender=Foundation.from_file(args.sender), day=_day(args),
                        term_days=args.term_days)
    return _write([letter], Path(args.out), single=True)


def _complaint(c: Campaign, args: argparse.Namespace) -> Any:
    letter = complaint(c, args.requests, lang=args.lang, sender=Foundation.from_file(args.sender), day=_day(args))
    return _write([letter], Path(args.out), single=True)


def register(group: Callable[[str, str], Any], leaf: Callable[..., Any]) -> None:
    """Add the ``letter`` group to ``breachindex campaign``."""
    letter = group("letter", "the lawyer's letters as PDF: access request, admonition, complaint to the DPA")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--from", dest="sender", required=True, metavar="SENDER.json", help="who writes and signs")
        p.add_argument("--lang", choices=LANGUAGES, default="nl")
        p.add_argument("--date", help="the letter's date, YYYY-MM-DD (default: today)")

    p = leaf(letter, "request", _request, "the Art. 15 request of a batch: one letter with an annex, or one each")
    p.add_argument("--batch", required=True)
    p.add_argument("--per-person", action="store_true", help="one letter per participant")
    p.add_argument("--out", required=True, help="the folder the PDFs go to")
    common(p)
    p = leaf(letter, "reminder", _reminder, "the admonition for requests past their deadline")
    p.add_argument("requests", nargs="+", metavar="REQUEST")
    p.add_argument("--term-days", type=int, default=14, help="days the controller gets to answer after all (14)")
    p.add_argument("--out", required=True, help="the PDF to write")
    common(p)
    p = leaf(letter, "complaint", _complaint, "a draft complaint to the Dutch DPA (Art. 77 GDPR)")
    p.add_argument("requests", nargs="+", metavar="REQUEST")
    p.add_argument("--out", required=True, help="the PDF to write")
    common(p)
