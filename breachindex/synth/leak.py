"""A synthetic leak in the facebook-2021 shapes, with exact ground truth, and a text-free key source.

breachindex never touches real leak data. This module writes a folder that *looks* like the
April 2021 dump (one file per country, the same field layouts, the same country mix, fields
filled at realistic rates, duplicates and the usual damage) so the reader, the build and the
benchmarks can be run and reconciled end to end. Nothing in it belongs to a real person: names
are random pairs from small built-in lists of common given names and surnames, employers are
made up, e-mail addresses are at the reserved ``example.*`` domains. The phone numbers come from
real mobile numbering-plan ranges (see :mod:`breachindex.synth.synthetic`), so some belong to real
subscribers: never call or text one, and never print one (this module does not).

Two entry points share one generator:

:func:`write_leak`
    ``write_leak(out_dir, rows, seed=S)`` writes one file per region (``NL.txt``, ...; the UK as
    ``GB.csv`` with a header row) and returns a :class:`LeakManifest`: per file, exactly how
    many lines a reader must count, how many must become records, how many must be rejected and
    why, and the distinct valid numbers. ``rows`` is the number of data lines (records plus
    rejected lines); blank lines come on top of it and the CSV header is not a line.

:func:`synthetic_key_source`
    Yields ``(numbers, masks)`` chunks (int64 leak-form numbers, uint32 data-class masks) for a
    build without any text, at several million rows a second. It is the record stream of
    ``write_leak(..., quirk_rate=0)`` (same seed, rows, regions and duplicate rate), file by
    file in the same order, so a text build and a direct build can be compared.

How lines are made
    Rows are split over regions by :data:`breachindex.synth.synthetic.REGION_WEIGHTS` (largest
    remainder; a region is capped at 95 % of its mobile number space and the excess goes to the
    others, which only matters near the full 533M rows for Tunisia). Each region's lines are
    made in chunks of :data:`CHUNK_LINES`, every chunk from its own random streams derived from
    ``(seed, region, chunk)``, so the output is a pure function of the arguments.

    Each data line gets one *role*, drawn on its own: a duplicate (``duplicate_rate``), one of
    seven line quirks (``quirk_rate`` each: ``+`` before the number, invalid UTF-8 in the first
    name, too few fields, phone empty, too short, too long, not digits) or a plain new record.
    New records take the next number of a per-region pseudo-random permutation of the region's
    mobile number space (a Feistel network with cycle walking over ``[0, capacity)``, keyed
    from the seed), so they are distinct without any look-up, at any scale. A duplicate line
    repeats the number of a uniformly chosen earlier new record of the same file (its other
    fields are drawn afresh). A damaged line has exactly one defect, so every reader
    classifies it the same way whatever the order of its checks: a too-few-fields line is
    ``phone:facebook_id:first_name`` with a valid phone; a phone-damaged line has the full field
    count. Blank lines (``quirk_rate``, never before the first line) come on top. File quirks
    (``file_quirk_rate`` each, every one in at least one file): CRLF line ends for the whole
    file, a UTF-8 BOM, no newline after the last line.

    Data classes are drawn per line with :data:`breachindex.synth.synthetic.DATA_CLASS_PROBABILITIES`
    and limited to what the file's layout can carry (``fb17`` has no birth date). A field is
    non-empty exactly when its class is in the line's mask, so a reader derives the same mask.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import multiprocessing
import os
import random
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..builder.layouts import CSV_COLUMNS, DATA_CLASSES, FB12, FB17, Layout
from . import synthetic as _syn

__all__ = [
    "CHUNK_LINES",
    "KEY_CHUNK_ROWS",
    "REJECT_REASONS",
    "REGION_LAYOUTS",
    "CSV_HEADER",
    "CSV_LAYOUT",
    "LeakFile",
    "LeakManifest",
    "leak_plan",
    "write_leak",
    "synthetic_key_source",
    "synth_command",
    "main_synth",
]

#: Lines generated per internal chunk (also the unit of the random streams).
CHUNK_LINES = 1 << 16
#: Default rows per chunk yielded by :func:`synthetic_key_source`.
KEY_CHUNK_ROWS = 1 << 20

#: Reject reasons a reader must report, in this order.
REJECT_REASONS: tuple[str, ...] = (
    "too_few_fields",
    "phone_empty",
    "phone_not_digits",
    "phone_too_short",
    "phone_too_long",
)

#: Layout of each region's file. The real dump's per-country layouts are not recorded here;
#: this is a fixed, made-up split so both colon layouts occur. The UK is CSV with a header, as
#: in the dump. Regions not listed: ``fb17`` if the sum of the code's letters is even, else
#: ``fb12``.
REGION_LAYOUTS: dict[str, str] = {
    "EG": "fb17", "TN": "fb17", "SA": "fb17", "FR": "fb17", "TR": "fb17", "MA": "fb17",
    "DZ": "fb17",
    "IT": "fb12", "US": "fb12", "ES": "fb12", "NG": "fb12", "IN": "fb12", "DE": "fb12",
    "NL": "fb12", "BE": "fb12",
    "GB": "csv",
}  # fmt: skip

#: Header row of the CSV file (every name is a key of layouts.CSV_COLUMNS).
CSV_HEADER: tuple[str, ...] = (
    "phone", "facebook_id", "first_name", "last_name", "gender", "location", "hometown",
    "relationship_status", "employer", "email", "birth_date", "created_at",
)  # fmt: skip
CSV_LAYOUT = Layout("csv", tuple(CSV_COLUMNS[c] for c in CSV_HEADER), separator=",", csv=True)
_LAYOUTS: dict[str, Layout] = {"fb17": FB17, "fb12": FB12, "csv": CSV_LAYOUT}

# Line roles. The role of a line comes from one uniform draw u: the first interval is the
# duplicate rate, then one interval of quirk_rate for each quirk, in this order.
_DUP, _PLUS, _BADUTF8, _FEW, _EMPTY, _SHORT, _LONG, _LETTERS, _NORMAL = range(9)
_N_ROLES = 9
_ROLE_REASON = {_FEW: "too_few_fields", _EMPTY: "phone_empty", _LETTERS: "phone_not_digits",
                _SHORT: "phone_too_short", _LONG: "phone_too_long"}  # fmt: skip

_MAX_QUIRK_RATE = 0.1
_MAX_DUPLICATE_RATE = 0.5
_DEFAULT_FILE_QUIRK_RATE = 0.25
_REGION_FILL_LIMIT = 0.95  # at most this share of a region's number space is used
_PARALLEL_MIN_ROWS = 200_000  # below this, write_leak(workers=None) stays in one process

# Purposes of the derived random streams (part of the spawn key).
_S_CORE, _S_TEXT, _S_FILES, _S_PERM, _S_POOLS = 1, 2, 3, 4, 5

_CLASS_BIT = {c: 1 << i for i, c in enumerate(DATA_CLASSES)}
_OPTIONAL = DATA_CLASSES[1:]
if tuple(_syn.DATA_CLASSES) != DATA_CLASSES:  # pragma: no cover - guards a future edit
    raise ImportError("synthetic.DATA_CLASSES and layouts.DATA_CLASSES differ")


# --------------------------------------------------------------------------- made-up content
# Common given names and surnames per region (random pairs of them name no one in particular),
# locations in Facebook's "City, Country" style, and made-up employers.

_REGION_TEXT: dict[str, tuple[str, str, str, str, str]] = {
    # region: (country, male first names, female first names, surnames, cities) ("|"-separated)
    "EG": ("Egypt", "Mohamed|Ahmed|Mahmoud|Mostafa|Omar|Karim|Youssef|Tarek|محمد|أحمد",
           "Fatma|Mariam|Nour|Yasmin|Heba|Aya|Salma|Dina|فاطمة|مريم",
           "Hassan|Ibrahim|Ali|Mahmoud|Abdelrahman|Fathy|Saleh|Mansour|Farouk|حسن|علي",
           "Cairo|Alexandria|Giza|Mansoura|Tanta|Asyut|Port Said|Luxor"),
    "TN": ("Tunisia", "Mohamed|Amine|Aymen|Hamza|Walid|Skander|Bilel|Anis",
           "Amira|Ines|Rim|Sarra|Mariem|Olfa|Asma|Nesrine",
           "Ben Ali|Trabelsi|Gharbi|Jebali|Hammami|Ben Salah|Mejri|Ayari|Dridi|Chaabane",
           "Tunis|Sfax|Sousse|Kairouan|Bizerte|Gabès|Monastir|Nabeul"),
    "IT": ("Italy", "Marco|Luca|Giuseppe|Francesco|Alessandro|Andrea|Matteo|Lorenzo",
           "Giulia|Francesca|Chiara|Sara|Martina|Elena|Valentina|Federica",
           "Rossi|Russo|Ferrari|Esposito|Bianchi|Romano|Colombo|Ricci|Marino|Greco|De Luca",
           "Roma|Milano|Napoli|Torino|Palermo|Bologna|Firenze|Bari"),
    "US": ("", "James|Michael|Robert|David|Chris|Daniel|Matthew|Anthony",
           "Jennifer|Jessica|Ashley|Sarah|Emily|Amanda|Melissa|Nicole",
           "Smith|Johnson|Williams|Brown|Jones|Garcia|Miller|Davis|Rodriguez|Martinez",
           "New York, New York|Los Angeles, California|Houston, Texas|Chicago, Illinois|"
           "Phoenix, Arizona|Atlanta, Georgia|Columbus, Ohio|Seattle, Washington"),
    "SA": ("Saudi Arabia", "Abdullah|Mohammed|Fahad|Khalid|Saud|Faisal|Turki|Nasser|عبدالله",
           "Nora|Sara|Reem|Lama|Hessa|Maha|Amal|Abeer|نورة",
           "Al-Otaibi|Al-Qahtani|Al-Ghamdi|Al-Harbi|Al-Zahrani|Al-Dosari|Al-Shehri|Al-Mutairi",
           "Riyadh|Jeddah|Mecca|Medina|Dammam|Taif|Tabuk|Abha"),
    "FR": ("France", "Thomas|Nicolas|Julien|Maxime|Kevin|Romain|Antoine|Léo",
           "Marie|Camille|Léa|Manon|Chloé|Julie|Sarah|Inès",
           "Martin|Bernard|Dubois|Thomas|Robert|Richard|Petit|Durand|Leroy|Moreau|Lefèvre",
           "Paris|Marseille|Lyon|Toulouse|Nice|Nantes|Lille|Strasbourg"),
    "TR": ("Turkey", "Mehmet|Mustafa|Ahmet|Ali|Hüseyin|Emre|Burak|Murat",
           "Ayşe|Fatma|Zeynep|Elif|Emine|Merve|Büşra|Özge",
           "Yılmaz|Kaya|Demir|Şahin|Çelik|Yıldız|Yıldırım|Öztürk|Aydın|Arslan",
           "İstanbul|Ankara|İzmir|Bursa|Antalya|Konya|Adana|Gaziantep"),
    "MA": ("Morocco", "Mohamed|Youssef|Hamza|Mehdi|Omar|Anas|Yassine|Ayoub",
           "Fatima Zahra|Khadija|Salma|Imane|Sanaa|Hajar|Meryem|فاطمة",
           "Alaoui|Benali|El Amrani|Idrissi|Bennani|Tazi|Chraibi|El Fassi",
           "Casablanca|Rabat|Marrakech|Fès|Tanger|Agadir|Meknès|Oujda"),
    "GB": ("United Kingdom", "Oliver|Jack|Harry|George|James|Thomas|Daniel|Liam",
           "Olivia|Amelia|Emily|Sophie|Charlotte|Jessica|Hannah|Chloe",
           "Smith|Jones|Taylor|Brown|Williams|Wilson|Davies|Evans|O'Brien|Walker",
           "London|Manchester|Birmingham|Leeds|Glasgow|Liverpool|Bristol|Cardiff"),
    "DZ": ("Algeria", "Mohamed|Yacine|Amine|Karim|Sofiane|Bilal|Redouane|Nassim",
           "Amina|Meriem|Sabrina|Lamia|Nadia|Samira|Yasmine|أمينة",
           "Benali|Belkacem|Hamidi|Saidi|Mebarki|Cherif|Haddad|Zerrouki",
           "Alger|Oran|Constantine|Annaba|Blida|Sétif|Batna|Tlemcen"),
    "ES": ("Spain", "Antonio|José|Manuel|Francisco|David|Javier|Daniel|Sergio",
           "María|Carmen|Laura|Lucía|Marta|Ana|Cristina|Paula",
           "García|Fernández|González|Rodríguez|López|Martínez|Sánchez|Pérez|Gómez|Muñoz",
           "Madrid|Barcelona|Valencia|Sevilla|Zaragoza|Málaga|Bilbao|Murcia"),
    "NG": ("Nigeria", "Chinedu|Emeka|Oluwaseun|Tunde|Ibrahim|Chukwuemeka|Segun|Musa",
           "Ngozi|Chioma|Aisha|Funmilayo|Blessing|Adaeze|Folake|Amina",
           "Okafor|Adeyemi|Okonkwo|Bello|Eze|Ogunleye|Nwosu|Abubakar|Adebayo|Obi",
           "Lagos|Abuja|Kano|Ibadan|Port Harcourt|Benin City|Enugu|Kaduna"),
    "IN": ("India", "Rahul|Amit|Rohit|Vikram|Arjun|Suresh|Rajesh|Anil",
           "Priya|Pooja|Anjali|Neha|Divya|Sneha|Kavya|Lakshmi",
           "Sharma|Kumar|Singh|Patel|Gupta|Reddy|Nair|Iyer|Das|Verma",
           "Mumbai|Delhi|Bangalore|Hyderabad|Chennai|Kolkata|Pune|Jaipur"),
    "DE": ("Germany", "Lukas|Jonas|Felix|Maximilian|Jan|Tobias|Florian|Stefan",
           "Anna|Laura|Julia|Lena|Sophie|Katharina|Lisa|Jana",
           "Müller|Schmidt|Schneider|Fischer|Weber|Meyer|Wagner|Becker|Schulz|Hoffmann",
           "Berlin|Hamburg|München|Köln|Frankfurt am Main|Stuttgart|Düsseldorf|Leipzig"),
    "NL": ("Netherlands", "Daan|Sem|Lucas|Jesse|Thijs|Bram|Ruben|Stijn",
           "Emma|Sanne|Lotte|Anouk|Fleur|Iris|Femke|Noor",
           "de Jong|Jansen|de Vries|van den Berg|van Dijk|Bakker|Janssen|Visser|Smit|Meijer",
           "Amsterdam|Rotterdam|Den Haag|Utrecht|Eindhoven|Groningen|Tilburg|Nijmegen"),
    "BE": ("Belgium", "Lucas|Louis|Arthur|Noah|Thomas|Wout|Maxime|Jens",
           "Emma|Louise|Marie|Lore|Julie|Elise|Charlotte|Amélie",
           "Peeters|Janssens|Maes|Jacobs|Mertens|Willems|Claes|Goossens|Dubois|Lambert",
           "Brussels|Antwerpen|Gent|Charleroi|Liège|Brugge|Leuven|Namur"),
}
_FALLBACK_TEXT = ("", "Adam|David|Samuel|Daniel|Ali|Lucas|Ivan|Leo",
                  "Sara|Maria|Anna|Lina|Nadia|Eva|Mia|Nina",
                  "Novak|Silva|Costa|Kim|Nguyen|Popescu|Horvat|Kowalski|Petrov|Santos",
                  "Capital City|Port Town|Riverside|Hillview|Lakeside|Old Town")
_EMPLOYERS = (
    "Self-employed|Student|Freelance|Northwind Trading|Blue Harbor Logistics|"
    "Cedar & Stone Builders|Sunrise Bakery|Greenfield Farms|City Hospital|Ministry of Education|"
    "Atlas Motors|Harbor View Hotel|Bright Minds School|Metro Taxi Co.|Golden Spoon Restaurant|"
    "Smith, Jones & Partners|Pixel Forge Studio|The \"Corner\" Shop|Riverside Pharmacy|Orbit Telecom"
).split("|")
# relationship statuses, repeated to weight them (Single and Married are most common)
_RELATIONSHIP = ("Single|Single|Single|Married|Married|Married|In a relationship|In a relationship|"
                 "Engaged|It's complicated|Divorced|Widowed").split("|")
# first names as raw Latin-1 bytes (mojibake), never valid UTF-8 before a separator
_BAD_UTF8_NAMES = (b"Jos\xe9", b"Fran\xe7ois", b"M\xfcller", b"Ren\xe9e", b"G\xfcl", b"Se\xf1or",
                   b"\xc9lodie", b"Jo\xe3o", b"Bj\xf6rn", b"Ch\xe9rif")
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def _layout_name(region: str) -> str:
    name = REGION_LAYOUTS.get(region)
    if name is None:
        name = "fb17" if sum(map(ord, region)) % 2 == 0 else "fb12"
    return name


def _file_name(region: str, layout: str) -> str:
    return f"{region}.{'csv' if layout == 'csv' else 'txt'}"


def _region_key(region: str) -> int:
    return int.from_bytes(region.encode("ascii"), "big")


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _raw(s: str) -> str:
    """Text as the str whose code points are its UTF-8 bytes (so latin-1 encoding writes UTF-8)."""
    return s.encode("utf-8").decode("latin-1")


def _csv_quote(s: str) -> str:
    if any(ch in s for ch in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def _ascii_word(s: str) -> str:
    folded = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")
    word = "".join(ch for ch in folded.lower() if ch.isalnum())
    return word


# --------------------------------------------------------------------------- number space


_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_SH32 = np.uint64(32)


class _Pool:
    """The mobile numbers of one region with one total length, as a keyed permutation.

    ``numbers(k)`` maps counters ``k`` in ``[0, capacity)`` one to one onto the pool's numbers:
    a 4-round (unbalanced, when the bit count is odd) Feistel network over the smallest power
    of two that holds the capacity, cycle-walked back into range (fewer than two passes on
    average), then split over the prefix blocks of :func:`synthetic._region_plan`.
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
    plan = _syn._region_plan(region)
    total_len = np.array([len(str(h)) for h in plan.heads.tolist()], dtype=np.int64) + plan.tail_lengths
    pools: list[_Pool] = []
    shares: list[float] = []
    for length in sorted(set(total_len.tolist())):
        sel = total_len == length
        keys = np.random.SeedSequence(seed, spawn_key=(_S_PERM, _region_key(region), length))
        pools.append(_Pool(plan.heads[sel], plan.tail_lengths[sel], keys.generate_state(4, np.uint64)))
        shares.append(float(plan.weights[sel].sum()))
    w = np.asarray(shares, dtype=np.float64)
    w /= w.sum()
    limit = int(_REGION_FILL_LIMIT * min(p.capacity / s for p, s in zip(pools, w.tolist(), strict=True)))
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
    return _syn.DEFAULT_REGIONS if regions is None else _syn._check_regions(regions)


