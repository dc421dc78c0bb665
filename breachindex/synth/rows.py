"""The rows of a synthetic leak before they become text: the plan (rows per region), each
region's number space as a keyed permutation, and the per-chunk draws (role, number, classes)."""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..builder.layouts import Layout
from .numbering import DEFAULT_REGIONS, REGION_WEIGHTS, UNLISTED_REGION_WEIGHT, check_count, check_regions, region_plan
from .shape import (
    CHUNK_LINES,
    CLASS_BIT,
    DATA_CLASS_PROBABILITIES,
    LAYOUTS,
    OPTIONAL_CLASSES,
    REGION_FILL_LIMIT,
    ROLE_BADUTF8,
    ROLE_NORMAL,
    ROLE_PLUS,
    STREAM_CORE,
    STREAM_PERM,
    layout_name,
    random_stream,
    region_key,
)

# --------------------------------------------------------------------------- number space


_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_SH32 = np.uint64(32)


class _Pool:
    """The mobile numbers of one region with one total length, as a keyed permutation.

    ``numbers(k)`` maps counters ``k`` in ``[0, capacity)`` one to one onto the pool's numbers:
    a 4-round (unbalanced, when the bit count is odd) Feistel network over the smallest power
    of two that holds the capacity, cycle-walked back into range (fewer than two passes on
    average), then split over the prefix blocks of :func:`numbering.region_plan`.
    """

    def __init__(self, heads: np.ndarray, tails: np.ndarray, keys: np.ndarray) -> None:
        sizes = np.power(10, tails).astype(np.int64)
        self.heads = heads.astype(np.int64)
        self.scale = sizes
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.capacity = int(sizes.sum())
        self.uniform = int(sizes[0]) if bool((sizes == sizes[0]).all()) else 0
        # block lookup table: buckets no wider than the smallest block, so a bucket meets at
        # most two blocks (one comparison fixes the guess); searchsorted if it would be large
        shift = int(sizes.min()).bit_length() - 1
        buckets = ((self.capacity - 1) >> shift) + 1
        self.shift = shift if buckets <= 1 << 20 else -1
        if self.shift >= 0:
            self.bucket_block = np.searchsorted(self.starts, np.arange(buckets, dtype=np.int64) << shift,
                                                side="right") - 1
        self.next_start = np.append(self.starts[1:], self.capacity)
        bits = max(2, (self.capacity - 1).bit_length())
        self.split = (bits // 2, bits - bits // 2)  # bits of the left and right part
        self.keys = [np.uint64(k) for k in keys.tolist()]

    def _feistel(self, x: np.ndarray) -> np.ndarray:
        lbits, rbits = self.split
        left = x >> np.uint64(rbits)
        right = x & np.uint64((1 << rbits) - 1)
        for key in self.keys:  # (L, R) -> (R, L ^ F(R)); the part sizes swap every round
            t = right ^ key
            t *= _M1
            t ^= t >> _SH32
            t *= _M2
            t >>= np.uint64(64 - lbits)
            t ^= left
            left, right = right, t
            lbits, rbits = rbits, lbits
        left <<= np.uint64(rbits)
        left |= right
        return left

    def numbers(self, k: np.ndarray) -> np.ndarray:
        x = self._feistel(k.astype(np.uint64))
        cap = np.uint64(self.capacity)
        bad = np.flatnonzero(x >= cap)
        while bad.size:
            y = self._feistel(x[bad])
            x[bad] = y
            bad = bad[y >= cap]
        p = x.view(np.int64)
        if self.heads.size == 1:
            return self.heads[0] * self.scale[0] + p
        if self.uniform:
            j, off = np.divmod(p, self.uniform)
            return self.heads[j] * self.uniform + off
        if self.shift >= 0:
            j = self.bucket_block[p >> self.shift]
            j += p >= self.next_start[j]
        else:
            j = np.searchsorted(self.starts, p, side="right") - 1
        return self.heads[j] * self.scale[j] + (p - self.starts[j])


@dataclass(frozen=True)
class _RegionSpace:
    region: str
    pools: tuple[_Pool, ...]
    shares: np.ndarray  # float64, sums to 1
    limit: int  # most lines this region may have


@functools.lru_cache(maxsize=256)
def _region_space(region: str, seed: int) -> _RegionSpace:
    plan = region_plan(region)
    total_len = np.array([len(str(h)) for h in plan.heads.tolist()], dtype=np.int64) + plan.tail_lengths
    pools: list[_Pool] = []
    shares: list[float] = []
    for length in sorted(set(total_len.tolist())):
        sel = total_len == length
        keys = np.random.SeedSequence(seed, spawn_key=(STREAM_PERM, region_key(region), length))
        pools.append(_Pool(plan.heads[sel], plan.tail_lengths[sel], keys.generate_state(4, np.uint64)))
        shares.append(float(plan.weights[sel].sum()))
    w = np.asarray(shares, dtype=np.float64)
    w /= w.sum()
    limit = int(REGION_FILL_LIMIT * min(p.capacity / s for p, s in zip(pools, w.tolist(), strict=True)))
    return _RegionSpace(region, tuple(pools), w, limit)


# --------------------------------------------------------------------------- the plan


def _largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    w = np.asarray(weights, dtype=np.float64)
    quotas = total * w / w.sum()
    base = np.floor(quotas).astype(np.int64)
    rest = total - int(base.sum())
    if rest > 0:
        order = np.argsort(-(quotas - base), kind="stable")
        base[order[:rest]] += 1
    return [int(x) for x in base.tolist()]


def _check_regions(regions: Sequence[str] | None) -> tuple[str, ...]:
    return DEFAULT_REGIONS if regions is None else check_regions(regions)


def leak_plan(rows: int, *, regions: Sequence[str] | None = None) -> dict[str, int]:
    """Data lines per region for ``rows`` rows: the 2021 leak's mix (REGION_WEIGHTS) scaled to
    ``rows`` by largest remainder, each region capped at 95 % of its mobile number space (the
    excess is spread over the others by weight). Regions with 0 rows are left out. Order: the
    order of ``regions`` (default :data:`synthetic.DEFAULT_REGIONS`), which is also the order in
    which files are written and keys are yielded.

    Raises ValueError if the regions cannot hold ``rows`` numbers.
    """
    rows = check_count(rows)
    regs = _check_regions(regions)
    limits = {r: _region_space(r, 0).limit for r in regs}  # capacities do not depend on the seed
    weights = {r: float(REGION_WEIGHTS.get(r, UNLISTED_REGION_WEIGHT)) for r in regs}
    counts: dict[str, int] = {}
    free = list(regs)
    remaining = rows
    while True:
        alloc = _largest_remainder(remaining, [weights[r] for r in free]) if free else []
        over = [r for r, n in zip(free, alloc, strict=True) if n > limits[r]]
        if not over:
            counts.update(zip(free, alloc, strict=True))
            break
        for r in over:
            counts[r] = limits[r]
            remaining -= limits[r]
            free.remove(r)
        if not free and remaining > 0:
            raise ValueError(f"rows={rows} is more than regions {regs!r} can hold distinct numbers for")
    return {r: counts[r] for r in regs if counts.get(r, 0) > 0}


# --------------------------------------------------------------------------- core generation


def _class_thresholds(fill: float = 1.0) -> np.ndarray:
    p = np.array([DATA_CLASS_PROBABILITIES[c] for c in OPTIONAL_CLASSES], dtype=np.float64) * fill
    return np.minimum(np.round(p * 65536), 65536).astype(np.uint32)


def _layout_mask(layout: Layout) -> int:
    mask = CLASS_BIT["phone_number"]
    for i in range(len(layout.fields)):
        mask |= layout.class_mask_of_field(i)
    return mask


@dataclass
class ChunkCore:
    role: np.ndarray  # int8, N_ROLES codes
    values: np.ndarray  # int64 numbers (meaningless for damaged phones)
    masks: np.ndarray  # uint32 data-class masks (meaningful for record lines)
    fresh: np.ndarray  # bool: a new distinct record
    pool: np.ndarray | None  # number pool (length) of each line, None for one-pool regions


class RegionGen:
    """The record stream of one region: roles, numbers and class masks, chunk by chunk."""

    def __init__(self, region: str, lines: int, *, seed: int, quirk_rate: float,
                 duplicate_rate: float, space: _RegionSpace | None = None, fill: float = 1.0) -> None:
        self.region = region
        self.lines = lines
        self.seed = seed
        self.rkey = region_key(region)
        self.layout = LAYOUTS[layout_name(region)]
        self.space = space if space is not None else _region_space(region, seed)
        self.counters = [0] * len(self.space.pools)
        rates = [duplicate_rate] + [quirk_rate] * 7
        self.role_edges = np.round(np.cumsum(rates) * 2.0**32).astype(np.uint64)
        self.pool_cdf = np.cumsum(self.space.shares)
        thresholds = _class_thresholds(fill)  # fill < 1: leaner lines, each optional class rarer
        lmask = _layout_mask(self.layout)
        # (column, threshold, bit) for the optional classes this layout can carry
        self.class_plan = [(i, int(thresholds[i]), CLASS_BIT[c])
                           for i, c in enumerate(OPTIONAL_CLASSES) if lmask & CLASS_BIT[c]]

    @property
    def chunks(self) -> int:
        return -(-self.lines // CHUNK_LINES)

    def core(self, chunk: int) -> ChunkCore:
        n = min(CHUNK_LINES, self.lines - chunk * CHUNK_LINES)
        rng = random_stream(self.seed, STREAM_CORE, self.rkey, chunk)
        raw = rng.bit_generator.random_raw(n * 3).astype("<u8", copy=False)
        u16 = raw.view("<u2").reshape(n, 12)
        u32 = raw.view("<u4").reshape(n, 6)[:, 5]  # = u16 columns 10 and 11
        role = np.searchsorted(self.role_edges, u32, side="right").astype(np.int8)
        # masks: phone always, each optional class on its own
        masks = np.full(n, CLASS_BIT["phone_number"], dtype=np.uint32)
        for col, thr, bit in self.class_plan:
            if thr >= 65536:
                masks |= np.uint32(bit)
            else:
                masks |= (u16[:, col] < thr).astype(np.uint32) * np.uint32(bit)
        # pools (only regions with more than one number length draw for it)
        npools = len(self.space.pools)
        pool = None
        if npools > 1:
            pool = np.searchsorted(self.pool_cdf[:-1], rng.random(n), side="right")
        fresh = (role == ROLE_NORMAL) | (role == ROLE_PLUS) | (role == ROLE_BADUTF8)
        values = np.empty(n, dtype=np.int64)
        for p in range(npools):
            sel = None if pool is None else np.flatnonzero(pool == p)
            f = fresh if sel is None else fresh[sel]
            before = self.counters[p] + np.cumsum(f) - f  # new numbers of this pool before the line
            early = np.flatnonzero((~f) & (before == 0))
            if early.size:  # nothing to repeat yet: such lines become plain new records
                role[early if sel is None else sel[early]] = ROLE_NORMAL
                f = f.copy()
                f[early] = True
                before = self.counters[p] + np.cumsum(f) - f
            if sel is None:
                fresh = f
            else:
                fresh[sel] = f
            k = before.astype(np.int64)
            old = np.flatnonzero(~f)
            if old.size:
                k[old] = (rng.random(old.size) * before[old]).astype(np.int64)
            added = int(np.count_nonzero(f))
            if self.counters[p] + added > self.space.pools[p].capacity:  # pragma: no cover
                raise RuntimeError(f"region {self.region}: number space exhausted")
            self.counters[p] += added
            nums = self.space.pools[p].numbers(k)
            if sel is None:
                values = nums
            else:
                values[sel] = nums
        bad = role == ROLE_BADUTF8  # the invalid bytes are in the first name: it must be there
        if bad.any():
            masks[bad] |= np.uint32(CLASS_BIT["name"])
        return ChunkCore(role, values, masks, fresh, pool)
