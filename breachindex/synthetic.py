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
    ``phonenumbers`` metadata. For each region, a set of *leading-digit
    prefixes* is worked out once per process from the region's mobile
    ``national_number_pattern``. A prefix is kept only when every sampled
    completion of it matches the pattern, does not start with the region's
    national (trunk) prefix, and survives a ``phonenumbers`` parse, validity
    and E.164 round-trip check. The national significant number length is
    taken from phonenumbers' example mobile number for the region, with
    extra lengths for a few regions (see ``_LENGTH_WEIGHTS``). Generating the
    numbers is then fully vectorised with numpy: pick a region by
    :data:`REGION_WEIGHTS`, pick a prefix in proportion to its share of the
    region's number space, and fill in uniformly random trailing digits.
    ``phonenumbers`` is never called per generated number.

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
import operator
import random
import re
from dataclasses import dataclass
from itertools import repeat
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np
import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat, PhoneNumberType

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
#: per-country files, e.g. EG 44,823,547; IT 35,677,323; US 32,315,282;
#: SA 28,804,686; FR 19,848,559; MA 18,939,198; GB 11,522,327;
#: DZ 11,505,898), rounded to 0.1M. These are used only as relative sampling
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

#: Regions used by default. They are the largest leak regions plus the EU
#: members SOMI's campaign cares about most. Every one of them has its own
#: country calling code, and none has a national-prefix transform rule
#: (AR, BR and MX are left out on purpose, though they do pass the per-prefix
#: check). The weights of the excluded regions are not shown here.
DEFAULT_REGIONS: tuple[str, ...] = tuple(REGION_WEIGHTS)

#: Data classes a leaked record can expose, named in the Have I Been Pwned style.
DATA_CLASSES: tuple[str, ...] = (
    "phone_number",
    "facebook_id",
    "name",
    "gender",
    "location",
    "hometown",
    "relationship_status",
    "employer",
    "email_address",
    "date_of_birth",
    "account_dates",
)

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
_EXTRA_RANDOM_SAMPLES = 12  # random completions per trie node, on top of the 100 structured ones
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


def _prefix_predicate(metadata: PhoneMetadata):
    """Return ``ok(nsns) -> list[bool]``: which NSNs are mobile numbers that parse unambiguously.

    An NSN passes if it fully matches the region's mobile pattern, does not
    start with the national (trunk) prefix, and is not (partly) consumed by
    the region's ``national_prefix_for_parsing`` rule. Works on a batch of
    NSNs, so set-up spends little time on Python call overhead.
    """
    fullmatch = re.compile(metadata.mobile.national_number_pattern).fullmatch
    bad_starts = []
    if metadata.national_prefix:
        bad_starts.append(re.escape(metadata.national_prefix))
    if metadata.national_prefix_for_parsing:
        # "(?<=.)" keeps only matches that consume at least one digit.
        bad_starts.append(f"(?:{metadata.national_prefix_for_parsing})(?<=.)")
    if not bad_starts:

        def ok(nsns: Sequence[str]) -> list[bool]:
            return [fullmatch(s) is not None for s in nsns]

        return ok

    bad_start = re.compile("|".join(bad_starts)).match

    def ok(nsns: Sequence[str]) -> list[bool]:  # noqa: F811 - one of two variants
        return [fullmatch(s) is not None and bad_start(s) is None for s in nsns]

    return ok


_DIGITS = "0123456789"
_TWO_DIGITS = tuple(a + b for a in _DIGITS for b in _DIGITS)


class _TailPool:
    """Cheap, deterministic random digit strings for set-up sampling."""

    def __init__(self, rnd: random.Random, size: int = 1024) -> None:
        self._rnd = rnd
        self._size = size
        self._pools: dict[int, list[str]] = {}
        self._pos = 0

    def take(self, length: int, k: int) -> list[str]:
        if length <= 0:
            return [""] * k
        pool = self._pools.get(length)
        if pool is None:
            pool = [
                f"{self._rnd.randrange(10**length):0{length}d}" for _ in range(self._size)
            ]
            self._pools[length] = pool
        start = self._pos
        self._pos = (start + k + self._rnd.randrange(97)) % self._size
        out = pool[start : start + k]
        if len(out) < k:
            out += pool[: k - len(out)]
        return out


