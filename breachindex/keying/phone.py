"""Phone number normalization: the phonenumbers reference and the C fast path beside it.

``normalize`` has libphonenumber's semantics (as the ``phonenumbers`` package implements
them): the input is parsed with ``region`` as the default region, and accepted when the result
is a *possible* number. One exception, for the leak's own form: a string of bare ASCII digits
with no region is read as country calling code plus national number (``'31612345678'``), i.e.
with a ``+`` in front, never against a default region.

The fast path (C) handles ``+digits``, ``00digits`` and bare leak digits. Its rules table is
derived here, at first use, from the installed phonenumbers metadata: for every calling code,
the national significant number lengths that are possible, and the first digits at which the
region's national-prefix pattern could strip something. Numbers starting with such a digit,
and every shape other than plain digits, go to the reference.
"""
from __future__ import annotations

import re
import threading
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, ValidationResult
from phonenumbers.phonemetadata import PhoneMetadata

from .._core import error, ffi, lib
from ..errors import InvalidPhoneNumber
from .patterns import PatternError, first_digits

__all__ = ["normalize", "normalize_reference", "region_of", "is_leak_digits"]

_REASON_OF_PARSE_ERROR = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.NOT_A_NUMBER: "not_a_number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}
_REASON_OF_VALIDATION = {
    ValidationResult.TOO_SHORT: "too_short",
    ValidationResult.TOO_LONG: "too_long",
    ValidationResult.INVALID_LENGTH: "invalid_length",
    ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
}
_LEN_CODE_OF_VALIDATION = {
    ValidationResult.IS_POSSIBLE: lib.BI_LEN_POSSIBLE,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: lib.BI_LEN_LOCAL_ONLY,
    ValidationResult.TOO_SHORT: lib.BI_LEN_TOO_SHORT,
    ValidationResult.TOO_LONG: lib.BI_LEN_TOO_LONG,
    ValidationResult.INVALID_LENGTH: lib.BI_LEN_INVALID,
}
_MESSAGES = {
    "not_a_number": "does not look like a phone number",
    "missing_region": "a national number needs a region (e.g. region='NL') or a '+' form",
    "invalid_country_code": "has no valid country calling code",
    "too_short": "too short to be a possible number",
    "too_long": "too long to be a possible number",
    "invalid_length": "its length is not possible for its country",
}

_DIGITS = re.compile(r"[0-9]+\Z", re.ASCII)


def is_leak_digits(raw: str) -> bool:
    """True for the leak's form: bare ASCII digits, country code first, no leading 0."""
    return bool(_DIGITS.match(raw)) and not raw.startswith("0")


def _invalid(reason: str) -> InvalidPhoneNumber:
    return InvalidPhoneNumber(reason, _MESSAGES[reason])


def _check_region(region: str | None) -> str | None:
    """The region in upper case; None for no region, and for libphonenumber's "unknown region"
    ``'ZZ'``, which is what it answers for a number of no region (a caller may pass it back)."""
    if region is None:
        return None
    if not isinstance(region, str):
        raise TypeError("region must be an ISO 3166 code such as 'NL', or None")
    upper = region.upper()
    if upper == phonenumbers.UNKNOWN_REGION:
        return None
    if upper not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidPhoneNumber("unknown_region", f"unknown region {region!r}")
    return upper


