"""Tests for breachindex.synth.synthetic: leak-shaped synthetic phone numbers and records.

No test prints or logs a generated number. Assertion messages give counts
and region codes, never numbers.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata, PhoneNumberFormat, PhoneNumberType

from breachindex.synth.synthetic import (
    DATA_CLASS_PROBABILITIES,
    DATA_CLASSES,
    DEFAULT_REGIONS,
    REGION_WEIGHTS,
    synthetic_numbers,
    synthetic_records,
)

EU_REGIONS = {
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
    "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
}  # fmt: skip
MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _cc_to_region() -> dict[str, str]:
    """Country calling code (as digits) -> default region. Needs distinct codes."""
    return {str(phonenumbers.country_code_for_region(r)): r for r in DEFAULT_REGIONS}


def _region_of(number: str, cc_map: dict[str, str]) -> str | None:
    for n in (1, 2, 3):  # calling codes are prefix-free
        region = cc_map.get(number[:n])
        if region is not None:
            return region
    return None


def _check_numbers(numbers: list[str], expected_region: str | None = None) -> dict[str, int]:
    """Check numbers against phonenumbers. Return failure counts (never the numbers)."""
    failures: Counter[str] = Counter()
    for s in numbers:
        e164 = "+" + s
        try:
            parsed = phonenumbers.parse(e164)
        except phonenumbers.NumberParseException:
            failures["unparseable"] += 1
            continue
        if not phonenumbers.is_possible_number(parsed):
            failures["not_possible"] += 1
        if phonenumbers.format_number(parsed, PhoneNumberFormat.E164) != e164:
            failures["e164_round_trip"] += 1
        if not phonenumbers.is_valid_number(parsed):
            failures["invalid"] += 1
        else:
            if expected_region and phonenumbers.region_code_for_number(parsed) != expected_region:
                failures["wrong_region"] += 1
            if phonenumbers.number_type(parsed) not in MOBILE_TYPES:
                failures["not_mobile"] += 1
        region = phonenumbers.region_code_for_country_code(parsed.country_code or 0)
        metadata = PhoneMetadata.metadata_for_region(region)
        trunk = metadata.national_prefix if metadata else None
        if trunk and phonenumbers.national_significant_number(parsed).startswith(trunk):
            failures["starts_with_trunk_prefix"] += 1
    return failures


# --------------------------------------------------------------------------- constants


def test_constants_shape():
    assert 12 <= len(DEFAULT_REGIONS) <= 20
    assert len(set(DEFAULT_REGIONS)) == len(DEFAULT_REGIONS)
    assert "US" in DEFAULT_REGIONS
    assert len(EU_REGIONS.intersection(DEFAULT_REGIONS)) >= 4
    assert set(DEFAULT_REGIONS) <= set(REGION_WEIGHTS)
    assert all(w > 0 for w in REGION_WEIGHTS.values())
    assert set(DEFAULT_REGIONS) <= phonenumbers.SUPPORTED_REGIONS
    assert DATA_CLASSES == (
        "phone_number", "facebook_id", "name", "gender", "location", "hometown",
        "relationship_status", "employer", "email_address", "date_of_birth", "account_dates",
    )  # fmt: skip
    assert set(DATA_CLASS_PROBABILITIES) == set(DATA_CLASSES)
    assert DATA_CLASS_PROBABILITIES["phone_number"] == 1.0
    assert all(0.0 <= p <= 1.0 for p in DATA_CLASS_PROBABILITIES.values())
    # Weights are roughly the leak's per-country counts (millions).
    assert max(REGION_WEIGHTS, key=REGION_WEIGHTS.__getitem__) == "EG"
    assert 40 <= REGION_WEIGHTS["EG"] <= 50 and 30 <= REGION_WEIGHTS["US"] <= 35
    assert REGION_WEIGHTS["IT"] > REGION_WEIGHTS["FR"] > REGION_WEIGHTS["DE"] > REGION_WEIGHTS["BE"]
    assert 4 <= REGION_WEIGHTS["NL"] <= 6
    # The plausibility ordering the leak implies.
    p = DATA_CLASS_PROBABILITIES
    assert p["facebook_id"] > 0.95 and p["name"] > 0.95
    assert p["gender"] > p["location"] > p["employer"] > p["date_of_birth"]
    assert p["email_address"] < 0.05 and p["date_of_birth"] < 0.05


def test_default_regions_have_distinct_calling_codes():
    # The region-share test maps numbers to regions by calling code.
    assert len(_cc_to_region()) == len(DEFAULT_REGIONS)


def test_constants_are_read_only():
    with pytest.raises(TypeError):
        REGION_WEIGHTS["NL"] = 1000.0  # type: ignore[index]
    with pytest.raises(TypeError):
        DATA_CLASS_PROBABILITIES["email_address"] = 1.0  # type: ignore[index]


# --------------------------------------------------------------------------- numbers


def test_deterministic_for_same_seed():
    a = synthetic_numbers(5000, seed=42)
    b = synthetic_numbers(5000, seed=42)
    assert a == b


def test_different_seeds_differ():
    a = synthetic_numbers(5000, seed=1)
    b = synthetic_numbers(5000, seed=2)
    assert a != b
    # Not just reordered: the sets are nearly disjoint.
    assert len(set(a) & set(b)) < 50


def test_exact_count_and_distinct():
    numbers = synthetic_numbers(50_000, seed=7)
    assert len(numbers) == 50_000
    assert len(set(numbers)) == 50_000


def test_distinct_when_space_is_small():
    # Belgium has a 5 x 10^7 space. 200k draws give a few birthday collisions,
    # so the top-up path must run and still return distinct numbers.
    numbers = synthetic_numbers(200_000, seed=3, regions=("BE",))
    assert len(numbers) == 200_000
    assert len(set(numbers)) == 200_000


@pytest.mark.parametrize("count", [0, 1])
def test_tiny_counts(count):
    numbers = synthetic_numbers(count, seed=0)
    assert isinstance(numbers, list)
    assert len(numbers) == count
    records = synthetic_records(count, seed=0)
    assert len(records) == count


def test_form_is_digits_without_plus():
    for s in synthetic_numbers(20_000, seed=11):
        assert isinstance(s, str)
        assert s.isascii() and s.isdigit()
        assert s[0] != "0"
        assert 8 <= len(s) <= 15  # E.164 maximum is 15 digits


def test_output_is_not_grouped_or_sorted():
    numbers = synthetic_numbers(2000, seed=5)
    assert numbers != sorted(numbers)


def test_sample_valid_under_phonenumbers_default_mix():
    numbers = synthetic_numbers(2000, seed=2021)
    cc_map = _cc_to_region()
    represented = Counter(_region_of(s, cc_map) for s in numbers)
    assert None not in represented
    assert set(represented) == set(DEFAULT_REGIONS), "a default region never appeared"
    failures = _check_numbers(numbers)
    assert failures["unparseable"] == 0
    assert failures["not_possible"] == 0
    assert failures["e164_round_trip"] == 0
    assert failures["starts_with_trunk_prefix"] == 0
    assert failures["invalid"] <= 0.05 * len(numbers)
    assert failures["not_mobile"] <= 0.05 * len(numbers)


@pytest.mark.parametrize("region", DEFAULT_REGIONS)
def test_sample_valid_under_phonenumbers_per_region(region):
    numbers = synthetic_numbers(150, seed=99, regions=(region,))
    cc = str(phonenumbers.country_code_for_region(region))
    assert all(s.startswith(cc) for s in numbers)
    failures = _check_numbers(numbers, expected_region=region)
    assert failures["unparseable"] == 0
    assert failures["not_possible"] == 0
    assert failures["e164_round_trip"] == 0
    assert failures["starts_with_trunk_prefix"] == 0
    assert failures["invalid"] + failures["wrong_region"] <= 0.05 * len(numbers)
    assert failures["not_mobile"] == 0


@pytest.mark.parametrize("region", ["CA", "JP", "AT", "PL", "IE", "SE"])
def test_regions_outside_the_default_set(region):
    numbers = synthetic_numbers(100, seed=8, regions=(region,))
    assert len(set(numbers)) == 100
    failures = _check_numbers(numbers, expected_region=region)
    assert failures["not_possible"] == failures["e164_round_trip"] == 0
    assert failures["invalid"] + failures["wrong_region"] <= 5


def test_region_shares_follow_weights():
    n = 100_000
    numbers = synthetic_numbers(n, seed=12345)
    cc_map = _cc_to_region()
    counts = Counter(_region_of(s, cc_map) for s in numbers)
    total_weight = sum(REGION_WEIGHTS[r] for r in DEFAULT_REGIONS)
    for region in DEFAULT_REGIONS:
        expected = REGION_WEIGHTS[region] / total_weight
        observed = counts[region] / n
        sigma = math.sqrt(expected * (1 - expected) / n)
        assert abs(observed - expected) <= 5 * sigma + 0.001, (
            f"{region}: observed share {observed:.4f}, expected {expected:.4f}"
        )


def test_region_subset_and_normalisation():
    a = synthetic_numbers(3000, seed=4, regions=("NL", "BE"))
    b = synthetic_numbers(3000, seed=4, regions=["nl", "BE", "NL"])  # case, duplicate
    assert a == b
    assert all(s.startswith(("31", "32")) for s in a)
    assert {s[:2] for s in a} == {"31", "32"}


def test_nl_numbers_look_like_dutch_mobiles():
    # Dutch mobiles are 06-xxxxxxxx nationally: +31 6 plus 8 digits.
    for s in synthetic_numbers(2000, seed=6, regions=("NL",)):
        assert s.startswith("316") and len(s) == 11


def test_does_not_print_or_log(capsys, caplog):
    caplog.set_level(logging.DEBUG)
    synthetic_numbers(1000, seed=77, regions=("NL", "US"))
    synthetic_records(1000, seed=77)
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    assert caplog.records == []


def test_fast_enough():
    # The brief: 1M in about 2 s. Check 300k against a generous bound. Calling
    # phonenumbers once per number (about 20 us each) would break it.
    synthetic_numbers(10, seed=0)  # build the region tables first
    start = time.perf_counter()
    numbers = synthetic_numbers(300_000, seed=1)
    elapsed = time.perf_counter() - start
    assert len(numbers) == 300_000
    assert elapsed < 3.0, f"300k numbers took {elapsed:.2f}s"


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**63),
    count=st.integers(min_value=0, max_value=60),
    regions=st.lists(st.sampled_from(DEFAULT_REGIONS), min_size=1, max_size=4, unique=True),
)
def test_property_distinct_count_and_round_trip(seed, count, regions):
    numbers = synthetic_numbers(count, seed=seed, regions=regions)
    assert len(numbers) == count
    assert len(set(numbers)) == count
    allowed_ccs = {str(phonenumbers.country_code_for_region(r)) for r in regions}
    for s in numbers:
        parsed = phonenumbers.parse("+" + s)
        assert phonenumbers.is_possible_number(parsed)
        assert phonenumbers.format_number(parsed, PhoneNumberFormat.E164) == "+" + s
        assert str(parsed.country_code) in allowed_ccs
    assert synthetic_numbers(count, seed=seed, regions=regions) == numbers


# --------------------------------------------------------------------------- records


def test_records_shape_and_invariants():
    records = synthetic_records(20_000, seed=9, breach="facebook-2021-test")
    assert len(records) == 20_000
    all_classes = frozenset(DATA_CLASSES)
    for rec in records:
        assert isinstance(rec, tuple) and len(rec) == 3
        phone, breach, classes = rec
        assert breach == "facebook-2021-test"
        assert isinstance(classes, frozenset)
        assert "phone_number" in classes
        assert classes <= all_classes


def test_records_default_breach_name():
    assert {b for _, b, _ in synthetic_records(100, seed=1)} == {"facebook-2021"}


def test_records_phones_match_synthetic_numbers():
    records = synthetic_records(5000, seed=31, regions=("FR", "DE"))
    assert [p for p, _, _ in records] == synthetic_numbers(5000, seed=31, regions=("FR", "DE"))


def test_records_deterministic_and_seed_dependent():
    a = synthetic_records(3000, seed=5)
    assert a == synthetic_records(3000, seed=5)
    b = synthetic_records(3000, seed=6)
    assert [c for _, _, c in a] != [c for _, _, c in b]


def test_record_class_frequencies_match_probabilities():
    n = 50_000
    records = synthetic_records(n, seed=2024)
    counts = Counter(c for _, _, classes in records for c in classes)
    for cls in DATA_CLASSES:
        p = DATA_CLASS_PROBABILITIES[cls]
        observed = counts[cls] / n
        sigma = math.sqrt(p * (1 - p) / n)
        assert abs(observed - p) <= 5 * sigma + 0.002, (
            f"{cls}: observed {observed:.4f}, expected {p:.4f}"
        )
    # Records differ: not all records expose the same classes.
    assert len({classes for _, _, classes in records}) > 50


# --------------------------------------------------------------------------- bad arguments


def test_negative_count_raises():
    with pytest.raises(ValueError, match="count must be >= 0"):
        synthetic_numbers(-1, seed=0)
    with pytest.raises(ValueError, match="count must be >= 0"):
        synthetic_records(-5, seed=0)


def test_negative_seed_raises():
    with pytest.raises(ValueError, match="seed must be >= 0"):
        synthetic_numbers(10, seed=-1)


@pytest.mark.parametrize("bad", [1.5, "10", None, True])
def test_non_integer_count_raises_type_error(bad):
    with pytest.raises(TypeError, match="count must be an int"):
        synthetic_numbers(bad, seed=0)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [("XX",), ("NL", "ZZ"), ("Netherlands",), ("",)])
def test_unknown_region_raises(bad):
    with pytest.raises(ValueError, match="unknown region"):
        synthetic_numbers(10, seed=0, regions=bad)


def test_unknown_region_raises_even_for_zero_count():
    with pytest.raises(ValueError, match="unknown region"):
        synthetic_numbers(0, seed=0, regions=("XX",))


def test_empty_regions_raise():
    with pytest.raises(ValueError, match="at least one region"):
        synthetic_numbers(10, seed=0, regions=())


def test_single_string_regions_raise():
    # A bare "NL" would otherwise be read as the regions "N" and "L".
    with pytest.raises(ValueError, match="not a single string"):
        synthetic_numbers(10, seed=0, regions="NL")


def test_region_without_own_numbers_raises():
    # Vatican City mobiles are Italian numbers, so phonenumbers resolves them to IT.
    with pytest.raises(ValueError, match="choose another region"):
        synthetic_numbers(10, seed=0, regions=("VA",))


def test_count_beyond_capacity_raises():
    with pytest.raises(ValueError, match="too large"):
        synthetic_numbers(10**12, seed=0, regions=("NL",))


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_breach_name_raises(bad):
    with pytest.raises(ValueError, match="breach must be a non-empty"):
        synthetic_records(10, seed=0, breach=bad)
