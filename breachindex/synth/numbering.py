"""The numbering model of the synthetic data: which mobile numbers each region has.

Once per process and region, the region's mobile ``national_number_pattern`` becomes a digit
automaton (:mod:`breachindex.keying.patterns`), and from it an exact split of the valid mobile
number space into "prefix + free digits" blocks (:func:`region_plan`). Both generators build on
it: :mod:`.synthetic` (numbers and records in memory) and :mod:`.leak` (leak files and a
text-free key source). The argument checks they share live here too.
"""
from __future__ import annotations

import functools
import operator
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat, PhoneNumberType

from ..keying.patterns import DigitAutomaton, PatternError

__all__ = [
    "DEFAULT_REGIONS",
    "REGION_WEIGHTS",
    "UNLISTED_REGION_WEIGHT",
    "RegionPlan",
    "check_count",
    "check_regions",
    "check_seed",
    "region_plan",
]

#: Approximate number of leaked accounts per region, in millions, as publicly
#: reported for the April 2021 Facebook leak (press reports citing the leak's
#: per-country files, e.g. EG 44,823,547; IT ~35.68M; US 32,315,282;
#: SA 28,804,686; FR 19,848,559; MA 18,939,198; GB 11,522,327;
#: DZ 11,505,898), rounded to 0.1M. The other figures (TN, TR, ES, NG, IN,
#: DE, NL, BE) are rounded values from the same kind of reporting and were
#: not checked against a source here. They are used only as relative sampling
#: weights, so only the ratios matter. A region that is passed to the
#: generators but is not listed here gets ``UNLISTED_REGION_WEIGHT``.
REGION_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "EG": 44.8,  # Egypt
        "TN": 39.5,  # Tunisia
        "IT": 35.7,  # Italy
        "US": 32.3,  # United States
        "SA": 28.8,  # Saudi Arabia
        "FR": 19.8,  # France
        "TR": 19.6,  # Turkey
        "MA": 18.9,  # Morocco
        "GB": 11.5,  # United Kingdom
        "DZ": 11.5,  # Algeria
        "ES": 10.9,  # Spain
        "NG": 9.0,  # Nigeria
        "IN": 6.1,  # India
        "DE": 6.0,  # Germany
        "NL": 5.4,  # Netherlands
        "BE": 3.2,  # Belgium
    }
)

#: Weight (millions of accounts) for a region that is not in REGION_WEIGHTS.
UNLISTED_REGION_WEIGHT: float = 1.0

#: Regions used by default: the largest leak regions plus the EU members that
#: SOMI's campaign cares about most. Each one has its own country calling
#: code. None has national-format quirks (AR's "9"/"15" mobile transform,
#: BR's carrier codes, MX's former "1" mobile prefix), and these regions are
#: left out on purpose. Any region phonenumbers supports can still be passed
#: explicitly.
DEFAULT_REGIONS: tuple[str, ...] = tuple(REGION_WEIGHTS)

#: National significant number lengths to use, with relative weights, for
#: regions where more than one mobile length is common. Every other region
#: uses only the length of phonenumbers' example mobile number. Example:
#: German 015x numbers have 11 digits; many 016x/017x numbers have 10.
_LENGTH_WEIGHTS: Mapping[str, Mapping[int, float]] = MappingProxyType(
    {
        "DE": MappingProxyType({11: 0.65, 10: 0.35}),
    }
)

# Set-up tuning. The set-up uses a fixed internal seed, so the prefix tables
# do not depend on the caller's seed.
_SETUP_SEED = 0x5EED_2021
_SAMPLES_PER_PREFIX = 4  # random completions per prefix checked against the parsing rules
_MAX_SPLITS = 2  # how often a prefix that fails verification is split before it is dropped
_MAX_DIGITS = 18  # country code + NSN must fit in int64 (E.164 allows at most 15)


@dataclass(frozen=True)
class RegionPlan:
    """Pre-computed numbering ranges for one region (set-up output)."""

    region: str
    heads: np.ndarray  # int64: int(country code digits + prefix digits)
    tail_lengths: np.ndarray  # int64: number of random digits after each prefix
    weights: np.ndarray  # float64: sampling weight of each prefix, sums to 1
    capacity: int  # how many distinct numbers the ranges hold


