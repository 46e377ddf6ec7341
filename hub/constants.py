"""Redis key prefixes and channel names, in one place (arq's habit)."""

from __future__ import annotations

CACHE_PREFIX = "payhub:cache:"
RATE_LIMIT_PREFIX = "payhub:rl"
BUS_CHANNEL = "payhub:events"
