"""``add_breach`` / ``breachindex add``: merging a breach into an index must give the index a
build from all the sources at once gives (the oracle), row for row."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import breachindex as bi
from breachindex.builder.ingest import Source, add_breach, build_index
from breachindex.cli.main import main as cli_main
from breachindex.errors import BuildError
from breachindex.synth.leak import write_leak

KEY = bi.Key(b"add-breach-test-secret-0123456789")


def _content(folder: Path) -> dict:
    """Everything a reader can see: per key its profile (names) and country, plus the counts."""
    with bi.open(folder, key=KEY) as index:
        mapped = index._live()
        keys = mapped.keys()
        profiles = [index.profile(int(p)) for p in mapped.profiles]
        countries = {}
        for c in index.countries:
            for row in index.rows_in(country=c):
                countries[int(keys[row])] = c
        index.verify()
        return {
            "rows": {int(k): (tuple(sorted(b)), frozenset(d), countries.get(int(k)))
                     for k, (b, d) in zip(keys, profiles, strict=True)},
            "breaches": {b: len(index.rows_in(breach=b)) for b in index.breaches},
            "classes": {c: len(index.rows_in(data_class=c)) for c in index.data_classes},
        }


@pytest.fixture(scope="module")
def leaks(tmp_path_factory):
    """Two synthetic leak folders; the second breach is b's files plus a's, so that it both
    adds numbers and meets numbers the index has."""
    folder = tmp_path_factory.mktemp("leaks")
    a, b = folder / "a", folder / "b"
    write_leak(a, rows=6000, seed=11, workers=1)
    write_leak(b, rows=4000, seed=12, workers=1)
    return a, [b, a]


@pytest.mark.parametrize("memory", [1 << 30, 1 << 20], ids=["in-memory", "spilling"])
def test_add_equals_a_build_from_both(tmp_path, leaks, memory):
    a, b = leaks
    added, both = tmp_path / "added", tmp_path / "both"
    build_index(added, [Source("first", [a])], key=KEY)
    with bi.open(added, key=KEY) as index:
        before = len(index)
    report = add_breach(added, Source("second", b), key=KEY, memory=memory)
    build_index(both, [Source("first", [a]), Source("second", b)], key=KEY)
    got, want = _content(added), _content(both)
    assert got == want
    assert report.rows == len(want["rows"])
    assert report.added_rows == len(want["rows"]) - before
    in_both = sum(1 for b_, _, _ in want["rows"].values() if b_ == ("first", "second"))
    assert report.updated_rows == in_both
    assert in_both > 0  # the synthetic leaks share numbers, so the merge path is exercised


def test_add_keeps_details(tmp_path, leaks):
    a, b = leaks
    added, both = tmp_path / "added", tmp_path / "both"
    build_index(added, [Source("first", [a])], key=KEY, details=True)
    add_breach(added, Source("second", b), key=KEY)
    build_index(both, [Source("first", [a]), Source("second", b)], key=KEY, details=True)
    with bi.open(added, key=KEY) as x, bi.open(both, key=KEY) as y:
        keys = x._live().keys()
        assert np.array_equal(keys, y._live().keys())
        assert x.has_details
        offsets_x, blob_x = x._details_maps()
        offsets_y, blob_y = y._details_maps()
        for row in np.random.default_rng(0).choice(len(keys), 300, replace=False).tolist():
            sx = bytes(blob_x[64 + int(offsets_x[row]):64 + int(offsets_x[row + 1])])
            sy = bytes(blob_y[64 + int(offsets_y[row]):64 + int(offsets_y[row + 1])])
            assert len(sx) == len(sy) > 0, row  # sealed with fresh nonces: equal sizes, not bytes


def test_add_refuses_a_breach_already_there(tmp_path, leaks):
    a, _ = leaks
    build_index(tmp_path / "idx", [Source("first", [a])], key=KEY)
    with pytest.raises(BuildError, match="already"):
        add_breach(tmp_path / "idx", Source("first", [a]), key=KEY)


def test_cli_add(tmp_path, leaks, capsys):
    a, b = leaks
    keyfile = tmp_path / "secret.key"
    KEY.save(keyfile)
    build_index(tmp_path / "idx", [Source("first", [a])], key=KEY)
    assert cli_main(["add", str(tmp_path / "idx"), "--key", str(keyfile), "--breach", "second", *map(str, b),
                     "--quiet"]) == 0
    with bi.open(tmp_path / "idx", key=KEY) as index:
        assert index.breaches == ("first", "second")


def test_an_index_with_more_than_sixteen_data_classes_keeps_them_apart_from_its_breaches(tmp_path):
    """The merge packs a row's breaches and data classes into one word; classes past bit 15 must
    neither vanish nor turn into breaches (issue 15)."""
    classes = [f"class_{i:02d}" for i in range(20)]
    numbers = [f"+3161234{i:04d}" for i in range(40)]
    records = [(n, "first", [classes[i % 20], classes[19]]) for i, n in enumerate(numbers)]
    built = tmp_path / "built"
    bi.build(built, records, key=KEY)
    leak = tmp_path / "leak"
    leak.mkdir()
    # the new breach meets the first number and adds one (leak form: digits, then the fb12 fields)
    (leak / "second.txt").write_text(f"{numbers[0][1:]}:100001:Anne:Example:female:Utrecht::::::\n"
                                     "31612349999:100002:Bob:Example:male:Zwolle::::::\n", encoding="utf-8")
    before = _content(built)
    add_breach(built, Source("second", [leak]), key=KEY)
    after = _content(built)
    assert set(after["breaches"]) == {"first", "second"}
    assert after["breaches"]["first"] == 40 and after["breaches"]["second"] == 2
    for key_, (breaches, data, _country) in before["rows"].items():
        new_breaches, new_data, _ = after["rows"][key_]
        assert set(new_breaches) - {"second"} == set(breaches)  # no class turned into a breach
        assert data <= new_data  # no class lost
    assert after["classes"]["class_19"] == 40 and after["classes"]["class_16"] == 2


def test_the_leak_data_classes_fit_the_record_words_class_field():
    from breachindex.builder.layouts import DATA_CLASSES
    from breachindex.builder.limits import LIMITS
    from breachindex.builder.records import pack, unpack

    assert len(DATA_CLASSES) <= LIMITS.record_classes
    every = np.array([(1 << len(DATA_CLASSES)) - 1], np.uint32)
    recs = pack(np.array([1], np.uint64), np.array([2], np.uint64), every, np.array([31], np.uint16),
                1 << (LIMITS.breaches - 1))
    breaches, classes, _ = unpack(recs[:, 2])
    assert int(classes[0]) == int(every[0]) and int(breaches[0]) == 1 << (LIMITS.breaches - 1)
