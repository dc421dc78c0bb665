"""Normalization tests: the C fast path and the public ``normalize`` against an oracle.

The oracle below is written with ``phonenumbers`` directly (parse, ``is_possible_number``,
format E.164) and shares no code with ``breachindex.keying.phone``. Its one rule of our own is the
leak's form: bare ASCII digits, not starting with 0, with no region, are read as
``'+' + digits``.

Hypothesis budgets come from a profile chosen with the environment variable
``BREACHINDEX_HYPOTHESIS_PROFILE`` ("ci", the default, or "thorough")::

    BREACHINDEX_HYPOTHESIS_PROFILE=thorough python -m pytest tests/keying/test_normalize.py

The profiles are registered here (this file may not add a conftest.py) and applied to this
file's tests only, through ``settings(parent=...)``, so that loading this module does not
change the Hypothesis defaults of other test files. No example database is written.

All numbers here are synthetic: random digits, or phonenumbers' own example numbers.
"""
from __future__ import annotations

import os
import random
import re
import traceback

import phonenumbers
import pytest
import siphashc
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType, ValidationResult
from phonenumbers.phonemetadata import PhoneMetadata

import breachindex
from breachindex import InvalidPhoneNumber, normalize
from breachindex._core import lib
from breachindex.keying.keys import key_numbers, phone_keys
from breachindex.keying.phone import normalize_fast, normalize_reference
from breachindex.keying.secret import Key

# ---- Hypothesis profiles ------------------------------------------------------------------

_COMMON = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}
settings.register_profile("ci", max_examples=2000, **_COMMON)
settings.register_profile("thorough", max_examples=50000, **_COMMON)
PROFILE_NAME = os.environ.get("BREACHINDEX_HYPOTHESIS_PROFILE", "ci")
PROFILE = settings.get_profile(PROFILE_NAME)  # an unknown name is an error, not a default


