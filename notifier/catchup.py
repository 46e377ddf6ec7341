"""The notifier's catch-up from the event log, for processes without Kafka.

The in-process bus (and Redis pub/sub) forget what they could not deliver: a crash with events still
queued, a Redis reconnect. So the notifier also reads the committed log itself: CONFIRMED and FAILED
status events after its cursor (table ``notifier_cursors``) are handed to ``Notifier.on_event``, which
is idempotent. The cursor moves past an event only once it is ``lag_s`` old: on PostgreSQL an event id
taken earlier may commit later than a larger one, and a transaction never stays open that long. The
first run starts at the end of the log (no notifications for payments made before the notifier existed).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from hub.background import every
from notifier.service import Notifier

log = logging.getLogger("payhub.notifier")


class EventLogCatchUp:
    def __init__(
        self, notifier: Notifier, *, name: str = "notifier", lag_s: float = 120.0, interval_s: float = 30.0
    ) -> None:
        self.notifier = notifier
        self.name = name
        self.lag = timedelta(seconds=lag_s)
        self.interval_s = interval_s

    async def start(self) -> None:
        """The first run of this reader marks the end of the log as its starting point."""
        store, now = self.notifier.store, self.notifier.clock()
        async with store.transaction() as tx:
            if await tx.notifications.cursor(self.name) is None:
                await tx.notifications.set_cursor(self.name, await tx.notifications.last_event_id(), now)

    async def sweep(self, batch: int = 500) -> int:
        """Hand every outcome event after the cursor to the notifier; returns how many notifications were new."""
        store = self.notifier.store
        added = 0
        async with store.transaction() as tx:
            cursor = await tx.notifications.cursor(self.name) or 0
        while True:
            async with store.transaction() as tx:
                events = await tx.notifications.outcome_events_after(cursor, batch)
            horizon = self.notifier.clock() - self.lag
            for event in events:
                added += await self.notifier.on_event(event)
            settled, young = cursor, False
            for event in events:  # the cursor stops before the first event still young: read again next time
                if event.occurred_at > horizon:
                    young = True
                    break
                settled = event.id
            if settled > cursor:
                async with store.transaction() as tx:
                    await tx.notifications.set_cursor(self.name, settled, self.notifier.clock())
            if len(events) < batch or young:
                break
            cursor = settled
        if added:
            log.warning("notifications queued from the event log (missed on the bus)", extra={"count": added})
        return added

    async def run_forever(self) -> None:
        await every(
            self.interval_s, self.sweep, log=log, failed="notification catch-up failed; retried at the next interval"
        )
