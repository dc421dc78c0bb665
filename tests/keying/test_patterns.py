"""keying.patterns, the one analyser of phonenumbers' numbering patterns, against Python's ``re``."""
from __future__ import annotations

import itertools
import random
import re

import phonenumbers
import pytest
from helpers import REPO
from hypothesis import given
from hypothesis import strategies as st
from phonenumbers.phonemetadata import PhoneMetadata

from breachindex.keying.patterns import DigitAutomaton, PatternError, first_digits, parse


def _metadata() -> list[PhoneMetadata]:
    out = []
    for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        region = phonenumbers.region_code_for_country_code(cc)
        md = PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
        if md is not None:
            out.append(md)
    return out


PREFIX_PATTERNS = sorted({md.national_prefix_for_parsing for md in _metadata() if md.national_prefix_for_parsing})
MOBILE_PATTERNS = sorted({md.mobile.national_number_pattern for r in phonenumbers.SUPPORTED_REGIONS
                          if (md := PhoneMetadata.metadata_for_region(r)) is not None and md.mobile is not None
                          and md.mobile.national_number_pattern})


def test_every_pattern_of_the_installed_metadata_is_in_the_subset():
    assert len(PREFIX_PATTERNS) > 15 and len(MOBILE_PATTERNS) > 150
    for pattern in PREFIX_PATTERNS + MOBILE_PATTERNS:
        parse(pattern)


@pytest.mark.parametrize("pattern", PREFIX_PATTERNS)
def test_first_digits_covers_every_non_empty_match_re_finds(pattern):
    first, nullable = first_digits(pattern)
    compiled = re.compile(pattern)
    rnd = random.Random(pattern)
    starts = set()
    for length in range(1, 9):
        for _ in range(200):
            s = "".join(rnd.choice("0123456789") for _ in range(length))
            m = compiled.match(s)
            if m and m.end() > 0:
                starts.add(int(s[0]))
    # every first digit re used is predicted; and a nullable pattern matches the empty string
    assert starts <= first
    assert bool(compiled.match("") and compiled.match("").end() == 0) or not nullable


@given(st.lists(st.sampled_from(["1", "2", "[3-5]", "\\d", "(?:7|8)", "9?", "0{2}", "[12]{1,2}"]),
                min_size=1, max_size=5))
def test_the_automaton_agrees_with_re_on_every_string_of_a_length(parts):
    pattern = "".join(parts)
    automaton = DigitAutomaton(pattern)
    compiled = re.compile(pattern)
    for length in range(0, 4):
        strings = ["".join(t) for t in itertools.product("0123456789", repeat=length)]
        matches = [s for s in strings if compiled.fullmatch(s)]
        assert automaton.possible(automaton.start, length) == bool(matches)
        assert automaton.universal(automaton.start, length) == (len(matches) == len(strings))
        for s in strings:
            states = automaton.start
            for ch in s:
                states = automaton.step(states, int(ch))
            assert automaton.possible(states, 0) == bool(compiled.fullmatch(s)), (pattern, s)


@pytest.mark.parametrize("bad", ["a", "[^1]", "(?=1)", "1{2", "(12", "[1-]x", "\\s"])
def test_syntax_outside_the_subset_is_refused_not_misread(bad):
    with pytest.raises(PatternError):
        parse(bad)


def test_an_end_anchor_is_zero_width_for_first_digits_and_refused_by_the_automaton():
    assert first_digits("(12)$|0") == (frozenset({1, 0}), False)
    assert first_digits("$") == (frozenset(), True)
    with pytest.raises(PatternError):
        DigitAutomaton("12$")


def test_no_module_uses_the_private_regex_parser():
    for path in (REPO / "breachindex").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "re._parser" not in text and "import _parser" not in text, path
        assert "sre_parse" not in text and "sre_compile" not in text, path