def budget(divisor: int = 1, floor: int = 50) -> settings:
    """The profile's settings, with max_examples divided for the costlier tests."""
    return settings(parent=PROFILE, max_examples=max(floor, PROFILE.max_examples // divisor))


# ---- the oracle ---------------------------------------------------------------------------

ALL_REASONS = {
    "not_a_number", "missing_region", "unknown_region", "invalid_country_code",
    "too_short", "too_long", "invalid_length", "not_text",
}
_PARSE_REASONS = {
    NumberParseException.NOT_A_NUMBER: {"not_a_number"},
    NumberParseException.TOO_SHORT_AFTER_IDD: {"too_short"},
    NumberParseException.TOO_SHORT_NSN: {"too_short"},
    NumberParseException.TOO_LONG: {"too_long"},
}
_LENGTH_REASONS = {
    ValidationResult.TOO_SHORT: {"too_short"},
    ValidationResult.TOO_LONG: {"too_long"},
    ValidationResult.INVALID_LENGTH: {"invalid_length"},
    ValidationResult.INVALID_COUNTRY_CODE: {"invalid_country_code"},
}


def oracle(raw: str, region: str | None) -> tuple[str, object]:
    """('ok', E.164) or ('reject', set of acceptable reasons), by phonenumbers directly."""
    text = raw.strip()
    if region is None and text.isascii() and text.isdigit() and not text.startswith("0"):
        text = "+" + text  # the leak's form
    try:
        number = phonenumbers.parse(text, region.upper() if region else None)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            # phonenumbers says "missing default region" or "unknown calling code" with the
            # same error type; which one the library reports is pinned in specific tests.
            return "reject", {"missing_region", "invalid_country_code"} if region is None else {
                "invalid_country_code"}
        return "reject", _PARSE_REASONS.get(exc.error_type, {"not_a_number"})
    if phonenumbers.is_possible_number(number):
        return "ok", phonenumbers.format_number(number, PhoneNumberFormat.E164)
    why = phonenumbers.is_possible_number_with_reason(number)
    return "reject", _LENGTH_REASONS.get(why, {"invalid_length"})


def run(fn, raw, region):
    """('ok', value), ('reject', reason), or None when fn returns None (fast path defers)."""
    try:
        value = fn(raw, region)
    except InvalidPhoneNumber as exc:
        assert exc.reason in ALL_REASONS, exc.reason
        assert isinstance(exc, ValueError)
        return "reject", exc.reason
    if value is None:
        return None
    return "ok", value


def assert_agrees(got, expected, raw, region, what):
    """got from run(); expected from oracle()."""
    context = f"{what}: input {raw!r} region {region!r}: got {got}, oracle {expected}"
    assert got is not None, context
    assert got[0] == expected[0], context
    if got[0] == "ok":
        assert got[1] == expected[1], context
        assert re.fullmatch(r"\+[1-9][0-9]{2,19}", got[1]), context
    else:
        assert got[1] in expected[1], context


# ---- shapes of numbers ----------------------------------------------------------------------

CALLING_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
IDD_00_REGIONS = sorted(
    r for r in REGIONS if PhoneMetadata.metadata_for_region(r).international_prefix == "00"
)
OTHER_IDD_REGIONS = sorted(set(REGIONS) - set(IDD_00_REGIONS))
assert {"NL", "DE", "FR"} <= set(IDD_00_REGIONS) and "US" in OTHER_IDD_REGIONS


def _main_metadata(cc: int):
    return PhoneMetadata.metadata_for_region_or_calling_code(
        cc, phonenumbers.region_code_for_country_code(cc))


def _national_prefix(cc: int) -> str:
    md = _main_metadata(cc)
    prefix = (md.national_prefix or "") if md is not None else ""
    return prefix if prefix.isdigit() else ""


NATIONAL_PREFIX = {cc: _national_prefix(cc) for cc in CALLING_CODES}
REGIONS_OF_CC = {
    cc: [r for r in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]
         if r in phonenumbers.SUPPORTED_REGIONS]
    for cc in CALLING_CODES
}
LEADS = ("random", "prefix_digit", "prefix", "zero")


def national_part(cc: int, digits: str, lead: str) -> str:
    """digits (0..18 of them), its start replaced by or prefixed with a national prefix or 0."""
    prefix = NATIONAL_PREFIX[cc]
    if lead == "prefix_digit" and prefix and digits:
        return prefix[0] + digits[1:]
    if lead == "prefix" and prefix:
        return (prefix + digits)[: max(len(digits), len(prefix))]
    if lead == "zero" and digits:
        return "0" + digits[1:]
    return digits


def compose(cc: int, national: str, form: str) -> str:
    return {"bare": "", "plus": "+", "00": "00"}[form] + str(cc) + national


@st.composite
def fast_inputs(draw):
    """(raw, region): bare digits, '+digits' or '00digits' for any calling code."""
    cc = draw(st.sampled_from(CALLING_CODES))
    length = draw(st.integers(0, 18))
    digits = draw(st.text("0123456789", min_size=length, max_size=length))
    lead = draw(st.sampled_from(LEADS))
    national = national_part(cc, digits, lead)
    form = draw(st.sampled_from(["bare", "plus", "00"]))
    own = REGIONS_OF_CC[cc]
    any_region = st.sampled_from(REGIONS)
    if form == "bare":  # the leak's form; now and then with a region (then it is national)
        region = draw(st.one_of(st.none(), st.none(), st.none(), any_region))
    elif form == "plus":
        region = draw(st.one_of(st.none(), any_region, *([st.sampled_from(own)] if own else [])))
    else:  # '00': usually a region whose IDD is 00; sometimes any region, or none
        region = draw(st.one_of(st.sampled_from(["NL", "DE", "FR"]),
                                st.sampled_from(IDD_00_REGIONS), any_region, st.none()))
    note(f"cc={cc} lead={lead} form={form}")
    return compose(cc, national, form), region


# ---- 1. the fast path against the oracle ---------------------------------------------------

def check_fast(raw: str, region: str | None) -> bool:
    """Asserts normalize_fast agrees with the oracle where it answers; True if it answered."""
    got = run(normalize_fast, raw, region)
    if got is None:
        return False
    assert_agrees(got, oracle(raw, region), raw, region, "normalize_fast")
    return True


@budget(1)
@given(fast_inputs())
def test_fast_path_agrees_with_oracle(case):
    raw, region = case
    check_fast(raw, region)
    # the public path must agree too, whichever way it went
    assert_agrees(run(normalize, raw, region), oracle(raw, region), raw, region, "normalize")


def test_fast_path_every_calling_code_deterministic():
    rnd = random.Random(20240611)
    answered = total = 0
    for cc in CALLING_CODES:
        main = phonenumbers.region_code_for_country_code(cc)
        main = main if main in phonenumbers.SUPPORTED_REGIONS else "DE"
        cases = [("bare", None), ("plus", None), ("plus", main), ("plus", "US"),
                 ("00", "NL"), ("00", main), ("00", "US"), ("bare", main)]
        for length in range(19):
            for lead in LEADS:
                digits = "".join(rnd.choice("0123456789") for _ in range(length))
                national = national_part(cc, digits, lead)
                for form, region in cases:
                    raw = compose(cc, national, form)
                    total += 1
                    answered += check_fast(raw, region)
    # the differential above is only worth something if the fast path answers often
    assert answered > total * 0.3, (answered, total)


def test_fast_path_answers_plain_shapes():
    """The fast path must actually take the leak's forms (else the differential is vacuous)."""
    assert normalize_fast("31612345678", None) == "+31612345678"
    assert normalize_fast("+31612345678", None) == "+31612345678"
    assert normalize_fast("+31612345678", "US") == "+31612345678"
    assert normalize_fast("0031612345678", "NL") == "+31612345678"
    assert normalize_fast("+4915112345678", None) == "+4915112345678"
    # shapes it must leave to the reference
    assert normalize_fast("0031612345678", "US") is None  # 00 is not the US IDD
    assert normalize_fast("0031612345678", None) is None
    assert normalize_fast("31612345678", "NL") is None  # national with a region
    assert normalize_fast("+31 6 12345678", None) is None
    assert normalize_fast("", None) is None
    # where it is sure, it rejects with the right reason
    with pytest.raises(InvalidPhoneNumber) as exc:
        normalize_fast("+3161", None)
    assert exc.value.reason == "too_short"
    with pytest.raises(InvalidPhoneNumber) as exc:
        normalize_fast("+31" + "6" * 16, None)
    assert exc.value.reason == "too_long"


# ---- 2. the public normalize on messy human input -----------------------------------------

ARABIC_INDIC = {ord(str(d)): chr(0x0660 + d) for d in range(10)}
FULL_WIDTH = {ord(str(d)): chr(0xFF10 + d) for d in range(10)}


def _example(region: str, kind: int):
    return phonenumbers.example_number_for_type(region, kind)


MOBILE_EXAMPLES = {
    r: ex for r in REGIONS if (ex := _example(r, PhoneNumberType.MOBILE)) is not None
}
assert len(MOBILE_EXAMPLES) > 200


def messy_forms(region: str, number) -> list[tuple[str, str | None]]:
    nat = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    intl = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    rfc = phonenumbers.format_number(number, PhoneNumberFormat.RFC3966)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    parts = nat.split(" ")
    parens = f"({parts[0]}) " + " ".join(parts[1:]) if len(parts) > 1 else f"({nat})"
    forms = [
        (nat, region), (nat, region.lower()), (f"  {nat}\t", region),
        (nat.replace(" ", "."), region), (nat.replace(" ", "-"), region),
        (nat.replace(" ", ""), region), (parens, region), (nat.replace(" ", " / ", 1), region),
        (nat + " ext. 12", region), (intl + " ext. 12", None), (nat + " x12", region),
        (intl, region), (intl, None),
        (intl.replace(" ", "-"), None), (intl.replace(" ", "."), None),
        (rfc, None), (rfc, region),
        (e164, None), (e164, region), (e164[1:], None), (e164[1:], region),
        ("00" + e164[1:], region), ("00" + e164[1:], None),
    ]
    forms += [(raw.translate(table), reg) for raw, reg in forms
              for table in (ARABIC_INDIC, FULL_WIDTH)]
    return forms


def test_normalize_messy_forms_every_region():
    answered = 0
    for region, number in MOBILE_EXAMPLES.items():
        for raw, reg in messy_forms(region, number):
            got, expected = run(normalize, raw, reg), oracle(raw, reg)
            assert_agrees(got, expected, raw, reg, f"normalize ({region} example)")
            answered += got[0] == "ok"
        # the canonical forms must come out as the example's E.164 (not just agree)
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        nat = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        intl = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
        assert normalize(nat, region) == e164, region
        assert normalize(nat.translate(ARABIC_INDIC), region) == e164, region
        assert normalize(nat.translate(FULL_WIDTH), region.lower()) == e164, region
        assert normalize(intl) == e164, region
        assert normalize(e164[1:]) == e164, region
    assert answered > 0.8 * len(MOBILE_EXAMPLES) * 20


SEPARATORS = [" ", "-", ".", "/", "(", ")", "  ", " - ", "\u00a0", "\u2010"]


@st.composite
def messy_inputs(draw):
    region = draw(st.sampled_from(sorted(MOBILE_EXAMPLES)))
    kind = draw(st.sampled_from(["national", "international", "e164", "leak", "rfc", "00"]))
    number = MOBILE_EXAMPLES[region]
    text = {
        "national": lambda: phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL),
        "international": lambda: phonenumbers.format_number(
            number, PhoneNumberFormat.INTERNATIONAL),
        "e164": lambda: phonenumbers.format_number(number, PhoneNumberFormat.E164),
        "leak": lambda: phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:],
        "rfc": lambda: phonenumbers.format_number(number, PhoneNumberFormat.RFC3966),
        "00": lambda: "00" + phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:],
    }[kind]()
    # drop, duplicate or change a digit now and then: invalid neighbours of valid numbers
    mutation = draw(st.sampled_from(["none", "none", "drop", "add", "change"]))
    positions = [i for i, c in enumerate(text) if c.isdigit()]
    if mutation != "none" and positions:
        i = draw(st.sampled_from(positions))
        d = draw(st.sampled_from("0123456789"))
        text = {"drop": text[:i] + text[i + 1:], "add": text[:i] + d + text[i:],
                "change": text[:i] + d + text[i + 1:]}[mutation]
    # per character: another script for digits, separators between characters
    script = draw(st.sampled_from(["ascii", "ascii", "arabic", "fullwidth", "mixed"]))
    out = []
    for c in text:
        if c.isdigit():
            which = script if script != "mixed" else draw(
                st.sampled_from(["ascii", "arabic", "fullwidth"]))
            c = {"ascii": c, "arabic": c.translate(ARABIC_INDIC),
                 "fullwidth": c.translate(FULL_WIDTH)}[which]
        out.append(c)
        if draw(st.integers(0, 9)) == 0:
            out.append(draw(st.sampled_from(SEPARATORS)))
    raw = "".join(out)
    if draw(st.booleans()):
        raw = (draw(st.sampled_from(["", " ", "\t"])) + raw
               + draw(st.sampled_from(["", " ext. 12", " "])))
    reg = draw(st.one_of(st.none(), st.just(region), st.just(region.lower()),
                         st.sampled_from(REGIONS)))
    return raw, reg