def leak_plan(rows: int, *, regions: Sequence[str] | None = None) -> dict[str, int]:
    """Data lines per region for ``rows`` rows: the 2021 leak's mix (REGION_WEIGHTS) scaled to
    ``rows`` by largest remainder, each region capped at 95 % of its mobile number space (the
    excess is spread over the others by weight). Regions with 0 rows are left out. Order: the
    order of ``regions`` (default :data:`synthetic.DEFAULT_REGIONS`), which is also the order in
    which files are written and keys are yielded.

    Raises ValueError if the regions cannot hold ``rows`` numbers.
    """
    rows = _syn._check_count(rows)
    regs = _check_regions(regions)
    limits = {r: _region_space(r, 0).limit for r in regs}  # capacities do not depend on the seed
    weights = {r: float(_syn.REGION_WEIGHTS.get(r, _syn._UNLISTED_REGION_WEIGHT)) for r in regs}
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


def _class_thresholds() -> np.ndarray:
    p = np.array([_syn.DATA_CLASS_PROBABILITIES[c] for c in _OPTIONAL], dtype=np.float64)
    return np.minimum(np.round(p * 65536), 65536).astype(np.uint32)


def _layout_mask(layout: Layout) -> int:
    mask = _CLASS_BIT["phone_number"]
    for i in range(len(layout.fields)):
        mask |= layout.class_mask_of_field(i)
    return mask


