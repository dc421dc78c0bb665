"""Token buckets for the person-facing endpoints: per client IP and per number checked.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens a second; a call takes one
token or is refused with the seconds until one is back. Buckets live in the worker's memory
(an LRU of at most ``max_subjects``; an evicted bucket starts full again), so with N workers a
client gets at most N times the configured rate: set it with that in mind. The one-time-code
limits (sends per number, IP, prefix, country; failures) are the campaign's own, in its store,
shared by every worker. Subjects are opaque keys: the server passes keyed hashes of numbers and
the IP's /64 (IPv6) or address (IPv4), never a number itself.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["BucketRule", "RateLimiter"]


@dataclass(frozen=True)
class BucketRule:
    """``rate`` tokens a second, at most ``burst`` at once."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a bucket needs rate > 0 and burst >= 1")


class RateLimiter:
    """Buckets of one rule, keyed by subject (thread-safe)."""

    def __init__(self, rule: BucketRule, *, max_subjects: int = 100_000) -> None:
        self.rule = rule
        self._max = max_subjects
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # subject -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, subject: str, now: float | None = None) -> float | None:
        """Take a token for ``subject``: None if allowed, else the seconds to wait."""
        t = time.monotonic() if now is None else now
        rule = self.rule
        with self._lock:
            tokens, at = self._buckets.pop(subject, (float(rule.burst), t))
            tokens = min(float(rule.burst), tokens + max(0.0, t - at) * rule.rate)
            if tokens >= 1.0:
                self._buckets[subject] = (tokens - 1.0, t)
                wait = None
            else:
                self._buckets[subject] = (tokens, t)
                wait = (1.0 - tokens) / rule.rate
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)
