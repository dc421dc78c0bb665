"""Index.export_rows, the public row export ``add`` merges into, against the index's own answers."""
from __future__ import annotations

import numpy as np
import pytest

import breachindex as bi
from breachindex.keying import phone_keys
from breachindex.synth.synthetic import synthetic_records


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    key = bi.Key.generate()
    records = synthetic_records(3000, seed=11) + synthetic_records(500, seed=12, breach="second")
    bi.build(d / "idx", records, key=key)
    index = bi.open(d / "idx", key=key)
    yield index, key, records
    index.close()


@pytest.mark.parametrize("ranges", [1, 2, 8, 256])
def test_the_blocks_hold_every_row_once_in_key_order_with_the_lookup_answers(built, ranges):
    index, key, records = built
    blocks = list(index.export_rows(ranges=ranges))
    assert len(blocks) == ranges
    keys = np.concatenate([b.keys for b in blocks])
    assert len(keys) == len(index) and bool(np.all(keys[1:] > keys[:-1]))
    assert [b.start for b in blocks] == list(np.cumsum([0] + [len(b.keys) for b in blocks[:-1]]))
    row_of_key = {int(k): i for i, k in enumerate(keys)}
    breaches = np.concatenate([b.breaches for b in blocks])
    classes = np.concatenate([b.data_classes for b in blocks])
    countries = np.concatenate([b.countries for b in blocks])
    phones = sorted({p for p, _, _ in records})
    for phone, k in zip(phones, phone_keys(phones, key=key, tweak=index.manifest.get("key_tweak", 0)), strict=True):
        m = index.lookup(phone)
        assert m is not None
        row = row_of_key[int(k)]
        assert row == m.row
        assert {index.breaches[i] for i in range(32) if breaches[row] >> i & 1} == set(m.breaches)
        assert {index.data_classes[i] for i in range(32) if classes[row] >> i & 1} == set(m.data_classes)
        assert index.countries[countries[row]] == m.country


def test_bad_arguments_are_refused(built):
    index, _, _ = built
    for ranges in (0, 3, 1 << 17):
        with pytest.raises(ValueError):
            next(index.export_rows(ranges=ranges))
    with pytest.raises(ValueError, match="details"):
        next(index.export_rows(details=True))