# --------------------------------------------------------------------------- set-up
#
# A region's mobile ``national_number_pattern`` becomes a digit automaton
# (``keying.patterns``, the one analyser of phonenumbers' patterns). The code
# below walks the digit trie for a fixed length and keeps each shortest prefix
# after which *every* completion matches. That gives an exact split of the
# valid mobile number space into "prefix + free digits" blocks, with no
# sampling. A pattern outside the analyser's subset is rejected with
# ValueError. No pattern in the current metadata is.

_DIGITS = "0123456789"
_MAX_PREFIXES_PER_LENGTH = 50_000


def _exact_prefixes(
    automaton: DigitAutomaton,
    length: int,
    roots: Sequence[tuple[str, frozenset[int]]],
    trunk: str,
) -> list[tuple[str, frozenset[int]]]:
    """Shortest prefixes (from ``roots``) after which all completions to ``length`` match.

    Prefixes that start with the national (trunk) prefix are excluded. A
    prefix is never shorter than the trunk prefix, so that rule is decided by
    the prefix alone.
    """
    min_depth = max(1, len(trunk))
    out: list[tuple[str, frozenset[int]]] = []
    stack = list(reversed(roots))
    while stack:
        prefix, states = stack.pop()
        rem = length - len(prefix)
        if not automaton.possible(states, rem):
            continue
        if trunk and len(prefix) >= len(trunk) and prefix.startswith(trunk):
            continue
        if len(prefix) >= min_depth and automaton.universal(states, rem):
            out.append((prefix, states))
            if len(out) > _MAX_PREFIXES_PER_LENGTH:
                raise PatternError("numbering plan too fragmented")
            continue
        for d in range(9, -1, -1):  # reversed push: pop in ascending order
            stack.append((prefix + _DIGITS[d], automaton.step(states, d)))
    return out


def _bad_start_matcher(metadata: PhoneMetadata):
    """``match(nsn)`` that is truthy when phonenumbers might strip a national prefix
    off ``nsn`` while parsing (trunk prefix, or a non-empty
    ``national_prefix_for_parsing`` match)."""
    parts = []
    if metadata.national_prefix:
        parts.append(re.escape(metadata.national_prefix))
    if metadata.national_prefix_for_parsing:
        # "(?<=.)" keeps only matches that consume at least one digit.
        parts.append(f"(?:{metadata.national_prefix_for_parsing})(?<=.)")
    if not parts:
        return lambda nsn: None
    return re.compile("|".join(parts)).match


def _verify_with_phonenumbers(region: str, cc: str, nsn: str) -> bool:
    """Full phonenumbers check of one number (set-up only, once per prefix)."""
    e164 = "+" + cc + nsn
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return False
    if not (
        phonenumbers.is_possible_number(parsed)
        and phonenumbers.format_number(parsed, PhoneNumberFormat.E164) == e164
        and phonenumbers.is_valid_number_for_region(parsed, region)
    ):
        return False
    # Where several regions share the calling code (e.g. +1, +44, +7), the
    # number must resolve to this region, or region shares would be off.
    siblings = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(parsed.country_code or 0, ())
    if len(siblings) > 1:
        return phonenumbers.region_code_for_number(parsed) == region
    return True


def _verified_prefixes(
    region: str,
    metadata: PhoneMetadata,
    automaton: DigitAutomaton,
    length: int,
    rnd: random.Random,
) -> list[str]:
    """Exact prefixes that also pass the parse checks.

    For each prefix, ``_SAMPLES_PER_PREFIX`` random completions are tested
    against the national-prefix parsing rules, and one of them goes through
    phonenumbers itself. A prefix that fails is split into its next digits and
    checked again, at most ``_MAX_SPLITS`` times. After that, or at full
    length, it is dropped. Systematic failures, such as a region whose
    numbers resolve to a sibling region with the same calling code, therefore
    cost little.
    """
    cc = str(metadata.country_code)
    trunk = metadata.national_prefix or ""
    bad_start = _bad_start_matcher(metadata)
    result: list[str] = []
    todo = _exact_prefixes(automaton, length, [("", automaton.start)], trunk)
    for splits_left in range(_MAX_SPLITS, -1, -1):
        retry: list[tuple[str, frozenset[int]]] = []
        for prefix, states in todo:
            rem = length - len(prefix)
            samples = [
                prefix + (f"{rnd.randrange(10**rem):0{rem}d}" if rem else "")
                for _ in range(_SAMPLES_PER_PREFIX)
            ]
            if not any(bad_start(s) for s in samples) and _verify_with_phonenumbers(
                region, cc, samples[0]
            ):
                result.append(prefix)
            elif rem > 0 and splits_left > 0:
                retry.extend((prefix + _DIGITS[d], automaton.step(states, d)) for d in range(10))
        if not retry:
            break
        todo = _exact_prefixes(automaton, length, retry, trunk)
    result.sort()
    return result


