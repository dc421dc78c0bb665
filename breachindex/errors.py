"""The exception tree. Every error breachindex raises on purpose is a ``BreachIndexError``.

    BreachIndexError
    ├── InvalidPhoneNumber (also ValueError)   input is not a possible phone number
    ├── InvalidKey (also ValueError)           a secret or key file that cannot be used
    ├── WrongKey                               the key is not the one the index was built with
    ├── IndexCorrupted                         an index file is missing, damaged or inconsistent
    ├── BuildError                             build() was asked for something it cannot do
    └── NativeError                            the compiled core is missing, stale or failed

Messages never contain a phone number: exceptions end up in logs.
"""
from __future__ import annotations

__all__ = [
    "BreachIndexError",
    "InvalidPhoneNumber",
    "InvalidKey",
    "WrongKey",
    "IndexCorrupted",
    "BuildError",
    "NativeError",
]


class BreachIndexError(Exception):
    """Base class of every error breachindex raises on purpose."""


class InvalidPhoneNumber(BreachIndexError, ValueError):
    """The input does not parse into a possible phone number.

    ``reason`` is a stable, machine-readable code (``not_a_number``, ``missing_region``,
    ``unknown_region``, ``invalid_country_code``, ``too_short``, ``too_long``,
    ``invalid_length``, ``not_text``); the message explains it without repeating the number.
    """

    def __init__(self, reason: str, message: str, *, position: int | None = None) -> None:
        if position is not None:
            message = f"number at position {position}: {message}"
        super().__init__(message)
        self.reason = reason
        self.position = position


class InvalidKey(BreachIndexError, ValueError):
    """A secret that is too short, or a key file that is unreadable, malformed or too open."""


class WrongKey(BreachIndexError):
    """The key given does not match the fingerprint recorded in the index's manifest."""


class IndexCorrupted(BreachIndexError):
    """An index file is missing, truncated, damaged or inconsistent with the manifest.

    ``file`` names the file (relative to the index folder) and ``problem`` says what is wrong.
    """

    def __init__(self, file: str, problem: str) -> None:
        super().__init__(f"{file}: {problem}")
        self.file = file
        self.problem = problem


class BuildError(BreachIndexError):
    """build() cannot produce the index asked for (bad names, limits, an existing folder)."""


class NativeError(BreachIndexError):
    """The compiled core is missing or of another version, or reported an unexpected failure."""
