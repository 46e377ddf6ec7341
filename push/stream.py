"""One subscriber's stream of a payment: the log from its cursor, then live frames, then the end.

Ordering contract: frames have strictly increasing ids; none is skipped between the log replay
and live delivery; none is sent twice; the stream ends right after a terminal status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from hub.domain.records import Payment, PaymentEvent
from hub.fanout import Fanout, Frame, Subscriber
from hub.ports import Store
from hub.service.ledger import status_data

PAGE = 500


class PaymentStream:
    def __init__(
        self,
        hub: Fanout,
        sub: Subscriber,
        backlog: list[Frame],
        cursor: int,
        *,
        store: Store | None = None,
        more: bool = False,
    ) -> None:
        """``more``: the backlog was one full page of the log; read the rest from ``store``."""
        self._hub = hub
        self._sub = sub
        self._backlog = backlog
        self.last_id = cursor
        self._store = store
        self._more = more

    @property
    def subscriber(self) -> Subscriber:
        return self._sub

    async def frames(self, heartbeat_s: float | None) -> AsyncIterator[Frame | None]:
        """Frames in order; ``None`` when the process heartbeat timer of ``heartbeat_s`` fired (send a
        heartbeat; None: no heartbeats) or the client went away (``Subscriber.close``: the stream ends)."""
        if heartbeat_s is not None:
            self._hub.heartbeat(self._sub, heartbeat_s)
        try:
            while self._backlog:
                for frame in self._backlog:
                    yield frame
                    self.last_id = frame.id
                    if frame.terminal:
                        return
                self._backlog = await self._next_page()
            sub = self._sub
            while True:
                live = await sub.next_or_beat()
                if live is None:
                    if sub.closed:
                        return
                    yield None
                    continue
                if live.id <= self.last_id:
                    continue  # already replayed from the log
                yield live  # resumed once the frame was written (the transport awaits its send)
                self._hub.written(self._sub, live)
                self.last_id = live.id
                if live.terminal:
                    return
        finally:
            self.close()

    def close(self) -> None:
        self._hub.unsubscribe(self._sub)

    async def _next_page(self) -> list[Frame]:
        if not self._more or self._store is None:
            return []
        events = await self._store.events_after(self._sub.payment_id, self.last_id, limit=PAGE)
        self._more = len(events) == PAGE
        return [Frame.of(e) for e in events]


async def open_stream(
    store: Store,
    hub: Fanout,
    payment_id: int,
    cursor: int | None,
    *,
    transport: str = "sse",
    payment: Payment | None = None,
) -> PaymentStream | None:
    """Subscribe first, then read the log. None when the cursor is at or past a terminal status.
    ``transport`` (sse | ws) labels the subscriber in the metrics.

    ``payment``: the payment row as the caller just read it (authorization does): with it, a fresh
    stream takes its current status from the fan-out's memory of the newest status (``Fanout.latest``)
    when the two agree, instead of reading the log. A resumed stream whose cursor is at or past that
    memory reads nothing: every event after it reaches the subscriber live (registered first, and
    the memory holds every event fanned out so far). Anything else reads the store, and what it
    reads feeds the memory."""
    sub = hub.subscribe(payment_id, transport)
    try:
        backlog: list[PaymentEvent]
        known = hub.latest.get(payment_id)
        if cursor is None:
            if known is not None and payment is not None and payment.status is known.status:
                last: PaymentEvent | None = known
            else:
                async with store.transaction() as tx:
                    last = await tx.last_status_event(payment_id)
                    payment = await tx.payment(payment_id)
                if last is not None:
                    hub.latest.remember(last)
            # The current status: the last status event's id and time, the payment row's details
            # (the method, for one, is known once a QR was issued, without a status change).
            if last is not None and payment is not None and payment.status is last.status:
                estimate = last.data.get("estimatedCompletion")  # the PROCESSING event's, kept as it was
                current = status_data(payment, last.occurred_at)
                last = replace(last, data={**current, **({"estimatedCompletion": estimate} if estimate else {})})
            backlog = [last] if last else []
        elif known is not None and known.id <= cursor:
            if known.status.terminal:
                hub.unsubscribe(sub)
                return None
            backlog = []
        else:
            # The newest status first: a client resuming where it left off (a reconnect storm: nearly all
            # of them) needs this one read only; the log is read when there is something after the cursor.
            async with store.transaction() as tx:
                last = await tx.last_status_event(payment_id)
            if last is not None:
                hub.latest.remember(last)
            if last is None or last.id <= cursor:
                if last is not None and last.status.terminal:
                    hub.unsubscribe(sub)
                    return None
                backlog = []
            else:
                backlog = await store.events_after(payment_id, cursor, limit=PAGE)
    except BaseException:
        hub.unsubscribe(sub)
        raise
    more = cursor is not None and len(backlog) == PAGE
    return PaymentStream(hub, sub, [Frame.of(e) for e in backlog], cursor or 0, store=store, more=more)
