"""Which client an address is: its canonical form, and the key its per-client limits count it by.

Pure (``ipaddress`` only), so that the rate limiter (``hub.resilience.ratelimit``), the per-address
connection cap (``hub.http.connection_limits``) and the fraud velocity windows (``hub.fraud.windows``)
count one client the same way.
"""

from __future__ import annotations

import ipaddress

IPV6_CLIENT_PREFIX = 64
"""An IPv6 client is its /64: the smallest block an ISP assigns to one subscriber (RFC 6177, RFC 7934),
whose devices may take any address in it (privacy addresses, RFC 8981)."""


def canonical_ip(host: str) -> str:
    """``host`` as one client is always written: an IPv4-mapped IPv6 address (``::ffff:10.20.3.4``, what
    a dual-stack socket or proxy reports for an IPv4 client, RFC 4291 §2.5.5.2) as its IPv4 address;
    any other address in its compressed form; what is not an IP address unchanged."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def client_key(host: str) -> str:
    """What per-client limits count ``host`` as: an IPv4 address (IPv4-mapped IPv6 included) as its
    canonical IPv4 address; any other IPv6 address as its /64 network, compressed
    (``2001:db8:1:2::5`` -> ``2001:db8:1:2::/64``; a zone id ``%eth0`` is dropped); what is not an IP
    address unchanged. Counting per IPv6 address would let one client rotate past any per-IP limit."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    network = int(address) >> (128 - IPV6_CLIENT_PREFIX) << (128 - IPV6_CLIENT_PREFIX)
    return str(ipaddress.IPv6Network((network, IPV6_CLIENT_PREFIX)))