@dataclass
class _Core:
    role: np.ndarray  # int8, _N_ROLES codes
    values: np.ndarray  # int64 numbers (meaningless for damaged phones)
    masks: np.ndarray  # uint32 data-class masks (meaningful for record lines)
    fresh: np.ndarray  # bool: a new distinct record
    pool: np.ndarray | None  # number pool (length) of each line, None for one-pool regions


class _RegionGen:
    """The record stream of one region: roles, numbers and class masks, chunk by chunk."""

    def __init__(self, region: str, lines: int, *, seed: int, quirk_rate: float,
                 duplicate_rate: float, space: _RegionSpace | None = None) -> None:
        self.region = region
        self.lines = lines
        self.seed = seed
        self.rkey = _region_key(region)
        self.layout = _LAYOUTS[_layout_name(region)]
        self.space = space if space is not None else _region_space(region, seed)
        self.counters = [0] * len(self.space.pools)
        rates = [duplicate_rate] + [quirk_rate] * 7
        self.role_edges = np.round(np.cumsum(rates) * 2.0**32).astype(np.uint64)
        self.pool_cdf = np.cumsum(self.space.shares)
        thresholds = _class_thresholds()
        lmask = _layout_mask(self.layout)
        # (column, threshold, bit) for the optional classes this layout can carry
        self.class_plan = [(i, int(thresholds[i]), _CLASS_BIT[c])
                           for i, c in enumerate(_OPTIONAL) if lmask & _CLASS_BIT[c]]

    @property
    def chunks(self) -> int:
        return -(-self.lines // CHUNK_LINES)

    def core(self, chunk: int) -> _Core:
        n = min(CHUNK_LINES, self.lines - chunk * CHUNK_LINES)
        rng = _rng(self.seed, _S_CORE, self.rkey, chunk)
        raw = rng.bit_generator.random_raw(n * 3).astype("<u8", copy=False)
        u16 = raw.view("<u2").reshape(n, 12)
        u32 = raw.view("<u4").reshape(n, 6)[:, 5]  # = u16 columns 10 and 11
        role = np.searchsorted(self.role_edges, u32, side="right").astype(np.int8)
        # masks: phone always, each optional class on its own
        masks = np.full(n, _CLASS_BIT["phone_number"], dtype=np.uint32)
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
        fresh = (role == _NORMAL) | (role == _PLUS) | (role == _BADUTF8)
        values = np.empty(n, dtype=np.int64)
        for p in range(npools):
            sel = None if pool is None else np.flatnonzero(pool == p)
            f = fresh if sel is None else fresh[sel]
            before = self.counters[p] + np.cumsum(f) - f  # new numbers of this pool before the line
            early = np.flatnonzero((~f) & (before == 0))
            if early.size:  # nothing to repeat yet: such lines become plain new records
                role[early if sel is None else sel[early]] = _NORMAL
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
        bad = role == _BADUTF8  # the invalid bytes are in the first name: it must be there
        if bad.any():
            masks[bad] |= np.uint32(_CLASS_BIT["name"])
        return _Core(role, values, masks, fresh, pool)


# --------------------------------------------------------------------------- text


#: "0000".."9999" as ASCII, four bytes per entry, read as one uint32 each
_QUADS = np.frombuffer(b"".join(b"%04d" % i for i in range(10_000)), dtype=np.uint32)


def _put_number(mat: np.ndarray, col: int, x: np.ndarray, ndigits: int) -> None:
    """Write ``x`` (non-negative ints below 10**ndigits) as ``ndigits`` zero-padded ASCII
    digits into the uint8 matrix ``mat[:, col:col + ndigits]``, four digits per step."""
    n = x.size
    lead = ndigits % 4 or 4
    groups = (ndigits - lead) // 4
    for j in range(groups):  # full groups, right to left
        x, rem = np.divmod(x, 10_000)
        c = col + ndigits - 4 * (j + 1)
        mat[:, c: c + 4] = _QUADS[rem].view(np.uint8).reshape(n, 4)
    mat[:, col: col + lead] = _QUADS[x].view(np.uint8).reshape(n, 4)[:, 4 - lead:]


@functools.lru_cache(maxsize=8)
def _date_pools(seed: int) -> tuple[list[str], list[str]]:
    """4096 account timestamps (2008..2020) and 4096 birth dates (1950..2005), as text."""
    rng = _rng(seed, _S_POOLS)
    lo = np.datetime64("2008-01-01T00:00:00", "s").astype(np.int64)
    hi = np.datetime64("2021-01-01T00:00:00", "s").astype(np.int64)
    ts = rng.integers(lo, hi, 4096).astype("datetime64[s]")
    stamps = [s.replace("T", " ").replace(":", "-") for s in np.datetime_as_string(ts, unit="s").tolist()]
    dlo = np.datetime64("1950-01-01", "D").astype(np.int64)
    dhi = np.datetime64("2006-01-01", "D").astype(np.int64)
    births = np.datetime_as_string(rng.integers(dlo, dhi, 4096).astype("datetime64[D]"), unit="D").tolist()
    return stamps, births


@dataclass
class _Segment:
    """A run of fields written as one pooled string: field values joined, then the end."""

    fields: tuple[str, ...]
    offset: int = 0  # into the per-file vocabulary
    radix: tuple[int, ...] = ()
    end: str = ""


class _FileText:
    """Turns a region's core chunks into the text of its file.

    A line is a short list of strings joined with ``"".join``: ``phone:facebook_id:`` built as
    character codes in a numpy array (one str per line), then one pooled string per run of
    fields (the product of the run's field vocabularies, with the separators and the line end
    baked in). Fields that are always empty in the pools (``extra_*``, and ``email``, which is
    filled in per line for the few lines that have one) are folded into the start of the next
    run. The strings hold UTF-8 bytes as code points < 256, so the joined text encodes with
    latin-1 at memcpy speed and can carry invalid UTF-8 too.
    """

    _GROUPS = {"first_name": "name", "last_name": "name", "gender": "name",
               "location": "place", "hometown": "place",
               "relationship_status": "social", "employer": "social"}  # fmt: skip

    def __init__(self, gen: _RegionGen, *, seed: int, quirk_rate: float, crlf: bool,
                 dates: tuple[list[str], list[str]]) -> None:
        self.gen = gen
        self.seed = seed
        self.quirk_rate = quirk_rate
        layout = gen.layout
        self.layout = layout
        self.sep = sep = layout.separator
        self.term = term = "\r\n" if crlf else "\n"
        country, male, female, last, cities = _REGION_TEXT.get(gen.region, _FALLBACK_TEXT)
        self.male = male.split("|")
        self.female = female.split("|")
        self.last = last.split("|")
        places = [f"{c}, {country}" if country else c for c in cities.split("|")]
        stamps, births = dates  # ASCII, no separator in them

        def text(values: list[str]) -> list[str]:
            return ["", *(_raw(_csv_quote(s) if layout.csv else s) for s in values)]

        self.field_vocab: dict[str, list[str]] = {
            "first_name": text(self.male + self.female),
            "last_name": text(self.last),
            "gender": ["", "male", "female"],
            "location": text(places),
            "hometown": text(places),
            "relationship_status": text(_RELATIONSHIP),
            "employer": text(_EMPLOYERS),
            "created_at": ["", *stamps],
            "updated_at": ["", *stamps],
            "birth_date": ["", *births],
        }
        self.ascii_first = [_ascii_word(s) for s in self.male + self.female]
        self.ascii_last = [_ascii_word(s) for s in self.last]
        self.header = (",".join(CSV_HEADER) + term) if layout.csv else ""

        # column 0 of a line: "phone:facebook_id:" (vocabulary entry 0 is its placeholder)
        self.phone_lens = [len(str(int(p.heads[0] * p.scale[0]))) for p in gen.space.pools]
        self.sep_code = ord(sep)
        vocab: list[str] = [""]

        fields = layout.fields
        if fields[:2] != ("phone", "facebook_id"):
            raise ValueError(f"layout {layout.name}: expected phone and facebook_id first")
        self.segments: list[_Segment] = []
        self.email_at: tuple[int, int] | None = None  # (segment, separators before the email)
        i = 2
        pending = 0  # always-empty fields before the next run
        while i < len(fields):
            name = fields[i]
            if name not in self.field_vocab:
                if name == "email":
                    self.email_at = (len(self.segments), pending)
                pending += 1
                i += 1
                continue
            group = self._GROUPS.get(name)
            run = [name]
            i += 1
            while group is not None and i < len(fields) and self._GROUPS.get(fields[i]) == group:
                run.append(fields[i])
                i += 1
            end = sep if i < len(fields) else term
            lists = [self.field_vocab[f] for f in run]
            radix: list[int] = []
            r = 1
            for values in reversed(lists):
                radix.insert(0, r)
                r *= len(values)
            combos = lists[0]
            for values in lists[1:]:
                combos = [c + sep + s for c in combos for s in values]
            prefix = sep * pending
            pending = 0
            self.segments.append(_Segment(tuple(run), offset=len(vocab), radix=tuple(radix), end=end))
            vocab += [prefix + c + end for c in combos]
        if pending:
            raise ValueError(f"layout {layout.name}: always-empty fields at the end are not supported")
        self.vocab = np.array(vocab, dtype=object)
        self.first_k = 1  # column of the first field run
        self.k = self.first_k + len(self.segments)
        self.seg_of = {f: j for j, seg in enumerate(self.segments) for f in seg.fields}
        if self.segments[self.seg_of["first_name"]].fields != ("first_name", "last_name", "gender"):
            raise ValueError(f"layout {layout.name}: expected first_name, last_name, gender together")

    def _prefix(self, v: np.ndarray, u: np.ndarray, fb: np.ndarray, pool: np.ndarray | None) -> list[str]:
        """``phone:facebook_id:`` per line (``phone::`` without an id), as str objects. The id is
        "100" and 12 digits from 48 random bits, like the 15-digit ids given out since 2009."""
        n = v.size
        sep = self.sep_code
        r = ((u[:, 0].astype(np.uint64) << np.uint64(32)) | (u[:, 1].astype(np.uint64) << np.uint64(16))
             | u[:, 2].astype(np.uint64)) % np.uint64(10**12)
        lens = self.phone_lens
        width = max(lens) + 17
        mat = np.zeros((n, width), dtype=np.uint8)
        for p, plen in enumerate(lens):
            rows = None if pool is None or len(lens) == 1 else np.flatnonzero(pool == p)
            sub = mat if rows is None else np.zeros((rows.size, plen + 17), np.uint8)
            _put_number(sub, 0, v if rows is None else v[rows], plen)
            sub[:, plen] = sep
            sub[:, plen + 1: plen + 4] = np.frombuffer(b"100", dtype=np.uint8)
            _put_number(sub, plen + 4, r if rows is None else r[rows], 12)
            sub[:, plen + 16] = sep
            gone = np.flatnonzero(fb == 0) if rows is None else np.flatnonzero(fb[rows] == 0)
            if gone.size:
                sub[gone, plen + 1] = sep
                sub[gone, plen + 2:] = 0
            if rows is not None:
                mat[rows, : plen + 17] = sub
        out: list[str] = mat.astype(np.uint32).view(f"U{width}").ravel().tolist()
        return out

    def render(self, core: _Core, chunk: int, start_line: int) -> tuple[str, int]:
        """The text of one chunk (its first line is line ``start_line`` of the file) and the
        number of blank lines in it."""
        gen = self.gen
        n = core.role.size
        k = self.k
        rng = _rng(self.seed, _S_TEXT, gen.rkey, chunk)
        u = rng.bit_generator.random_raw(n * 3).astype("<u8", copy=False).view("<u2").reshape(n, 12)
        masks = core.masks
        idx = np.empty((n, k), dtype=np.intp)

        def pick(col: int, size: int) -> np.ndarray:  # uniform in 1..size
            return ((u[:, col].astype(np.intp) * size) >> 16) + 1

        def has(cls: str) -> np.ndarray:  # 0/1
            return ((masks >> DATA_CLASSES.index(cls)) & 1).astype(np.intp)

        v = core.values
        prefix = self._prefix(v, u, has("facebook_id"), core.pool)

        # field indices, 0 = empty
        nm, nf = len(self.male), len(self.female)
        u3 = u[:, 3].astype(np.intp)
        female = u3 & 1
        half = u3 >> 1  # 15 bits
        first = np.where(female == 1, nm + ((half * nf) >> 15), (half * nm) >> 15) + 1
        name = has("name")
        fidx: dict[str, np.ndarray] = {
            "first_name": first * name,
            "last_name": pick(4, len(self.last)) * name,
            "gender": (female + 1) * has("gender"),
            "location": pick(5, len(self.field_vocab["location"]) - 1) * has("location"),
            "hometown": pick(6, len(self.field_vocab["hometown"]) - 1) * has("hometown"),
            "relationship_status": pick(7, len(_RELATIONSHIP)) * has("relationship_status"),
            "employer": pick(8, len(_EMPLOYERS)) * has("employer"),
        }
        dates = has("account_dates")
        fidx["created_at"] = pick(9, len(self.field_vocab["created_at"]) - 1) * dates
        fidx["updated_at"] = pick(10, len(self.field_vocab["updated_at"]) - 1) * dates
        fidx["birth_date"] = pick(11, len(self.field_vocab["birth_date"]) - 1) * has("date_of_birth")
        for j, seg in enumerate(self.segments):
            col = idx[:, self.first_k + j]
            col[:] = seg.offset
            for f, r in zip(seg.fields, seg.radix, strict=True):
                col += fidx[f] * r if r != 1 else fidx[f]

        idx[:, 0] = 0
        lst: list[str] = self.vocab.take(idx.ravel()).tolist()
        lst[0::k] = prefix

        # ---- the few lines that need Python: e-mails, quirks, blank lines
        prnd = random.Random(int(rng.integers(0, 2**63)))
        sep, term = self.sep, self.term
        if self.email_at is not None:
            seg_j, before = self.email_at
            cut = before * len(sep)
            pos = self.first_k + seg_j
            fi_all, li_all = fidx["first_name"], fidx["last_name"]
            for i in np.flatnonzero(has("email_address")).tolist():
                fi, li = int(fi_all[i]), int(li_all[i])
                a = self.ascii_first[fi - 1] if fi else ""
                b = self.ascii_last[li - 1] if li else ""
                local = f"{a}.{b}" if a and b else (a or b or "user")
                num = prnd.randrange(1000)
                if num >= 100:
                    local += str(num)
                s = lst[i * k + pos]
                lst[i * k + pos] = s[:cut] + f"{local}@{prnd.choice(_EMAIL_DOMAINS)}" + s[cut:]
        role = core.role
        name_pos = self.first_k + self.seg_of["first_name"]
        name_end = self.segments[self.seg_of["first_name"]].end
        first_vocab = self.field_vocab["first_name"]
        last_vocab = self.field_vocab["last_name"]
        gender_vocab = self.field_vocab["gender"]
        for i in np.flatnonzero((role != _NORMAL) & (role != _DUP)).tolist():
            r = int(role[i])
            base = i * k
            if r == _PLUS:
                lst[base] = "+" + lst[base]
            elif r == _BADUTF8:  # the name class is forced on for these lines
                bad = _BAD_UTF8_NAMES[prnd.randrange(len(_BAD_UTF8_NAMES))].decode("latin-1")
                lst[base + name_pos] = sep.join(
                    (bad, last_vocab[int(fidx["last_name"][i])], gender_vocab[int(fidx["gender"][i])])
                ) + name_end
            elif r == _FEW:  # phone:facebook_id:first_name
                lst[base + name_pos] = (first_vocab[int(fidx["first_name"][i])] or first_vocab[1]) + term
                for j in range(name_pos + 1, k):
                    lst[base + j] = ""
            else:
                if r == _EMPTY:
                    bad = ""
                elif r == _SHORT:
                    bad = f"{prnd.randrange(10000):04d}"
                elif r == _LONG:
                    bad = f"{prnd.randrange(10**24, 10**25)}"
                else:  # _LETTERS: a valid-looking number with two letters in it
                    chars = list(str(int(v[i])))
                    for p in prnd.sample(range(2, len(chars)), 2):
                        chars[p] = prnd.choice(_ALPHABET)
                    bad = "".join(chars)
                head = lst[base]
                lst[base] = bad + head[head.index(sep):]
        blanks = 0
        if self.quirk_rate > 0:
            for i in np.flatnonzero(rng.random(n) < self.quirk_rate).tolist():
                if start_line + i > 0:  # never before the first line
                    lst[i * k] = term + lst[i * k]
                    blanks += 1
        return "".join(lst), blanks


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class LeakFile:
    """Ground truth of one written file.

    ``lines`` is what a reader counts: every physical line after the header, blank ones
    included, and a last line without a newline too. ``lines == records + sum(rejects.values())
    + blank_lines``. ``records`` includes duplicate lines and lines with a ``+`` or invalid UTF-8
    in a name; ``distinct_numbers == records - duplicate_lines``. ``numbers`` holds the distinct
    valid numbers in leak form (country code + national number) as int64, in order of first
    appearance; the E.164 form of each is ``"+" + str(number)``. ``class_counts`` counts record
    lines (duplicates included) by data class.
    """

    name: str
    region: str
    layout: str
    rows: int
    lines: int
    header_lines: int
    blank_lines: int
    records: int
    duplicate_lines: int
    distinct_numbers: int
    rejects: dict[str, int]
    quirks: dict[str, int]
    class_counts: dict[str, int]
    bytes: int
    numbers: npt.NDArray[np.int64] = field(repr=False, compare=False)

    def numbers_sha256(self) -> str:
        """SHA-256 over the sorted distinct numbers as little-endian int64 (for reconciling)."""
        return hashlib.sha256(np.sort(self.numbers).astype("<i8").tobytes()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("name", "region", "layout", "rows", "lines", "header_lines",
                                           "blank_lines", "records", "duplicate_lines",
                                           "distinct_numbers", "bytes")}
        d["rejects"] = dict(self.rejects)
        d["quirks"] = dict(self.quirks)
        d["class_counts"] = dict(self.class_counts)
        d["numbers_sha256"] = self.numbers_sha256()
        return d


@dataclass(frozen=True)
class LeakManifest:
    """What :func:`write_leak` wrote, with exact ground truth per file (see :class:`LeakFile`)."""

    out_dir: Path
    rows: int
    seed: int
    quirk_rate: float
    duplicate_rate: float
    file_quirk_rate: float
    files: tuple[LeakFile, ...]
    seconds: float = field(compare=False)

    def _sum(self, attr: str) -> int:
        return sum(int(getattr(f, attr)) for f in self.files)

    @property
    def lines(self) -> int:
        return self._sum("lines")

    @property
    def records(self) -> int:
        return self._sum("records")

    @property
    def blank_lines(self) -> int:
        return self._sum("blank_lines")

    @property
    def header_lines(self) -> int:
        return self._sum("header_lines")

    @property
    def duplicate_lines(self) -> int:
        return self._sum("duplicate_lines")

    @property
    def distinct_numbers(self) -> int:
        """Distinct valid numbers over all files (regions never share a number)."""
        return self._sum("distinct_numbers")

    @property
    def bytes(self) -> int:
        return self._sum("bytes")

    @property
    def rejects(self) -> dict[str, int]:
        return {r: sum(f.rejects[r] for f in self.files) for r in REJECT_REASONS}

    def file(self, name_or_region: str) -> LeakFile:
        for f in self.files:
            if name_or_region in (f.name, f.region):
                return f
        raise KeyError(name_or_region)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "breachindex-synthleak-truth/1",
            "rows": self.rows,
            "seed": self.seed,
            "quirk_rate": self.quirk_rate,
            "duplicate_rate": self.duplicate_rate,
            "file_quirk_rate": self.file_quirk_rate,
            "totals": {
                "files": len(self.files), "lines": self.lines, "header_lines": self.header_lines,
                "blank_lines": self.blank_lines, "records": self.records,
                "duplicate_lines": self.duplicate_lines, "distinct_numbers": self.distinct_numbers,
                "rejects": self.rejects, "bytes": self.bytes,
            },
            "files": [f.to_dict() for f in self.files],
        }


