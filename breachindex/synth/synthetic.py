"""Synthetic, leak-shaped test data: phone numbers and breach records.

breachindex never touches real leak data. Tests, demos and benchmarks use the
data this module generates instead. The data is shaped like the April 2021
Facebook leak, but no real person's record is in it.

Phone numbers
    :func:`synthetic_numbers` returns distinct numbers in the leak's own form:
    country calling code followed by the national significant number, digits
    only, no ``+`` (for example ``'31612345678'``). This is exactly
    ``phonenumbers.format_number(p, E164)`` without the leading ``+``.

    The numbers come from the real mobile numbering-plan ranges in the
    ``phonenumbers`` metadata. Once per process and region, the region's
    mobile ``national_number_pattern`` is compiled into a small automaton.
    From it comes the exact set of *leading-digit prefixes* after which every
    completion to the chosen length is a valid mobile number. Prefixes that
    start with the national (trunk) prefix are left out, and so are prefixes
    that phonenumbers' national-prefix stripping could touch. Each remaining
    prefix is also checked once with ``phonenumbers`` itself: possible, valid
    for the region, resolves to the region, and E.164 round trip. The national
    significant number length is the length of phonenumbers' example mobile
    number for the region, with extra lengths for a few regions (see
    ``_LENGTH_WEIGHTS``). Generating the numbers is then fully vectorised with
    numpy: pick a region by :data:`REGION_WEIGHTS`, pick a prefix in
    proportion to its share of the region's number space, and fill in
    uniformly random trailing digits. ``phonenumbers`` is never called per
    generated number.

    Output is deterministic for a given ``seed``, arguments and installed
    ``phonenumbers`` metadata version. A metadata update can change the
    prefix tables and therefore the output.

    Caution: the numbers are random numbers in *allocated* mobile ranges, so
    some of them will belong to real subscribers. They are synthetic only in
    the sense that no real data is attached to them. Never call, text (for
    example a one-time verification code) or otherwise contact a generated
    number. Test and demo set-ups must use a fake SMS gateway.

Records
    :func:`synthetic_records` pairs each number with a breach name and a random
    set of data classes (:data:`DATA_CLASSES`). Each class is included on its
    own with the probability in :data:`DATA_CLASS_PROBABILITIES`.

This module never logs or prints phone numbers. Its error messages never
contain any number either.
"""

from __future__ import annotations

import functools
import gc
import operator
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from types import MappingProxyType

import numpy as np
import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat, PhoneNumberType

from ..builder.layouts import DATA_CLASSES as _LAYOUT_DATA_CLASSES

__all__ = [
    "DEFAULT_REGIONS",
    "DATA_CLASSES",
    "REGION_WEIGHTS",
    "DATA_CLASS_PROBABILITIES",
    "synthetic_numbers",
    "synthetic_records",
]

#: Approximate number of leaked accounts per region, in millions, as publicly
#: reported for the April 2021 Facebook leak (press reports citing the leak's
#: per-country files, e.g. EG 44,823,547; IT ~35.68M; US 32,315,282;
#: SA 28,804,686; FR 19,848,559; MA 18,939,198; GB 11,522,327;
#: DZ 11,505,898), rounded to 0.1M. The other figures (TN, TR, ES, NG, IN,
#: DE, NL, BE) are rounded values from the same kind of reporting and were
#: not checked against a source here. They are used only as relative sampling
#: weights, so only the ratios matter. A region that is passed to the
#: generators but is not listed here gets ``_UNLISTED_REGION_WEIGHT``.
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
_UNLISTED_REGION_WEIGHT: float = 1.0

#: Regions used by default: the largest leak regions plus the EU members that
#: SOMI's campaign cares about most. Each one has its own country calling
#: code. None has national-format quirks (AR's "9"/"15" mobile transform,
#: BR's carrier codes, MX's former "1" mobile prefix), and these regions are
#: left out on purpose. Any region phonenumbers supports can still be passed
#: explicitly.
DEFAULT_REGIONS: tuple[str, ...] = tuple(REGION_WEIGHTS)

