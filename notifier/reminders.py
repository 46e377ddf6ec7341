"""Due-date reminders: the spec's ``payment_due_reminder`` "3_days_before_due_date", inside the customer's
hours (``Asia/Phnom_Penh``, ``09:00-18:00`` unless the customer chose others).

The schedule lives in the database, so it survives restarts: each scan writes, for every DUE premium
falling due within ``days_before`` days, its reminder notifications with ``next_attempt_at`` at the
moment ``reminder_send_at`` gives; the dispatcher sends them when that moment comes and checks again
then that the premium is still unpaid and the hour still the customer's. Scanning is idempotent (one
row per occasion ``reminder:<premiumId>:<dueDate>``, channel and recipient), so scans may repeat, and
several notifiers may scan at once. The clock is injected (tests drive it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo

from hub.domain.notification import Hours, reminder_send_at
from hub.ports import Store
from notifier.plan import Planner

log = logging.getLogger("payhub.notifier")


class ReminderScheduler:
    def __init__(
        self,
        store: Store,
        planner: Planner,
        *,
        hours: Hours,
        tz: tzinfo,
        days_before: int = 3,
        interval_s: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wake: Callable[[], None] = lambda: None,
        batch: int = 500,
    ) -> None:
        self.store = store
        self.planner = planner
        self.hours, self.tz, self.days_before = hours, tz, days_before
        self.interval_s = interval_s
        self.clock = clock
        self.wake = wake
        self.batch = batch

    async def scan(self) -> int:
        """Schedule the reminders of every premium due within ``days_before`` local days; returns how many
        notifications were new."""
        now = self.clock()
        today = now.astimezone(self.tz).date()
        last_id, added, due_now = 0, 0, False
        while True:
            async with self.store.transaction() as tx:
                premiums = await tx.notifications.due_premiums(
                    today, today + timedelta(days=self.days_before), last_id, self.batch
                )
                for premium in premiums:
                    prefs = await tx.notifications.preferences(premium.policy_number)
                    hours = (prefs.hours if prefs else None) or self.hours
                    send_at = reminder_send_at(premium.due_date, now, hours, self.tz, self.days_before)
                    if send_at is None:
                        continue
                    for planned in self.planner.reminder(premium, prefs, send_at, now):
                        if await tx.notifications.enqueue(planned, now):
                            added += 1
                            due_now = due_now or send_at <= now
            if premiums:
                last_id = premiums[-1].id
            if len(premiums) < self.batch:
                break
        if added:
            log.info("reminders scheduled", extra={"count": added})
        if due_now:
            self.wake()
        return added

    async def run_forever(self) -> None:
        while True:
            try:
                await self.scan()
            except Exception:
                log.exception("reminder scan failed; retried at the next interval")
            await asyncio.sleep(self.interval_s)