# --------------------------------------------------------------------------- writing


def _check_rate(name: str, value: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number")
    value = float(value)
    if not 0.0 <= value <= hi:
        raise ValueError(f"{name} must be between 0 and {hi}, got {value}")
    return value


def _file_quirks(seed: int, count: int, rate: float) -> list[dict[str, bool]]:
    """CRLF / BOM / no final newline per file: each with probability ``rate``, and each in at
    least one file when ``rate > 0``."""
    names = ("crlf", "bom", "no_final_newline")
    rng = _rng(seed, _S_FILES)
    draws = rng.random((count, len(names))) < rate
    out = [{n: bool(draws[i, j]) for j, n in enumerate(names)} for i in range(count)]
    forced = rng.integers(0, max(count, 1), len(names))
    if rate > 0 and count:
        for j, n in enumerate(names):
            if not draws[:, j].any():
                out[int(forced[j])][n] = True
    return out


def write_leak(
    out_dir: str | os.PathLike[str],
    rows: int,
    *,
    seed: int,
    quirk_rate: float = 0.002,
    duplicate_rate: float = 0.01,
    regions: Sequence[str] | None = None,
    file_quirk_rate: float | None = None,
    truth_path: str | os.PathLike[str] | None = None,
    workers: int | None = None,
) -> LeakManifest:
    """Write a synthetic leak folder and return its exact ground truth.

    Args:
        out_dir: folder to create (it may exist if empty). One file per region with rows:
            ``XX.txt`` (layout ``fb17`` or ``fb12``, see :data:`REGION_LAYOUTS`) or ``GB.csv``.
        rows: data lines in total (records and rejected lines; blank lines and the CSV header
            are extra), split over regions by :func:`leak_plan`.
        seed: non-negative int; the same arguments give byte-identical files.
        quirk_rate: rate of each line quirk and of blank lines (0 .. 0.1).
        duplicate_rate: share of lines that repeat an earlier number of the file (0 .. 0.5).
        regions: region codes (default :data:`synthetic.DEFAULT_REGIONS`).
        file_quirk_rate: chance of each file quirk per file (CRLF, BOM, no final newline);
            default 0.25 when ``quirk_rate > 0``, else 0. Each quirk is in at least one file
            when this is > 0.
        truth_path: also write :meth:`LeakManifest.to_dict` as JSON there (never inside
            ``out_dir``: a reader would take it for a leak file).
        workers: processes writing files at once (default: the usable CPUs, at most 8; one
            below 200,000 rows). Files are written whole by one process each, largest first,
            so the output does not depend on it. More than one needs the ``fork`` start method
            and a caller without other threads; otherwise the files are written one after
            another in this process.

    Raises:
        ValueError: bad rates, rows or regions; ``out_dir`` exists and is not an empty folder;
            ``truth_path`` inside ``out_dir``.
    """
    t0 = time.perf_counter()
    seed = _syn._check_seed(seed)
    rows = _syn._check_count(rows)
    quirk_rate = _check_rate("quirk_rate", quirk_rate, _MAX_QUIRK_RATE)
    duplicate_rate = _check_rate("duplicate_rate", duplicate_rate, _MAX_DUPLICATE_RATE)
    fq = (_DEFAULT_FILE_QUIRK_RATE if quirk_rate > 0 else 0.0) if file_quirk_rate is None else \
        _check_rate("file_quirk_rate", file_quirk_rate, 1.0)
    nworkers = _workers(workers, 1 << 30)
    out = Path(out_dir)
    truth = Path(truth_path) if truth_path is not None else None
    if truth is not None:
        try:
            truth.resolve().relative_to(out.resolve())
        except ValueError:
            pass
        else:
            raise ValueError("truth_path must not be inside out_dir (a reader would read it)")
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"{out} exists and is not a folder")
        if any(out.iterdir()):
            raise ValueError(f"{out} exists and is not empty; refusing to write a leak into it")
    plan = leak_plan(rows, regions=regions)
    out.mkdir(parents=True, exist_ok=True)
    _date_pools(seed)
    quirks = _file_quirks(seed, len(plan), fq)
    tasks = [_FileTask(out, region, count, seed, quirk_rate, duplicate_rate, fquirks)
             for (region, count), fquirks in zip(plan.items(), quirks, strict=True)]
    if workers is None and rows < _PARALLEL_MIN_ROWS:
        nworkers = 1  # not worth starting processes for
    files = _run_tasks(tasks, min(nworkers, len(tasks)))
    manifest = LeakManifest(out, rows, seed, quirk_rate, duplicate_rate, fq, tuple(files),
                            time.perf_counter() - t0)
    if truth is not None:
        truth.parent.mkdir(parents=True, exist_ok=True)
        truth.write_text(json.dumps(manifest.to_dict(), indent=1) + "\n", encoding="utf-8")
    return manifest