def _find_prefixes(ok, length: int, pool: _TailPool, roots: Sequence[str] = ("",)) -> list[str]:
    """Find the prefixes of ``length``-digit NSNs whose sampled completions all pass ``ok``.

    This is a digit-trie search from ``roots``. A node (prefix) is tested with
    all 100 values of its next two digits, each followed by random digits,
    plus ``_EXTRA_RANDOM_SAMPLES`` fully random completions. If every sample
    passes, the prefix is accepted. Otherwise the search goes down into each
    next digit that had at least one passing sample. Nodes no more than three
    digits from the full length are checked exhaustively.
    """
    accepted: list[str] = []
    stack: list[str] = list(reversed(roots))
    while stack:
        prefix = stack.pop()
        rem = length - len(prefix)
        if rem <= 3:
            if all(ok([prefix + t for t in _product_strings(rem)])):
                accepted.append(prefix)
            else:
                for d in _DIGITS:  # exhaustive per child digit
                    child = prefix + d
                    if all(ok([child + t for t in _product_strings(rem - 1)])):
                        accepted.append(child)
            continue
        tails = pool.take(rem - 2, 100)
        passed = ok([prefix + ab + t for ab, t in zip(_TWO_DIGITS, tails)])
        if all(passed) and all(
            ok([prefix + t for t in pool.take(rem, _EXTRA_RANDOM_SAMPLES)])
        ):
            accepted.append(prefix)
            continue
        for i in range(9, -1, -1):  # push in reverse: pop in ascending digit order
            if any(passed[10 * i : 10 * i + 10]):
                stack.append(prefix + _DIGITS[i])
    return accepted


@functools.lru_cache(maxsize=None)
def _product_strings(n: int) -> tuple[str, ...]:
    """All ``n``-digit strings, ``0 <= n <= 3``."""
    if n == 0:
        return ("",)
    return tuple(f"{i:0{n}d}" for i in range(10**n))


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
    if len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(parsed.country_code, ())) > 1:
        return phonenumbers.region_code_for_number(parsed) == region
    return True


def _verified_prefixes(region: str, cc: str, ok, length: int, pool: _TailPool) -> list[str]:
    """Trie prefixes that also pass one phonenumbers check each.

    A prefix that fails the check is split into its next digits and searched
    again. At full length, a failing number is dropped.
    """
    result: list[str] = []
    todo = _find_prefixes(ok, length, pool)
    while todo:
        retry: list[str] = []
        for p in todo:
            rem = length - len(p)
            if _verify_with_phonenumbers(region, cc, p + pool.take(rem, 1)[0]):
                result.append(p)
            elif rem > 0:
                retry.extend(p + d for d in _DIGITS)
        todo = _find_prefixes(ok, length, pool, retry) if retry else []
    result.sort()
    return result


def _length_weights(region: str, metadata: PhoneMetadata) -> dict[int, float]:
    if region in _LENGTH_WEIGHTS:
        return dict(_LENGTH_WEIGHTS[region])
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    if example is not None:
        return {len(phonenumbers.national_significant_number(example)): 1.0}
    lengths = metadata.mobile.possible_length or metadata.general_desc.possible_length or ()
    lengths = [n for n in lengths if n > 0]
    return {n: 1.0 for n in lengths}


@functools.lru_cache(maxsize=None)
def _region_plan(region: str) -> _RegionPlan:
    """Build, once per process, the prefix table of a region. Raises ValueError."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.mobile is None or not metadata.mobile.national_number_pattern:
        raise ValueError(f"region {region!r} has no mobile numbering metadata in phonenumbers")
    cc = str(metadata.country_code)
    ok = _prefix_predicate(metadata)
    pool = _TailPool(random.Random(f"{_SETUP_SEED}:{region}"))

    heads: list[int] = []
    tails: list[int] = []
    weights: list[float] = []
    for length, length_weight in sorted(_length_weights(region, metadata).items()):
        if len(cc) + length > _MAX_DIGITS:
            continue
        prefixes = _verified_prefixes(region, cc, ok, length, pool)
        if not prefixes:
            continue
        spaces = [10 ** (length - len(p)) for p in prefixes]
        total = float(sum(spaces))
        for p, space in zip(prefixes, spaces):
            heads.append(int(cc + p))
            tails.append(length - len(p))
            weights.append(length_weight * space / total)
    if not heads:
        raise ValueError(
            f"region {region!r} has no mobile number range that parses unambiguously; "
            "choose another region"
        )
    w = np.asarray(weights, dtype=np.float64)
    tail_arr = np.asarray(tails, dtype=np.int64)
    return _RegionPlan(
        region=region,
        heads=np.asarray(heads, dtype=np.int64),
        tail_lengths=tail_arr,
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
            raise ValueError(f"unknown region {r!r}: not an ISO 3166-1 region known to phonenumbers")
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
    probs = np.concatenate([rw * p.weights for rw, p in zip(region_w, plans)])
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
    else:  # pragma: no cover - only with pathological region/count choices
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
    random subset of DATA_CLASSES that always contains 'phone_number' (facebook_id and name almost
    always, gender often, email/date_of_birth rarely, etc.: make the probabilities plausible and
    documented in a dict constant).

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
    probs = np.array([DATA_CLASS_PROBABILITIES[c] for c in optional], dtype=np.float64)
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(1,)))
    )
    bits = rng.random((len(numbers), len(optional))) < probs
    masks = bits @ (np.int64(1) << np.arange(len(optional), dtype=np.int64))
    sets = _class_sets()
    return list(zip(numbers, repeat(breach), map(sets.__getitem__, masks.tolist())))
