"""The notifier's intake: committed payment events become stored notifications (sent by ``dispatcher.py``).

``on_event`` is the handler of the in-process bus (embedded), of the Kafka consumer group
``payhub.notifier`` (production) and of the event-log catch-up; it only writes rows, in one unit of
work, so the path that committed the payment never waits for a channel. It is idempotent: the
notifications table keeps one row per (occasion, channel, recipient), so an event handed over twice
(a redelivery after a crash, a duplicate on the bus, the catch-up reading what the bus delivered)
adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.ports import Store
from notifier.plan import Planner

log = logging.getLogger("payhub.notifier")

OUTCOMES = (PaymentStatus.CONFIRMED, PaymentStatus.FAILED)


class Notifier:
    def __init__(
        self,
        store: Store,
        planner: Planner,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.planner = planner
        self.clock = clock
        self.wake = wake  # set by the wiring: the dispatcher's wake-up

    async def handle(self, event: PaymentEvent) -> None:
        """``on_event`` as a bus handler."""
        await self.on_event(event)

    async def on_event(self, event: PaymentEvent) -> int:
        """Store the notifications of a CONFIRMED or FAILED status event; returns how many were new."""
        if event.type != PaymentEvent.STATUS or event.status not in OUTCOMES:
            return 0
        now = self.clock()
        added = 0
        async with self.store.transaction() as tx:
            payment = await tx.payment(event.payment_id)
            if payment is None:
                log.warning("event of an unknown payment: nothing to notify", extra={"eventId": event.id})
                return 0
            premium = await tx.premium(payment.premium_id)
            prefs = await tx.notifications.preferences(payment.policy_number)
            for planned in self.planner.payment(event, premium, prefs, now):
                added += await tx.notifications.enqueue(planned, now)
        if added:
            log.info("notifications queued", extra={"eventId": event.id, "paymentId": event.payment_id, "count": added})
            self.wake()
        return added