@dataclass(frozen=True)
class _FileTask:
    out: Path
    region: str
    count: int
    seed: int
    quirk_rate: float
    duplicate_rate: float
    fquirks: dict[str, bool]


def _workers(workers: int | None, tasks: int) -> int:
    if workers is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cpus = os.cpu_count() or 1
        workers = min(cpus, 8)
    elif isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError("workers must be a positive int")
    if workers > 1 and ("fork" not in multiprocessing.get_all_start_methods()
                        or threading.active_count() > 1):
        workers = 1  # forking a threaded process is unsafe; spawning would redo all set-up
    return max(1, min(workers, tasks))


def _run_task(item: tuple[int, _FileTask]) -> tuple[int, LeakFile]:
    return item[0], _write_file(item[1])


def _run_tasks(tasks: list[_FileTask], workers: int) -> list[LeakFile]:
    if workers <= 1:
        return [_write_file(t) for t in tasks]
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].count)  # largest first
    results: dict[int, LeakFile] = {}
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for i, leak_file in pool.imap_unordered(_run_task, [(i, tasks[i]) for i in order]):
            results[i] = leak_file
    return [results[i] for i in range(len(tasks))]


def _write_file(task: _FileTask) -> LeakFile:
    out, region, count, seed = task.out, task.region, task.count, task.seed
    quirk_rate, fquirks = task.quirk_rate, task.fquirks
    gen = _RegionGen(region, count, seed=seed, quirk_rate=quirk_rate,
                     duplicate_rate=task.duplicate_rate)
    text = _FileText(gen, seed=seed, quirk_rate=quirk_rate, crlf=fquirks["crlf"],
                     dates=_date_pools(seed))
    name = _file_name(region, gen.layout.name)
    role_counts = np.zeros(_N_ROLES, dtype=np.int64)
    class_counts = np.zeros(len(DATA_CLASSES), dtype=np.int64)
    numbers: list[np.ndarray] = []
    blanks = 0
    size = 0
    with open(out / name, "wb") as fh:
        head = (b"\xef\xbb\xbf" if fquirks["bom"] else b"") + text.header.encode("latin-1")
        fh.write(head)
        size += len(head)
        last = gen.chunks - 1
        for chunk in range(gen.chunks):
            core = gen.core(chunk)
            body, b = text.render(core, chunk, chunk * CHUNK_LINES)
            data = body.encode("latin-1")
            if chunk == last and fquirks["no_final_newline"]:
                data = data[: -len(text.term)]
            fh.write(data)
            size += len(data)
            blanks += b
            role_counts += np.bincount(core.role, minlength=_N_ROLES)
            rec = core.masks[(core.role == _NORMAL) | (core.role == _DUP) | (core.role == _PLUS)
                             | (core.role == _BADUTF8)]
            for j in range(len(DATA_CLASSES)):
                class_counts[j] += int(np.count_nonzero(rec & np.uint32(1 << j)))
            numbers.append(core.values[core.fresh])
    rejects = {reason: 0 for reason in REJECT_REASONS}
    for r, reason in _ROLE_REASON.items():
        rejects[reason] = int(role_counts[r])
    records = int(role_counts[[_NORMAL, _DUP, _PLUS, _BADUTF8]].sum())
    nums = np.concatenate(numbers) if numbers else np.empty(0, dtype=np.int64)
    return LeakFile(
        name=name, region=region, layout=gen.layout.name, rows=count, lines=count + blanks,
        header_lines=1 if gen.layout.csv else 0, blank_lines=blanks, records=records,
        duplicate_lines=int(role_counts[_DUP]), distinct_numbers=int(nums.size), rejects=rejects,
        quirks={"plus_prefix": int(role_counts[_PLUS]), "invalid_utf8": int(role_counts[_BADUTF8]),
                "blank_lines": blanks, "crlf": int(fquirks["crlf"]), "bom": int(fquirks["bom"]),
                "no_final_newline": int(fquirks["no_final_newline"])},
        class_counts={c: int(class_counts[j]) for j, c in enumerate(DATA_CLASSES)},
        bytes=size, numbers=nums,
    )


