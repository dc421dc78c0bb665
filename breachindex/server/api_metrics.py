"""``GET /metrics``: what the server did and where it stands, in Prometheus' text format
(prometheus-client). The route needs an API key with scope ``admin`` (what a Prometheus scrape
job sends as its bearer token).

Counted as requests are answered (``metrics``: summed over every worker through
prometheus-client's multiprocess mode, whichever worker answers the scrape):

* ``breachindex_http_requests_total{method, route, status}``: the route is the router's
  template (``/v1/batches/{batch_id}/letter``), or ``unmatched``;
* ``breachindex_http_request_duration_seconds{method, route}``: a histogram;
* ``breachindex_http_errors_total{code}``: error answers by their JSON ``code``;
* ``breachindex_sms_sends_total{purpose, outcome}``: messages handed to the SMS sender
  (``code`` or ``notification``; ``sent`` or ``failed``);
* ``breachindex_sms_refusals_total{reason}``: code requests that sent no SMS (a limit's name,
  why the number may not get one, ``invalid_phone_number``, or ``withheld``).

Read when Prometheus scrapes (the shared store and the answering worker's index):

* ``breachindex_check_budget_used_ratio``: the share (0..1) of the global budget of
  unauthenticated checks spent now (``check_budget_low`` is logged from 0.8);
* ``breachindex_check_budget_tokens`` and ``..._burst``: the same as tokens;
* ``breachindex_puzzle_bits``: the difficulty a puzzle issued now gets;
* ``breachindex_budget_refusals_total{rule}``: requests refused, by rule (``check:host``,
  ``page:network``, ``key:day``, ``token_spent``, ...), over every worker since the store was made;
* ``breachindex_campaign_requests{state}``: the campaign's requests by state, and
  ``breachindex_campaign_requests_past_due``: those sent or extended whose due date has passed
  (``Campaign.overdue``: what ``requests overdue --mark`` would move to ``overdue``);
* ``breachindex_index_generation``, ``breachindex_index_rows`` and
  ``breachindex_index_created_timestamp_seconds``: the index generation the answering worker
  serves (its number counts swaps in that worker; the build time names it across workers).

Every label is a fixed vocabulary (route templates, methods, status codes, error codes, rules,
reasons, states): never a path as sent, an address, a number, a name, a key or an id.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool

from ..campaign.requests import REQUEST_STATES
from .budgets import RULES
from .metrics import OTHER
from .routing import Call, Reply
from .state import ServerState

__all__ = ["metrics", "scrape", "BudgetCollector", "CampaignCollector", "IndexCollector", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class BudgetCollector(Collector):
    """The budgets' figures, read when Prometheus scrapes."""

    def __init__(self, state: ServerState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        budgets = self._state.budgets
        used = budgets.used(None)
        burst = float(budgets.global_check.burst)
        yield GaugeMetricFamily("breachindex_check_budget_used_ratio",
                                "share of the global budget of unauthenticated checks spent", value=used)
        yield GaugeMetricFamily("breachindex_check_budget_tokens",
                                "tokens left in the global budget of unauthenticated checks", value=burst * (1 - used))
        yield GaugeMetricFamily("breachindex_check_budget_burst",
                                "size of the global budget of unauthenticated checks", value=burst)
        rules = self._state.puzzles.rules
        yield GaugeMetricFamily("breachindex_puzzle_bits", "difficulty of a puzzle issued now (0: puzzles off)",
                                value=rules.bits_for(used) if rules.enabled else 0)
        counts: dict[str, int] = {}
        for rule, count in budgets.store.refusals().items():
            label = rule if rule in RULES else OTHER
            counts[label] = counts.get(label, 0) + count
        refusals = CounterMetricFamily("breachindex_budget_refusals", "requests refused by a budget, by rule",
                                       labels=["rule"])
        for rule, count in sorted(counts.items()):
            refusals.add_metric([rule], count)
        yield refusals


class CampaignCollector(Collector):
    """The campaign's requests by state and past due, read through ``Campaign`` when scraped."""

    def __init__(self, state: ServerState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        campaign = self._state.campaign
        counts = dict.fromkeys(REQUEST_STATES, 0)
        for state, count in campaign.request_summary().items():
            label = state if state in counts else OTHER
            counts[label] = counts.get(label, 0) + count
        by_state = GaugeMetricFamily("breachindex_campaign_requests", "the campaign's requests, by state",
                                     labels=["state"])
        for state, count in counts.items():
            by_state.add_metric([state], count)
        yield by_state
        past_due = campaign.overdue(datetime.now(timezone.utc).date())
        yield GaugeMetricFamily("breachindex_campaign_requests_past_due",
                                "requests sent or extended whose due date has passed", value=len(past_due))


class IndexCollector(Collector):
    """The index generation the answering worker serves."""

    def __init__(self, state: ServerState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        generation = self._state.generations.current
        yield GaugeMetricFamily("breachindex_index_generation",
                                "the index generation served (1, 2, ... as this worker swapped them in)",
                                value=generation.number)
        yield GaugeMetricFamily("breachindex_index_rows", "rows of the index generation served",
                                value=int(generation.info.get("rows", 0)))
        created = _timestamp(generation.info.get("created_at"))
        if created is not None:
            yield GaugeMetricFamily("breachindex_index_created_timestamp_seconds",
                                    "when the index generation served was built (Unix time)", value=created)


def _timestamp(value: object) -> float | None:
    """An ISO 8601 time as Unix seconds (None if it is not one)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


class _Counted(Collector):
    """One process's counters and histograms, without the ``_created`` series (multiprocess
    mode has none: one worker or several, a scrape shows the same series)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield metric


def scrape(state: ServerState) -> bytes:
    """The text of a scrape: the counters of every worker (of this process alone when it keeps
    them in memory), then the figures read now."""
    registry = CollectorRegistry(auto_describe=False)
    counted = state.metrics
    if counted.folder is not None:
        MultiProcessCollector(registry, path=counted.folder)
    else:
        registry.register(_Counted(counted.registry))
    for collector in (BudgetCollector(state), CampaignCollector(state), IndexCollector(state)):
        registry.register(collector)
    return generate_latest(registry)


async def metrics(call: Call) -> Reply:
    return Reply(await run_in_threadpool(scrape, call.state))
