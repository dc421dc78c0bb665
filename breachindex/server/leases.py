"""Leases of an API key's calls: a worker takes several calls of a busy key from the shared
budgets in one charge, and answers the next ones from what it holds.

Why: every keyed call costs its key's per-second budget and daily quota in the campaign store
(``campaign.budgets``), a write every worker of every host shares. On PostgreSQL that is a
round trip and a server process's work per call, on the same cores that answer the checks. A
worker that leases n calls at once charges the store once per n calls.

How many: a lease is sized to the key's traffic in this process. It starts at one call (the
plain charge: exact), doubles whenever the next lease is needed within ``SPAN`` of the last
one, halves whenever that took longer than four spans, and is never more than ``MAX_UNITS``
calls, a twentieth of the key's per-second budget or a thousandth of its daily quota. A key
of the default 10 calls a second is therefore never leased: it is charged call by call, as
before. A lease that does not fit (the budget is nearly spent) falls back to one call, whose
refusal carries the store's wait.

What it costs: the limits are never exceeded (every call answered was taken from the shared
budgets), but a process may hold up to one lease unspent. So a key can be refused while other
processes still hold some of its calls, its per-second budget can run one lease per process
ahead of its refill, and a process's ``RateLimit-Remaining`` does not see the leases of the
others. Calls held longer than ``TTL``, or past the turn of the quota's window, are dropped
unanswered: they stay counted as used.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..campaign.budgets import Outcome

__all__ = ["KeyLeases", "Held", "lease_cap", "MAX_UNITS", "SPAN", "TTL"]

MAX_UNITS = 64
SPAN = 0.02  # seconds: a lease used up faster than this was too small
TTL = 1.0  # seconds a lease's calls are held before they are dropped


def lease_cap(per_second: float, per_day: int) -> int:
    """The largest lease of a key with these quotas (1: charged call by call)."""
    return max(1, min(MAX_UNITS, int(per_second / 20), per_day // 1000))


@dataclass(frozen=True)
class Held:
    """A call answered from a lease: the daily quota's ``remaining`` and ``reset_after`` as the
    store gave them when the lease was taken, brought forward to this call."""

    remaining: int
    reset_after: float


@dataclass
class _Lease:
    size: int  # the units of the last charge
    units: int  # calls held, not answered yet
    taken: float  # monotonic seconds, when the last charge was made
    window: int  # the quota window of the last charge
    remaining: int  # the daily quota left after the last charge (all its units taken)
    reset_after: float  # seconds to the window's turn, at ``taken``


class KeyLeases:
    """The leases of one process (see the module documentation); safe for several threads."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock if clock is not None else time.monotonic  # seconds, never going back
        self._lock = threading.Lock()
        self._leases: dict[str, _Lease] = {}

    def spend(self, key_id: str, window: int) -> Held | None:
        """Answer one call of ``key_id`` from its lease, or None if it holds none for ``window``."""
        now = self._clock()
        with self._lock:
            lease = self._leases.get(key_id)
            if lease is None or lease.units < 1 or lease.window != window or now - lease.taken > TTL:
                return None
            lease.units -= 1
            return Held(remaining=lease.remaining + lease.units,
                        reset_after=max(0.0, lease.reset_after - (now - lease.taken)))

    def size(self, key_id: str, cap: int) -> int:
        """How many calls to charge for ``key_id`` now that its lease is spent (1 to ``cap``)."""
        now = self._clock()
        with self._lock:
            lease = self._leases.get(key_id)
            if lease is None or cap <= 1:
                return 1
            since = now - lease.taken
            size = lease.size * 2 if since < SPAN else lease.size // 2 if since > 4 * SPAN else lease.size
            return max(1, min(cap, size))

    def charged(self, key_id: str, units: int, window: int, outcome: Outcome, quota: str) -> None:
        """Record a charge of ``units`` calls that ``outcome`` allowed; one is the caller's own.
        Calls still held from a charge another thread made meanwhile are kept with them."""
        now = self._clock()
        with self._lock:
            old = self._leases.get(key_id)
            kept = old.units if old is not None and old.window == window and now - old.taken <= TTL else 0
            self._leases[key_id] = _Lease(size=units, units=kept + units - 1, taken=now, window=window,
                                          remaining=outcome.remaining.get(quota, 0),
                                          reset_after=outcome.reset_after.get(quota, 0.0))

    def refused(self, key_id: str) -> None:
        """A lease did not fit: charge this key call by call until it grows again (calls still
        held from another thread's charge are kept)."""
        with self._lock:
            lease = self._leases.get(key_id)
            if lease is not None:
                lease.size = 0  # the next size is 1
