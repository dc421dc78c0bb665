"""Who may receive a code, and how often: the defences against SMS pumping (toll fraud), against
a kill switch (one party spending the daily caps), and against locking a stranger out.

SMS pumping is a fraudster making a service send texts to numbers whose operator pays them a
share. The defences, all configurable:

* an allow-list of country calling codes, by default the EU/EEA (``EEA_CALLING_CODES``: the
  27 member states plus Iceland, Liechtenstein and Norway; +358 also covers Aland, +47
  Svalbard). The outermost regions with calling codes of their own (Guadeloupe, Martinique,
  Guyane, Reunion, Mayotte, Saint-Martin: +262, +590, +594, +596) are not in the default;
  add them if a campaign needs them;
* the number's type (phonenumbers' metadata): premium-rate and shared-cost numbers are always
  refused, numbers phonenumbers does not consider valid too, and by default only mobile,
  fixed-line and VoIP numbers are accepted (``SMS_NUMBER_TYPES``);
* counts in sliding windows (``Limits``), each a ``RateRule`` of one *scope*:

  - the requester, at every level of ``networks`` (host: IPv4 /32 or IPv6 /64; site: IPv6
    /56; network: IPv4 /24 or IPv6 /48). A missing address is the shared ``unknown``
    requester, never a reason to skip a limit;
  - the number, per requesting network (``resend_interval``, ``number_per_hour``,
    ``number_per_day``), and for every network together (``number_cap_per_day``: how many
    texts anyone's phone can receive from the campaign in a day);
  - the number's prefix (the number without its last 3 digits: one operator's block), per
    requesting network and for every network together;
  - the country (calling code) and the total, whose last ``reserve_share`` is kept for
    networks that sent fewer than ``reserve_network_sends`` codes that day: one network, or
    one /48 or /24, can never spend the whole cap and so stop everyone else's codes.

A refusal about the requester or the caps raises ``Throttled`` (``reason`` names the rule,
``retry_after`` the seconds until it lets one more through). A refusal about the number (its
own limits, its prefix's, or a wait or lock from failed codes) is *not* told: the caller gets
a challenge that no code opens, so starting a verification never reveals whether someone else
asked for that number lately (``Campaign.start_verification``). Subjects are stored as keyed
hashes (the calling code as is).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberType

from ..errors import SmsNotAllowed, Throttled
from .clock import MICROSECOND, seconds
from .db import Db, Rows

__all__ = [
    "CALLER_SCOPES",
    "EEA_REGIONS",
    "EEA_CALLING_CODES",
    "EU_OUTERMOST_CALLING_CODES",
    "SMS_NUMBER_TYPES",
    "NEVER_SMS_NUMBER_TYPES",
    "Limits",
    "RateRule",
    "check_sms_allowed",
    "number_prefix",
    "CapWaits",
    "MINUTE_COUNTED_SCOPES",
    "cap_margin",
    "far_from_caps",
    "fits_sql",
    "RateCounts",
    "question_sql",
    "Waits",
    "record_event",
    "record_event_where",
    "forget_events",
]

#: ISO 3166 codes of the EU member states and the EEA (Iceland, Liechtenstein, Norway)
EEA_REGIONS: frozenset[str] = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK IS LI NO".split()
)
#: the calling codes of EEA_REGIONS (30 codes)
EEA_CALLING_CODES: frozenset[int] = frozenset(phonenumbers.country_code_for_region(r) for r in EEA_REGIONS)
#: EU outermost regions dialled with their own calling code (not allowed by default)
EU_OUTERMOST_CALLING_CODES: frozenset[int] = frozenset(
    phonenumbers.country_code_for_region(r) for r in ("GP", "MQ", "GF", "RE", "YT", "MF")
)
#: the number types that may receive a code by default
SMS_NUMBER_TYPES: frozenset[int] = frozenset({
    PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.FIXED_LINE,
    PhoneNumberType.VOIP,
})
#: the number types that never receive a code, whatever the configuration
NEVER_SMS_NUMBER_TYPES: frozenset[int] = frozenset({PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST})

_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Limits:
    """How many codes may be sent, in sliding windows. ``None`` switches a count off.

    ``country_per_day_overrides`` maps a calling code to its own daily limit (e.g. a higher
    one for the campaign's home country: ``{31: 50_000}``). See the module documentation for
    what each scope counts.
    """

    resend_interval: timedelta = timedelta(seconds=30)
    number_per_hour: int | None = 5
    number_per_day: int | None = 10
    number_cap_per_day: int | None = 20
    ip_per_hour: int | None = 20
    ip_per_day: int | None = 100
    site_per_day: int | None = 200
    network_per_day: int | None = 300
    prefix_per_day: int | None = 30
    prefix_cap_per_day: int | None = 200
    prefix_hidden_digits: int = 3
    country_per_day: int | None = 10_000
    country_per_day_overrides: Mapping[int, int | None] = field(default_factory=dict, hash=False)
    total_per_day: int | None = 50_000
    reserve_share: float = 0.2
    reserve_network_sends: int = 3
    ip_failures_per_hour: int | None = 30
    network_failures_per_hour: int | None = 300

    def __post_init__(self) -> None:
        if self.resend_interval < timedelta(0):
            raise ValueError("resend_interval must not be negative")
        counts = [self.number_per_hour, self.number_per_day, self.number_cap_per_day, self.ip_per_hour,
                  self.ip_per_day, self.site_per_day, self.network_per_day, self.prefix_per_day,
                  self.prefix_cap_per_day, self.country_per_day, self.total_per_day, self.ip_failures_per_hour,
                  self.network_failures_per_hour, *self.country_per_day_overrides.values()]
        if any(c is not None and (isinstance(c, bool) or not isinstance(c, int) or c < 1) for c in counts):
            raise ValueError("every limit is a positive int or None")
        if not 1 <= self.prefix_hidden_digits <= 6:
            raise ValueError("prefix_hidden_digits must be between 1 and 6")
        if not 0.0 <= self.reserve_share < 1.0:
            raise ValueError("reserve_share must be at least 0 and below 1")
        if isinstance(self.reserve_network_sends, bool) or not isinstance(self.reserve_network_sends, int) \
                or self.reserve_network_sends < 1:
            raise ValueError("reserve_network_sends must be a positive int")

    @classmethod
    def off(cls) -> Limits:
        """Every count switched off and no wait between resends: for tests, benchmarks and
        back-office tools, never for a public endpoint."""
        return cls(resend_interval=timedelta(0), number_per_hour=None, number_per_day=None, number_cap_per_day=None,
                   ip_per_hour=None, ip_per_day=None, site_per_day=None, network_per_day=None, prefix_per_day=None,
                   prefix_cap_per_day=None, country_per_day=None, total_per_day=None, reserve_share=0.0,
                   ip_failures_per_hour=None, network_failures_per_hour=None)

    def country_limit(self, calling_code: int) -> int | None:
        return self.country_per_day_overrides.get(calling_code, self.country_per_day)

    def caller_rules(self) -> list[RateRule]:
        """The rules about the requester (its networks): a refusal is told (``Throttled``)."""
        return list(self._caller_rules)

    # the rules of the fields, which never change, made once (every start and confirmation asks)
    @cached_property
    def _caller_rules(self) -> tuple[RateRule, ...]:
        rules = [
            RateRule("send:host", _HOUR, self.ip_per_hour, "ip_per_hour"),
            RateRule("send:host", _DAY, self.ip_per_day, "ip_per_day"),
            RateRule("send:site", _DAY, self.site_per_day, "site_per_day"),
            RateRule("send:network", _DAY, self.network_per_day, "network_per_day"),
        ]
        return tuple(r for r in rules if r.limit is not None)

    def cap_rules(self, calling_code: int) -> list[RateRule]:
        """The campaign-wide caps (with their reserve, see ``reserve_limit``): told too."""
        rules = [
            RateRule("send:country", _DAY, self.country_limit(calling_code), "country_per_day"),
            RateRule("send:all", _DAY, self.total_per_day, "total_per_day"),
        ]
        return [r for r in rules if r.limit is not None]

    def reserve_limit(self, cap: int) -> int:
        """How much of ``cap`` a network that already sent ``reserve_network_sends`` codes
        today may use: the cap without its reserve (at least 1)."""
        return max(1, cap - int(cap * self.reserve_share))

    def number_rules(self) -> list[RateRule]:
        """The rules about the number and its prefix: a refusal is never told."""
        return list(self._number_rules)

    @cached_property
    def _number_rules(self) -> tuple[RateRule, ...]:
        rules = [
            RateRule("send:number-net", self.resend_interval, 1, "resend_interval"),
            RateRule("send:number-net", _HOUR, self.number_per_hour, "number_per_hour"),
            RateRule("send:number-net", _DAY, self.number_per_day, "number_per_day"),
            RateRule("send:number", _DAY, self.number_cap_per_day, "number_cap_per_day"),
            RateRule("send:prefix-net", _DAY, self.prefix_per_day, "prefix_per_day"),
            RateRule("send:prefix", _DAY, self.prefix_cap_per_day, "prefix_cap_per_day"),
        ]
        return tuple(r for r in rules if r.limit is not None and r.window > timedelta(0))

    def send_rules(self, calling_code: int) -> list[RateRule]:
        """Every rule a send is checked against."""
        return [*self.caller_rules(), *self.cap_rules(calling_code), *self.number_rules()]

    def failure_rules(self) -> list[RateRule]:
        """The rules a confirmation from a requester is checked against."""
        return list(self._failure_rules)

    @cached_property
    def _failure_rules(self) -> tuple[RateRule, ...]:
        rules = [
            RateRule("fail:host", _HOUR, self.ip_failures_per_hour, "ip_failures_per_hour"),
            RateRule("fail:network", _HOUR, self.network_failures_per_hour, "network_failures_per_hour"),
        ]
        return tuple(r for r in rules if r.limit is not None)


#: the scopes that count the requester's networks (recorded for every start, sent or not)
CALLER_SCOPES: tuple[str, ...] = ("send:host", "send:site", "send:network")


@dataclass(frozen=True)
class RateRule:
    """At most ``limit`` events of ``scope`` per subject within ``window``."""

    scope: str
    window: timedelta
    limit: int | None
    reason: str


def check_sms_allowed(e164: str, allowed_calling_codes: frozenset[int], allowed_types: frozenset[int]) -> int:
    """The number's calling code if it may receive a code; SmsNotAllowed (with reason) if not."""
    number = phonenumbers.parse(e164)
    cc = int(number.country_code or 0)
    if cc not in allowed_calling_codes:
        raise SmsNotAllowed("country_not_allowed", "codes are not sent to numbers of this country")
    kind = phonenumbers.number_type(number)  # UNKNOWN for an invalid number: one match, not two
    if kind == PhoneNumberType.UNKNOWN:
        raise SmsNotAllowed("invalid_number", "this is not a valid, assigned number for its country")
    if kind == PhoneNumberType.PREMIUM_RATE:
        raise SmsNotAllowed("premium_rate", "codes are not sent to premium-rate numbers")
    if kind == PhoneNumberType.SHARED_COST:
        raise SmsNotAllowed("shared_cost", "codes are not sent to shared-cost numbers")
    if kind not in allowed_types:
        raise SmsNotAllowed("number_type_not_allowed", "codes are not sent to numbers of this type")
    return cc


def number_prefix(e164: str, hidden_digits: int) -> str:
    """The number without its last ``hidden_digits`` digits (a block of one operator)."""
    return e164[:-hidden_digits]


#: the scopes of the campaign-wide caps: their events are also counted by the minute and by the
#: hour (``rate_spans``), so that checking a cap of thousands reads a day of hours and an hour of
#: minutes, not every event
MINUTE_COUNTED_SCOPES = frozenset({"send:country", "send:all"})
_MINUTE_US = 60_000_000
_HOUR_US = 60 * _MINUTE_US
# the limit-th newest event within the window (only that one leaves the database)
_NEWEST = ("(SELECT at_us FROM rate_events WHERE scope = ? AND subject = ? AND at_us > ? "
           "ORDER BY at_us DESC LIMIT 1 OFFSET ?)")
# the events within the window: whole hours after the cutoff's, the cutoff's hour's whole minutes
# after the cutoff's, and the cutoff's minute's own events after it
_COUNT = ("((SELECT COALESCE(SUM(events), 0) FROM rate_spans "
          f"WHERE scope = ? AND subject = ? AND span_us = {_HOUR_US} AND start > ?) + "
          "(SELECT COALESCE(SUM(events), 0) FROM rate_spans "
          f"WHERE scope = ? AND subject = ? AND span_us = {_MINUTE_US} AND start > ? AND start < ?) + "
          "(SELECT COUNT(*) FROM rate_events WHERE scope = ? AND subject = ? AND at_us > ? AND at_us < ?))")


def question_sql(scope: str, subject: str, window_us: int, limit: int, now_us: int) -> tuple[str, list[Any]]:
    """The SQL expression (and its values) that answers one question of ``RateCounts``."""
    cutoff = now_us - window_us
    if scope in MINUTE_COUNTED_SCOPES:
        minute, hour = cutoff // _MINUTE_US, cutoff // _HOUR_US
        return _COUNT, [scope, subject, hour, scope, subject, minute, (hour + 1) * (_HOUR_US // _MINUTE_US),
                        scope, subject, cutoff, (minute + 1) * _MINUTE_US]
    return _NEWEST, [scope, subject, cutoff, limit - 1]


def fits_sql(rules: Iterable[RateRule], subjects: Mapping[str, str | None], now_us: int,
             limit_of: Callable[[RateRule], int | None] | None = None) -> tuple[list[str], list[Any]]:
    """SQL conditions, one per rule asked as ``Waits.ask`` asks it, each true exactly when
    ``RateCounts.fits`` would say one more event fits that rule now; and their values in order.
    A statement can then decide in the database what a read and the rules would have."""
    conditions: list[str] = []
    values: list[Any] = []
    for rule in rules:
        subject = subjects.get(rule.scope)
        limit = rule.limit if limit_of is None else limit_of(rule)
        if subject is None or limit is None:
            continue
        sql, params = question_sql(rule.scope, subject, rule.window // MICROSECOND, limit, now_us)
        if rule.scope in MINUTE_COUNTED_SCOPES:  # a count: below the limit
            conditions.append(f"{sql} < ?")
            values += [*params, limit]
        else:  # the limit-th newest event in the window: none
            conditions.append(f"{sql} IS NULL")
            values += params
    return conditions, values


class RateCounts:
    """Questions about rate events: "when does one more event of this subject fit in this
    window under this limit", asked together: one statement answers all those asked before the
    first answer is read (on PostgreSQL, in the same round trip as any other read asked before
    it). A question reads only the limit-th newest event in the window; for the campaign-wide
    caps (``MINUTE_COUNTED_SCOPES``) it counts the window by the hour and minute first, and looks for that
    event only when the count reaches the limit."""

    def __init__(self, conn: Db, now_us: int) -> None:
        self._conn, self._now_us = conn, now_us
        self._asked: list[tuple[str, str, int, int]] = []
        self._answers: list[int | None] = []

    def ask(self, scope: str, subject: str, window_us: int, limit: int) -> int:
        """Ask; the question's number, for ``wait``."""
        self._asked.append((scope, subject, window_us, limit))
        return len(self._asked) - 1

    def _question(self, scope: str, subject: str, window_us: int, limit: int) -> tuple[str, list[Any]]:
        return question_sql(scope, subject, window_us, limit, self._now_us)

    def fits(self, question: int) -> bool:
        """True if one more event fits the question's rule now (``wait`` is None), found without
        looking for the limit-th event: what a count alone tells."""
        scope, _, _, limit = self._asked[question]
        at = self._answer(question)
        return at is None or (scope in MINUTE_COUNTED_SCOPES and at < limit)

    def wait(self, question: int) -> int | None:
        """Microseconds until one more event fits the question's rule; None if one fits now.
        An event at ``t`` counts while ``now < t + window``."""
        scope, subject, window_us, limit = self._asked[question]
        at = self._answer(question)
        if scope in MINUTE_COUNTED_SCOPES:
            if at is None or at < limit:  # a count below the limit: one more fits
                return None
            # at the cap (rare): the limit-th newest event, which only a scan finds
            found = self._conn.execute("SELECT " + _NEWEST, (scope, subject, self._now_us - window_us,
                                                             limit - 1)).fetchone()
            at = None if found is None or found[0] is None else int(found[0])
        return None if at is None else at + window_us - self._now_us

    def _answer(self, question: int) -> int | None:
        """The question's column: the limit-th newest event, or a cap's count."""
        if question >= len(self._answers):
            # one column per distinct question (a cap's count does not depend on the limit)
            pending = [self._question(*asked) for asked in self._asked[len(self._answers):]]
            distinct = list(dict.fromkeys((sql, tuple(params)) for sql, params in pending))
            row = self._conn.execute("SELECT " + ", ".join(sql for sql, _ in distinct),
                                     [v for _, params in distinct for v in params]).fetchone()
            answer = {key: None if value is None else int(value) for key, value in zip(distinct, row, strict=True)}
            self._answers += [answer[(sql, tuple(params))] for sql, params in pending]
        return self._answers[question]


class Waits:
    """The waits of several rules, asked of ``RateCounts`` (several ``Waits`` may share one,
    and so one statement) and read when needed."""

    def __init__(self, counts: RateCounts) -> None:
        self._counts = counts
        self._asked: list[tuple[str, int]] = []

    def ask(self, rules: list[RateRule], subjects: Mapping[str, str | None],
            limit_of: Callable[[RateRule], int | None] | None = None) -> Waits:
        """Ask for each rule's wait (``subjects`` by scope, None skips a rule; ``limit_of`` may
        change a rule's limit, None skips it too)."""
        for rule in rules:
            subject = subjects.get(rule.scope)
            limit = rule.limit if limit_of is None else limit_of(rule)
            if subject is not None and limit is not None:
                self._asked.append((rule.reason, self._counts.ask(rule.scope, subject, rule.window // MICROSECOND,
                                                                  limit)))
        return self

    def worst(self) -> tuple[int, str] | None:
        """The longest wait among the rules exceeded, with its reason (None: every rule fits)."""
        worst: tuple[int, str] | None = None
        for reason, question in self._asked:
            wait = self._counts.wait(question)
            if wait is not None and (worst is None or wait > worst[0]):
                worst = (wait, reason)
        return worst

    def fit(self) -> bool:
        """True if every rule fits now (``worst`` is None), without the scans a wait may need."""
        return all(self._counts.fits(question) for _, question in self._asked)

    def enforce(self) -> None:
        """Throttled with the longest wait among the rules exceeded."""
        worst = self.worst()
        if worst is not None:
            raise Throttled(seconds(worst[0]), worst[1])


class CapWaits(Waits):
    """The campaign-wide caps' waits for one requester: the whole cap while its network sent
    fewer than ``reserve_network_sends`` codes in the last day, else the cap without its
    reserve (``Limits.reserve_limit``). Both, and the network's sends, are asked at once."""

    def __init__(self, counts: RateCounts, limits: Limits, rules: list[RateRule],
                 subjects: Mapping[str, str | None], network: str | None) -> None:
        super().__init__(counts)
        self.ask(rules, subjects)
        self._busy: int | None = None
        self._reserved: Waits | None = None
        if rules and network is not None and limits.reserve_share > 0:
            self._busy = counts.ask("send:network", network, _DAY // MICROSECOND, limits.reserve_network_sends)
            self._reserved = Waits(counts).ask(
                rules, subjects, lambda rule: None if rule.limit is None else limits.reserve_limit(rule.limit))

    def worst(self) -> tuple[int, str] | None:
        if self._busy is not None and self._reserved is not None and self._counts.wait(self._busy) is not None:
            return self._reserved.worst()
        return super().worst()


def far_from_caps(counts: RateCounts, limits: Limits, rules: list[RateRule], subjects: Mapping[str, str | None],
                  slack: int) -> Waits | None:
    """Ask whether every campaign-wide cap's count is more than ``slack`` below the least of it
    a start may use (its limit without the reserve): far if the answer's ``fit()``. None if some
    cap is too small to be far from anything.

    Far from its caps, a start may check them holding their lock shared with other starts: if
    no more than ``slack`` transactions can be open at once, those that see a count below the
    limit minus ``slack`` cannot take it past the limit together. Near, it holds them alone."""
    margin = cap_margin(limits, slack)
    if any(m is not None and m < 1 for m in map(margin, rules)):
        return None
    return Waits(counts).ask(rules, subjects, margin)


def cap_margin(limits: Limits, slack: int) -> Callable[[RateRule], int | None]:
    """A cap's count below which it is far (``far_from_caps``): the least of it a start may
    use, less ``slack``."""
    def margin(rule: RateRule) -> int | None:
        if rule.limit is None:
            return None
        least = limits.reserve_limit(rule.limit) if limits.reserve_share > 0 else rule.limit
        return least - slack

    return margin


#: the spans ``rate_spans`` counts the caps' events by, in microseconds
_SPANS_US = (_MINUTE_US, _HOUR_US)


def _spans(now_us: int) -> list[tuple[int, int]]:
    """Each span with the number of the one ``now_us`` falls in."""
    return [(span, now_us // span) for span in _SPANS_US]


# a send's spans: one upsert for the minutes and hours of all its caps, rows in one order on
# every path (the subjects' order, then the spans'), so that two sends wait for each other's row
# locks, never in a cycle
_COUNT_SPANS = (" ON CONFLICT (scope, subject, span_us, start) DO UPDATE SET events = rate_spans.events + 1")


def record_event(conn: Db, subjects: Mapping[str, str | None], now_us: int) -> None:
    """Count one event for each scope's subject (None skips)."""
    rows = [(scope, subject) for scope, subject in subjects.items() if subject is not None]
    if rows:  # one statement for all of them (one message to a database server, not one each)
        conn.execute("INSERT INTO rate_events (scope, subject, at_us) VALUES " + ", ".join(["(?, ?, ?)"] * len(rows)),
                     [v for scope, subject in rows for v in (scope, subject, now_us)])
    spans = [(scope, subject, span, start) for scope, subject in rows if scope in MINUTE_COUNTED_SCOPES
             for span, start in _spans(now_us)]
    if spans:
        conn.execute("INSERT INTO rate_spans (scope, subject, span_us, start, events) VALUES "
                     + ", ".join(["(?, ?, ?, ?, 1)"] * len(spans)) + _COUNT_SPANS, [v for row in spans for v in row])


def record_event_where(subjects: Mapping[str, str | None], now_us: int, source: str) -> tuple[list[str], list[Any]]:
    """What ``record_event`` writes, as insert statements to put in a ``WITH`` clause (on
    PostgreSQL) that write only the rows ``source`` gives (SQL after ``FROM``, e.g. a CTE
    ``v WHERE v.go``): the statements and their values in order."""
    rows = [(scope, subject) for scope, subject in subjects.items() if subject is not None]
    spans = [(scope, subject, span, start) for scope, subject in rows if scope in MINUTE_COUNTED_SCOPES
             for span, start in _spans(now_us)]
    statements: list[str] = []
    values: list[Any] = []
    if rows:
        statements.append("INSERT INTO rate_events (scope, subject, at_us) SELECT x.scope, x.subject, ? "
                          f"FROM (VALUES {', '.join(['(?, ?)'] * len(rows))}) AS x (scope, subject), {source}")
        values += [now_us, *(v for pair in rows for v in pair)]
    if spans:
        statements.append("INSERT INTO rate_spans (scope, subject, span_us, start, events) "
                          "SELECT x.scope, x.subject, x.span_us, x.start, 1 "
                          f"FROM (VALUES {', '.join(['(?, ?, ?::bigint, ?::bigint)'] * len(spans))}) "
                          f"AS x (scope, subject, span_us, start), {source}" + _COUNT_SPANS)
        values += [v for row in spans for v in row]
    return statements, values


def forget_events(conn: Db, before_us: int) -> Rows:
    """Delete the events at or before ``before_us`` and the minutes and hours that held only such
    events; the events' deletion (its rowcount: how many)."""
    conn.execute("DELETE FROM rate_spans WHERE " + " OR ".join(["(span_us = ? AND start < ?)"] * len(_SPANS_US)),
                 [v for span, start in _spans(before_us) for v in (span, start)])
    return conn.execute("DELETE FROM rate_events WHERE at_us <= ?", (before_us,))
