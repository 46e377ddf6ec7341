"""Which client an address is (``hub.http.client_address``): one key per IPv4 address, one per IPv6 /64.

Found by review: the general rate limiter and the per-address connection cap keyed IPv6 clients by their
whole address, so a client rotating addresses within its /64 (2^64 of them) escaped the spec's per-IP
limits; the fraud velocity windows already counted the /64. All three now share ``client_key``."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hub.errors import RateLimitExceeded
from hub.fraud.windows import counted_value
from hub.http.client_address import client_key
from hub.http.connection_limits import ConnectionLimits
from hub.resilience.ratelimit import RateLimiter

prefixes = st.integers(min_value=0, max_value=2**64 - 1)
interfaces = st.integers(min_value=0, max_value=2**64 - 1)
ipv4 = st.integers(min_value=0, max_value=2**32 - 1).map(lambda n: ipaddress.IPv4Address(n))


def v6(prefix: int, interface: int) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(prefix << 64 | interface)


def spellings(address: ipaddress.IPv6Address) -> list[str]:
    return [str(address), address.exploded, address.exploded.upper()]


@given(prefixes, interfaces, interfaces)
def test_two_addresses_in_one_64_are_one_client(prefix: int, a: int, b: int) -> None:
    first, second = v6(prefix, a), v6(prefix, b)
    assume(first.ipv4_mapped is None and second.ipv4_mapped is None)  # ::ffff:0:0/96 is IPv4
    keys = {client_key(s) for s in spellings(first) + spellings(second)}
    assert keys == {str(ipaddress.IPv6Network((prefix << 64, 64)))}
    assert counted_value("ip", str(second)) in keys  # the fraud velocity windows count it alike


@given(prefixes, prefixes, interfaces, interfaces)
def test_addresses_in_different_64s_are_different_clients(p: int, q: int, a: int, b: int) -> None:
    assume(p != q)
    assert client_key(str(v6(p, a))) != client_key(str(v6(q, b)))


@given(ipv4, ipv4)
def test_ipv4_is_kept_whole_and_its_mapped_form_is_the_same_client(
    a: ipaddress.IPv4Address, b: ipaddress.IPv4Address
) -> None:
    mapped = ipaddress.IPv6Address(0xFFFF << 32 | int(a))
    assert client_key(str(a)) == client_key(str(mapped)) == client_key(mapped.exploded) == str(a)
    assert (client_key(str(a)) == client_key(str(b))) == (a == b)
    # The fraud engine's velocity windows count the same client as the rate limiter and connection cap.
    assert counted_value("ip", str(mapped)) == client_key(str(a))


@pytest.mark.parametrize("other", ["unknown", "", "testclient", "2001:db8::1/64", "[2001:db8::1]", "10.0.0.256"])
def test_what_is_not_an_address_is_kept_as_it_is(other: str) -> None:
    assert client_key(other) == other


def test_a_scoped_link_local_address_is_its_64() -> None:
    assert client_key("fe80::1%eth0") == client_key("fe80::2") == "fe80::/64"


async def test_the_rate_limiter_counts_an_ipv6_client_by_its_64() -> None:
    # ip: 5 per 30 s (burst), 6 per 60 s; anonymous requests, so only the ip windows count.
    async with RateLimiter(user_per_min=100, ip_per_min=6) as limiter:
        for n in range(1, 6):
            await limiter.hit(user=None, ip=f"2001:db8:1:2::{n:x}")
        with pytest.raises(RateLimitExceeded) as info:
            await limiter.hit(user=None, ip="2001:db8:1:2:ffff:ffff:ffff:ffff")
        assert info.value.details == {"limit": "5 per 30 s", "scope": "ip"}
        await limiter.hit(user=None, ip="2001:db8:1:3::1")  # the next /64 is another client
        for _ in range(5):
            await limiter.hit(user=None, ip="10.0.0.1")
        with pytest.raises(RateLimitExceeded):
            await limiter.hit(user=None, ip="::ffff:10.0.0.1")  # the same IPv4 client
        await limiter.hit(user=None, ip="10.0.0.2")  # IPv4 clients are still one per address


def test_the_connection_cap_counts_an_ipv6_client_by_its_64() -> None:
    limits = ConnectionLimits(0, 0, max_per_peer=2, stall_timeout_s=0, send_timeout_s=0)
    first, second = limits.admit("2001:db8:1:2::1"), limits.admit("2001:db8:1:2::2")
    assert first == second == "2001:db8:1:2::/64"
    assert limits.admit("2001:db8:1:2::3") is None  # a third connection from the same /64
    assert limits.admit("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert limits.admit("10.0.0.1") == "10.0.0.1" and limits.admit("::ffff:10.0.0.1") == "10.0.0.1"
    assert limits.admit("10.0.0.1") is None and limits.admit("10.0.0.2") == "10.0.0.2"
    limits.release(first)
    assert limits.admit("2001:db8:1:2::4") == "2001:db8:1:2::/64"
    assert dict(limits.open_by_peer) == {"2001:db8:1:2::/64": 2, "2001:db8:1:3::/64": 1, "10.0.0.1": 2, "10.0.0.2": 1}


def test_the_connection_cap_admits_uncounted_when_off() -> None:
    limits = ConnectionLimits(0, 0, max_per_peer=0, stall_timeout_s=0, send_timeout_s=0)
    assert all(limits.admit("2001:db8::1") == "2001:db8::/64" for _ in range(10))