# --------------------------------------------------------------------------- key source


def synthetic_key_source(
    rows: int,
    *,
    seed: int,
    duplicate_rate: float = 0.01,
    regions: Sequence[str] | None = None,
    chunk_rows: int = KEY_CHUNK_ROWS,
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]]:
    """Yield ``(numbers, masks)`` chunks of ``rows`` synthetic records in all, no text involved.

    ``numbers`` is int64, the leak form as an integer (country code then national number, e.g.
    31612345678); ``masks`` is a parallel uint32 array of data-class bits over
    :data:`layouts.DATA_CLASSES` (bit 0, phone_number, always set). Every chunk has
    ``chunk_rows`` rows except the last. The rows are exactly the records of
    ``write_leak(..., rows=rows, seed=seed, quirk_rate=0, duplicate_rate=duplicate_rate,
    regions=regions)`` in file order: the same country mix, fill rates and duplicates.

    Duplicates stay at ``duplicate_rate`` at any scale: new records walk a keyed permutation of
    each region's number space, so they never collide by chance (regions are capped at 95 % of
    their space, see :func:`leak_plan`); only the lines drawn as duplicates repeat a number.
    """
    seed = _syn._check_seed(seed)
    rows = _syn._check_count(rows)
    duplicate_rate = _check_rate("duplicate_rate", duplicate_rate, _MAX_DUPLICATE_RATE)
    chunk_rows = _syn._check_count(chunk_rows)
    if chunk_rows == 0:
        raise ValueError("chunk_rows must be > 0")
    plan = leak_plan(rows, regions=regions)

    def gen() -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]]:
        buf_v: list[np.ndarray] = []
        buf_m: list[np.ndarray] = []
        have = 0
        for region, count in plan.items():
            g = _RegionGen(region, count, seed=seed, quirk_rate=0.0, duplicate_rate=duplicate_rate)
            for chunk in range(g.chunks):
                core = g.core(chunk)
                buf_v.append(core.values)
                buf_m.append(core.masks)
                have += core.values.size
                while have >= chunk_rows:
                    v = np.concatenate(buf_v) if len(buf_v) > 1 else buf_v[0]
                    m = np.concatenate(buf_m) if len(buf_m) > 1 else buf_m[0]
                    yield v[:chunk_rows], m[:chunk_rows]
                    buf_v, buf_m = [v[chunk_rows:]], [m[chunk_rows:]]
                    have -= chunk_rows
        if have:
            yield np.concatenate(buf_v), np.concatenate(buf_m)

    return gen()


