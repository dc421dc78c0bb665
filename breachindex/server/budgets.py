"""What each kind of call costs: the server's rules over the shared budgets (``BudgetStore``).

The page's calls carry no key, so the server limits where they come from. Every page call
takes one token from the requester's buckets at each network level (``campaign.networks``:
host, site, network), and a check also from the number's bucket and from one global bucket
of all unauthenticated checks. The buckets are shared by every worker (they live in the
campaign store), so N workers allow the same rate as one.

Defaults (``ServerConfig``; per level: burst, then the refill):

==================  ===================  ===================  ===================
                    check                other page calls
==================  ===================  ===================  ===================
host (/32, /64)     30, 1 per 20 s       60, 1 per 2 s
site (IPv6 /56)     60, 1 per 10 s       (not counted)
network (/24, /48)  300, 1 per 2 s       600, 5 a second
one number          10, 1 per 10 s       (not counted)
everyone            3,000, 50 a second   (not counted)
==================  ===================  ===================  ===================

A try of a vault passphrase or recovery code also takes from the participant's own
``vault:unlock`` bucket (10, then one a minute), wherever it comes from.

A call with an API key instead takes from the key's own budgets: ``per_second`` (a bucket
as large as one second's worth) and ``per_day`` (a quota per UTC day), and records when the
key was last used (to the second). A busy key's calls are taken several at once, in leases
sized to its traffic (``leases``): a key of less than 40 calls a second or 2,000 a day never
is. Its answers carry ``RateLimit-Limit``, ``RateLimit-Remaining``,
``RateLimit-Reset`` (the daily quota) and ``RateLimit-Policy``.

As the global check budget empties, the puzzles get harder (``puzzles``), and below a fifth
left the server logs ``check_budget_low`` (at most once a minute a process); ``/metrics``
shows the level and every refusal by rule.
"""
from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..campaign.budgets import Bucket, BudgetStore, Charge, Outcome, Quota

if TYPE_CHECKING:
    from ..campaign.pgbudgets import PgBudgetStore
from ..campaign.clock import now_us
from ..campaign.networks import Origin
from .auth import ApiKey
from .config import ServerConfig
from .errors import ApiError
from .leases import KeyLeases, lease_cap
from .logs import LOGGER_NAME, log_event

__all__ = ["ServerBudgets", "ratelimit_headers", "GLOBAL_CHECK", "RULES"]

log = logging.getLogger(LOGGER_NAME)

GLOBAL_CHECK = "check:everyone"
#: every rule a refusal can name (``/metrics`` labels refusals by these, anything else as ``other``)
RULES: frozenset[str] = frozenset({"check:host", "check:site", "check:network", GLOBAL_CHECK, "check:number",
                                   "page:host", "page:network", "vault:unlock", "key:day", "key:second",
                                   "token_spent"})
_LOW = 0.2  # below this share of the global budget left, log check_budget_low
_LOW_EVERY = 60.0
_STALE = 2.0  # seconds a worker trusts the global level it last saw
_TOUCH_EVERY = 1.0  # a key's last-used time is written at most once a second a process


@dataclass(frozen=True)
class _Levels:
    host: Bucket
    site: Bucket | None
    network: Bucket