#: Data classes a leaked record can expose (the names the index uses: breachindex.builder.layouts).
DATA_CLASSES: tuple[str, ...] = _LAYOUT_DATA_CLASSES

#: Probability that a synthetic record exposes each data class. Each class is
#: drawn on its own. The values are plausible estimates, not measurements.
#: Every leaked row has a phone number and nearly every row has a Facebook ID
#: and a name. Surfshark's analysis of the leak reported location in ~61% and
#: employer in ~18% of profiles. Have I Been Pwned found only ~2.5M email
#: addresses among 533M rows (~0.5%); Surfshark's estimate was higher (~4.8%).
#: Birth dates are rare. The remaining values are informed guesses.
DATA_CLASS_PROBABILITIES: Mapping[str, float] = MappingProxyType(
    {
        "phone_number": 1.0,
        "facebook_id": 0.995,
        "name": 0.98,
        "gender": 0.85,
        "location": 0.60,
        "hometown": 0.45,
        "relationship_status": 0.30,
        "employer": 0.18,
        "email_address": 0.005,
        "date_of_birth": 0.02,
        "account_dates": 0.50,
    }
)

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
_MAX_TOPUP_ROUNDS = 64


@dataclass(frozen=True)
class _RegionPlan:
    """Pre-computed numbering ranges for one region (set-up output)."""

    region: str
    heads: np.ndarray  # int64: int(country code digits + prefix digits)
    tail_lengths: np.ndarray  # int64: number of random digits after each prefix
    weights: np.ndarray  # float64: sampling weight of each prefix, sums to 1
    capacity: int  # how many distinct numbers the ranges hold


# --------------------------------------------------------------------------- set-up
#
# A region's mobile ``national_number_pattern`` is a regular expression over
# digits. phonenumbers uses only a small subset of regex syntax: digits, \d,
# [...] classes, (...) and (?:...) groups, |, ?, {n} and {n,m}. The code below
# parses that subset into a small NFA. It then walks the digit trie for a fixed
# length and keeps each shortest prefix after which *every* completion
# matches. That gives an exact split of the valid mobile number space into
# "prefix + free digits" blocks, with no sampling. A pattern outside the
# subset is rejected with ValueError. No pattern in the current metadata is.

_DIGITS = "0123456789"
_ALL_DIGITS: frozenset[int] = frozenset(range(10))
_MAX_PREFIXES_PER_LENGTH = 50_000


class _PatternError(ValueError):
    """The numbering pattern uses regex syntax that this module cannot analyse."""