# --------------------------------------------------------------------------- command


def synth_command(out: str | os.PathLike[str], rows: int, seed: int = 0, quiet: bool = False, *,
                  quirk_rate: float = 0.002, duplicate_rate: float = 0.01,
                  regions: Sequence[str] | None = None,
                  truth_path: str | os.PathLike[str] | None = None) -> int:
    """``breachindex synth OUT --rows N [--seed S]``: write the leak, print one summary line
    (files, lines, MB, seconds, lines/s; never a number) unless ``quiet``. Returns 0."""
    m = write_leak(out, rows, seed=seed, quirk_rate=quirk_rate, duplicate_rate=duplicate_rate,
                   regions=regions, truth_path=truth_path)
    if not quiet:
        rate = m.lines / m.seconds if m.seconds > 0 else float("inf")
        print(f"synth: {len(m.files)} files, {m.lines:,} lines ({m.records:,} records, "
              f"{sum(m.rejects.values()):,} rejects, {m.blank_lines:,} blank), "
              f"{m.bytes / 1e6:,.1f} MB in {m.seconds:.2f} s ({rate:,.0f} lines/s) -> {m.out_dir}")
    return 0


def main_synth(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry: ``python -m breachindex.synth.leak OUT --rows N [--seed S]``."""
    p = argparse.ArgumentParser(prog="breachindex synth",
                                description="write a synthetic leak in the facebook-2021 shapes")
    p.add_argument("out", help="folder to create (must not exist or be empty)")
    p.add_argument("--rows", type=int, required=True, help="data lines in total")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quirk-rate", type=float, default=0.002)
    p.add_argument("--duplicate-rate", type=float, default=0.01)
    p.add_argument("--regions", help="comma-separated region codes (default: the leak's 16)")
    p.add_argument("--truth", help="write the ground truth as JSON here (outside OUT)")
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    try:
        return synth_command(a.out, a.rows, a.seed, a.quiet, quirk_rate=a.quirk_rate,
                             duplicate_rate=a.duplicate_rate,
                             regions=a.regions.split(",") if a.regions else None,
                             truth_path=a.truth)
    except (ValueError, TypeError) as exc:
        print(f"breachindex synth: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_synth())