@budget(4)
@given(messy_inputs())
def test_normalize_messy_agrees_with_oracle(case):
    raw, region = case
    assert_agrees(run(normalize, raw, region), oracle(raw, region), raw, region, "normalize")


# ---- 3. specific behaviours ---------------------------------------------------------------

def reason_of(raw, region=None) -> str:
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize(raw, region)
    return info.value.reason


def test_issue_examples():
    assert normalize("06 12345678", "NL") == "+31612345678"
    assert normalize("31612345678") == "+31612345678"
    assert normalize("+4915112345678") == "+4915112345678"
    assert normalize("0031612345678", "NL") == "+31612345678"
    assert normalize("+31 (0)6-1234 5678") == "+31612345678"
    assert normalize("tel:+31-6-12345678") == "+31612345678"
    arabic = "\u0660\u0666 \u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668"
    full_width = "\uff10\uff16\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18"
    assert normalize(arabic, "NL") == "+31612345678"
    assert normalize(full_width, "NL") == "+31612345678"


def test_leak_digits_without_region_are_international():
    assert normalize("4915112345678") == "+4915112345678"
    assert normalize("4915112345678", None) == "+4915112345678"
    # With a region the same digits are a *national* number: phonenumbers reads them as
    # '+49' + '4915112345678', i.e. '+494915112345678'. That is libphonenumber's semantics,
    # and normalize keeps it (the leak's form is only the region=None case).
    assert oracle("4915112345678", "DE") == ("ok", "+494915112345678")
    assert normalize("4915112345678", "DE") == "+494915112345678"


