"""Kafka-fed push: the status topic → the fan-out bus (Redis in production) → every push node.

Run as its own process (``feeder`` in the Procfile), one member of consumer group ``payhub.feeder``
per instance; Kafka splits the partitions between instances, and one payment (one key) always
lands in one partition, so its events reach the bus in order. Offsets are committed only after
the events were handed to the bus; poison messages go to ``<status topic>.dlq`` (see ``hub.event_consumer``).
"""

from __future__ import annotations

from collections import OrderedDict

from hub.adapters.stream import Consumer, Producer
from hub.domain.records import PaymentEvent
from hub.event_consumer import EventConsumer
from hub.ports import Publisher
from hub.topics import Topics
from hub.tracing import Tracer

GROUP_ID = "payhub.feeder"


class StatusFeeder(EventConsumer):
    """Hand every status event to ``bus.publish([event])``, dropping repeats of an event already handed on.

    Repeats come from the relay's at-least-once delivery; within one payment, event ids increase,
    so an id at or below the last one seen for that payment is a repeat (a bounded memory of
    ``remember`` payments; after a restart the bus subscribers' own id check still drops them).
    """

    name = "feeder"

    def __init__(
        self,
        consumer: Consumer,
        bus: Publisher,
        dead_letter_producer: Producer,
        topics: Topics,
        *,
        batch: int = 200,
        remember: int = 100_000,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
        tracer: Tracer | None = None,
    ) -> None:
        super().__init__(
            consumer,
            self._forward,
            dead_letter_producer,
            batch=batch,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
            tracer=tracer,
        )
        self._bus = bus
        self.topic = topics.status
        self._last: OrderedDict[int, int] = OrderedDict()
        self._remember = remember
        self.repeats = 0

    async def _forward(self, event: PaymentEvent) -> None:
        if event.type != PaymentEvent.STATUS:
            return
        if self._last.get(event.payment_id, -1) >= event.id:
            self.repeats += 1
            return
        await self._bus.publish([event])
        self._last[event.payment_id] = event.id
        self._last.move_to_end(event.payment_id)
        if len(self._last) > self._remember:
            self._last.popitem(last=False)
