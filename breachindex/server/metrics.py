"""What the server counts for ``GET /metrics`` (``api_metrics``), summed over every worker.

``ServerMetrics`` holds the counters and histograms that requests move (one per app, so one
per worker process): HTTP requests by method, route template and status, their latency by
method and route template, error answers by their JSON ``code``, SMS handed to the sender by
purpose and outcome, and code requests that sent nothing, by reason.

Several workers (``breachindex serve --workers N``): each is a process of its own, so counters
kept in memory would make each scrape show the one worker that answered it. prometheus-client's
multiprocess mode solves it: ``serve`` creates a private folder (``metrics_folder``: mode 0700,
in the temporary directory, removed when the server stops) and names it in
``PROMETHEUS_MULTIPROC_DIR`` before uvicorn spawns its workers. Each worker then keeps its
counts in memory-mapped files of its own there (``counter_<pid>.db``, ...), and a scrape,
whichever worker answers it, adds up every worker's files (``MultiProcessCollector``). A worker
that dies leaves its files, so its counts stay in the sums (counters never go down while the
server runs; they start again from zero when it restarts, which Prometheus expects). There
are no gauges kept per worker: what is a level (the budgets, the requests by state, the index
generation) is read when the scrape comes (``api_metrics``), so a dead worker leaves no stale
level behind; ``close`` still calls ``mark_process_dead`` as a worker stops, for any live
gauge added later. prometheus-client chooses the mode when it is first imported, so one
process (``--workers 1``, the tests) keeps its counts in memory and a scrape reads them there.

Labels are fixed vocabularies, never anything a caller sent: a route is the template the router
matched (``/v1/batches/{batch_id}/letter``) or ``unmatched``, a method one of ``METHODS`` or
``other``, a status the answer's three digits, an error code a key of ``ERROR_CODES``, an SMS
refusal a limit's name (``ip_per_hour``, ...), an ``SmsNotAllowed`` reason (``premium_rate``,
...), ``invalid_phone_number`` or ``withheld``. ``withheld`` counts the starts the number's
own limits held back (which the caller is never told) without saying which limit.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.multiprocess import mark_process_dead

from ..campaign.limits import Limits
from ..campaign.sms import SmsSender
from ..errors import InvalidPhoneNumber, SmsNotAllowed, Throttled
from .errors import ERROR_CODES
from .logs import LOGGER_NAME, log_event

__all__ = ["ServerMetrics", "metrics_folder", "multiprocess_folder", "MULTIPROC_ENV", "METHODS", "UNMATCHED",
           "OTHER", "SMS_PURPOSES", "SMS_OUTCOMES", "SMS_REFUSAL_REASONS", "LATENCY_BUCKETS"]

T = TypeVar("T")
log = logging.getLogger(LOGGER_NAME)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: the route label of a request no route matched
UNMATCHED = "unmatched"
#: a value outside its label's vocabulary (never expected; never the value itself)
OTHER = "other"
METHODS: frozenset[str] = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SMS_PURPOSES: tuple[str, ...] = ("code", "notification")
SMS_OUTCOMES: tuple[str, ...] = ("sent", "failed")
_TOLD_LIMITS = frozenset(rule.reason for rule in [*Limits().caller_rules(), *Limits().cap_rules(0)])
_NOT_ALLOWED = frozenset({"country_not_allowed", "invalid_number", "premium_rate", "shared_cost",
                          "number_type_not_allowed"})
#: why a code request sent no SMS: a limit told to the caller, why the number may not get one,
#: an invalid number, or ``withheld`` (the number's own limits, never told); else the error code
SMS_REFUSAL_REASONS: frozenset[str] = _TOLD_LIMITS | _NOT_ALLOWED | {
    "invalid_phone_number", "withheld", "throttled", "sms_not_allowed"}
#: seconds: a check takes microseconds, a letter or a vault download seconds
LATENCY_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                                      10.0, 30.0)


def multiprocess_folder() -> str | None:
    """The folder this process's counts go to in multiprocess mode (None: kept in memory)."""
    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return os.environ.get(MULTIPROC_ENV)


@contextmanager
def metrics_folder() -> Iterator[str]:
    """A private folder (0700) named in ``PROMETHEUS_MULTIPROC_DIR`` for the workers this block
    starts; removed, and the variable restored, when it ends. An inherited value is replaced:
    files of an earlier run would be added to this one's counts."""
    folder = tempfile.mkdtemp(prefix="breachindex-metrics-")  # 0700, a fresh name
    before = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = folder
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = before
        shutil.rmtree(folder, ignore_errors=True)


def _known(value: str | None, vocabulary: Iterable[str], fallback: str = OTHER) -> str:
    return value if value is not None and value in vocabulary else fallback


