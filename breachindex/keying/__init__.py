"""From a phone number to an index key: normalising it (``phone``), the secret key (``secret``)
and keyed hashing in bulk (``keys``). Nothing here knows about index files."""
from __future__ import annotations

from .keys import KeyedBatch, hash_e164_digits, key_numbers, phone_keys
from .phone import is_leak_digits, normalize, normalize_reference, region_of
from .secret import MIN_SECRET_BYTES, Key, KeyLike, as_key

__all__ = [
    "Key",
    "KeyLike",
    "KeyedBatch",
    "MIN_SECRET_BYTES",
    "as_key",
    "hash_e164_digits",
    "is_leak_digits",
    "key_numbers",
    "normalize",
    "normalize_reference",
    "phone_keys",
    "region_of",
]
