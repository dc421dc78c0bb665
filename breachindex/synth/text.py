"""A synthetic leak's rows as the bytes of its file, vectorised per chunk (numbers, names,
dates, separators, quirks), in the layout of the region."""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import numpy as np

from ..builder.layouts import DATA_CLASSES
from .rows import ChunkCore, RegionGen
from .shape import (
    ALPHABET,
    BAD_UTF8_NAMES,
    CSV_HEADER,
    EMAIL_DOMAINS,
    EMPLOYERS,
    FALLBACK_TEXT,
    REGION_TEXT,
    RELATIONSHIP,
    ROLE_BADUTF8,
    ROLE_DUP,
    ROLE_EMPTY,
    ROLE_FEW,
    ROLE_LONG,
    ROLE_NORMAL,
    ROLE_PLUS,
    ROLE_SHORT,
    STREAM_POOLS,
    STREAM_TEXT,
    as_raw_text,
    ascii_word,
    csv_quote,
    random_stream,
)

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
def date_pools(seed: int) -> tuple[list[str], list[str]]:
    """4096 account timestamps (2008..2020) and 4096 birth dates (1950..2005), as text."""
    rng = random_stream(seed, STREAM_POOLS)
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


class FileText:
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

    def __init__(self, gen: RegionGen, *, seed: int, quirk_rate: float, crlf: bool,
                 dates: tuple[list[str], list[str]]) -> None:
        self.gen = gen
        self.seed = seed
        self.quirk_rate = quirk_rate
        layout = gen.layout
        self.layout = layout
        self.sep = sep = layout.separator
        self.term = term = "\r\n" if crlf else "\n"
        country, male, female, last, cities = REGION_TEXT.get(gen.region, FALLBACK_TEXT)
        self.male = male.split("|")
        self.female = female.split("|")
        self.last = last.split("|")
        places = [f"{c}, {country}" if country else c for c in cities.split("|")]
        stamps, births = dates  # ASCII, no separator in them

        def text(values: list[str]) -> list[str]:
            return ["", *(as_raw_text(csv_quote(s) if layout.csv else s) for s in values)]

        self.field_vocab: dict[str, list[str]] = {
            "first_name": text(self.male + self.female),
            "last_name": text(self.last),
            "gender": ["", "male", "female"],
            "location": text(places),
            "hometown": text(places),
            "relationship_status": text(RELATIONSHIP),
            "employer": text(EMPLOYERS),
            "created_at": ["", *stamps],
            "updated_at": ["", *stamps],
            "birth_date": ["", *births],
        }
        self.ascii_first = [ascii_word(s) for s in self.male + self.female]
        self.ascii_last = [ascii_word(s) for s in self.last]
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

    def render(self, core: ChunkCore, chunk: int, start_line: int) -> tuple[str, int]:
        """The text of one chunk (its first line is line ``start_line`` of the file) and the
        number of blank lines in it."""
        gen = self.gen
        n = core.role.size
        k = self.k
        rng = random_stream(self.seed, STREAM_TEXT, gen.rkey, chunk)
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
            "relationship_status": pick(7, len(RELATIONSHIP)) * has("relationship_status"),
            "employer": pick(8, len(EMPLOYERS)) * has("employer"),
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
                lst[i * k + pos] = s[:cut] + f"{local}@{prnd.choice(EMAIL_DOMAINS)}" + s[cut:]
        role = core.role
        name_pos = self.first_k + self.seg_of["first_name"]
        name_end = self.segments[self.seg_of["first_name"]].end
        first_vocab = self.field_vocab["first_name"]
        last_vocab = self.field_vocab["last_name"]
        gender_vocab = self.field_vocab["gender"]
        for i in np.flatnonzero((role != ROLE_NORMAL) & (role != ROLE_DUP)).tolist():
            r = int(role[i])
            base = i * k
            if r == ROLE_PLUS:
                lst[base] = "+" + lst[base]
            elif r == ROLE_BADUTF8:  # the name class is forced on for these lines
                bad = BAD_UTF8_NAMES[prnd.randrange(len(BAD_UTF8_NAMES))].decode("latin-1")
                lst[base + name_pos] = sep.join(
                    (bad, last_vocab[int(fidx["last_name"][i])], gender_vocab[int(fidx["gender"][i])])
                ) + name_end
            elif r == ROLE_FEW:  # phone:facebook_id:first_name
                lst[base + name_pos] = (first_vocab[int(fidx["first_name"][i])] or first_vocab[1]) + term
                for j in range(name_pos + 1, k):
                    lst[base + j] = ""
            else:
                if r == ROLE_EMPTY:
                    bad = ""
                elif r == ROLE_SHORT:
                    bad = f"{prnd.randrange(10000):04d}"
                elif r == ROLE_LONG:
                    bad = f"{prnd.randrange(10**24, 10**25)}"
                else:  # ROLE_LETTERS: a valid-looking number with two letters in it
                    chars = list(str(int(v[i])))
                    for p in prnd.sample(range(2, len(chars)), 2):
                        chars[p] = prnd.choice(ALPHABET)
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
