"""Oracle tests: every answer of a built index is checked against a plain Python dict.

The oracle is ``{e164: (set(breaches), set(data_classes))}`` computed with
``breachindex.normalize`` from the same records the index was built from, plus a Counter of
rejection reasons. Nothing here trusts the index to explain itself.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import breachindex as bi
from breachindex import BuildError, InvalidPhoneNumber, Key
from breachindex.synth.synthetic import synthetic_numbers

U64_MAX = 2**64 - 1
KEY = Key.generate()


# ---- data ---------------------------------------------------------------------------------

def numbers(count: int, seed: int) -> list[str]:
    return synthetic_numbers(count, seed=seed)


# numbers whose country is certain: (leak digits, ISO region, a national form)
KNOWN = [
    ("31612345678", "NL", "06 12345678"),
    ("31687654321", "NL", "06-87654321"),
    ("4915112345678", "DE", "01511 2345678"),
    ("4917612345678", "DE", "0176 12345678"),
    ("12025550123", "US", "(202) 555-0123"),
    ("12125550199", "US", "212-555-0199"),
    ("447400123456", "GB", "07400 123456"),
    ("33612345678", "FR", "06 12 34 56 78"),
]

POOL = [k[0] for k in KNOWN] + [n for n in numbers(400, seed=11) if n not in {k[0] for k in KNOWN}]


def forms(digits: str) -> list[str]:
    """Spellings of one leak number that all normalize (region None) to the same E.164."""
    e164 = "+" + digits
    parsed = phonenumbers.parse(e164)
    candidates = [
        digits,
        e164,
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.RFC3966),
        f"  {e164}\t",
    ]
    return [c for c in candidates if _norm(c) == e164]


def _norm(raw: object, region: str | None = None) -> str | None:
    try:
        return bi.normalize(raw, region)  # type: ignore[arg-type]
    except InvalidPhoneNumber:
        return None


FORMS = [forms(n) for n in POOL]

INVALID = [
    "", "abc", "123", "+999123", "0031612345678", "0612345678", "3161234567890123",
    "+31 6", "+31 6 1234 5678 9012 3456", "31612345678x", "\u0663\u0661\u0666", None, 31612345678,
    b"31612345678", "+", "tel:", "\x00" * 5,
]
BREACHES = ["facebook-2021", "LinkedIn scrape", "Büro Leak 2019", "x", "dup", "B" * 128]
CLASSES = ["name", "email_address", "gender", "location", "employer", "birth_date", "phone"]


def make_oracle(records):
    oracle: dict[str, tuple[set, set]] = {}
    rejected: Counter[str] = Counter()
    accepted = 0
    for phone, breach, classes in records:
        try:
            e164 = bi.normalize(phone)
        except InvalidPhoneNumber as exc:
            rejected[exc.reason] += 1
            continue
        accepted += 1
        b, c = oracle.setdefault(e164, (set(), set()))
        b.add(breach)
        c.update(classes)
    return oracle, rejected, accepted


def check_against_oracle(index: bi.Index, report, records, absent_pool=POOL) -> dict[str, int]:
    """Assert every answer of index equals the oracle's; returns {e164: row}."""
    oracle, rejected, accepted = make_oracle(records)
    n = len(oracle)

    # the report
    assert len(index) == n
    assert report.rows == n
    assert report.lines == len(records)
    assert report.records == accepted
    assert report.rejected == dict(rejected)
    assert report.duplicates == accepted - n
    assert report.lines == report.rows + report.duplicates + sum(report.rejected.values())
    for b in {b for bs, _ in oracle.values() for b in bs}:
        assert report.breaches[b] == sum(b in bs for bs, _ in oracle.values())
    for c in {c for _, cs in oracle.values() for c in cs}:
        assert report.data_classes[c] == sum(c in cs for _, cs in oracle.values())

    # single lookups of the E.164 and leak forms
    rows: dict[str, int] = {}
    for e164, (breaches, classes) in oracle.items():
        m = index.lookup(e164)
        assert m is not None, "a number of the oracle is missing"
        assert isinstance(m.row, int) and 0 <= m.row < n
        assert len(m.breaches) == len(set(m.breaches))
        assert set(m.breaches) == breaches
        assert isinstance(m.data_classes, frozenset)
        assert m.data_classes == frozenset(classes)
        assert e164 in index
        assert e164[1:] in index
        m2 = index.lookup(e164[1:])
        assert m2 is not None and m2.row == m.row
        rows[e164] = m.row
    assert len(set(rows.values())) == n, "two numbers share a row"
    assert set(rows.values()) == set(range(n))

    # every raw form the records used, single and batched
    raws = [r[0] for r in records]
    expected_rows = []
    for raw in raws:
        e164 = _norm(raw) if isinstance(raw, str) else None
        if e164 is None:
            if isinstance(raw, str):
                with pytest.raises(InvalidPhoneNumber):
                    index.lookup(raw)
            assert raw not in index
            expected_rows.append(-1)
        else:
            m = index.lookup(raw)
            assert m is not None and m.row == rows[e164]
            assert raw in index
            expected_rows.append(rows[e164])
    got = index.rows_of(raws)
    assert got.dtype == np.int64 and got.shape == (len(raws),)
    assert got.tolist() == expected_rows
    assert index.contains_many(raws).tolist() == [r >= 0 for r in expected_rows]

    # absent numbers
    absent = [p for p in absent_pool if "+" + p not in oracle]
    for p in absent[:60]:
        assert index.lookup(p) is None
        assert index.lookup("+" + p) is None
        assert p not in index
    if absent:
        assert (index.rows_of(absent) == -1).all()
        assert not index.contains_many(absent).any()

    # set queries
    assert {b for bs, _ in oracle.values() for b in bs} <= set(index.breaches)
    assert {c for _, cs in oracle.values() for c in cs} <= set(index.data_classes)
    for b in index.breaches:
        assert set(index.rows_in(breach=b)) == {rows[e] for e, (bs, _) in oracle.items() if b in bs}
    for c in index.data_classes:
        assert set(index.rows_in(data_class=c)) == {rows[e] for e, (_, cs) in oracle.items() if c in cs}

    # keys: row == position of the sorted key
    e164s = list(rows)
    keys = index.phone_keys(e164s)
    assert keys.dtype == np.uint64 and len(np.unique(keys)) == n
    assert index.lookup_keys(keys).tolist() == [rows[e] for e in e164s]
    assert index.lookup_keys(np.sort(keys)).tolist() == list(range(n))
    assert (bi.phone_keys(e164s, key=KEY, tweak=index.key_tweak) == keys).all()
    # keys that are not in the index, including the extremes of the key space
    present = set(keys.tolist())
    crafted = {0, 1, U64_MAX, U64_MAX - 1, 2**63, 2**63 - 1}
    crafted |= {int(k) + d for k in keys.tolist() for d in (-1, 1) if 0 <= int(k) + d <= U64_MAX}
    crafted -= present
    q = np.array(sorted(crafted), dtype=np.uint64)
    assert (index.lookup_keys(q) == -1).all()

    index.verify()
    return rows