class ServerBudgets:
    """The budgets of one server (see the module documentation)."""

    _low_logged = -_LOW_EVERY  # when this process last logged check_budget_low (monotonic)

    def __init__(self, config: ServerConfig, store: BudgetStore | PgBudgetStore) -> None:
        self.store = store
        self._check = _Levels(Bucket("check:host", config.check_ip_rate, config.check_ip_burst),
                              Bucket("check:site", config.check_site_rate, config.check_site_burst),
                              Bucket("check:network", config.check_network_rate, config.check_network_burst))
        self._page = _Levels(Bucket("page:host", config.person_ip_rate, config.person_ip_burst), None,
                             Bucket("page:network", config.person_network_rate, config.person_network_burst))
        self.global_check = Bucket(GLOBAL_CHECK, config.check_global_rate, config.check_global_burst)
        self._number = Bucket("check:number", config.check_number_rate, config.check_number_burst)
        self._unlock = Bucket("vault:unlock", config.vault_unlock_rate, config.vault_unlock_burst)
        self._global_seen: tuple[float, float] | None = None  # (tokens left, monotonic time)
        self._touched: dict[str, float] = {}  # key id -> when this process last recorded its use
        self._leases = KeyLeases()

    # ---- the page ---------------------------------------------------------------------------
    def _levels(self, levels: _Levels, origin: Origin) -> list[tuple[Bucket, str]]:
        charged = [(levels.host, str(origin.subject("host"))), (levels.network, str(origin.subject("network")))]
        site = origin.subject("site")
        if levels.site is not None and site is not None:
            charged.append((levels.site, site))
        return charged

    def page_check(self, origin: Origin, number: str | None, token: tuple[str, int] | None) -> None:
        """Charge a page check (``number``: a keyed hash of the number, None for an invalid
        one; ``token``: the solved puzzle's nonce and expiry). ApiError ``throttled`` (or
        ``puzzle_required`` for a puzzle used before) if a budget is short."""
        buckets = [*self._levels(self._check, origin), (self.global_check, "all")]
        if number is not None:
            buckets.append((self._number, number))
        outcome = self.store.charge(Charge(buckets=buckets, token=token), now_us(None))
        self._watch_global(outcome)
        _refuse(outcome)

    def page_call(self, origin: Origin, token: tuple[str, int] | None = None) -> None:
        """Charge any other page call (ApiError if a budget is short)."""
        _refuse(self.store.charge(Charge(buckets=self._levels(self._page, origin), token=token), now_us(None)))

    def vault_unlock(self, participant: str) -> None:
        """Charge one try of a participant's passphrase or recovery code, whoever makes it: online
        guessing is bounded per participant across every worker and network (ApiError ``throttled``)."""
        _refuse(self.store.charge(Charge(buckets=[(self._unlock, participant)]), now_us(None)))

    def _watch_global(self, outcome: Outcome) -> None:
        left = outcome.left.get(GLOBAL_CHECK)
        if left is None:
            return
        self._global_seen = (left, time.monotonic())
        used = self.used(left)
        if used >= 1 - _LOW and time.monotonic() - ServerBudgets._low_logged >= _LOW_EVERY:
            ServerBudgets._low_logged = time.monotonic()  # per process, however many apps it holds
            log_event(log, logging.WARNING, "check_budget_low", used_ratio=round(used, 3),
                      burst=self.global_check.burst, rate=self.global_check.rate)

    def used(self, left: float | None = None) -> float:
        """The share (0..1) of the global check budget spent: from the level this worker saw
        last, or read from the store when that is older than a moment."""
        if left is None:
            seen = self._global_seen
            if seen is not None and time.monotonic() - seen[1] < _STALE:
                left = seen[0]
            else:
                left = self.store.level(self.global_check, "all", now_us(None))
                self._global_seen = (left, time.monotonic())
        return max(0.0, min(1.0, 1.0 - left / self.global_check.burst))

    # ---- API keys ---------------------------------------------------------------------------
    def key_call(self, key: ApiKey) -> dict[str, str]:
        """Charge a call with ``key``: its RateLimit headers, or ApiError ``throttled``
        (carrying them) when its per-second budget or daily quota is spent. A busy key's calls
        are charged in leases of several at once (``leases``)."""
        day = _day_quota(key.per_day)
        now = now_us(None)
        window = now // day.window_us
        held = self._leases.spend(key.id, window)
        if held is not None:
            return ratelimit_headers(key, held.remaining, held.reset_after)
        second = Bucket("key:second", key.per_second, max(1.0, key.per_second))
        units = self._leases.size(key.id, lease_cap(key.per_second, key.per_day))
        touch = time.monotonic() - self._touched.get(key.id, -_TOUCH_EVERY) >= _TOUCH_EVERY
        charge = Charge(buckets=[(second, key.id)], quotas=[(day, key.id)], touch_key=key.id if touch else None,
                        units=units)
        outcome = self.store.charge(charge, now)
        if not outcome.allowed and units > 1:  # the budget is nearly spent: one call, exactly
            self._leases.refused(key.id)
            units = 1
            outcome = self.store.charge(replace(charge, units=1), now)
        if outcome.allowed:
            self._leases.charged(key.id, units, window, outcome, day.name)
            if touch:
                self._touched[key.id] = time.monotonic()
        held_back = units - 1 if outcome.allowed else 0  # this process's own lease, not spent yet
        headers = ratelimit_headers(key, outcome.remaining.get(day.name, 0) + held_back,
                                    outcome.reset_after.get(day.name, 0.0))
        _refuse(outcome, headers)
        return headers


def ratelimit_headers(key: ApiKey, remaining: int, reset: float) -> dict[str, str]:
    """The RateLimit headers of a keyed answer (IETF draft httpapi-ratelimit-headers, the
    ``RateLimit-Limit/-Remaining/-Reset`` form): the daily quota's ``remaining`` calls and
    ``reset`` seconds, and both policies."""
    limit, policy = _key_policy(key.per_day, key.per_second)
    return {
        "RateLimit-Limit": limit,
        "RateLimit-Remaining": str(max(0, remaining)),
        "RateLimit-Reset": str(max(0, math.ceil(reset))),
        "RateLimit-Policy": policy,
    }


# a key's quota and its fixed headers, made once per key's figures rather than on every call
@functools.lru_cache(maxsize=1024)
def _day_quota(per_day: int) -> Quota:
    return Quota("key:day", per_day)


@functools.lru_cache(maxsize=1024)
def _key_policy(per_day: int, per_second: float) -> tuple[str, str]:
    return str(per_day), f"{per_day};w=86400, {_number(per_second)};w=1"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _refuse(outcome: Outcome, headers: dict[str, str] | None = None) -> None:
    if outcome.allowed:
        return
    if outcome.reason == "token_spent":
        raise ApiError("puzzle_required", "this puzzle was used already: fetch a new one", reason="reused")
    raise ApiError("throttled", "too many requests; try again later", reason=outcome.reason,
                   retry_after=outcome.retry_after, headers=dict(headers or {}))
