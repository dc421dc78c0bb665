"""One-time codes: how they are made, how long they live, and how failures are answered.

The rules adopted (NIST SP 800-63B section 5.1.3 and 5.2.2, OWASP Authentication and MFA
cheat sheets), all fields of ``CodeRules``:

* a code has 6 digits drawn with ``secrets`` (never ``random``);
* it lives 10 minutes: valid while ``now < expires_at``; at ``expires_at`` exactly it is expired;
* it is single use, and a new code for the same number replaces the earlier one;
* 3 wrong tries burn it (the third wrong try already answers TooManyAttempts);
* wrong codes are also counted per number, across codes (``failures``, reset by a success).
  The first 3 consecutive failures are free; from the 3rd on each one imposes a wait before
  the number's next attempt (a new code or a confirmation): 30 s, 60 s, 120 s, ... doubling,
  capped at 1 hour. The 100th consecutive failure locks the number until an operator calls
  ``Campaign.unlock``.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["CodeRules", "Challenge", "Verification", "generate_code", "clean_code"]


@dataclass(frozen=True)
class CodeRules:
    """The lifecycle of one-time codes and the answer to repeated failures (see module doc)."""

    digits: int = 6
    lifetime: timedelta = timedelta(minutes=10)
    attempts_per_code: int = 3
    free_failures: int = 3
    first_wait: timedelta = timedelta(seconds=30)
    max_wait: timedelta = timedelta(hours=1)
    lock_after_failures: int = 100

    def __post_init__(self) -> None:
        if not 6 <= self.digits <= 10:
            raise ValueError("a code has 6 to 10 digits (NIST: at least 6)")
        if self.lifetime <= timedelta(0):
            raise ValueError("the code lifetime must be positive")
        if self.attempts_per_code < 1:
            raise ValueError("attempts_per_code must be at least 1")
        if not 1 <= self.free_failures <= self.lock_after_failures:
            raise ValueError("free_failures must be between 1 and lock_after_failures")
        if not timedelta(0) < self.first_wait <= self.max_wait:
            raise ValueError("waits must satisfy 0 < first_wait <= max_wait")
        if not 1 <= self.lock_after_failures <= 100:
            raise ValueError("lock_after_failures must be between 1 and 100 (NIST SP 800-63B)")

    def wait_after(self, failures: int) -> timedelta | None:
        """The wait imposed after ``failures`` consecutive failures (None: no wait)."""
        if failures < self.free_failures:
            return None
        exponent = min(failures - self.free_failures, 40)  # 2**40 * 30 s is far past any cap
        return min(self.first_wait * (1 << exponent), self.max_wait)


@dataclass(frozen=True)
class Challenge:
    """A code sent: ``id`` (random, URL-safe; give it back to ``confirm_verification``) and
    ``expires_at`` (aware UTC). The code itself is only in the SMS."""

    id: str
    expires_at: datetime


@dataclass(frozen=True)
class Verification:
    """A confirmed code: ``participant`` (the id the other workflow calls take) and
    ``verified_at`` (aware UTC)."""

    participant: str
    verified_at: datetime


def generate_code(digits: int = 6) -> str:
    """A uniformly random code of ``digits`` decimal digits (leading zeros kept)."""
    return f"{secrets.randbelow(10 ** digits):0{digits}d}"


def clean_code(code: str) -> str:
    """A typed code without the spaces and dashes people add (``'123 456'``, ``'123-456'``)."""
    if not isinstance(code, str):
        raise TypeError(f"a code must be a str, not {type(code).__name__}")
    return "".join(ch for ch in code if ch not in " \t-")