def build_and_open(folder: Path, records, **kw):
    report = bi.build(folder, records, key=KEY, **kw)
    return bi.open(folder, key=KEY), report


# ---- hypothesis ---------------------------------------------------------------------------

valid_phone = st.tuples(
    st.one_of(st.integers(0, 7), st.integers(0, len(POOL) - 1)),  # small range: duplicates
    st.integers(0, 4),
).map(lambda t: FORMS[t[0]][t[1] % len(FORMS[t[0]])])
any_phone = st.one_of(
    valid_phone,
    valid_phone,
    valid_phone,
    st.sampled_from(INVALID),
    st.text(alphabet="0123456789+ -().", max_size=18),
    st.text(max_size=8),
)
record = st.tuples(
    any_phone,
    st.sampled_from(BREACHES),
    st.lists(st.sampled_from(CLASSES), max_size=4).flatmap(
        lambda cs: st.sampled_from([cs, tuple(cs), set(cs), frozenset(cs)])
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(record, max_size=60), dir_bits=st.sampled_from([None, 1, 2, 8]))
def test_oracle_random_records(records, dir_bits):
    with tempfile.TemporaryDirectory() as d:
        index, report = build_and_open(Path(d) / "idx", iter(records), dir_bits=dir_bits)
        with index:
            check_against_oracle(index, report, records)


def test_empty_input(tmp_path):
    index, report = build_and_open(tmp_path / "idx", [])
    assert len(index) == 0 and report.rows == 0 and report.records == 0
    assert report.rejected == {} and report.duplicates == 0
    assert index.lookup(POOL[0]) is None and POOL[0] not in index
    assert index.lookup_keys(np.array([0, 1, 2**63, U64_MAX], dtype=np.uint64)).tolist() == [-1] * 4
    assert index.lookup_keys(np.empty(0, dtype=np.uint64)).tolist() == []
    assert index.rows_of([]).tolist() == [] and index.contains_many([]).tolist() == []
    check_against_oracle(index, report, [])


def test_only_invalid_input(tmp_path):
    records = [(p, "facebook-2021", ["name"]) for p in INVALID]
    index, report = build_and_open(tmp_path / "idx", records)
    assert len(index) == 0
    assert sum(report.rejected.values()) == len(INVALID)
    check_against_oracle(index, report, records)
    # a breach all of whose records were rejected has no rows
    for b in index.breaches:
        assert len(index.rows_in(breach=b)) == 0


def test_one_record(tmp_path):
    records = [("31612345678", "facebook-2021", ["name", "gender"])]
    index, report = build_and_open(tmp_path / "idx", records)
    m = index.lookup("+31 6 12345678")
    assert m.row == 0 and m.breaches == ("facebook-2021",)
    assert m.data_classes == frozenset({"name", "gender"}) and m.country == "NL"
    assert index.lookup("+31612345679") is None
    check_against_oracle(index, report, records)


def test_heavy_duplication_merges_into_one_row(tmp_path):
    digits = "31612345678"
    spellings = ["31612345678", "+31612345678", "+31 6 12345678", "+31 (6) 1234-5678",
                 "tel:+31-6-12345678", " 31612345678 "]
    assert {bi.normalize(s) for s in spellings} == {"+31612345678"}
    records = []
    for i in range(300):
        records.append((spellings[i % len(spellings)], BREACHES[i % 3], [CLASSES[i % 5]]))
    records.append(("4915112345678", "x", []))
    index, report = build_and_open(tmp_path / "idx", records)
    assert len(index) == 2
    assert report.duplicates == 299
    m = index.lookup(digits)
    assert set(m.breaches) == set(BREACHES[:3])
    assert m.data_classes == frozenset(CLASSES[:5])
    other = index.lookup("+4915112345678")
    assert other.breaches == ("x",) and other.data_classes == frozenset()
    check_against_oracle(index, report, records)


def _mixed_records(count: int, seed: int):
    rng = random.Random(seed)
    nums = numbers(count, seed=seed)
    recs = []
    for n in nums:
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            f = forms(n)
            recs.append((rng.choice(f), rng.choice(BREACHES[:4]),
                         rng.sample(CLASSES, rng.randint(0, 3))))
    recs += [(p, "facebook-2021", ["name"]) for p in INVALID]
    rng.shuffle(recs)
    return recs, nums


@pytest.fixture(scope="module")
def mixed():
    return _mixed_records(3000, seed=5)


@pytest.mark.parametrize("dir_bits", [1, 2, 8, 20])
def test_dir_bits_extremes(tmp_path, mixed, dir_bits):
    records, _ = mixed
    index, report = build_and_open(tmp_path / "idx", records, dir_bits=dir_bits)
    assert index.manifest["dir_bits"] == dir_bits
    check_against_oracle(index, report, records, absent_pool=numbers(500, seed=99))


@pytest.mark.parametrize("dir_bits", [0, 33, -1])
def test_dir_bits_out_of_range(tmp_path, dir_bits):
    with pytest.raises(BuildError):
        bi.build(tmp_path / "idx", [("31612345678", "b", [])], key=KEY, dir_bits=dir_bits)
    assert not (tmp_path / "idx").exists()


def test_same_answers_for_every_dir_bits(tmp_path, mixed):
    records, nums = mixed
    queries = nums + numbers(300, seed=1234)
    answers = []
    for bits in (None, 1, 2, 8, 20):
        index, _ = build_and_open(tmp_path / f"idx{bits}", records, dir_bits=bits)
        answers.append(index.rows_of(queries).tolist())
    assert all(a == answers[0] for a in answers)


# ---- lookup_keys --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def big_index(tmp_path_factory):
    nums = numbers(20000, seed=21)
    records = [(n, BREACHES[i % 3], [CLASSES[i % 4]]) for i, n in enumerate(nums)]
    folder = tmp_path_factory.mktemp("big") / "idx"
    bi.build(folder, records, key=KEY)
    index = bi.open(folder, key=KEY)
    yield index, nums, records
    index.close()


def test_lookup_keys_threads_agree(big_index):
    index, nums, _ = big_index
    keys = index.phone_keys(nums)
    rng = np.random.default_rng(7)
    q = np.concatenate([keys, keys[::-1], rng.integers(0, U64_MAX, 200_000, dtype=np.uint64,
                                                      endpoint=True),
                        np.array([0, U64_MAX], dtype=np.uint64)])
    rng.shuffle(q)
    assert len(q) >= 100_000
    one = index.lookup_keys(q, threads=1)
    expected = {int(k): r for r, k in enumerate(np.sort(keys).tolist())}
    assert one.tolist() == [expected.get(int(k), -1) for k in q.tolist()]
    for threads in (2, 3, 8, 64, None):
        assert np.array_equal(index.lookup_keys(q, threads=threads), one), threads
    by_one = index.rows_of(nums, threads=1)
    assert (by_one >= 0).all()
    for threads in (2, None):
        assert np.array_equal(index.rows_of(nums, threads=threads), by_one), threads
    lines = "".join(n + "\n" for n in nums).encode("ascii")
    assert np.array_equal(index.rows_of(lines), by_one)
    assert np.array_equal(index.contains_many(np.array(nums, dtype="S")), by_one >= 0)


@pytest.mark.parametrize("dtype", [np.int64, np.float64, np.int32, np.uint32, np.int8, object, ">u8"])
def test_lookup_keys_rejects_other_dtypes(big_index, dtype):
    index = big_index[0]
    with pytest.raises(TypeError):
        index.lookup_keys(np.array([1, 2, 3], dtype=dtype))


def test_lookup_keys_rejects_plain_lists(big_index):
    with pytest.raises(TypeError):
        big_index[0].lookup_keys([1, 2, 3])


@pytest.mark.parametrize("threads", [0, 65])
def test_lookup_keys_threads_out_of_range(big_index, threads):
    with pytest.raises(ValueError):
        big_index[0].lookup_keys(np.zeros(10, dtype=np.uint64), threads=threads)


def test_lookup_keys_negative_threads_is_a_value_error(big_index):
    # threads=0 and threads=65 raise ValueError; -1 should too (not OverflowError from cffi)
    with pytest.raises(ValueError):
        big_index[0].lookup_keys(np.zeros(10, dtype=np.uint64), threads=-1)


def test_lookup_keys_shapes_and_strides(big_index):
    index, nums, _ = big_index
    keys = index.phone_keys(nums[:1000])
    rows = index.lookup_keys(keys)
    assert (rows >= 0).all()
    assert np.array_equal(index.lookup_keys(keys[::3]), rows[::3])
    assert np.array_equal(index.lookup_keys(keys[::-1]), rows[::-1])
    assert np.array_equal(index.lookup_keys(keys.reshape(10, 100)), rows)
    assert index.lookup_keys(np.uint64(keys[5])).tolist() == [rows[5]]
    # the input array is not modified
    before = keys.copy()
    index.lookup_keys(keys, threads=2)
    assert np.array_equal(keys, before)


def test_phone_keys_position_of_invalid(big_index):
    index, nums, _ = big_index
    with pytest.raises(InvalidPhoneNumber) as info:
        index.phone_keys([nums[0], nums[1], "abc", nums[2]])
    assert info.value.position == 2


# ---- concurrency ----------------------------------------------------------------------------

def test_many_threads_read_one_index(big_index):
    index, nums, records = big_index
    oracle, _, _ = make_oracle(records)
    absent = numbers(2000, seed=77)
    queries = [(n, "+" + n in oracle) for n in nums[:3000]] + [(n, "+" + n in oracle) for n in absent]
    expected = {}
    for n, present in queries:
        m = index.lookup(n)
        expected[n] = None if m is None else (m.row, m.breaches, m.data_classes)
        assert (m is not None) == present
    spellings = {n: [n, "+" + n, forms(n)[-1]] for n, _ in queries}
    errors: list[str] = []
    barrier = threading.Barrier(8)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        barrier.wait()
        for _ in range(2000):
            n, present = rng.choice(queries)
            spelled = rng.choice(spellings[n])
            m = index.lookup(spelled)
            got = None if m is None else (m.row, m.breaches, m.data_classes)
            if got != expected[n] or (spelled in index) != present:
                errors.append(f"thread {seed}: wrong answer")
                return
            if seed % 2 and rng.random() < 0.01:
                batch = [q for q, _ in rng.sample(queries, 200)]
                rows = index.rows_of(batch, threads=2)
                want = [-1 if expected[q] is None else expected[q][0] for q in batch]
                if rows.tolist() != want:
                    errors.append(f"thread {seed}: wrong batch answer")
                    return

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


_CHILD = textwrap.dedent(
    """
    import json, sys
    import breachindex as bi
    index = bi.open(sys.argv[1], key=sys.argv[2])
    out = []
    for n in json.load(sys.stdin):
        m = index.lookup(n)
        out.append(None if m is None else [m.row, sorted(m.breaches), sorted(m.data_classes), m.country])
    print(json.dumps(out))
    """
)


def test_second_process_gives_the_same_answers(tmp_path, big_index):
    index, nums, _ = big_index
    key_file = tmp_path / "secret.key"
    KEY.save(key_file)
    queries = nums[:500] + numbers(200, seed=78) + [k[0] for k in KNOWN]
    expected = []
    for n in queries:
        m = index.lookup(n)
        expected.append(None if m is None else [m.row, sorted(m.breaches), sorted(m.data_classes), m.country])
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(index.path), str(key_file)],
        input=json.dumps(queries), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected


# ---- country, regions, set queries --------------------------------------------------------------

@pytest.fixture(scope="module")
def known_index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("known") / "idx"
    records = [(d, "facebook-2021", ["name"]) for d, _, _ in KNOWN]
    bi.build(folder, records, key=KEY)
    with bi.open(folder, key=KEY) as index:
        yield index


@pytest.mark.parametrize("digits,region,national", KNOWN)
def test_match_country_and_national_forms(known_index, digits, region, national):
    m = known_index.lookup(digits)
    assert m is not None and m.country == region
    for spelled in ("+" + digits, forms(digits)[2]):
        m2 = known_index.lookup(spelled)
        assert m2.row == m.row and m2.country == region
    for reg in (region, region.lower()):
        m3 = known_index.lookup(national, region=reg)
        assert m3 is not None and m3.row == m.row and m3.country == region
    assert known_index.rows_of([national], region=region).tolist() == [m.row]
    assert known_index.contains_many([national], region=region).tolist() == [True]
    # without a region a national form is not a possible number, never "not in the leak"
    with pytest.raises(InvalidPhoneNumber):
        known_index.lookup(national)
    assert national not in known_index


_REGIONS = [None, "NL", "DE", "US", "GB", "FR"]
query_text = st.one_of(
    st.sampled_from([f for d, _, _ in KNOWN for f in forms(d)] + [n for _, _, n in KNOWN]),
    st.tuples(st.sampled_from(["", "+", "00", "0", "011", "+31", "31", "49", "+49 ", "1", "+1 ",
                               "44", "0044", "33", "+800", "+7", "+39 0"]),
              st.text(alphabet="0123456789", max_size=14)).map("".join),
    st.text(alphabet="0123456789+ -()./", max_size=22),
    st.text(max_size=6),
)