def _length_weights(region: str, metadata: PhoneMetadata) -> dict[int, float]:
    """NSN lengths to generate for ``region``, with relative weights."""
    if region in _LENGTH_WEIGHTS:
        return dict(_LENGTH_WEIGHTS[region])
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    if example is not None:
        return {len(phonenumbers.national_significant_number(example)): 1.0}
    lengths = (
        (metadata.mobile.possible_length if metadata.mobile else None)
        or (metadata.general_desc.possible_length if metadata.general_desc else None)
        or ()
    )
    return {n: 1.0 for n in lengths if n > 0}


@functools.cache
def region_plan(region: str) -> RegionPlan:
    """Build, once per process, the prefix table of a region. Raises ValueError."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.mobile is None or not metadata.mobile.national_number_pattern:
        raise ValueError(f"region {region!r} has no mobile numbering metadata in phonenumbers")
    try:
        automaton = DigitAutomaton(metadata.mobile.national_number_pattern)
    except PatternError as exc:
        raise ValueError(
            f"region {region!r}: cannot analyse its mobile numbering plan ({exc})"
        ) from None
    cc = str(metadata.country_code)
    rnd = random.Random(f"{_SETUP_SEED}:{region}")

    heads: list[int] = []
    tails: list[int] = []
    weights: list[float] = []
    for length, length_weight in sorted(_length_weights(region, metadata).items()):
        if len(cc) + length > _MAX_DIGITS:
            continue
        try:
            prefixes = _verified_prefixes(region, metadata, automaton, length, rnd)
        except PatternError as exc:
            raise ValueError(f"region {region!r}: {exc}") from None
        if not prefixes:
            continue
        spaces = [10 ** (length - len(p)) for p in prefixes]
        total = float(sum(spaces))
        for p, space in zip(prefixes, spaces, strict=True):
            heads.append(int(cc + p))
            tails.append(length - len(p))
            weights.append(length_weight * space / total)
    if not heads:
        raise ValueError(
            f"region {region!r} has no mobile number range that phonenumbers parses back to "
            f"{region!r} unambiguously (its numbers may resolve to another region with "
            f"calling code +{cc}); choose another region"
        )
    w = np.asarray(weights, dtype=np.float64)
    return RegionPlan(
        region=region,
        heads=np.asarray(heads, dtype=np.int64),
        tail_lengths=np.asarray(tails, dtype=np.int64),
        weights=w / w.sum(),
        capacity=int(sum(10**t for t in tails)),
    )


# --------------------------------------------------------------------------- validation


def _non_negative_int(name: str, value: int) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_count(count: int) -> int:
    return _non_negative_int("count", count)


def check_seed(seed: int) -> int:
    return _non_negative_int("seed", seed)


def check_regions(regions: Sequence[str]) -> tuple[str, ...]:
    if isinstance(regions, (str, bytes)):
        raise ValueError(
            "regions must be a sequence of region codes such as ('NL', 'BE'), not a single string"
        )
    out: list[str] = []
    for r in regions:
        if not isinstance(r, str):
            raise ValueError(f"region codes must be strings, got {type(r).__name__}")
        code = r.strip().upper()
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"unknown region {r!r}: not an ISO 3166-1 region known to phonenumbers"
            )
        if code not in out:
            out.append(code)
    if not out:
        raise ValueError("regions must contain at least one region code")
    return tuple(out)
