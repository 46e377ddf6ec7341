"""The bounds one server puts on its connections, and the count of connections open per client (its peer
address as ``hub.http.client_address.client_key`` counts it: an IPv6 client by its /64)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hub.http.client_address import client_key
from hub.settings import Settings


@dataclass
class ConnectionLimits:
    """Shared by a server's HTTP and WebSocket protocols (one instance per server, never at import time).

    Times in seconds, sizes in bytes; 0 turns a bound off."""

    header_timeout_s: float
    max_header_bytes: int
    max_per_peer: int
    stall_timeout_s: float
    send_timeout_s: float
    open_by_peer: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            header_timeout_s=settings.header_timeout_s,
            max_header_bytes=settings.max_header_bytes,
            max_per_peer=settings.max_connections_per_ip,
            stall_timeout_s=settings.ws_ping_timeout_s,
            send_timeout_s=settings.send_timeout_s,
        )

    def admit(self, address: str) -> str | None:
        """Count one more connection from ``address``; returns the client key to :meth:`release` it by
        (an IPv4 address, an IPv6 client's /64), or None, counting nothing, when that client already
        holds ``max_per_peer`` connections (the caller refuses it)."""
        peer = client_key(address)
        if self.max_per_peer > 0 and self.open_by_peer[peer] >= self.max_per_peer:
            return None
        self.open_by_peer[peer] += 1
        return peer

    def release(self, peer: str | None) -> None:
        """One connection of client key ``peer`` closed (``None``: one that was never counted)."""
        if peer is None:
            return
        self.open_by_peer[peer] -= 1
        if self.open_by_peer[peer] <= 0:
            del self.open_by_peer[peer]
