"""The notifier's Kafka consumer: status events become notifications (production).

Consumer group ``payhub.notifier`` on ``payhub.payment-status``. ``Notifier.on_event`` only writes the
notification rows and is idempotent, so offsets are committed once the rows are stored and a
redelivered event (after a crash, a rebalance, a replay) adds nothing; poison messages go to
``<topic>.dlq`` (see ``hub.event_consumer``). Sending is the dispatcher's job, from the rows.
"""

from __future__ import annotations

from hub.adapters.stream import Consumer, Producer
from hub.event_consumer import EventConsumer
from hub.tracing import Tracer
from notifier.service import Notifier

GROUP_ID = "payhub.notifier"


class NotificationConsumer(EventConsumer):
    name = "notifier"

    def __init__(
        self,
        consumer: Consumer,
        notifier: Notifier,
        dead_letter_producer: Producer,
        *,
        batch: int = 200,
        tracer: Tracer | None = None,
    ) -> None:
        super().__init__(consumer, notifier.handle, dead_letter_producer, batch=batch, tracer=tracer)
