"""A request's nested networks (``breachindex.campaign.networks``): the subject texts are the
ones ``ipaddress.ip_network`` writes (they are hashed and stored, so they must never change),
IPv4-mapped addresses count as IPv4, a zone index is left out, and a missing or unreadable
address is the one shared ``unknown``.
"""
from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from breachindex.campaign.networks import LEVELS, origin_of


def plain(address: str) -> dict[str, str]:
    """The subjects written out with ``ipaddress`` networks (what the store has always held)."""
    parsed = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    if isinstance(parsed, ipaddress.IPv4Address):
        sizes, family = {"host": 32, "network": 24}, "v4"
    else:
        sizes, family = {"host": 64, "site": 56, "network": 48}, "v6"
    return {level: f"{level}:{family}:{ipaddress.ip_network((parsed, bits), strict=False)}"
            for level, bits in sizes.items()}


@given(st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str),
                 st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
                 st.tuples(st.ip_addresses(v=6), st.sampled_from(["eth0", "1"])).map(lambda t: f"{t[0]}%{t[1]}")))
def test_subjects_are_the_networks_ipaddress_writes(address: str) -> None:
    origin = origin_of(address)
    assert origin.known and origin.subjects == plain(address)


# addresses whose groups are mostly zeros or ones, so that runs of zeros of every length and
# place (the ones ``::`` may stand for) come up
_GROUPS = st.lists(st.sampled_from([0, 0, 0, 1, 0x10, 0xFF00, 0xFFFF]) | st.integers(0, 0xFFFF), min_size=8, max_size=8)


@given(_GROUPS)
def test_subjects_of_addresses_with_runs_of_zeros(groups: list[int]) -> None:
    address = str(ipaddress.IPv6Address(sum(g << (16 * (7 - i)) for i, g in enumerate(groups))))
    assert origin_of(address).subjects == plain(address)


@given(st.integers(0, 2**32 - 1))
def test_subjects_of_every_ipv4_address(value: int) -> None:
    address = str(ipaddress.IPv4Address(value))
    assert origin_of(address).subjects == plain(address)


def test_known_examples() -> None:
    assert origin_of("2001:db8:12:3456::1").subjects == {
        "host": "host:v6:2001:db8:12:3456::/64", "site": "site:v6:2001:db8:12:3400::/56",
        "network": "network:v6:2001:db8:12::/48"}
    assert origin_of("::1").subjects == {"host": "host:v6:::/64", "site": "site:v6:::/56",
                                         "network": "network:v6:::/48"}
    assert origin_of("0:0:0:1::5").subjects == {"host": "host:v6:0:0:0:1::/64", "site": "site:v6:::/56",
                                                "network": "network:v6:::/48"}
    assert origin_of(" ::ffff:192.0.2.77 ").subjects == {"host": "host:v4:192.0.2.77/32",
                                                          "network": "network:v4:192.0.2.0/24"}


def test_a_missing_or_unreadable_address_is_the_shared_unknown() -> None:
    for address in (None, "", "testclient", "::zz", "300.1.1.1"):
        origin = origin_of(address)
        assert not origin.known and origin.subjects == {level: f"{level}:unknown" for level in LEVELS}