def normalize_reference(raw: str, region: str | None = None) -> str:
    """``normalize`` computed by phonenumbers alone: the slow, obvious path."""
    if not isinstance(raw, str):
        raise InvalidPhoneNumber("not_text", f"expected a str, got {type(raw).__name__}")
    region = _check_region(region)
    text = raw.strip()
    if region is None and is_leak_digits(text):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE and region is None and (
            "default region" in str(exc)
        ):
            raise _invalid("missing_region") from None
        raise _invalid(_REASON_OF_PARSE_ERROR.get(exc.error_type, "not_a_number")) from None
    result = phonenumbers.is_possible_number_with_reason(number)
    if result not in (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        raise _invalid(_REASON_OF_VALIDATION.get(result, "invalid_length"))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# ---- the rules table of the fast path ---------------------------------------------------

def _metadata(cc: int) -> Any:
    region = phonenumbers.region_code_for_country_code(cc)
    return PhoneMetadata.metadata_for_region_or_calling_code(cc, region)


def _rule_for(cc: int, rule: Any) -> None:
    md = _metadata(cc)
    if md is None:
        return
    rule.known = 1
    for length in range(18):
        number = PhoneNumber(country_code=cc, national_number=int("1" * length) if length else 0)
        if length == 0:
            rule.length_result[0] = lib.BI_LEN_UNKNOWN
            continue
        result = phonenumbers.is_possible_number_with_reason(number)
        rule.length_result[length] = _LEN_CODE_OF_VALIDATION.get(result, lib.BI_LEN_UNKNOWN)
    pattern = md.national_prefix_for_parsing
    if not pattern:
        return
    try:
        first, nullable = first_digits(pattern)
    except PatternError:  # syntax the analyser does not model: every number takes the reference
        rule.fallback_all = 1
        return
    if nullable and md.national_prefix_transform_rule:
        rule.fallback_all = 1  # an empty match could still trigger a transformation
        return
    for digit in first:
        rule.unsafe_first |= 1 << digit


class _Rules:
    """The fast path's table (one ``bi_cc_rule`` per calling code 0..999), built once."""

    def __init__(self) -> None:
        self.table = ffi.new("bi_cc_rule[1000]")
        for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            if 0 < cc < 1000:
                _rule_for(cc, self.table[cc])
        self._flags: dict[str | None, int] = {None: lib.BI_ACCEPT_BARE}

    def flags_for(self, region: str | None) -> int:
        """Fast path flags for a default region (which must already be checked)."""
        try:
            return self._flags[region]
        except KeyError:
            assert region is not None  # None is always in the table
            md = PhoneMetadata.metadata_for_region(region, None)
            flags = lib.BI_ACCEPT_00 if md is not None and md.international_prefix == "00" else 0
            self._flags[region] = flags
            return flags


_rules: _Rules | None = None
_rules_lock = threading.Lock()


def rules() -> _Rules:
    """The fast path's rules table, built once, at first use."""
    global _rules
    if _rules is None:
        with _rules_lock:
            if _rules is None:
                _rules = _Rules()
    return _rules


_scratch = threading.local()


def _buffers() -> tuple[Any, Any, Any]:
    try:
        return _scratch.bufs  # type: ignore[no-any-return]
    except AttributeError:
        _scratch.bufs = (ffi.new("char[]", lib.BI_E164_MAX), ffi.new("size_t *"),
                         ffi.new("uint32_t *"))
        return _scratch.bufs  # type: ignore[no-any-return]


def normalize_fast(raw: str, region: str | None = None) -> str | None:
    """The C fast path alone: the E.164 string, None where it defers to the reference.

    Raises InvalidPhoneNumber where it is sure the number is not possible. ``region`` must
    already be checked (upper case, supported).
    """
    r = rules()
    data = raw.encode("utf-8", "surrogatepass")
    out, out_len, cc = _buffers()
    status = lib.bi_phone_fast(r.table, data, len(data), r.flags_for(region), out, out_len, cc)
    if status == lib.BI_OK:
        return "+" + ffi.unpack(out, out_len[0]).decode("ascii")
    if status == lib.BI_FALLBACK:
        return None
    raise error(status)  # InvalidPhoneNumber


def normalize(raw: str, region: str | None = None) -> str:
    """Normalize a phone number to E.164 (``'+31612345678'``).

    ``region`` (ISO 3166, e.g. ``'NL'``) is the default region for national formats such as
    ``'06 12345678'``. Bare digits without a region are the leak's international form.
    Raises InvalidPhoneNumber, whose ``reason`` says what is wrong.
    """
    if not isinstance(raw, str):
        raise InvalidPhoneNumber("not_text", f"expected a str, got {type(raw).__name__}")
    region = _check_region(region)
    fast = normalize_fast(raw, region)
    if fast is not None:
        return fast
    return normalize_reference(raw, region)


_SINGLE_REGION: dict[int, str | None] = {}
for _cc, _regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
    if len(_regions) == 1:
        _SINGLE_REGION[_cc] = None if _regions[0] == "001" else _regions[0]


def calling_code(digits: str) -> int:
    """Country calling code of E.164 digits (without '+')."""
    for length in (1, 2, 3):  # phonenumbers takes the shortest assigned prefix
        cc = int(digits[:length])
        if cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return cc
    raise InvalidPhoneNumber("invalid_country_code", _MESSAGES["invalid_country_code"])


def region_of(e164: str) -> str | None:
    """ISO region of a normalized E.164 number (None for non-geographic codes such as +800).

    Cheap for the ~200 calling codes that belong to one region. Codes shared by several
    regions (+1, +7, +44, ...) are resolved by phonenumbers' number patterns (tens of µs);
    the code's main region is the answer when no pattern decides.
    """
    cc = calling_code(e164.lstrip("+"))
    if cc in _SINGLE_REGION:
        return _SINGLE_REGION[cc]
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    return region or phonenumbers.region_code_for_country_code(cc)
