"""Client puzzles (proof of work) for the page's unauthenticated calls.

Before the page may check a number or ask for a code, it fetches a puzzle and solves it in the
browser with Web Crypto: find a decimal ``solution`` such that
``SHA-256(challenge + "." + solution)`` starts with ``bits`` zero bits. That costs the page
about 2^bits hashes (``bits`` = 12: 4,096 on average), the server two hashes and an HMAC to
check. No third party, no captcha, nothing the person has to do.

A challenge is ``p1.<purpose>.<bits>.<issued>.<nonce>.<mac>``: the purpose (``check`` or
``verification``: a puzzle solved for one is no good for the other), its difficulty, the unix
second it was issued, 16 random bytes and an HMAC-SHA256 (128 bits) over the rest under a
subkey of the campaign secret, so the server keeps nothing until a puzzle is used. It lives
``ttl`` seconds (2 minutes) and is single use: the nonce of a solved puzzle is recorded in
the shared budgets (``BudgetStore``) until it expires, in the same transaction that takes the
request's budgets, so no worker accepts it twice.

The difficulty rises with load: ``PuzzleRules.bits_for(used)`` adds up to ``max_extra_bits``
as the global budget of unauthenticated requests empties (from half used to exhausted), so
a crowd of scripts pays more per request exactly when it matters, and a person on a phone
pays a fraction of a second when nobody attacks.

What it does not do: a puzzle costs a determined attacker with native SHA-256 well under a
millisecond of CPU at the base difficulty; it is a speed bump for scripts and a brake on
volume, not a wall. The wall is the network budgets (see ``docs/security.md``).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

__all__ = ["ALGORITHM", "PURPOSES", "Puzzle", "PuzzleError", "PuzzleRules", "Puzzles", "leading_zero_bits",
           "solve"]

ALGORITHM = "sha256-leading-zero-bits"
PURPOSES: tuple[str, ...] = ("check", "verification")
_VERSION = "p1"
_MAX_SOLUTION = 20


class PuzzleError(Exception):
    """A puzzle that does not hold: ``reason`` is ``missing``, ``malformed``, ``forged``,
    ``expired``, ``wrong_purpose``, ``unsolved`` or ``reused``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PuzzleRules:
    """Difficulty and lifetime. ``base_bits`` at rest, up to ``base_bits + max_extra_bits``
    when the global budget is exhausted; ``ttl`` seconds to solve and use it. ``base_bits``
    0 switches puzzles off (tests and trusted deployments only)."""

    base_bits: int = 12
    max_extra_bits: int = 4
    ttl: float = 120.0

    def __post_init__(self) -> None:
        if not 0 <= self.base_bits <= 32 or not 0 <= self.max_extra_bits <= 12:
            raise ValueError("puzzle bits: base 0-32, extra 0-12")
        if self.base_bits + self.max_extra_bits > 36:
            raise ValueError("puzzle bits past 36 cannot be solved in a browser")
        if not 5 <= self.ttl <= 3600:
            raise ValueError("a puzzle lives 5 s to an hour")

    @property
    def enabled(self) -> bool:
        return self.base_bits > 0

    def bits_for(self, used: float) -> int:
        """The difficulty when ``used`` (0..1) of the global budget is spent: the base up to
        half, then one more bit per ``1 / (2 * max_extra_bits)`` of the rest."""
        if self.max_extra_bits == 0 or used <= 0.5:
            return self.base_bits
        share = min(1.0, (used - 0.5) / 0.5)
        return self.base_bits + min(self.max_extra_bits, int(share * self.max_extra_bits + 0.5))


@dataclass(frozen=True)
class Puzzle:
    """An issued puzzle: the ``challenge`` text, its ``bits`` and when it expires (unix s)."""

    challenge: str
    bits: int
    expires_at: float


def leading_zero_bits(digest: bytes) -> int:
    """How many zero bits ``digest`` starts with."""
    count = 0
    for byte in digest:
        if byte:
            return count + 8 - byte.bit_length()
        count += 8
    return count


def solve(challenge: str, bits: int) -> str:
    """A solution of ``challenge`` (what the page does, in Python: for tests and tools)."""
    prefix = (challenge + ".").encode("ascii")
    n = 0
    while True:
        candidate = str(n).encode("ascii")
        if leading_zero_bits(hashlib.sha256(prefix + candidate).digest()) >= bits:
            return candidate.decode("ascii")
        n += 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Puzzles:
    """Issues and checks puzzles under ``key`` (32 bytes, a subkey of the campaign secret)."""

    def __init__(self, key: bytes, rules: PuzzleRules | None = None) -> None:
        if len(key) < 16:
            raise ValueError("a puzzle key has at least 16 bytes")
        self._key = bytes(key)
        self.rules = rules if rules is not None else PuzzleRules()

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()[:16])

    def issue(self, purpose: str, bits: int, now: float | None = None) -> Puzzle:
        """A new puzzle for ``purpose`` at difficulty ``bits``."""
        if purpose not in PURPOSES:
            raise ValueError(f"a puzzle's purpose is one of: {', '.join(PURPOSES)}")
        issued = int(time.time() if now is None else now)
        payload = f"{_VERSION}.{purpose}.{int(bits)}.{issued}.{_b64(secrets.token_bytes(16))}"
        return Puzzle(f"{payload}.{self._mac(payload)}", int(bits), issued + self.rules.ttl)

    def check(self, challenge: object, solution: object, purpose: str,
              now: float | None = None) -> tuple[str, int]:
        """The puzzle's nonce and its expiry (unix microseconds) if ``solution`` solves a
        genuine, live ``challenge`` for ``purpose``; PuzzleError otherwise. Whether it was
        used before is the caller's to check (``BudgetStore.charge`` with the nonce)."""
        if not isinstance(challenge, str) or not isinstance(solution, str):
            raise PuzzleError("missing")
        if len(challenge) > 128 or not challenge.isascii():
            raise PuzzleError("malformed")
        parts = challenge.split(".")
        if len(parts) != 6 or parts[0] != _VERSION:
            raise PuzzleError("malformed")
        _, kind, bits_text, issued_text, nonce, mac = parts
        if not bits_text.isdigit() or not issued_text.isdigit() or len(bits_text) > 2 or len(issued_text) > 12:
            raise PuzzleError("malformed")
        payload = challenge.rsplit(".", 1)[0]
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise PuzzleError("forged")
        if kind != purpose:
            raise PuzzleError("wrong_purpose")
        t = time.time() if now is None else now
        issued = int(issued_text)
        expires = issued + self.rules.ttl
        if not issued - 5 <= t < expires:
            raise PuzzleError("expired")
        if not 0 < len(solution) <= _MAX_SOLUTION or not solution.isascii() or not solution.isdigit():
            raise PuzzleError("unsolved")
        digest = hashlib.sha256(f"{challenge}.{solution}".encode("ascii")).digest()
        if leading_zero_bits(digest) < int(bits_text):
            raise PuzzleError("unsolved")
        return nonce, int(expires * 1_000_000)
