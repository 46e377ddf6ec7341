"""The daily reconciliation inside the gateway process, and runs an operator asks for.

Every ``poll_s`` (and once at start-up) the schedule reconciles each past day that has no COMPLETED
run: the days of the last ``catch_up_days`` up to yesterday once today's ``at`` (Asia/Phnom_Penh) has
passed, else up to the day before — never a day before PayHub's database was created. So a day missed
while every gateway was down is run after the restart, and a FAILED run is tried again. Several gateway
processes may run the schedule: each day's lease (``Reconciler.start``) lets one of them work a day.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from backoffice.reconcile.days import local_day
from backoffice.reconcile.runner import Reconciler
from hub.background import every
from hub.domain.reconciliation import ReconRun
from hub.domain.timezones import PHNOM_PENH
from hub.errors import ServiceUnavailable

log = logging.getLogger("payhub.reconcile")


@dataclass
class DailyReconciliation:
    reconciler: Reconciler
    at: time
    catch_up_days: int = 7
    poll_s: float = 300.0
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    max_parallel: int = 4  # runs operators may start at once in one process (each asks AMK per transaction)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def latest_due(self, now: datetime) -> date:
        """The last day the schedule reconciles at ``now``: yesterday once ``at`` has passed today."""
        local = now.astimezone(PHNOM_PENH)
        return local.date() - timedelta(days=1 if local.time() >= self.at else 2)

    async def due_days(self) -> list[date]:
        """Days to reconcile now, oldest first: in the catch-up window, without a COMPLETED run."""
        now = self.clock()
        last = self.latest_due(now)
        first = last - timedelta(days=max(self.catch_up_days, 1) - 1)
        async with self.reconciler.store.transaction() as tx:
            installed = await tx.reconciliation.installed_at()
            done = await tx.reconciliation.completed_days(first, last)
        if installed is not None:
            first = max(first, local_day(installed))
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return [d for d in days if d not in done]

    async def tick(self) -> list[ReconRun]:
        """Run each due day once; a day another process is running is left to it."""
        ran: list[ReconRun] = []
        for day in await self.due_days():
            try:
                ran.append(await self.reconciler.run(day, "schedule"))
            except ServiceUnavailable as exc:
                log.info("reconciliation skipped", extra={"date": day.isoformat(), "reason": exc.message})
        return ran

    async def run_forever(self) -> None:
        await every(
            self.poll_s,
            self.tick,
            log=log,
            failed="daily reconciliation pass failed; trying again later",
            first_at_once=True,
        )

    async def trigger(self, day: date, trigger: str) -> tuple[ReconRun, bool]:
        """Start (or rerun) ``day`` in the background for an operator: (the run, whether it started).

        A day another process or task is running is not started again: its run is returned. Raises
        ``BadRequest`` for a day that has not begun (or before 2000), ``ServiceUnavailable`` while
        ``max_parallel`` runs started here are still going.
        """
        if len(self._tasks) >= self.max_parallel:
            raise ServiceUnavailable(
                f"{len(self._tasks)} reconciliations are running in this process; try again later", retry_after=30
            )
        try:
            run, owner = await self.reconciler.start(day, trigger)
        except ServiceUnavailable:
            current = await self.reconciler.for_day(day)
            if current is None:
                raise
            return current, False
        task = asyncio.create_task(self._work(run, owner), name=f"reconcile-{day}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run, True

    async def _work(self, run: ReconRun, owner: str) -> None:
        try:
            await self.reconciler.work(run, owner)
        except Exception:
            log.exception("reconciliation failed", extra={"date": run.day.isoformat()})

    async def wait_idle(self) -> None:
        """Wait for the runs ``trigger`` started (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Stop the runs ``trigger`` started; their leases expire and the next run resumes them."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