@settings(max_examples=400, deadline=None)
@given(raw=query_text, region=st.sampled_from(_REGIONS))
def test_lookup_agrees_with_normalize(known_index, raw, region):
    """The C fast path and the reference must give the same answer for any input."""
    present = {"+" + d: known_index.lookup(d).row for d, _, _ in KNOWN}
    try:
        e164 = bi.normalize(raw, region)
    except InvalidPhoneNumber as exc:
        with pytest.raises(InvalidPhoneNumber) as info:
            known_index.lookup(raw, region)
        assert info.value.reason == exc.reason
        want = -1
    else:
        m = known_index.lookup(raw, region)
        want = present.get(e164, -1)
        assert (m.row if m is not None else -1) == want
    assert known_index.rows_of([raw], region=region).tolist() == [want]
    assert known_index.contains_many([raw], region=region).tolist() == [want >= 0]
    assert (raw in known_index) == (_norm(raw) in present)


def test_idd_prefix_with_region(known_index):
    assert known_index.lookup("0031612345678", region="NL").row == known_index.lookup("31612345678").row
    assert known_index.lookup("011 31 6 12345678", region="US").row == known_index.lookup("31612345678").row


def test_invalid_lookups(known_index):
    for raw in INVALID:
        if isinstance(raw, str):
            with pytest.raises(InvalidPhoneNumber) as info:
                known_index.lookup(raw)
            try:
                bi.normalize(raw)
            except InvalidPhoneNumber as exc:
                assert info.value.reason == exc.reason
        else:
            with pytest.raises(InvalidPhoneNumber) as info:
                known_index.lookup(raw)
            assert info.value.reason == "not_text"
        assert raw not in known_index
    assert not known_index.contains_many(INVALID).any()
    assert (known_index.rows_of(INVALID) == -1).all()
    with pytest.raises(InvalidPhoneNumber) as info:
        known_index.lookup("06 12345678", region="XX")
    assert info.value.reason == "unknown_region"


