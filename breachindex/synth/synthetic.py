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
    ``numbering._LENGTH_WEIGHTS``). Generating the numbers is then fully vectorised with
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
from collections.abc import Sequence
from itertools import repeat

import numpy as np

from ..builder.layouts import DATA_CLASSES
from .numbering import (
    DEFAULT_REGIONS,
    REGION_WEIGHTS,
    UNLISTED_REGION_WEIGHT,
    check_count,
    check_regions,
    check_seed,
    region_plan,
)
from .shape import DATA_CLASS_PROBABILITIES

_MAX_TOPUP_ROUNDS = 64  # rounds of drawing more numbers to replace duplicates before giving up


# --------------------------------------------------------------------------- generation


def _dedupe_keep_order(values: np.ndarray) -> np.ndarray:
    _, first = np.unique(values, return_index=True)
    first.sort()
    return values[first]


def _generate_values(count: int, seed: int, regions: tuple[str, ...]) -> np.ndarray:
    """``count`` distinct int64 values ``int(cc + nsn)``, in generation order."""
    plans = [region_plan(r) for r in regions]
    region_w = np.array(
        [REGION_WEIGHTS.get(r, UNLISTED_REGION_WEIGHT) for r in regions], dtype=np.float64
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
    count = check_count(count)
    seed = check_seed(seed)
    regions = check_regions(regions)
    for r in regions:  # validate regions (and build their tables) even when count == 0
        region_plan(r)
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