def test_lowercase_region_accepted():
    assert normalize("06 12345678", "nl") == "+31612345678"
    assert normalize("0031612345678", "nl") == "+31612345678"
    assert normalize("030 1234567", "de") == normalize("030 1234567", "DE")


@pytest.mark.parametrize("region", ["XX", "001", "", "NLD", "N"])
def test_unknown_region(region):
    assert reason_of("06 12345678", region) == "unknown_region"
    assert reason_of("+31612345678", region) == "unknown_region"


@pytest.mark.parametrize("region", ["ZZ", "zz"])
def test_libphonenumbers_unknown_region_is_no_region(region):
    """What libphonenumber answers for a number of no region may be passed back: every entry
    point reads it as no region at all."""
    def outcome(raw: str, region: str | None) -> str:
        try:
            return normalize(raw, region)
        except InvalidPhoneNumber as exc:
            return exc.reason

    for raw in ["+31612345678", "0031612345678", "31612345678", "06 12345678", "+1 201 555 0123", "+31 6"]:
        assert outcome(raw, region) == outcome(raw, None), raw
    assert reason_of("06 12345678", region) == "missing_region"
    assert normalize("+31612345678", region) == normalize_reference("+31612345678", region) == "+31612345678"
    secret = Key(bytes(range(32)))
    numbers = ["+31612345678", "06 12345678", "31612345678"]
    with_zz = key_numbers(numbers, siphash_key=secret.siphash_key(), region=region)
    without = key_numbers(numbers, siphash_key=secret.siphash_key())
    assert with_zz.keys.tolist() == without.keys.tolist() and with_zz.reasons == without.reasons
    assert with_zz.reasons[1] == "missing_region"
    assert phone_keys(["+31612345678"], key=secret, region=region).tolist() == \
        phone_keys(["+31612345678"], key=secret).tolist()