def test_rows_in_arguments(known_index):
    with pytest.raises(ValueError):
        known_index.rows_in()
    with pytest.raises(ValueError):
        known_index.rows_in(breach="facebook-2021", data_class="name")
    with pytest.raises(KeyError):
        known_index.rows_in(breach="no such breach")
    with pytest.raises(KeyError):
        known_index.rows_in(data_class="email_address")
    assert set(known_index.rows_in(breach="facebook-2021")) == set(range(len(KNOWN)))


def test_profile_column_wider_than_16_bits(tmp_path):
    """More than 65536 distinct (breach, classes) profiles: 4-byte profile ids."""
    nums = numbers(70_000, seed=31)
    classes = [f"c{i}" for i in range(17)]
    records = [(n, "b", [classes[j] for j in range(17) if i >> j & 1]) for i, n in enumerate(nums)]
    index, report = build_and_open(tmp_path / "idx", records)
    assert len(index.manifest["profiles"]) > 1 << 16
    rng = random.Random(3)
    for i in rng.sample(range(len(nums)), 3000):
        m = index.lookup(nums[i])
        assert m.data_classes == frozenset(classes[j] for j in range(17) if i >> j & 1)
    rows = index.rows_of(nums)
    assert (rows >= 0).all() and len(set(rows.tolist())) == len(nums)
    for j in (0, 16):
        want = {int(rows[i]) for i in range(len(nums)) if i >> j & 1}
        assert set(index.rows_in(data_class=classes[j])) == want
    index.verify()


