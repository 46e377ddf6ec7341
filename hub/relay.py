"""The outbox relay: committed ``payment_events`` rows → stream topics, at least once.

One ``run_once`` is one store transaction: claim a batch (locked), send every event to its topics
(key = paymentId, value = ``event_json``), wait for the broker's acks, *then* mark the rows published
and commit. If the broker fails, the transaction rolls back and nothing is marked: the rows go out
again on a later run. If the process dies after the acks and before the commit, the same happens,
so a consumer may see an event twice, always with the same id (consumers drop duplicates by id).

``run_forever`` runs a batch whenever it is woken and at least every ``poll_s``. Wake-ups: on
PostgreSQL, ``LISTEN payhub_outbox`` on a dedicated connection (each transaction that appends events
runs ``NOTIFY payhub_outbox`` / ``SELECT pg_notify('payhub_outbox', '')``, delivered at its commit);
in one process, ``wake()``. Several relays may run at once: claims skip each other's rows.

Each batch that sends anything is a producer span (``hub.tracing``): every record carries its
``traceparent`` and an ``x-correlation-id`` header (``relay-<span id>``), which the consumers continue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from hub.background import running, wait_set
from hub.constants import OUTBOX_CHANNEL
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.event_codec import event_json
from hub.logs import correlation_id
from hub.ports import OutboxRows, Producer, Record, Store
from hub.resilience.retry import retry_logged, wait_backoff
from hub.topics import Topics
from hub.tracing import Tracer

log = logging.getLogger("payhub.relay")

CHANNEL = OUTBOX_CHANNEL  # the store notifies on it after each commit


def _now() -> datetime:
    return datetime.now(UTC)


class OutboxRelay:
    def __init__(
        self,
        store: Store,
        producer: Producer,
        topics: Topics,
        *,
        batch: int = 100,
        poll_s: float = 1.0,
        clock: Callable[[], datetime] = _now,
        listen_url: str | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        tracer: Tracer | None = None,
    ) -> None:
        self._store = store
        self._tracer = tracer if tracer is not None else Tracer()
        self._producer = producer
        self._topics = topics
        self._batch = batch
        self._poll_s = poll_s
        self._clock = clock
        self._listen_url = listen_url
        # the settings' backoff, jitter ±20 %: relays restarted together do not retry in lockstep
        self._backoff = wait_backoff(backoff_initial_s, backoff_max_s, 0.2)
        self._wake = asyncio.Event()
        self._deferred = 0
        self.published = 0  # events marked published by this relay (for logs and tests)
        self.listening = False  # a LISTEN connection is open (PostgreSQL only)

    def wake(self) -> None:
        """Run a batch now (call after a commit that appended events, in this process)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Relay one batch; returns how many events were marked published (0: nothing to do).

        Raises ``StreamUnavailable`` (or the store's ``ServiceUnavailable``) with nothing marked.
        """
        async with self._store.transaction() as tx:
            rows = tx.outbox
            events = await rows.claim(self._batch)
            self._deferred = rows.deferred
            if not events:
                return 0
            records: list[Record] = []
            for event in events:
                records += await self._records(rows, event)
            if records:
                await self._send(records, len(events))
            await rows.mark_published([e.id for e in events], self._clock())
        self.published += len(events)
        return len(events)

    async def _send(self, records: list[Record], events: int) -> None:
        attributes = {
            "messaging.system": "kafka",
            "messaging.batch.message_count": len(records),
            "payhub.events": events,
        }
        with self._tracer.span("relay publish", kind="producer", attributes=attributes) as span:
            cid = f"relay-{span.span_id}"
            token = correlation_id.set(cid)
            try:
                headers = [(name, value.encode()) for name, value in span.headers(cid).items()]
                await self._producer.send_many(records, headers=headers)
            finally:
                correlation_id.reset(token)

    async def _records(self, rows: OutboxRows, event: PaymentEvent) -> list[Record]:
        confirmed_sent = event.status is PaymentStatus.CONFIRMED and await rows.had_processing(
            event.payment_id, event.id
        )
        value = event_json(event)
        key = str(event.payment_id)
        return [(topic, key, value) for topic in self._topics.for_event(event, confirmed_sent=confirmed_sent)]

    async def run_forever(self) -> None:
        """Relay until cancelled; broker or database outages are waited out with backoff."""
        async with self._listening():
            while True:
                self._wake.clear()
                done = await retry_logged(self.run_once, wait=self._backoff, log=log, what="relay batch")
                if done >= self._batch:
                    continue  # more is probably waiting
                # Events held back for another relay's earlier ones are free once it commits: look again soon.
                wait_s = min(self._poll_s, 0.05) if self._deferred else self._poll_s
                await wait_set(self._wake, wait_s)

    @contextlib.asynccontextmanager
    async def _listening(self) -> AsyncIterator[None]:
        if not self._listen_url:
            yield
            return
        async with running(self._listen(self._listen_url), name="payhub-relay-listen"):
            yield

    async def _listen(self, url: str) -> None:
        """Keep a LISTEN connection open; reconnect (and run a batch) whenever it drops."""
        from hub.adapters.store.postgres import split_schema

        dsn, _ = split_schema(url)
        while True:
            # Failing to connect (OSError, TimeoutError, asyncpg's errors) is waited out with backoff;
            # the relay polls meanwhile. A connection that was up and is lost returns here.
            await retry_logged(
                lambda: self._listen_once(dsn), wait=self._backoff, log=log, what="relay LISTEN (polling meanwhile)"
            )
            log.warning("relay LISTEN connection lost; polling every %.1fs until it is back", self._poll_s)
            await asyncio.sleep(self._backoff.initial)  # a moment before reconnecting, as after a failure

    async def _listen_once(self, dsn: str) -> None:
        import asyncpg

        lost = asyncio.Event()
        con = await asyncpg.connect(dsn, timeout=5)
        try:
            con.add_termination_listener(lambda _c: lost.set())
            await con.add_listener(CHANNEL, lambda *_args: self._wake.set())
            self.listening = True
            self._wake.set()  # catch up on whatever committed while we were not listening
            await lost.wait()
        finally:
            self.listening = False
            if not con.is_closed():
                with contextlib.suppress(Exception):
                    await con.close(timeout=2)
