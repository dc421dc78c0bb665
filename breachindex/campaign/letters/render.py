"""A letter as PDF (reportlab): the same bytes for the same letter, so a lawyer can hash it.

DejaVu Sans (Debian's fonts-dejavu-core) is embedded when present, for names in any Latin,
Greek or Cyrillic script; without it reportlab's Bitstream Vera (Latin) is used. reportlab does
not shape right-to-left scripts: a name in Arabic letters comes out unshaped.
"""
from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape  # Paragraph takes markup: the facts are text

from .facts import Letter
from .texts import TEXTS, long_date

__all__ = ["render_pdf"]

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


@lru_cache(maxsize=1)
def _fonts() -> tuple[str, str]:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    regular, bold = _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"
    if not (regular.is_file() and bold.is_file()):
        import reportlab

        fonts = Path(os.path.dirname(reportlab.__file__)) / "fonts"
        regular, bold = fonts / "Vera.ttf", fonts / "VeraBd.ttf"
    pdfmetrics.registerFont(TTFont("LetterSans", str(regular)))
    pdfmetrics.registerFont(TTFont("LetterSans-Bold", str(bold)))
    return "LetterSans", "LetterSans-Bold"


def render_pdf(letter: Letter) -> bytes:
    """The letter as PDF bytes (deterministic: reportlab's invariant mode, no clock)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    regular, bold = _fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=10, leading=14, spaceAfter=8)
    small = ParagraphStyle("small", fontName=regular, fontSize=7, leading=9)
    heading = ParagraphStyle("heading", parent=body, fontName=bold)
    words = TEXTS[letter.lang]
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=25 * mm, rightMargin=20 * mm, topMargin=20 * mm,
                            bottomMargin=20 * mm, title=letter.subject, author=letter.sender.name,
                            subject=f"{letter.kind} {letter.reference}", creator="breachindex", invariant=1)

    def lines(values: tuple[str, ...], style: ParagraphStyle) -> Paragraph:
        return Paragraph("<br/>".join(escape(v) for v in values), style)

    story = [lines((letter.sender.name, *letter.sender.address, letter.sender.email), small), Spacer(1, 10 * mm),
             lines(letter.addressee, body), Spacer(1, 8 * mm),
             Paragraph(escape(str(words["date_place"]).format(city=letter.sender.city,
                                                                 date=long_date(letter.day, letter.lang))), body),
             Paragraph(f"{escape(str(words['references']))}: {escape(letter.reference)}", body),
             Paragraph(f"{escape(str(words['re']))}: {escape(letter.subject)}", heading)]
    story += [Paragraph(escape(p), body) for p in letter.paragraphs]
    story += [Spacer(1, 10 * mm), Paragraph(escape(letter.sender.name), body), PageBreak(),
              Paragraph(escape(letter.annex_title), heading)]
    cells = [[Paragraph(escape(c), small) for c in letter.columns]]
    cells += [[Paragraph(escape(v), small) for v in row] for row in letter.rows]
    table = Table(cells, repeatRows=1, colWidths=[(A4[0] - 45 * mm) / len(letter.columns)] * len(letter.columns))
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke)]))
    story.append(table)
    doc.build(story)
    return out.getvalue()