def test_key_collision_retries_with_a_tweak(tmp_path, monkeypatch):
    """Force two numbers onto one 64-bit key: the build must re-key (key_tweak > 0)."""
    from breachindex.builder import writer

    if not hasattr(writer, "key_numbers"):
        pytest.skip("writer no longer keys through key_numbers")
    real = writer.key_numbers

    def colliding(*args, **kwargs):
        batch = real(*args, **kwargs)
        ok = np.flatnonzero(batch.ok)
        if len(ok) >= 2:
            batch.keys[ok[1]] = batch.keys[ok[0]]
        return batch

    monkeypatch.setattr(writer, "key_numbers", colliding)
    records = [(n, "b", ["name"]) for n in POOL[:50]]
    report = bi.build(tmp_path / "idx", records, key=KEY)
    monkeypatch.undo()
    assert report.key_tweak > 0
    index = bi.open(tmp_path / "idx", key=KEY)
    assert index.key_tweak == report.key_tweak
    check_against_oracle(index, report, records)
    assert not np.array_equal(bi.phone_keys(POOL[:50], key=KEY), index.phone_keys(POOL[:50]))


# ---- building: existing folders and failures ---------------------------------------------------

def _leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p for p in os.listdir(parent) if p != name)


def test_existing_folder_needs_overwrite(tmp_path):
    folder = tmp_path / "idx"
    bi.build(folder, [("31612345678", "old", ["name"])], key=KEY)
    with pytest.raises(BuildError):
        bi.build(folder, [("4915112345678", "new", ["gender"])], key=KEY)
    with bi.open(folder, key=KEY) as index:  # untouched
        assert index.lookup("31612345678").breaches == ("old",)
    report = bi.build(folder, [("4915112345678", "new", ["gender"])], key=KEY, overwrite=True)
    assert report.rows == 1
    with bi.open(folder, key=KEY) as index:
        assert index.lookup("31612345678") is None
        assert index.lookup("4915112345678").breaches == ("new",)
    assert _leftovers(tmp_path, "idx") == []


