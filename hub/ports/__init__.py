"""The I/O ports of PayHub, each declared once, in this package, as a ``Protocol``.

Services are written against these (import them from ``hub.ports``); adapters implement them;
the composition root picks which. ``store.py``: the store; ``events.py``: bus and stream;
``clients.py``: AMK, the integration service, cache, rate limiter.

=================  ===========================================================================
port               implementations
=================  ===========================================================================
``Store``          ``adapters/store/sql.py`` (SQLite, PostgreSQL), ``adapters/store/memory.py``
                   (the in-memory fake; ``tests/integration/test_store_contract.py`` holds all
                   three to one contract)
``Publisher``      ``adapters/bus/memory.py``, ``adapters/bus/redis.py``, the wiring's
``Bus``            ``NullPublisher`` (Kafka: the outbox relay publishes)
``Cache``          ``adapters/cache/memory.py``, ``adapters/cache/redis.py``
``RateLimiter``    ``resilience/ratelimit.py`` (memory or Redis storage)
``Producer``       ``adapters/stream/memory.py``, ``adapters/stream/kafka.py``
``Consumer``
``AmkVerifier``    ``adapters/amk/client.py`` (AMK's partner API or the sandbox)
``AmkQrGenerator`` ``khqr/amk_qr.py``
``PremiumSource``  ``adapters/integration.py`` (the integration service)
``NotificationChannel`` ``adapters/notify/`` (push, SMS, email, partner webhooks, sandbox), in ``notify.py``
``StatementFormat`` ``adapters/amk/statement_csv.py`` (AMK's settlement statement, an assumed CSV)
``StatementSource`` ``adapters/amk/statements.py`` (fetched over HTTP from AMK or the sandbox)
``ReviewRows``     ``adapters/store/backoffice.py``, ``adapters/store/memory_backoffice.py``
``LookupRows``     (reached from a ``StoreTx``: ``tx.review_rows``, ``tx.lookups``,
``AmkAnswerRows``  ``tx.amk_answers``)
=================  ===========================================================================
"""

from __future__ import annotations

from hub.ports.backoffice import AmkAnswerRows, LookupRows, ReviewRows
from hub.ports.clients import AmkQrGenerator, AmkVerifier, Cache, PremiumSource, RateLimiter
from hub.ports.events import Bus, Consumer, Header, Message, Producer, Publisher, Record
from hub.ports.notify import NotificationChannel, Outbound
from hub.ports.reconciliation import ReconciliationRows, StatementFormat, StatementSource
from hub.ports.store import (
    FraudRows,
    KhqrSessionRows,
    NotificationRows,
    OutboxRows,
    Store,
    StoreTx,
    WatcherRows,
)

__all__ = [
    "AmkAnswerRows",
    "AmkQrGenerator",
    "AmkVerifier",
    "Bus",
    "Cache",
    "Consumer",
    "FraudRows",
    "Header",
    "KhqrSessionRows",
    "LookupRows",
    "Message",
    "NotificationChannel",
    "NotificationRows",
    "Outbound",
    "OutboxRows",
    "PremiumSource",
    "Producer",
    "Publisher",
    "RateLimiter",
    "ReconciliationRows",
    "Record",
    "ReviewRows",
    "StatementFormat",
    "StatementSource",
    "Store",
    "StoreTx",
    "WatcherRows",
]
