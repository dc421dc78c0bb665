"""The words of the letters, Dutch and English, in one place: the rendering never adds text.

Each letter is a list of paragraphs with ``{placeholders}`` the facts fill in; dates are written
out in the letter's language (``long_date``). The legal references: Art. 12(3) and 15 GDPR (the
right of access and its time limit), Art. 77 GDPR (the complaint to a supervisory authority),
Art. 3:44 and 6:82 BW are not cited (the admonition is a GDPR matter, not a contractual one).
"""
from __future__ import annotations

from datetime import date
from typing import Any

__all__ = ["LANGUAGES", "STATES", "TEXTS", "long_date"]

LANGUAGES = ("nl", "en")

_MONTHS = {
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
           "november", "december"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}


def long_date(day: date, lang: str) -> str:
    """17 februari 2025 / 17 February 2025."""
    return f"{day.day} {_MONTHS[lang][day.month - 1]} {day.year}"


#: a request's states in words, for a letter's account of its course
STATES: dict[str, dict[str, str]] = {
    "nl": {"draft": "voorbereid", "queued": "klaar voor verzending", "sent": "ontvangen door de verwerker",
           "extended": "termijn verlengd", "needs_input": "aanvullende informatie gevraagd", "fulfilled": "beantwoord",
           "partially_fulfilled": "deels beantwoord", "refused": "geweigerd", "overdue": "termijn verstreken",
           "admonished": "in gebreke gesteld", "complaint_filed": "klacht ingediend",
           "complaint_resolved": "klacht afgehandeld", "closed": "afgesloten", "cancelled": "ingetrokken"},
    "en": {"draft": "prepared", "queued": "ready to send", "sent": "received by the controller",
           "extended": "time limit extended", "needs_input": "further information asked", "fulfilled": "answered",
           "partially_fulfilled": "partly answered", "refused": "refused", "overdue": "time limit passed",
           "admonished": "formal notice given", "complaint_filed": "complaint lodged",
           "complaint_resolved": "complaint resolved", "closed": "closed", "cancelled": "withdrawn"},
}