def test_existing_empty_folder_or_file_needs_overwrite(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BuildError):
        bi.build(tmp_path / "empty", [], key=KEY)
    (tmp_path / "file").write_text("x")
    with pytest.raises(BuildError):
        bi.build(tmp_path / "file", [], key=KEY)
    assert (tmp_path / "file").read_text() == "x"


def test_overwrite_refuses_what_is_not_an_index(tmp_path):
    # overwrite=True replaces an index or an empty folder; a mistyped path must not wipe files
    (tmp_path / "idx").write_text("not an index")
    with pytest.raises(bi.BuildError, match="not an index"):
        bi.build(tmp_path / "idx", [("31612345678", "b", ["name"])], key=KEY, overwrite=True)
    assert (tmp_path / "idx").read_text() == "not an index"
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "thesis.txt").write_text("years of work")
    with pytest.raises(bi.BuildError, match="not an index"):
        bi.build(tmp_path / "folder", [("31612345678", "b", ["name"])], key=KEY, overwrite=True)
    assert (tmp_path / "folder" / "thesis.txt").read_text() == "years of work"
    (tmp_path / "empty").mkdir()
    bi.build(tmp_path / "empty", [("31612345678", "b", ["name"])], key=KEY, overwrite=True)
    with bi.open(tmp_path / "empty", key=KEY) as index:
        assert "31612345678" in index
    assert sorted(os.listdir(tmp_path)) == ["empty", "folder", "idx"]  # no temp folders left


class Boom(Exception):
    pass


def _failing(records, after: int, exc: BaseException):
    for i, r in enumerate(records):
        if i == after:
            raise exc
        yield r


@pytest.mark.parametrize("after", [0, 10, 70_000])
@pytest.mark.parametrize("exc", [Boom("midway"), KeyboardInterrupt()])
def test_failed_build_leaves_nothing(tmp_path, after, exc):
    nums = numbers(max(after, 20) + 10, seed=41)
    records = [(n, "b", ["name"]) for n in nums]
    with pytest.raises(type(exc)):
        bi.build(tmp_path / "idx", _failing(records, after, exc), key=KEY)
    assert os.listdir(tmp_path) == []


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    from breachindex.builder import files as indexfiles

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(indexfiles.IndexFilesWriter, "_write_bitmap", broken)
    with pytest.raises(OSError):
        bi.build(tmp_path / "idx", [("31612345678", "b", ["name"])], key=KEY)
    assert os.listdir(tmp_path) == []


def test_failed_overwrite_keeps_the_old_index(tmp_path, monkeypatch):
    from breachindex.builder import files as indexfiles

    folder = tmp_path / "idx"
    bi.build(folder, [("31612345678", "old", ["name"])], key=KEY)
    with pytest.raises(Boom):
        bi.build(folder, _failing([("4915112345678", "new", [])] * 5, 3, Boom()), key=KEY,
                 overwrite=True)
    monkeypatch.setattr(indexfiles.IndexFilesWriter, "_write_bitmap",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("full")))
    with pytest.raises(OSError):
        bi.build(folder, [("4915112345678", "new", [])], key=KEY, overwrite=True)
    monkeypatch.undo()
    assert _leftovers(tmp_path, "idx") == []
    with bi.open(folder, key=KEY) as index:
        assert index.lookup("31612345678").breaches == ("old",)
        index.verify()


