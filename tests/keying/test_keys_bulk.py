"""Keys in bulk (``phone_keys``, ``key_numbers``) from a list, a tuple, a generator, numpy
``U`` and ``S`` arrays and buffers of lines, on one thread or several and in chunks: the same
keys and the same refusals whichever form holds the numbers, held to keying each number alone."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breachindex import InvalidPhoneNumber, Key
from breachindex.keying import keys as keys_module
from breachindex.keying.keys import count_numbers, key_numbers, phone_keys, usable_cores

KEY = Key(bytes(range(32)))
SK = KEY.siphash_key()
# fast path, reference path (national prefix), '+', '00', bare leak digits, spaces, Arabic-Indic
# and full-width digits, a national number with and without a region
GOOD = ["+31612345678", "310612345678", "31612345679", "tel:+31-6-12345672", "+49 151 1234 5678",
        "+31 6 1234 5671", "+\u0663\u0661\u0666\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",
        "\uff0b\uff13\uff11\uff16\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff19", "5491123456789"]


def alone(numbers: list[str]) -> list[int]:
    return [int(key_numbers([n], siphash_key=SK).keys[0]) for n in numbers]


def lines(numbers: list[str], end: str = "\n") -> bytes:
    return "".join(n + end for n in numbers).encode("utf-8", "surrogatepass")


def forms(numbers: list[str]) -> list[object]:
    """Every form a batch may take; lines only where no number holds a line break."""
    out: list[object] = [numbers, tuple(numbers), np.array(numbers, dtype=str),
                         np.array(numbers, dtype=">U"), np.array(numbers, dtype=str).repeat(2)[::2]]
    if all(n.isascii() for n in numbers):
        out.append(np.array([n.encode("ascii") for n in numbers], dtype=bytes))
    if not any(c in n for n in numbers for c in "\r\n"):
        out += [lines(numbers), bytearray(lines(numbers, "\r\n")), memoryview(lines(numbers))]
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


# a batch whose numbers go every way: the fast path, the reference, refusals by either, not text
MIXED = GOOD + ["12", "+3161234567890123", "0612345678", "+31 6 12345678", "+999 1234 5678",
                "\u0661\u0662", "", "+", "00316123456789"]


def mixed_batch(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    fresh = [f"+316{x:08d}" for x in rng.integers(0, 10**8, n)]
    for i in rng.integers(0, n, n // 20).tolist():
        fresh[i] = MIXED[i % len(MIXED)]
    return fresh


@pytest.mark.parametrize("threads", [1, 2, 3, None])
def test_threads_share_a_batch_without_changing_a_key(threads: int | None) -> None:
    # 4096 numbers a thread before a batch is shared: 30,000 puts 3 threads to work
    numbers = mixed_batch(30_000, seed=threads or 0)
    want = key_numbers(numbers, siphash_key=SK, threads=1)
    assert want.failed and len(want.failed) < len(numbers)
    for data in forms(numbers):
        got = key_numbers(data, siphash_key=SK, threads=threads)
        assert got.failed == want.failed, type(data)
        assert np.array_equal(got.ok, want.ok) and np.array_equal(got.keys, want.keys), type(data)
    singles = {i: key_numbers([numbers[i]], siphash_key=SK) for i in range(0, len(numbers), 97)}
    for i, one in singles.items():
        assert want.reasons[i] == one.reasons[0] and want.keys[i] == one.keys[0]


def test_chunks_put_each_number_at_its_own_position(monkeypatch: pytest.MonkeyPatch) -> None:
    numbers = mixed_batch(200, seed=7) + ["\u0663\u0661\u0666\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668"]
    whole = key_numbers(numbers, siphash_key=SK, check_key=SK[::-1], want_e164=True, want_cc=True)
    monkeypatch.setattr(keys_module, "CHUNK", 7)  # 29 parts, the last one short
    for data in forms(numbers):
        got = key_numbers(data, siphash_key=SK, check_key=SK[::-1], want_e164=True, want_cc=True)
        assert got.failed == whole.failed, type(data)
        for name in ("keys", "ok", "check", "e164", "cc"):
            assert np.array_equal(getattr(got, name), getattr(whole, name)), (type(data), name)
    with pytest.raises(InvalidPhoneNumber) as info:
        phone_keys(["+31612345678"] * 20 + ["12"], key=KEY)
    assert info.value.position == 20


def test_a_buffer_of_lines_reads_as_its_lines() -> None:
    text = b"+31612345678\r\n\n+49 151 1234 5678\n\xff\xfe\n+31612345679"  # no newline at the end
    assert count_numbers(text) == 5
    batch = key_numbers(text, siphash_key=SK)
    assert batch.failed == {1: "not_a_number", 3: "not_text"}
    assert batch.keys[[0, 2, 4]].tolist() == alone(["+31612345678", "+49 151 1234 5678", "+31612345679"])
    assert count_numbers(b"") == 0 and key_numbers(b"", siphash_key=SK).keys.size == 0
    assert count_numbers(b"\n") == 1 and key_numbers(b"\n", siphash_key=SK).failed == {0: "not_a_number"}
    # a carriage return is dropped only before a newline: elsewhere it is the line's, as in a str
    for text in (b"+31612345678\r", b"+3161\r2345678\n", b"\r\r\n"):
        line = text.decode().removesuffix("\n").removesuffix("\r" if text.endswith(b"\r\n") else "")
        want = key_numbers([line], siphash_key=SK)
        got = key_numbers(text, siphash_key=SK)
        assert got.failed == want.failed and got.keys.tolist() == want.keys.tolist(), text
    wide = memoryview(np.frombuffer(b"+31612345678\r\n", dtype=np.uint8).view(np.uint16))
    assert phone_keys(wide, key=KEY).tolist() == alone(["+31612345678"])


def test_one_str_is_not_a_batch() -> None:
    with pytest.raises(TypeError, match="not one str"):
        phone_keys("+31612345678", key=KEY)


@pytest.mark.parametrize("threads", [0, -1, 65, True, 2.0, "2"])
def test_threads_out_of_range_are_refused(threads: object) -> None:
    with pytest.raises(ValueError, match="threads must be None or an int from 1 to 64"):
        phone_keys(["+31612345678"], key=KEY, threads=threads)  # type: ignore[arg-type]
    assert 1 <= usable_cores() <= 64
