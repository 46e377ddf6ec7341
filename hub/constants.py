"""Redis key prefixes and channel names (Redis and PostgreSQL NOTIFY), in one place (arq's habit)."""

from __future__ import annotations

CACHE_PREFIX = "payhub:cache:"
RATE_LIMIT_PREFIX = "payhub:rl"
BUS_CHANNEL = "payhub:events"
OUTBOX_CHANNEL = "payhub_outbox"  # PostgreSQL NOTIFY channel: events committed, wake the relay