TEXTS: dict[str, dict[str, Any]] = {
    "nl": {
        "request": {
            "subject": "Verzoek om inzage (artikel 15 AVG) namens {count} betrokkene(n)",
            "paragraphs": [
                "Geachte heer, mevrouw,",
                "Namens de betrokkene(n) in de bijlage, die {foundation} daartoe elk schriftelijk hebben gemachtigd, "
                "verzoeken wij u op grond van artikel 15 van de Algemene verordening gegevensbescherming (AVG) om "
                "inzage in alle persoonsgegevens die u van hen verwerkt, met de informatie die artikel 15 lid 1 AVG "
                "noemt en een kopie van die gegevens (artikel 15 lid 3 AVG).",
                "Elke machtiging is ondertekend op de vermelde datum. De tekst die de betrokkene ondertekende is "
                "vastgelegd met zijn SHA-256-hash, die in de bijlage staat; wij leggen de tekst en het bewijs van "
                "ondertekening op verzoek over.",
                "Op grond van artikel 12 lid 3 AVG verstrekt u deze informatie onverwijld en in ieder geval binnen "
                "een maand na ontvangst van dit verzoek. Wij verzoeken u de gegevens elektronisch aan {foundation} te "
                "verstrekken, per betrokkene onder vermelding van het verzoeknummer.",
                "Met vriendelijke groet,",
            ],
            "annex": "Bijlage: betrokkenen en machtigingen",
            "columns": ("Verzoek", "Naam", "Telefoonnummer", "Machtiging", "Ondertekend", "SHA-256 van de tekst"),
        },
        "reminder": {
            "subject": "Ingebrekestelling: verzoek(en) om inzage (artikel 15 AVG) niet tijdig beantwoord",
            "paragraphs": [
                "Geachte heer, mevrouw,",
                "Namens de betrokkene(n) hieronder verzochten wij u om inzage op grond van artikel 15 AVG. U ontving "
                "de verzoeken op de vermelde data. De termijn van artikel 12 lid 3 AVG is verstreken zonder dat u "
                "(volledig) heeft geantwoord.",
                "Wij stellen u hierbij in gebreke en verzoeken u de gevraagde informatie alsnog uiterlijk {deadline} "
                "te verstrekken. Blijft een volledig antwoord uit, dan dienen wij een klacht in bij de toezichthouder "
                "en behouden wij ons alle verdere rechten voor.",
                "Met vriendelijke groet,",
            ],
            "annex": "Verzoeken",
            "columns": ("Verzoek", "Machtiging", "SHA-256 van de tekst", "Ontvangen", "Wettelijke termijn",
                        "Termijn met opschorting"),
        },
        "complaint": {
            "subject": "Klacht (artikel 77 AVG): verzoeken om inzage niet beantwoord door {controller}",
            "paragraphs": [
                "Geachte heer, mevrouw,",
                "Namens de betrokkene(n) hieronder, die {foundation} daartoe hebben gemachtigd, dienen wij op grond "
                "van artikel 77 AVG een klacht in over {controller} ({controller_address}).",
                "Wij verzochten {controller} namens hen om inzage op grond van artikel 15 AVG. Het verloop staat "
                "hieronder per verzoek; de termijn van artikel 12 lid 3 AVG is verstreken zonder volledig antwoord, "
                "ook na ingebrekestelling.",
                "Wij verzoeken u de klacht te onderzoeken en {controller} te gelasten de verzoeken te beantwoorden "
                "(artikel 58 lid 2 onder c AVG). De machtigingen, de ondertekende teksten met hun SHA-256-hash en "
                "het bewijs van verzending leggen wij over; elk is na te gaan in ons ondertekende auditlogboek.",
                "Met vriendelijke groet,",
            ],
            "annex": "Verzoeken en verloop",
            "columns": ("Verzoek", "Machtiging", "SHA-256 van de tekst", "Ontvangen", "Wettelijke termijn",
                        "Verloop"),
        },
        "date_place": "{city}, {date}",
        "re": "Betreft",
        "references": "Kenmerk",
    },
    "en": {
        "request": {
            "subject": "Request for access (Article 15 GDPR) on behalf of {count} data subject(s)",
            "paragraphs": [
                "Dear Sir or Madam,",
                "On behalf of the data subject(s) listed in the annex, each of whom has authorised {foundation} in "
                "writing, we request access under Article 15 of the General Data Protection Regulation (GDPR) to all "
                "personal data you process about them, with the information listed in Article 15(1) GDPR and a copy "
                "of the data (Article 15(3) GDPR).",
                "Each mandate was signed on the date shown. The text each data subject signed is recorded by its "
                "SHA-256 hash, given in the annex; we will provide the text and the evidence of signing on request.",
                "Under Article 12(3) GDPR you must provide this information without undue delay and in any event "
                "within one month of receipt of this request. Please provide the data electronically to "
                "{foundation}, per data subject, quoting the request number.",
                "Yours faithfully,",
            ],
            "annex": "Annex: data subjects and mandates",
            "columns": ("Request", "Name", "Phone number", "Mandate", "Signed", "SHA-256 of the text"),
        },
        "reminder": {
            "subject": "Formal notice: request(s) for access (Article 15 GDPR) not answered in time",
            "paragraphs": [
                "Dear Sir or Madam,",
                "On behalf of the data subject(s) below we requested access under Article 15 GDPR. You received the "
                "requests on the dates shown. The time limit of Article 12(3) GDPR has passed without a (complete) "
                "answer.",
                "We hereby give you formal notice and ask you to provide the information requested no later than "
                "{deadline}. If no complete answer follows, we will lodge a complaint with the supervisory authority "
                "and reserve all further rights.",
                "Yours faithfully,",
            ],
            "annex": "Requests",
            "columns": ("Request", "Mandate", "SHA-256 of the text", "Received", "Statutory time limit",
                        "Time limit with pauses"),
        },
        "complaint": {
            "subject": "Complaint (Article 77 GDPR): requests for access not answered by {controller}",
            "paragraphs": [
                "Dear Sir or Madam,",
                "On behalf of the data subject(s) below, who have authorised {foundation}, we lodge a complaint under "
                "Article 77 GDPR about {controller} ({controller_address}).",
                "We requested access on their behalf under Article 15 GDPR. The course of each request is set out "
                "below; the time limit of Article 12(3) GDPR has passed without a complete answer, also after formal "
                "notice.",
                "We ask you to investigate the complaint and to order {controller} to comply with the requests "
                "(Article 58(2)(c) GDPR). We will provide the mandates, the signed texts with their SHA-256 hashes "
                "and the evidence of sending; each can be checked against our signed audit log.",
                "Yours faithfully,",
            ],
            "annex": "Requests and their course",
            "columns": ("Request", "Mandate", "SHA-256 of the text", "Received", "Statutory time limit", "Course"),
        },
        "date_place": "{city}, {date}",
        "re": "Re",
        "references": "Reference",
    },
}
