"""Redis key prefixes, channel names (Redis and PostgreSQL NOTIFY) and the URL schemes each backend
setting accepts, in one place (arq's habit)."""

from __future__ import annotations

CACHE_PREFIX = "payhub:cache:"
RATE_LIMIT_PREFIX = "payhub:rl"
BUS_CHANNEL = "payhub:events"
OUTBOX_CHANNEL = "payhub_outbox"  # PostgreSQL NOTIFY channel: events committed, wake the relay

# A KHQR webhook's invoice_number is PayHub's payment id or the bill (premium) id the inquiry
# returned, and AMK may echo either. The two id spaces are disjoint by construction: payment ids
# start at PAYMENT_ID_FLOOR (migration 0003 moves the sequence there) and premium ids must stay
# below it (the import refuses larger ones), so a number names one thing only. 10**12 leaves
# bill ids twelve digits and keeps payment ids far below 2**53 (exact in JavaScript).
PAYMENT_ID_FLOOR = 10**12


# The URL schemes each backend setting accepts: the settings refuse any other at start-up and
# payhub/backends.py picks the adapter by them (scheme → store dialect).
DATABASE_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres"}
REDIS_SCHEMES = ("redis", "rediss")


def url_scheme(url: str) -> str:
    """The scheme of ``url`` (the text before the first ``:``), as written; ``""`` when it has none."""
    head, sep, _ = url.partition(":")
    return head if sep else ""


FRAUD_PREFIX = "payhub:fraud"  # the fraud rules' velocity windows in Redis (hub/fraud/windows.py)
