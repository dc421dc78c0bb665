"""Letters as PDF, Dutch and English: the Art. 15 request per batch (one collective letter with an
annex of participants, or one per person), the admonition for overdue requests, and a draft
complaint to the Dutch DPA, each citing request and mandate ids, text hashes and dates.

``texts`` holds every word, ``facts`` gathers what the campaign knows, ``render`` makes the PDF::

    sender = Foundation.from_file("somi.json")
    for letter in access_requests(campaign, batch_id, lang="nl", sender=sender, day=date.today()):
        Path(f"{letter.reference}.pdf").write_bytes(render_pdf(letter))
"""
from __future__ import annotations

from .facts import DPA, Foundation, Letter, access_requests, admonition, complaint
from .render import render_pdf
from .texts import LANGUAGES, long_date

__all__ = ["DPA", "LANGUAGES", "Foundation", "Letter", "access_requests", "admonition", "complaint", "long_date",
           "render_pdf"]
