"""This process's analytics for live streams: who must recompute, when, and computing each range once.

The feed is a bus handler: every committed status event (in this process, or from the others through
Redis) bumps :attr:`AnalyticsFeed.generation` and wakes the streams waiting for a change. A stream then
asks for a :meth:`snapshot` of its range; snapshots are shared: streams of the same range that ask
within ``min_interval_s`` of one another, with no event in between, get the one already computed, and
concurrent askers of a range wait for one computation (single flight). At most ``max_queries``
figures are computed at once in the process, whatever the number of streams and requests.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from backoffice.analytics.query import RangeQuery
from hub.domain.analytics import AnalyticsRange, PaymentFigures
from hub.domain.records import PaymentEvent
from hub.ports import Store

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Snapshot:
    """Figures of ``window``, computed at ``at`` after ``generation`` status events."""

    window: AnalyticsRange
    figures: PaymentFigures
    at: datetime
    generation: int
    computed: float  # time.monotonic() when computed


class AnalyticsFeed:
    """Snapshots of ranges for this process's live streams (see the module docstring).

    ``min_interval_s``: the youngest snapshot a stream may be handed again (and the least time between
    two snapshots of one stream, ``app.py``); ``max_ranges``: how many ranges' latest snapshots are kept.
    """

    def __init__(
        self,
        store: Store,
        *,
        min_interval_s: float = 2.0,
        max_queries: int = 2,
        max_ranges: int = 32,
        clock: Clock = _utc_now,
    ) -> None:
        self.store = store
        self.min_interval_s = min_interval_s
        self.generation = 0
        self.streams = 0  # open streams, for the gauge
        self.computed = 0  # figures computed (tests and the gauge)
        self._changed = asyncio.Event()
        self._queries = asyncio.Semaphore(max_queries)
        self._snapshots: OrderedDict[RangeQuery, Snapshot] = OrderedDict()
        self._flights: dict[RangeQuery, asyncio.Lock] = {}
        self._max_ranges = max_ranges
        self._clock = clock

    async def on_event(self, event: PaymentEvent) -> None:
        """Bus handler: a status change was committed; waiting streams recompute."""
        if event.type != PaymentEvent.STATUS:
            return
        self.generation += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_change(self, seen: int, timeout_s: float) -> bool:
        """True once a status event arrives after generation ``seen`` (at once if one already has);
        False after ``timeout_s`` without one."""
        if self.generation != seen:
            return True
        changed = self._changed
        try:
            async with asyncio.timeout(timeout_s):
                await changed.wait()
        except TimeoutError:
            return self.generation != seen
        return True

    async def figures(self, window: AnalyticsRange) -> PaymentFigures:
        """Fresh figures of ``window`` from the store, at most ``max_queries`` at once in this process."""
        async with self._queries:
            figures = await self.store.payment_figures(window.start, window.end)
        self.computed += 1
        return figures

    async def snapshot(self, query: RangeQuery) -> Snapshot:
        """The figures of ``query`` now: a shared snapshot if one is young enough (see the module
        docstring), else freshly computed. Raises what ``RangeQuery.resolve`` and the store raise."""
        flight = self._flights.setdefault(query, asyncio.Lock())
        try:
            async with flight:
                cached = self._snapshots.get(query)
                if cached is not None and self._fresh(cached):
                    self._snapshots.move_to_end(query)
                    return cached
                generation = self.generation  # events after this are not in the figures: they wake again
                at = self._clock()
                window = query.resolve(at)
                figures = await self.figures(window)
                snap = Snapshot(window, figures, at, generation, time.monotonic())
                self._snapshots[query] = snap
                self._snapshots.move_to_end(query)
                while len(self._snapshots) > self._max_ranges:
                    self._snapshots.popitem(last=False)
                return snap
        finally:
            # memory stays bounded: no lock is kept for a range without a kept snapshot and no waiter
            for stale in [q for q, lock in self._flights.items() if q not in self._snapshots and not lock.locked()]:
                del self._flights[stale]

    def _fresh(self, snap: Snapshot) -> bool:
        return snap.generation == self.generation and time.monotonic() - snap.computed < self.min_interval_s
