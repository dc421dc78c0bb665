"""Keys in bulk (``phone_keys``, ``key_numbers``) from a list, a tuple, a generator, and numpy
``U`` and ``S`` arrays: the same keys and the same refusals whichever form holds the numbers,
held to keying each number alone (``Key.phone_key``)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breachindex import InvalidPhoneNumber, Key
from breachindex.keying.keys import key_numbers, phone_keys

KEY = Key(bytes(range(32)))
SK = KEY.siphash_key()
# fast path, reference path (national prefix), '+', '00', bare leak digits, spaces, Arabic-Indic
# and full-width digits, a national number with and without a region
GOOD = ["+31612345678", "310612345678", "31612345679", "tel:+31-6-12345672", "+49 151 1234 5678",
        "+31 6 1234 5671", "+\u0663\u0661\u0666\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",
        "\uff0b\uff13\uff11\uff16\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff19", "5491123456789"]


def alone(numbers: list[str]) -> list[int]:
    return [int(key_numbers([n], siphash_key=SK).keys[0]) for n in numbers]


def forms(numbers: list[str]) -> list[object]:
    out: list[object] = [numbers, tuple(numbers), np.array(numbers, dtype=str)]
    if all(n.isascii() for n in numbers):
        out.append(np.array([n.encode("ascii") for n in numbers], dtype=bytes))
    return out


def test_every_form_gives_the_keys_of_each_number_alone() -> None:
    want = alone(GOOD)
    for data in forms(GOOD):
        assert phone_keys(data, key=KEY).tolist() == want, type(data)
    ascii_only = [n for n in GOOD if n.isascii()]
    for data in forms(ascii_only):
        assert phone_keys(data, key=KEY).tolist() == alone(ascii_only), type(data)
    assert phone_keys(iter(GOOD), key=KEY).tolist() == want  # any iterable


def test_refusals_name_the_same_position_and_reason_in_every_form() -> None:
    numbers = ["+31612345678", "+31612345679", "12", "+31612345670"]
    for data in forms(numbers):
        with pytest.raises(InvalidPhoneNumber) as info:
            phone_keys(data, key=KEY)
        assert info.value.position == 2, type(data)
    batch = key_numbers(["+31612345678", 31612345678, None, "0612345678"], siphash_key=SK)  # type: ignore[list-item]
    assert batch.reasons == [None, "not_text", "not_text", "missing_region"]
    assert key_numbers(["0612345678"], siphash_key=SK, region="NL").keys.tolist() == alone(["+31612345678"])


def test_empty_inputs() -> None:
    for data in ([], (), np.array([], dtype=str), np.array([], dtype=bytes)):
        assert phone_keys(data, key=KEY).tolist() == []


def test_a_bytes_array_with_non_ascii_bytes_goes_the_careful_way() -> None:
    data = np.array([b"+31612345678", "+3161234567\u00e9".encode("latin-1")], dtype=bytes)
    batch = key_numbers(data, siphash_key=SK)
    assert batch.reasons[0] is None and batch.reasons[1] == "not_text"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(GOOD), st.text("0123456789+ -()", max_size=18),
                          st.from_regex(r"\+?[1-9][0-9]{6,14}", fullmatch=True)), max_size=30))
def test_any_mix_agrees_with_keying_each_number_alone(numbers: list[str]) -> None:
    for data in forms(numbers):
        batch = key_numbers(data, siphash_key=SK)
        for i, n in enumerate(numbers):
            one = key_numbers([n], siphash_key=SK)
            assert batch.reasons[i] == one.reasons[0], (type(data), i)
            if one.reasons[0] is None:
                assert int(batch.keys[i]) == int(one.keys[0]), (type(data), i)
