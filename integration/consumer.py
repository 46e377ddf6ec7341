"""The integration service's Kafka consumer: payment-success events mark premiums paid.

Consumer group ``payhub.integration`` on ``gateway.payment.success``. ``PremiumService.on_event`` is
idempotent, so a repeated event (at-least-once delivery) changes nothing. Offsets are committed
after the premiums were written; poison messages go to ``<topic>.dlq`` (see ``hub.event_consumer``).
"""

from __future__ import annotations

from hub.adapters.stream import Consumer, Producer
from hub.event_consumer import EventConsumer
from hub.tracing import Tracer
from integration.premiums import PremiumService

GROUP_ID = "payhub.integration"


class PremiumSettlementConsumer(EventConsumer):
    name = "premium-settlement"

    def __init__(
        self,
        consumer: Consumer,
        premiums: PremiumService,
        dead_letter_producer: Producer,
        *,
        batch: int = 200,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
        tracer: Tracer | None = None,
    ) -> None:
        super().__init__(
            consumer,
            premiums.on_event,
            dead_letter_producer,
            batch=batch,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
            tracer=tracer,
        )