class ServerMetrics:
    """The counters and histograms of one app (see the module documentation). ``routes``: the
    router's path templates, the only route labels besides ``unmatched``."""

    def __init__(self, routes: Iterable[str] = ()) -> None:
        self.routes = frozenset(routes)
        self.folder = multiprocess_folder()
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter("breachindex_http_requests", "HTTP requests answered, by method, route template "
                                "and status", ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("breachindex_http_request_duration_seconds", "time to answer a request, by method "
                                 "and route template", ["method", "route"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.errors = Counter("breachindex_http_errors", "error answers, by their JSON error code", ["code"],
                              registry=self.registry)
        self.sms = Counter("breachindex_sms_sends", "text messages handed to the SMS sender, by purpose (code, "
                           "notification) and outcome (sent, failed)", ["purpose", "outcome"], registry=self.registry)
        self.sms_refusals = Counter("breachindex_sms_refusals", "code requests that sent no SMS, by reason",
                                    ["reason"], registry=self.registry)
        self._tried = threading.local()  # did the code start running in this thread reach the sender?
        # each metric's series by its labels: ``labels()`` (a lock and a dict) once per label set;
        # the label vocabularies are fixed, so this stays small
        self._series: dict[tuple[Counter | Histogram, tuple[str, ...]], Counter | Histogram] = {}

    def observe_request(self, method: str, route: str | None, status: int, seconds: float,
                        error_code: str | None) -> None:
        """Count one answered request (the middleware calls it)."""
        labels = (_known(method, METHODS), _known(route, self.routes, UNMATCHED))
        self._count(self.requests, *labels, str(status) if 100 <= status <= 599 else OTHER)
        self._count(self.latency, *labels, amount=seconds)
        if error_code is not None:
            self._count(self.errors, _known(error_code, ERROR_CODES))

    def counted(self, sender: SmsSender, purpose: str) -> SmsSender:
        """``sender``, counting each message it takes (or fails to) under ``purpose``."""
        if purpose not in SMS_PURPOSES:
            raise ValueError(f"purpose is one of {SMS_PURPOSES}")
        return _CountedSender(sender, self, purpose)

    def start_code(self, start: Callable[[], T]) -> T:
        """Run ``start`` (a campaign's ``start_verification``) in this thread, counting why it
        sent nothing: the rule or reason it raised, or ``withheld`` when it returned without
        reaching a sender made by ``counted``."""
        self._tried.value = False
        try:
            result = start()
        except Throttled as exc:
            self._refused(_known(exc.reason, _TOLD_LIMITS, "throttled"))
            raise
        except SmsNotAllowed as exc:
            self._refused(_known(exc.reason, _NOT_ALLOWED, "sms_not_allowed"))
            raise
        except InvalidPhoneNumber:
            self._refused("invalid_phone_number")
            raise
        if not getattr(self._tried, "value", False):
            self._refused("withheld")
        return result

    def send(self, sender: SmsSender, purpose: str, e164: str, text: str) -> None:
        """Hand one message to ``sender``, counted under ``purpose`` (``counted``'s senders)."""
        self._tried.value = True
        try:
            sender.send(e164, text)
        except Exception:
            self._count(self.sms, purpose, "failed")
            raise
        self._count(self.sms, purpose, "sent")

    def _refused(self, reason: str) -> None:
        self._count(self.sms_refusals, _known(reason, SMS_REFUSAL_REASONS))

    def _count(self, metric: Counter | Histogram, *labels: str, amount: float = 1.0) -> None:
        """Add to a counter (observe in a histogram); a failure (the metrics folder full or
        gone) is logged by type and never changes an answer, nor whether an SMS counts as sent."""
        try:
            series = self._series.get((metric, labels))
            if series is None:
                series = self._series[(metric, labels)] = metric.labels(*labels)
            if isinstance(series, Histogram):
                series.observe(amount)
            else:
                series.inc(amount)
        except Exception as exc:
            log_event(log, logging.WARNING, "metrics_failed", error=type(exc).__name__)

    def close(self) -> None:
        """A worker stops: drop its live gauges' files (multiprocess mode)."""
        if self.folder is not None:
            mark_process_dead(os.getpid(), self.folder)


class _CountedSender:
    """An ``SmsSender`` that counts (see ``ServerMetrics.counted``)."""

    def __init__(self, inner: SmsSender, metrics: ServerMetrics, purpose: str) -> None:
        self._inner, self._metrics, self._purpose = inner, metrics, purpose

    def send(self, e164: str, text: str) -> None:
        self._metrics.send(self._inner, self._purpose, e164, text)

    def __repr__(self) -> str:
        return f"counted({self._inner!r})"