class _PatternParser:
    """Recursive-descent parser for the phonenumbers regex subset (see above)."""

    def __init__(self, pattern: str) -> None:
        self.s = pattern
        self.i = 0

    def parse(self) -> tuple:
        node = self._alt()
        if self.i != len(self.s):
            raise _PatternError(f"unexpected {self.s[self.i]!r} at offset {self.i}")
        return node

    def _peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def _alt(self) -> tuple:
        branches = [self._cat()]
        while self._peek() == "|":
            self.i += 1
            branches.append(self._cat())
        return ("alt", branches) if len(branches) > 1 else branches[0]

    def _cat(self) -> tuple:
        items = []
        while self._peek() not in ("", "|", ")"):
            items.append(self._quantified(self._atom()))
        return ("cat", items)

    def _atom(self) -> tuple:
        c = self._peek()
        if c == "(":
            self.i += 1
            if self.s.startswith("?:", self.i):
                self.i += 2
            elif self._peek() == "?":
                raise _PatternError("unsupported group construct")
            node = self._alt()
            if self._peek() != ")":
                raise _PatternError("unbalanced parenthesis")
            self.i += 1
            return node
        if c == "[":
            return self._class()
        if self.s.startswith("\\d", self.i):
            self.i += 2
            return ("set", _ALL_DIGITS)
        if c and c in _DIGITS:
            self.i += 1
            return ("set", frozenset((int(c),)))
        raise _PatternError(f"unsupported syntax {c!r} at offset {self.i}")

    def _class(self) -> tuple:
        self.i += 1  # '['
        if self._peek() == "^":
            raise _PatternError("negated classes are not supported")
        digits: set[int] = set()
        while self._peek() != "]":
            if self.s.startswith("\\d", self.i):
                digits.update(_ALL_DIGITS)
                self.i += 2
                continue
            c = self._peek()
            if not c or c not in _DIGITS:
                raise _PatternError(f"unsupported class member {c!r}")
            self.i += 1
            if self._peek() == "-" and self.s[self.i + 1 : self.i + 2] != "]":
                hi = self.s[self.i + 1 : self.i + 2]
                if not hi or hi not in _DIGITS:
                    raise _PatternError("bad class range")
                digits.update(range(int(c), int(hi) + 1))
                self.i += 2
            else:
                digits.add(int(c))
        self.i += 1  # ']'
        return ("set", frozenset(digits))

    def _quantified(self, node: tuple) -> tuple:
        c = self._peek()
        if c == "?":
            self.i += 1
            node = ("rep", node, 0, 1)
        elif c == "*":
            self.i += 1
            node = ("rep", node, 0, None)
        elif c == "+":
            self.i += 1
            node = ("rep", node, 1, None)
        elif c == "{":
            end = self.s.find("}", self.i)
            if end < 0:
                raise _PatternError("unterminated quantifier")
            body = self.s[self.i + 1 : end]
            self.i = end + 1
            lo_s, sep, hi_s = body.partition(",")
            if not lo_s.isdigit() or (hi_s and not hi_s.isdigit()):
                raise _PatternError(f"bad quantifier {{{body}}}")
            lo = int(lo_s)
            hi = (int(hi_s) if hi_s else None) if sep else lo
            node = ("rep", node, lo, hi)
        else:
            return node
        if self._peek() == "?":  # lazy modifier: same language
            self.i += 1
        return node


class _DigitAutomaton:
    """Thompson NFA over digits, with memoised subset steps and fixed-length
    universality and emptiness tests."""

    def __init__(self, pattern: str) -> None:
        self._eps: list[list[int]] = []
        self._edges: list[list[tuple[frozenset[int], int]]] = []
        start, self._final = self._build(_PatternParser(pattern).parse())
        self.start = self._closure((start,))
        self._step_memo: dict[tuple[frozenset[int], int], frozenset[int]] = {}
        self._univ_memo: dict[tuple[frozenset[int], int], bool] = {}
        self._poss_memo: dict[tuple[frozenset[int], int], bool] = {}

    def _new(self) -> int:
        self._eps.append([])
        self._edges.append([])
        return len(self._eps) - 1

    def _build(self, node: tuple) -> tuple[int, int]:
        kind = node[0]
        if kind == "set":
            s, e = self._new(), self._new()
            self._edges[s].append((node[1], e))
            return s, e
        if kind == "cat":
            s = cur = self._new()
            for item in node[1]:
                a, b = self._build(item)
                self._eps[cur].append(a)
                cur = b
            return s, cur
        if kind == "alt":
            s, e = self._new(), self._new()
            for branch in node[1]:
                a, b = self._build(branch)
                self._eps[s].append(a)
                self._eps[b].append(e)
            return s, e
        _, sub, lo, hi = node  # "rep"
        s = cur = self._new()
        for _ in range(lo):
            a, b = self._build(sub)
            self._eps[cur].append(a)
            cur = b
        if hi is None:  # loop back: cur is both the loop head and the exit
            a, b = self._build(sub)
            self._eps[cur].append(a)
            self._eps[b].append(cur)
            return s, cur
        e = self._new()
        self._eps[cur].append(e)
        for _ in range(hi - lo):
            a, b = self._build(sub)
            self._eps[cur].append(a)
            cur = b
            self._eps[cur].append(e)
        return s, e

    def _closure(self, states) -> frozenset[int]:
        seen = set(states)
        todo = list(states)
        while todo:
            for t in self._eps[todo.pop()]:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return frozenset(seen)

    def step(self, states: frozenset[int], digit: int) -> frozenset[int]:
        key = (states, digit)
        out = self._step_memo.get(key)
        if out is None:
            out = self._closure([t for s in states for ds, t in self._edges[s] if digit in ds])
            self._step_memo[key] = out
        return out

    def universal(self, states: frozenset[int], remaining: int) -> bool:
        """Does every ``remaining``-digit string lead from ``states`` to a match?"""
        key = (states, remaining)
        out = self._univ_memo.get(key)
        if out is None:
            if remaining == 0:
                out = self._final in states
            else:
                out = all(self.universal(self.step(states, d), remaining - 1) for d in range(10))
            self._univ_memo[key] = out
        return out

    def possible(self, states: frozenset[int], remaining: int) -> bool:
        """Does at least one ``remaining``-digit string lead from ``states`` to a match?"""
        key = (states, remaining)
        out = self._poss_memo.get(key)
        if out is None:
            if not states:
                out = False
            elif remaining == 0:
                out = self._final in states
            else:
                out = any(self.possible(self.step(states, d), remaining - 1) for d in range(10))
            self._poss_memo[key] = out
        return out


