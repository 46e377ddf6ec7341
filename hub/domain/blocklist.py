"""Blocklist entries: what operators bar from paying (policy numbers, customers, IPs, devices). Pure, no I/O.

An entry applies from its creation until it is removed or, when it has one, until ``expires_at``
(exclusive): expiry is decided by the clock at the moment an entry is read, so an expired entry stops
applying without any sweeper. Values are stored in one canonical form per kind (:func:`canonical_value`),
so that matching is an exact comparison, except for ``ip`` entries, which may name a network (CIDR).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from hub.errors import InvalidInput

# A policy or application number, as the inquiry and KHQR accept it (1-10 letters or digits).
POLICY = re.compile(r"^[A-Za-z0-9]{1,10}$")
# ``X-Device-Id``: the app's own opaque id of the device (a UUID, an install id): bounded and printable.
DEVICE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# A token subject as PayHub's tokens carry it: printable ASCII, no spaces, bounded.
CUSTOMER = re.compile(r"^[\x21-\x7e]{1,128}$")
MAX_REASON = 500
MAX_ACTOR = 128


class BlockKind(StrEnum):
    POLICY = "policy"
    CUSTOMER = "customer"
    IP = "ip"
    DEVICE = "device"


@dataclass(frozen=True)
class BlockEntry:
    """One row of the blocklist. ``removed_at`` set: withdrawn by ``removed_by`` (kept for the audit trail)."""

    id: int
    kind: BlockKind
    value: str
    reason: str
    added_by: str
    created_at: datetime
    expires_at: datetime | None = None
    removed_at: datetime | None = None
    removed_by: str | None = None

    def active_at(self, now: datetime) -> bool:
        """Whether the entry applies at ``now``: not removed, and not expired (``expires_at`` exclusive)."""
        return self.removed_at is None and (self.expires_at is None or now < self.expires_at)

    def matches(self, kind: BlockKind, value: str) -> bool:
        """Whether a request's ``value`` of ``kind`` (already canonical) is what this entry bars."""
        if kind is not self.kind:
            return False
        if kind is BlockKind.IP:
            try:
                address = ipaddress.ip_address(value)
                network = ipaddress.ip_network(self.value)
            except ValueError:
                return False
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped  # one IPv4 client, however written (as canonical_value)
            return address in network
        return value == self.value

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The admin API's shape: ``id, kind, value, reason, addedBy, createdAt, expiresAt, removedAt,
        removedBy, active`` (times ISO 8601)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "value": self.value,
            "reason": self.reason,
            "addedBy": self.added_by,
            "createdAt": self.created_at.isoformat(),
            "expiresAt": self.expires_at.isoformat() if self.expires_at else None,
            "removedAt": self.removed_at.isoformat() if self.removed_at else None,
            "removedBy": self.removed_by,
            "active": self.active_at(now),
        }


def canonical_value(kind: BlockKind, raw: object) -> str:
    """``raw`` in the one form entries of ``kind`` are stored and compared in; :class:`InvalidInput`
    (400, field ``value``) when it is not a value of that kind.

    * ``policy``: 1-10 letters or digits, upper-cased (a policy or application number, as queried);
    * ``customer``: a token subject, 1-128 printable ASCII characters, as it is;
    * ``ip``: an IPv4/IPv6 address or network (CIDR), compressed; host bits are cleared
      (``10.1.2.3/16`` is ``10.1.0.0/16``), a single address has no prefix, and an IPv4-mapped IPv6
      address is its IPv4 address (as clients are compared, ``hub.http.access.canonical_ip``);
    * ``device``: an ``X-Device-Id`` (:func:`device_id`), as it is.
    """
    value = raw.strip() if isinstance(raw, str) else ""
    if kind is BlockKind.POLICY and POLICY.match(value):
        return value.upper()
    if kind is BlockKind.CUSTOMER and CUSTOMER.match(value):
        return value
    if kind is BlockKind.DEVICE and DEVICE_ID.match(value):
        return value
    if kind is BlockKind.IP:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            pass
        else:
            if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
                mapped = network.network_address.ipv4_mapped
                if mapped is not None:
                    network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}", strict=False)
            single = network.prefixlen == network.max_prefixlen
            return str(network.network_address) if single else str(network)
    raise InvalidInput(f"not a valid {kind.value} value", details=[{"field": "value", "message": _RULES[kind]}])


def device_id(raw: str | None) -> str | None:
    """The ``X-Device-Id`` header: None when absent or empty; :class:`InvalidInput` (400, field
    ``X-Device-Id``) unless 1-128 of ``A-Z a-z 0-9 . _ : -``."""
    if raw is None or raw == "":
        return None
    if not DEVICE_ID.match(raw):
        raise InvalidInput(
            "Invalid X-Device-Id header", details=[{"field": "X-Device-Id", "message": _RULES[BlockKind.DEVICE]}]
        )
    return raw


_RULES = {
    BlockKind.POLICY: "1-10 letters or digits",
    BlockKind.CUSTOMER: "a token subject: 1-128 printable ASCII characters, no spaces",
    BlockKind.IP: "an IPv4 or IPv6 address or network (CIDR)",
    BlockKind.DEVICE: "1-128 characters of A-Z a-z 0-9 . _ : -",
}