@pytest.mark.parametrize("raw", ["0612345678", "06 12345678", "(06) 1234-5678"])
def test_national_without_region_is_missing_region(raw):
    assert reason_of(raw) == "missing_region"


@pytest.mark.parametrize("raw", [None, 31612345678, b"+31612345678", bytearray(b"0612"), 3.5,
                                 ["+31612345678"], object()])
def test_not_text(raw):
    assert reason_of(raw) == "not_text"
    assert reason_of(raw, "NL") == "not_text"
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_reference(raw)
    assert info.value.reason == "not_text"


@pytest.mark.parametrize(
    "raw, region, reason",
    [
        ("+3161", None, "too_short"),          # fast path: NSN of 2 digits
        ("3161", None, "too_short"),           # the leak's form
        ("+31 61", None, "too_short"),         # reference path
        ("061", "NL", "too_short"),
        ("+31" + "6" * 16, None, "too_long"),  # fast path: NSN of 16 digits
        ("31" + "6" * 16, None, "too_long"),
        ("+31 " + "6" * 16, None, "too_long"),  # reference path
        ("+7" + "9" * 11, None, "invalid_length"),   # +7: NSN of 10 or 14 digits, 11 invalid
        ("+7 " + "9" * 11, None, "invalid_length"),
        ("+999 123456", None, "invalid_country_code"),
        ("+999123456", None, "invalid_country_code"),
        ("", None, "not_a_number"),
        ("abc", "NL", "not_a_number"),
        ("+", None, "not_a_number"),
    ],
)
def test_reasons(raw, region, reason):
    assert oracle(raw, region)[0] == "reject" and reason in oracle(raw, region)[1]
    assert reason_of(raw, region) == reason


def _digit_runs(raw: str) -> set[str]:
    ascii_raw = "".join(str(int(c)) if c.isdecimal() else c for c in raw)
    return set(re.findall(r"[0-9]{5,}", ascii_raw)) | set(re.findall(r"\d{5,}", raw))