def test_failed_final_rename_keeps_the_old_index(tmp_path, monkeypatch):
    """If moving the new folder into place fails, the old index must still be at its path."""
    folder = tmp_path / "idx"
    bi.build(folder, [("31612345678", "old", ["name"])], key=KEY)
    real_rename = os.rename

    def rename(src, dst, *a, **k):
        if ".building-" in os.fspath(src):
            raise OSError("rename failed")
        return real_rename(src, dst, *a, **k)

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "replace", rename)
    with pytest.raises(OSError):
        bi.build(folder, [("4915112345678", "new", [])], key=KEY, overwrite=True)
    monkeypatch.undo()
    assert folder.is_dir(), "the old index vanished from its path"
    with bi.open(folder, key=KEY) as index:
        assert index.lookup("31612345678").breaches == ("old",)
    assert _leftovers(tmp_path, "idx") == []


@pytest.mark.parametrize(
    "records",
    [
        [("31612345678", "", ["name"])],
        [("31612345678", "bad\nname", ["name"])],
        [("31612345678", 42, ["name"])],
        [("31612345678", "b", ["Email"])],
        [("31612345678", "b", ["e-mail"])],
        [("31612345678", "b", "name")],
        [("31612345678", "b")],
        ["31612345678"],
        [(n, f"breach{i}", []) for i, n in enumerate(POOL[:33])],
        [(POOL[0], "b", [f"c{i}"]) for i in range(33)],
    ],
    ids=["empty-breach", "unprintable-breach", "int-breach", "upper-class", "dash-class",
         "class-str", "short-record", "bare-string", "33-breaches", "33-classes"],
)
def test_bad_records_raise_build_error(tmp_path, records):
    with pytest.raises(BuildError):
        bi.build(tmp_path / "idx", records, key=KEY)
    assert os.listdir(tmp_path) == []


# ---- life cycle ----------------------------------------------------------------------------------

def test_closed_index_refuses_queries(tmp_path):
    folder = tmp_path / "idx"
    bi.build(folder, [("31612345678", "b", ["name"])], key=KEY)
    with bi.open(folder, key=KEY) as index:
        assert index.lookup("31612345678") is not None
    for call in (
        lambda: index.lookup("31612345678"),
        lambda: "31612345678" in index,
        lambda: index.contains_many(["31612345678"]),
        lambda: index.rows_of(["31612345678"]),
        lambda: index.lookup_keys(np.zeros(3, dtype=np.uint64)),
        lambda: index.verify(),
    ):
        with pytest.raises(ValueError):
            call()
    index.close()  # closing twice is harmless
    assert "closed" in repr(index)


def test_closed_index_refuses_set_queries(tmp_path):
    folder = tmp_path / "idx"
    bi.build(folder, [("31612345678", "b", ["name"])], key=KEY)
    index = bi.open(folder, key=KEY)
    index.close()
    with pytest.raises(ValueError):
        index.rows_in(breach="b")


@pytest.mark.parametrize("chunk_rows", [1, 3, 64, 1 << 24])
def test_rows_where_builds_the_bitmap_a_chunk_at_a_time(monkeypatch, chunk_rows):
    """verify()'s expected bitmaps, built in bounded chunks, against numpy over the whole column."""
    from breachindex.index import reader as index_module

    monkeypatch.setattr(index_module, "_VERIFY_CHUNK_ROWS", chunk_rows)
    rng = np.random.default_rng(chunk_rows)
    for n in (0, 1, 5, 200, 1000):
        profiles = rng.integers(0, 6, n).astype(np.uint16)
        with_bit = rng.random(6) < 0.5
        got = index_module._rows_where(with_bit, profiles)
        assert list(got) == np.flatnonzero(with_bit[profiles]).tolist(), n


def test_rows_keys_and_membership_take_numpy_string_arrays(known_index):
    """A numpy ``U`` or ``S`` array gives what the list of the same numbers gives."""
    import numpy as np

    numbers = ["+" + d for d, _, _ in KNOWN] + ["+31699999999", "12"]
    want_rows = known_index.rows_of(numbers).tolist()
    assert want_rows[-1] == -1 and all(r >= 0 for r in want_rows[:len(KNOWN)])
    for data in (np.array(numbers), np.array([n.encode("ascii") for n in numbers]), tuple(numbers)):
        assert known_index.rows_of(data).tolist() == want_rows, type(data)
        assert known_index.contains_many(data).tolist() == [r >= 0 for r in want_rows], type(data)
    ok = numbers[:-1]
    assert known_index.phone_keys(np.array([n.encode("ascii") for n in ok])).tolist() == \
        known_index.phone_keys(ok).tolist()
