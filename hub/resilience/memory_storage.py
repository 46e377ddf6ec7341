"""The in-process storage of the rate limits and fraud velocity windows: ``limits``' own, swept cheaply.

``limits`` (5.x) ``aio.storage.MemoryStorage`` starts, after every hit when none is running, a task that
sweeps EVERY key, each through ``asyncio.to_thread`` under that key's lock. The fraud rules keep one
moving window per policy paid (``webhook-policy``, a day long), so the keys grow with the payments of a
day: the sweep then never ends, costs a thread hand-off per key, and at a few thousand keys takes the
event loop over (profiled in docs/perf/webhooks.md: a 2,000-webhook run stopped making progress).

:class:`SweptMemoryStorage` keeps the library's storage and strategies and replaces only that sweep:
each call that would have started one drops the expired entries of at most :data:`SWEEP_BATCH` keys, on
the loop, without a thread or an ``await`` (so no coroutine of the storage can be half-way through a
key meanwhile: its key locks are held only between awaits). Keys are visited round robin, so every key is
swept once per ``keys / SWEEP_BATCH`` hits: each hit adds at most one key, and sweeps up to
:data:`SWEEP_BATCH`. Entries a sweep has not reached yet are still judged by their time by the moving
window itself (``get_moving_window`` and ``acquire_entry`` look at the time of each entry), so a late
sweep only holds memory a little longer, never changes a decision.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from limits.aio.storage import MemoryStorage
from limits.aio.storage import memory as _library

SWEEP_BATCH = 64


class SweptMemoryStorage(MemoryStorage):
    """``limits.aio.storage.MemoryStorage`` with the bounded, inline sweep described in the module doc."""

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._round: Iterator[str] = iter(())

    # The library calls ``self.__schedule_expiry()`` before each change, which Python spells
    # ``_MemoryStorage__schedule_expiry``: defining that name here replaces the sweep it starts.
    async def _MemoryStorage__schedule_expiry(self) -> None:
        # The clock the library dates its entries by (its module's ``time``), whatever it is.
        self.sweep(_library.time.time(), SWEEP_BATCH)  # type: ignore[attr-defined]

    def sweep(self, now: float, batch: int) -> None:
        """Drop what expired by ``now`` under at most ``batch`` keys (the next ones of the round)."""
        for _ in range(batch):
            key = next(self._round, None)
            if key is None:
                # A new round over the keys there are now (a snapshot: the dicts change under the round).
                self._round = iter([*self.events, *self.expirations])
                key = next(self._round, None)
                if key is None:
                    return
            self._sweep_key(key, now)

    def _sweep_key(self, key: str, now: float) -> None:
        events = self.events.get(key)
        if events is not None:
            # Newest first: the entries still alive are those before the first expired one. An entry
            # expiring exactly now still counts, as the moving window counts it (bisect_right).
            alive = bisect.bisect_right(events, -now, key=lambda entry: -entry.expiry)
            if alive:
                del events[alive:]
            else:
                del self.events[key]
        expires = self.expirations.get(key)
        if expires is not None and expires <= now:
            self.storage.pop(key, None)
            del self.expirations[key]
        if key not in self.events and key not in self.expirations:
            self.locks.pop(key, None)