def _assert_no_number_in(exc: BaseException, raw) -> None:
    runs = _digit_runs(raw) if isinstance(raw, str) else set()
    if isinstance(raw, (bytes, bytearray)):
        runs = set(re.findall(r"[0-9]{5,}", bytes(raw).decode("latin-1")))
    elif isinstance(raw, int):
        runs = {str(raw)} if len(str(raw)) >= 5 else set()
    texts = [str(exc), repr(exc), *map(str, exc.args)]
    # what a logged traceback shows of the chain (not the source lines, which are ours)
    seen = exc
    while seen is not None:
        texts.append("".join(traceback.format_exception_only(type(seen), seen)))
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    for run_ in runs:
        for text in texts:
            assert run_ not in text, (type(exc).__name__, getattr(exc, "reason", None))


INVALID_INPUTS = [
    ("+316123", None), ("316123", None), ("+31612345678901234", None),
    ("31612345678901234", None), ("+999123456789", None), ("999123456789", None),
    ("0612345678", None), ("06 1234 5678", None),
    ("06 1234 5678 9012 3", "NL"), ("06123456789012", "NL"),
    ("+7 99999999999", None), ("+799999999999", None), ("00" + "7" + "9" * 11, "DE"),
    ("\u0660\u0666\u0661\u0662\u0663\u0664\u0665\u0666", None),
    ("06123456789012345".translate(FULL_WIDTH), "NL"),
    ("+31 6 12345678 12345678 12345678", None), ("12345abc", None),
    ("tel:+999-12345678", None), ("123456", "ZZ"), ("+49 1234", "xx"),
    (31612345678, None), (b"31612345678", None), ("1" * 300, None), ("+" + "1" * 300, None),
]


@pytest.mark.parametrize("raw, region", INVALID_INPUTS)
def test_messages_never_contain_the_number(raw, region):
    known_region = region is None or region.upper() in phonenumbers.SUPPORTED_REGIONS
    if isinstance(raw, str) and region is not None and known_region:
        assert oracle(raw, region)[0] == "reject"
    for fn in (normalize, normalize_reference):
        with pytest.raises(InvalidPhoneNumber) as info:
            fn(raw, region)
        _assert_no_number_in(info.value, raw)
    if isinstance(raw, str) and known_region:
        try:
            normalize_fast(raw, region.upper() if region else None)
        except InvalidPhoneNumber as exc:
            _assert_no_number_in(exc, raw)
        with pytest.raises(InvalidPhoneNumber) as info:
            phone_keys(["+31612345678", raw], key=Key.generate(), region=region)
        assert info.value.position == 1
        _assert_no_number_in(info.value, raw)


@budget(4)
@given(st.one_of(fast_inputs(), messy_inputs()))
def test_messages_never_contain_the_number_generated(case):
    raw, region = case
    try:
        normalize(raw, region)
    except InvalidPhoneNumber as exc:
        _assert_no_number_in(exc, raw)


# ---- 4. the batch path ----------------------------------------------------------------------

def batch_corpus() -> list:
    rnd = random.Random(7)
    items: list = [
        "31612345678", "+31612345678", "0031612345678", "+31 6 12345678", " 31612345678 ",
        "+310612345678", "310612345678", "4915112345678", "+4915112345678",
        "06 12345678", "0612345678", "", " ", "abc", "+", "+3161", "3161", "+31" + "6" * 16,
        "+7" + "9" * 11, "+999123456", "999123456", "1" * 300, "tel:+31-6-12345678",
        "\u0663\u0661\u0666\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668", "\ud800",
        "+31612345678\x00", None, 31612345678, b"+31612345678", 3.5, ["+31612345678"],
    ]
    for cc in CALLING_CODES[:: 3]:
        for lead in LEADS:
            length = rnd.randrange(0, 19)
            digits = "".join(rnd.choice("0123456789") for _ in range(length))
            for form in ("bare", "plus", "00"):
                items.append(compose(cc, national_part(cc, digits, lead), form))
    for region, number in list(MOBILE_EXAMPLES.items())[:: 7]:
        items += [raw for raw, reg in messy_forms(region, number) if reg is None]
    return items


