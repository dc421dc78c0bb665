"""Where a request comes from, at the sizes an attacker buys addresses in.

One address says little: an IPv6 subscriber usually holds a whole /64 (often a /56 or /48),
tunnel brokers hand out a /48 for free, and IPv4 addresses come in /24 blocks from hosting
providers. So every limit that is meant to hold against one party counts at several nested
sizes at once (``LEVELS``):

========  ===========  ===========  ==================================================
level     IPv4         IPv6         what it stands for
========  ===========  ===========  ==================================================
host      /32          /64          one subscriber (one line, one server)
site      (none)       /56          one customer's delegation (a home, an office)
network   /24          /48          what one party gets cheaply: a tunnel broker's /48,
                                    a hosting provider's /24
========  ===========  ===========  ==================================================

An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) counts as its IPv4 address. A missing
or unreadable address is never a reason to skip a limit: it is the one shared ``unknown``
subject at every level, so all such requests share (and exhaust) one budget together.

Only subjects leave this module, as text like ``"network:v6:2001:db8::/48"``; callers hash
them under a key before storing them (no address is ever stored in clear).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["LEVELS", "UNKNOWN", "Origin", "origin_of"]

#: the nested sizes, smallest first
LEVELS: tuple[str, ...] = ("host", "site", "network")
#: the subject of a request whose address is missing or not an IP address
UNKNOWN = "unknown"

_V4_PREFIX = {"host": 32, "network": 24}
_V6_PREFIX = {"host": 64, "site": 56, "network": 48}


@dataclass(frozen=True)
class Origin:
    """A request's origin at each level: ``subjects`` maps a level to its subject text (a level
    IPv4 does not have is absent). ``known`` is False for a missing or unreadable address."""

    subjects: dict[str, str]
    known: bool

    def subject(self, level: str) -> str | None:
        return self.subjects.get(level)


def origin_of(address: str | None) -> Origin:
    """The nested subjects of ``address`` (an IPv4 or IPv6 address as text, or None)."""
    parsed: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        parsed = ipaddress.ip_address(address.strip()) if isinstance(address, str) else None
    except ValueError:
        parsed = None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    if parsed is None:
        return Origin({level: f"{level}:{UNKNOWN}" for level in LEVELS}, known=False)
    value = int(parsed)  # a zone index (%eth0) names an interface, not a network: it is left out
    if isinstance(parsed, ipaddress.IPv4Address):
        subjects = {level: f"{level}:v4:{_v4_network(value, bits)}" for level, bits in _V4_PREFIX.items()}
    else:
        subjects = {level: f"{level}:v6:{_v6_network(value, bits)}" for level, bits in _V6_PREFIX.items()}
    return Origin(subjects, known=True)


# str(ip_network((address, bits), strict=False)), written out without building address objects
# (every start and confirmation pays for it twice); the tests hold them to ipaddress's own text

def _v4_network(value: int, bits: int) -> str:
    net = value >> (32 - bits) << (32 - bits)
    return f"{net >> 24}.{net >> 16 & 255}.{net >> 8 & 255}.{net & 255}/{bits}"


def _v6_network(value: int, bits: int) -> str:
    """For ``bits`` <= 64: the last four groups are zeros, a run longer than any zeros among the
    first four (a run that reaches the end is part of it), so it is the run ``::`` stands for."""
    net = value >> (128 - bits)
    groups = [net << (64 - bits) >> shift & 0xFFFF for shift in (48, 32, 16, 0)]
    while groups and groups[-1] == 0:
        groups.pop()
    return ":".join(f"{group:x}" for group in groups) + f"::/{bits}"
