"""QR expiry without anyone polling.

A loop sleeps until the earliest PENDING session expires (or until a new session wakes it),
then expires every due session: session EXPIRED and payment EXPIRED with its event, in one
transaction, guarded so that concurrent expirers (several processes) do it once. At start-up it
first applies every expiry that fell due while the process was down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub.background import wait_set
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.ports import Publisher, Store
from hub.service.ledger import transition
from khqr.sessions import EXPIRED

log = logging.getLogger("payhub.khqr.expiry")
MAX_SLEEP_S = 60.0


@dataclass
class ExpiryScheduler:
    store: Store
    bus: Publisher
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        """A session was created: re-plan the next sleep."""
        self._wake.set()

    async def expire_due(self) -> int:
        """Expire every session due now; returns how many."""
        now = self.clock()
        expired = 0
        events: list[PaymentEvent] = []
        async with self.store.transaction() as tx:
            rows = tx.khqr_sessions
            for session in await rows.due(now):
                # The payment (and its premium) first, then the session: the order the ledger
                # locks them in when money closes an attempt, so the two never deadlock.
                payment = await tx.payment(session.payment_id, lock=True)
                if not await rows.close(session.id, EXPIRED, now):
                    continue
                if payment is not None:
                    _, new_events, _ = await transition(tx, payment, PaymentStatus.EXPIRED, now)
                    events += new_events
                expired += 1
        await self.bus.publish(events)
        if expired:
            log.info("QR sessions expired", extra={"count": expired})
        return expired

    async def seconds_to_next(self) -> float:
        async with self.store.transaction() as tx:
            upcoming = await tx.khqr_sessions.next_expiry()
        if upcoming is None:
            return MAX_SLEEP_S
        return max(0.0, min(MAX_SLEEP_S, (upcoming - self.clock()).total_seconds()))

    async def run_forever(self) -> None:
        while True:
            # Cleared before the pass: a session created while it runs must wake the next sleep.
            self._wake.clear()
            try:
                await self.expire_due()
                delay = await self.seconds_to_next()
            except Exception:
                log.exception("expiry pass failed")
                delay = 5.0
            await wait_set(self._wake, delay + 0.01)