def _exact_prefixes(
    automaton: _DigitAutomaton,
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
                raise _PatternError("numbering plan too fragmented")
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
    automaton: _DigitAutomaton,
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
def _region_plan(region: str) -> _RegionPlan:
    """Build, once per process, the prefix table of a region. Raises ValueError."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.mobile is None or not metadata.mobile.national_number_pattern:
        raise ValueError(f"region {region!r} has no mobile numbering metadata in phonenumbers")
    try:
        automaton = _DigitAutomaton(metadata.mobile.national_number_pattern)
    except _PatternError as exc:
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
        except _PatternError as exc:
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
    return _RegionPlan(
        region=region,
        heads=np.asarray(heads, dtype=np.int64),
        tail_lengths=np.asarray(tails, dtype=np.int64),
        weights=w / w.sum(),
        capacity=int(sum(10**t for t in tails)),
    )


# --------------------------------------------------------------------------- validation


def _check_count(count: int) -> int:
    if isinstance(count, bool):
        raise TypeError("count must be an int, not bool")
    try:
        count = operator.index(count)
    except TypeError:
        raise TypeError(f"count must be an int, got {type(count).__name__}") from None
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    return count


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool):
        raise TypeError("seed must be an int, not bool")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"seed must be an int, got {type(seed).__name__}") from None
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return seed


def _check_regions(regions: Sequence[str]) -> tuple[str, ...]:
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


# --------------------------------------------------------------------------- generation


def _dedupe_keep_order(values: np.ndarray) -> np.ndarray:
    _, first = np.unique(values, return_index=True)
    first.sort()
    return values[first]


def _generate_values(count: int, seed: int, regions: tuple[str, ...]) -> np.ndarray:
    """``count`` distinct int64 values ``int(cc + nsn)``, in generation order."""
    plans = [_region_plan(r) for r in regions]
    region_w = np.array(
        [REGION_WEIGHTS.get(r, _UNLISTED_REGION_WEIGHT) for r in regions], dtype=np.float64
    )
    region_w /= region_w.sum()
    capacity = sum(p.capacity for p in plans)
    if count > capacity // 2:
        raise ValueError(
            f"count={count} is too large for regions {regions!r}: "
            f"they hold only about {capacity} distinct numbers"
        )

    heads = np.concatenate([p.heads for p in plans])
    tail_lengths = np.concatenate([p.tail_lengths for p in plans])
    probs = np.concatenate([rw * p.weights for rw, p in zip(region_w, plans, strict=True)])
    cdf = np.cumsum(probs)
    cdf /= cdf[-1]
    scale = np.power(10, tail_lengths).astype(np.int64)
    last = len(cdf) - 1

    rng = np.random.Generator(np.random.PCG64(seed))
    values = np.empty(0, dtype=np.int64)
    for _ in range(_MAX_TOPUP_ROUNDS):
        missing = count - values.size
        if missing <= 0:
            break
        n = missing + missing // 64 + 16  # a little headroom for duplicates
        idx = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), last)
        span = scale[idx]
        new = heads[idx] * span + rng.integers(0, span, dtype=np.int64)
        values = _dedupe_keep_order(np.concatenate([values, new]))
    if values.size < count:  # pragma: no cover - needs a count close to the capacity
        raise RuntimeError("could not generate enough distinct numbers; lower count")
    return values[:count]


def synthetic_numbers(
    count: int, *, seed: int, regions: Sequence[str] = DEFAULT_REGIONS
) -> list[str]:
    """`count` DISTINCT phone numbers in the leak's own form: country calling code + national
    significant number digits, no '+', e.g. '31612345678'. Deterministic for a given seed.

    Regions are sampled in proportion to :data:`REGION_WEIGHTS`. A region that
    is not listed there gets a weight of 1.0 (millions). Numbers are random
    within real mobile ranges from the ``phonenumbers`` metadata, so each one
    parses, is possible, round-trips through E.164 and is valid for its region
    (see the module docstring). The output order is the random generation
    order, not sorted.

    Args:
        count: how many numbers to return (>= 0).
        seed: non-negative integer seed. The same seed and arguments give the
            same list.
        regions: ISO 3166-1 alpha-2 region codes known to phonenumbers. Case is
            ignored and duplicates are dropped.

    Raises:
        ValueError: negative count or seed; empty, unknown or unusable region;
            count too large for the regions' number space.
        TypeError: count or seed is not an integer.
    """
    count = _check_count(count)
    seed = _check_seed(seed)
    regions = _check_regions(regions)
    for r in regions:  # validate regions (and build their tables) even when count == 0
        _region_plan(r)
    if count == 0:
        return []
    return list(map(str, _generate_values(count, seed, regions).tolist()))


@functools.lru_cache(maxsize=1)
def _class_sets() -> tuple[frozenset[str], ...]:
    """Frozensets for all 2**10 combinations of the optional classes (shared, immutable)."""
    optional = DATA_CLASSES[1:]
    return tuple(
        frozenset(("phone_number", *(c for i, c in enumerate(optional) if mask >> i & 1)))
        for mask in range(1 << len(optional))
    )


def synthetic_records(
    count: int,
    *,
    seed: int,
    breach: str = "facebook-2021",
    regions: Sequence[str] = DEFAULT_REGIONS,
) -> list[tuple[str, str, frozenset[str]]]:
    """(phone, breach, data_classes) records: phone from synthetic_numbers, data classes a realistic
    random subset of DATA_CLASSES that always contains 'phone_number'. facebook_id and name are
    almost always present, gender often, email_address and date_of_birth rarely. The
    probabilities are in :data:`DATA_CLASS_PROBABILITIES`.

    The phones are exactly ``synthetic_numbers(count, seed=seed, regions=regions)``,
    in the same order. Data classes are drawn on their own from
    :data:`DATA_CLASS_PROBABILITIES`, using a random stream that is separate
    from the number stream and still derived from ``seed``. Records with the
    same class combination share one frozenset object.

    Raises:
        ValueError: as for :func:`synthetic_numbers`, or an empty breach name.
        TypeError: count or seed is not an integer, or breach is not a string.
    """
    if not isinstance(breach, str):
        raise TypeError(f"breach must be a str, got {type(breach).__name__}")
    if not breach.strip():
        raise ValueError("breach must be a non-empty name such as 'facebook-2021'")
    numbers = synthetic_numbers(count, seed=seed, regions=regions)
    if not numbers:
        return []
    optional = DATA_CLASSES[1:]
    probs = np.array([DATA_CLASS_PROBABILITIES[c] for c in optional], dtype=np.float32)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(1,))))
    bits = rng.random((len(numbers), len(optional)), dtype=np.float32) < probs
    masks = (bits @ (np.int64(1) << np.arange(len(optional), dtype=np.int64))).tolist()
    del bits
    sets = _class_sets()
    # Building a million tuples makes CPython's cyclic GC rescan the growing
    # heap again and again (about 7x slower). The tuples cannot form cycles,
    # so pause the collector while they are built and restore its state after.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return list(zip(numbers, repeat(breach), map(sets.__getitem__, masks)))
    finally:
        if gc_was_enabled:
            gc.enable()