def check_batch(numbers: list, region: str | None = None) -> None:
    key = Key.generate().siphash_key()
    check_key = Key.generate().siphash_key()
    batch = key_numbers(numbers, siphash_key=key, region=region, check_key=check_key,
                        want_e164=True)
    plain = key_numbers(numbers, siphash_key=key, region=region)
    assert len(batch.keys) == len(batch.ok) == len(batch.reasons) == len(numbers)
    key_of: dict[str, int] = {}
    for i, raw in enumerate(numbers):
        try:
            e164 = normalize(raw, region)
        except InvalidPhoneNumber as exc:
            assert not batch.ok[i], (i, exc.reason)
            assert batch.reasons[i] == exc.reason, (i, batch.reasons[i], exc.reason)
            assert not plain.ok[i] and plain.reasons[i] == exc.reason
            continue
        assert batch.ok[i], (i, batch.reasons[i])
        assert batch.reasons[i] is None
        digits = e164[1:].encode("ascii")
        k = int(batch.keys[i])
        assert k == siphashc.siphash(key, digits), i
        assert int(plain.keys[i]) == k and plain.ok[i]
        assert int(batch.check[i]) == siphashc.siphash(check_key, digits), i
        assert batch.e164[i] == digits, i
        assert key_of.setdefault(e164, k) == k  # equal E.164, equal keys
    # distinct E.164, distinct keys (64-bit PRF: a collision here would be a bug)
    assert len(set(key_of.values())) == len(key_of)


def test_batch_agrees_with_normalize():
    corpus = batch_corpus()
    assert len(corpus) > 500
    check_batch(corpus)


@pytest.mark.parametrize("region", ["NL", "nl", "DE", "US"])
def test_batch_agrees_with_normalize_with_region(region):
    corpus = batch_corpus()[:: 2] + ["06 12345678", "0031612345678", "612345678", "030 1234567"]
    check_batch(corpus, region)


def test_batch_unknown_region_and_empty():
    with pytest.raises(InvalidPhoneNumber) as info:
        key_numbers(["+31612345678"], siphash_key=Key.generate().siphash_key(), region="XX")
    assert info.value.reason == "unknown_region"
    empty = key_numbers([], siphash_key=Key.generate().siphash_key())
    assert len(empty.keys) == 0 and len(empty.ok) == 0 and empty.reasons == []


junk = st.one_of(
    st.text(max_size=20),
    st.text("0123456789+ -()", max_size=25),
    st.sampled_from([None, 12345, b"+31612345678", 1.5]),
)


@budget(20, floor=30)
@given(st.lists(st.one_of(fast_inputs().map(lambda c: c[0]), junk), max_size=40),
       st.one_of(st.none(), st.sampled_from(["NL", "de", "US", "FR"])))
def test_batch_agrees_with_normalize_generated(numbers, region):
    check_batch(numbers, region)


# ---- 5. SipHash ---------------------------------------------------------------------------

def test_siphash_reference_vectors():
    key = bytes(range(16))
    assert lib.bi_siphash24(key, b"", 0) == 0x726FDB47DD0E0E31
    assert siphashc.siphash(key, b"") == 0x726FDB47DD0E0E31
    # the example of the SipHash paper (Aumasson & Bernstein 2012, appendix A)
    assert lib.bi_siphash24(key, bytes(range(15)), 15) == 0xA129CA6149BE45E5
    for n in range(65):  # every tail length, against siphashc
        message = bytes(range(n))
        assert lib.bi_siphash24(key, message, n) == siphashc.siphash(key, message), n


@budget(2)
@given(st.binary(min_size=16, max_size=16), st.binary(min_size=0, max_size=64))
def test_siphash_matches_siphashc(key, data):
    assert lib.bi_siphash24(key, data, len(data)) == siphashc.siphash(key, data)


@budget(10)
@given(st.binary(min_size=16, max_size=16),
       st.lists(st.text("0123456789", min_size=0, max_size=20), max_size=20))
def test_siphash_slots_match_siphashc(key, digit_strings):
    import numpy as np

    from breachindex.keying.keys import hash_e164_digits

    slots = np.array([s.encode() for s in digit_strings], dtype="S20")
    keys = hash_e164_digits(slots, key)
    assert [int(k) for k in keys] == [siphashc.siphash(key, s.encode()) for s in digit_strings]


def test_public_api_exports():
    assert breachindex.normalize is normalize
    assert issubclass(breachindex.InvalidPhoneNumber, ValueError)
