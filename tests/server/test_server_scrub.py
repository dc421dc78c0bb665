"""The log scrubber's last guard (issue 14): a phone number (or any run of 6+ digits) comes out
masked whatever joins its digits (``-``, ``_``, ``.``, ``/``, ``:``, spaces, brackets, mixtures),
inside words, URLs and next to ids, while ISO dates and times stay as they are, and a date can
no longer shield the digits beside it.
"""
from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from breachindex.server.logs import scrub

FORMS = [
    "06-12-34-56-78", "06_12_34_56_78", "06.12.34.56.78", "06/12/34/56/78", "06:12:34:56:78",
    "0612-34-56-78", "0612-345678", "06-12345678", "061-234-5678", "0612_345_678",
    "0031_6_1234_5678", "0031-6-1234-5678", "0031.6.1234.5678", "0031/6/1234/5678",
    "+31/6/12345678", "+31-6-12345678", "+31_6_12345678", "+31.6.12.34.56.78", "+31 (0)6 1234 5678",
    "+31(6)12345678", "(06) 1234.5678", "06 - 12 - 34 - 56 - 78", "06__12__34__56__78",
    "06-12_34.56/78", "+31_6-12.34/56 78", "0031-6_1234.5678", "06 12 34 56 78", "0612345678", "+31612345678",
    "2061-12-34-5678", "2012-10-10-5678", "0612-34-56T78:90", "06T12345678",
]
CONTEXTS = [
    "{}", "x {} y", "tel{}", "{}end", "nummer:{}.", "https://example.org/nr/{}?x=1",
    "https://example.org/?phone={}&id=7d30cf15", "id=7d30cf15 {} batch=b3e1", "[{}]", "\"{}\"",
    "participant 7d30cf15 number {} at 2025-04-03T10:00:00Z",
]


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("form", FORMS)
def test_every_separator_and_grouping_is_masked(form: str, context: str) -> None:
    text = context.format(form)
    start = context.index("{}")
    end = start + len(form)
    out = scrub(text)
    # exactly one span is replaced, and it covers the whole number (it may take a digit or two
    # of an id next to it with it: better too much than too little)
    assert out.count("[digits]") == 1, (text, out)
    i = out.index("[digits]")
    tail = out[i + len("[digits]"):]
    assert out[:i] == text[:i] and i <= start, (text, out)
    assert text.endswith(tail) and len(text) - len(tail) >= end, (text, out)


@pytest.mark.parametrize("text", [
    "2025-04-03", "due 2025-04-03.", "at 2025-04-03T10:00:00Z", "at 2025-04-03T10:00:00.123456Z",
    "at 2025-04-03 10:00", "at 2025-04-03 10:00:00", "2025-04-03T10:00:00+02:00", "10:00:00", "23:59:59.999",
    "(2025-04-03)", "batch 7d30cf15 of 12 requests at 2026-11-28", "from 2025-04-03 to 2025-05-03",
    "version 1.2.3, 12 items, port 8000", "1999-12-31T23:59:59Z",
])
def test_iso_dates_and_times_and_short_numbers_stay(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize("text", [
    "2025-04-03-12345", "2025-04-03 12345", "2025-04-03_12", "12-2025-04-03", "2025-04-03/0612",
    "0612-12-30 12:34:56:78", "2025-13-01", "2025-02-32", "3025-04-03", "25:00:00", "10:61:00",
])
def test_a_date_no_longer_shields_the_digits_beside_it(text: str) -> None:
    assert scrub(text) == "[digits]", text


_SEPARATOR = st.sampled_from(["-", "_", ".", "/", " ", ":", "--", "_-", ". ", " / ", "(", ")", ") "])
_WORDS = st.text(alphabet=st.characters(categories=["L", "P", "S", "Zs"], exclude_characters="+("), max_size=12)


def _is_iso(joined: str) -> bool:
    date = r"(?:19|20)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    time = r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?"
    return re.fullmatch(rf"{date}(?:[T ]{time})?|{time}", joined) is not None


@st.composite
def joined_digits(draw: st.DrawFn) -> tuple[str, str]:
    """A string of 6+ digits cut into groups, the groups joined by separators."""
    digits = draw(st.text(alphabet="0123456789", min_size=6, max_size=20))
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=len(digits) - 1)))
    groups = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
    joined = groups[0] + "".join(draw(_SEPARATOR) + g for g in groups[1:])
    if draw(st.booleans()):
        joined = draw(st.sampled_from(["+", "(", "+("])) + joined
    return digits, joined


@settings(max_examples=500, deadline=None)
@given(joined_digits(), _WORDS, _WORDS)
@example(("0612345678", "0612-34-56-78"), "", "")
@example(("0031612345678", "0031_6_1234_5678"), "nr ", "")
def test_any_run_of_six_or_more_joined_digits_is_masked(number: tuple[str, str], before: str, after: str) -> None:
    digits, joined = number
    out = scrub(before + joined + after)
    if _is_iso(joined.lstrip("+(")):  # the one exception: exactly an ISO date or time
        assert out == before + joined + after
        return
    assert "[digits]" in out and not any(ch.isdigit() for ch in out), (before + joined + after, out)
