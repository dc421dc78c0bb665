"""``GET /metrics``: the public budgets in Prometheus' text format (prometheus-client).

Read from the shared budgets at scrape time, so every worker answers the same figures:

* ``breachindex_check_budget_used_ratio``: the share (0..1) of the global budget of
  unauthenticated checks spent now (``check_budget_low`` is logged from 0.8);
* ``breachindex_check_budget_tokens`` and ``..._burst``: the same as tokens;
* ``breachindex_puzzle_bits``: the difficulty a puzzle issued now gets;
* ``breachindex_budget_refusals_total{rule=...}``: requests refused, by rule (``check:host``,
  ``page:network``, ``key:day``, ``token_spent``, ...), over every worker since the store was made.

Labels name rules, never a subject: no address, number, key or id. The route needs an API key
with scope ``admin`` (what a Prometheus scrape job sends as its bearer token).
"""
from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool

from .routing import Call, Reply
from .state import ServerState

__all__ = ["metrics", "BudgetCollector", "CONTENT_TYPE"]

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
        refusals = CounterMetricFamily("breachindex_budget_refusals", "requests refused by a budget, by rule",
                                       labels=["rule"])
        for rule, count in sorted(budgets.store.refusals().items()):
            refusals.add_metric([rule], count)
        yield refusals


async def metrics(call: Call) -> Reply:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BudgetCollector(call.state))
    body = await run_in_threadpool(generate_latest, registry)
    return Reply(body)
