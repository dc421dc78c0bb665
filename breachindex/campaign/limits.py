"""Who may receive a code, and how often: the defences against SMS pumping (toll fraud).

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
* counts in sliding windows (``Limits``), per number, per IP address (IPv6: per /64), per
  number prefix (the number without its last 3 digits: one operator's block), per country
  (calling code) and in total. Subjects are stored as keyed hashes (the calling code as is).

A refused limit raises ``Throttled`` with the seconds until the window lets one more through.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import phonenumbers
from phonenumbers import PhoneNumberType

from ..errors import SmsNotAllowed, Throttled
from .clock import MICROSECOND, seconds

__all__ = [
    "EEA_REGIONS",
    "EEA_CALLING_CODES",
    "EU_OUTERMOST_CALLING_CODES",
    "SMS_NUMBER_TYPES",
    "NEVER_SMS_NUMBER_TYPES",
    "Limits",
    "RateRule",
    "check_sms_allowed",
    "number_prefix",
    "retry_after_us",
    "enforce",
    "record_event",
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
    one for the campaign's home country: ``{31: 50_000}``).
    """

    resend_interval: timedelta = timedelta(seconds=30)
    number_per_hour: int | None = 5
    number_per_day: int | None = 10
    ip_per_hour: int | None = 20
    ip_per_day: int | None = 100
    prefix_per_day: int | None = 30
    prefix_hidden_digits: int = 3
    country_per_day: int | None = 10_000
    country_per_day_overrides: Mapping[int, int | None] = field(default_factory=dict, hash=False)
    total_per_day: int | None = 50_000
    ip_failures_per_hour: int | None = 30

    def __post_init__(self) -> None:
        if self.resend_interval < timedelta(0):
            raise ValueError("resend_interval must not be negative")
        counts = [self.number_per_hour, self.number_per_day, self.ip_per_hour, self.ip_per_day,
                  self.prefix_per_day, self.country_per_day, self.total_per_day, self.ip_failures_per_hour,
                  *self.country_per_day_overrides.values()]
        if any(c is not None and (not isinstance(c, int) or c < 1) for c in counts):
            raise ValueError("every limit is a positive int or None")
        if not 1 <= self.prefix_hidden_digits <= 6:
            raise ValueError("prefix_hidden_digits must be between 1 and 6")

    @classmethod
    def off(cls) -> Limits:
        """Every count switched off and no wait between resends: for tests, benchmarks and
        back-office tools, never for a public endpoint."""
        return cls(resend_interval=timedelta(0), number_per_hour=None, number_per_day=None, ip_per_hour=None,
                   ip_per_day=None, prefix_per_day=None, country_per_day=None, total_per_day=None,
                   ip_failures_per_hour=None)

    def country_limit(self, calling_code: int) -> int | None:
        return self.country_per_day_overrides.get(calling_code, self.country_per_day)

    def send_rules(self, calling_code: int) -> list[RateRule]:
        """The rules a send is checked against (``ip`` rules apply only when an IP is given)."""
        rules = [
            RateRule("send:number", self.resend_interval, 1, "resend_interval"),
            RateRule("send:number", _HOUR, self.number_per_hour, "number_per_hour"),
            RateRule("send:number", _DAY, self.number_per_day, "number_per_day"),
            RateRule("send:ip", _HOUR, self.ip_per_hour, "ip_per_hour"),
            RateRule("send:ip", _DAY, self.ip_per_day, "ip_per_day"),
            RateRule("send:prefix", _DAY, self.prefix_per_day, "prefix_per_day"),
            RateRule("send:country", _DAY, self.country_limit(calling_code), "country_per_day"),
            RateRule("send:all", _DAY, self.total_per_day, "total_per_day"),
        ]
        return [r for r in rules if r.limit is not None and r.window > timedelta(0)]

    def failure_rules(self) -> list[RateRule]:
        """The rules a confirmation from an IP is checked against."""
        if self.ip_failures_per_hour is None:
            return []
        return [RateRule("fail:ip", _HOUR, self.ip_failures_per_hour, "ip_failures_per_hour")]


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
    if not phonenumbers.is_valid_number(number):
        raise SmsNotAllowed("invalid_number", "this is not a valid, assigned number for its country")
    kind = phonenumbers.number_type(number)
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


def retry_after_us(conn: sqlite3.Connection, scope: str, subject: str, now_us: int, window: timedelta,
                   limit: int) -> int | None:
    """Microseconds until one more event of ``subject`` fits the rule; None if it fits now.

    An event at ``t`` counts while ``now < t + window``.
    """
    window_us = window // MICROSECOND
    rows = conn.execute(
        "SELECT at_us FROM rate_events WHERE scope = ? AND subject = ? AND at_us > ? "
        "ORDER BY at_us DESC LIMIT ?", (scope, subject, now_us - window_us, limit)).fetchall()
    if len(rows) < limit:
        return None
    return int(rows[limit - 1][0]) + window_us - now_us


def enforce(conn: sqlite3.Connection, rules: list[RateRule], subjects: Mapping[str, str | None],
            now_us: int) -> None:
    """Throttled with the longest wait among the rules exceeded (subjects by scope; None skips)."""
    worst: tuple[int, str] | None = None
    for rule in rules:
        subject = subjects.get(rule.scope)
        if subject is None or rule.limit is None:
            continue
        wait = retry_after_us(conn, rule.scope, subject, now_us, rule.window, rule.limit)
        if wait is not None and (worst is None or wait > worst[0]):
            worst = (wait, rule.reason)
    if worst is not None:
        raise Throttled(seconds(worst[0]), worst[1])


def record_event(conn: sqlite3.Connection, subjects: Mapping[str, str | None], now_us: int) -> None:
    """Count one event for each scope's subject (None skips)."""
    conn.executemany("INSERT INTO rate_events (scope, subject, at_us) VALUES (?, ?, ?)",
                     [(scope, subject, now_us) for scope, subject in subjects.items() if subject is not None])
