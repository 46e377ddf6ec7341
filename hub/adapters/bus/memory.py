"""In-process bus: the embedded default.

``publish`` only enqueues, so a webhook's answer never waits for subscribers; one dispatcher task
hands every event to every handler in publish order. A failing handler is logged and does not
stop the others. Events published before ``start()`` or while handlers are slow wait in the
queue; what is still queued at shutdown is recoverable from the event log (consumers resume from it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from hub.adapters.bus.handlers import Handler, Handlers
from hub.domain.records import PaymentEvent

__all__ = ["Handler", "MemoryBus"]
log = logging.getLogger("payhub.bus")


class MemoryBus(Handlers):
    def __init__(self, *, max_queue: int = 100_000) -> None:
        super().__init__(log)
        self._queue: asyncio.Queue[PaymentEvent] = asyncio.Queue(max_queue)

    async def publish(self, events: Sequence[PaymentEvent]) -> None:
        for event in events:
            await self._queue.put(event)

    async def start(self) -> None:
        self._start_task(self._dispatch, "payhub-bus")

    async def drain(self) -> None:
        """Wait until everything published so far has been handed to the handlers."""
        await self._queue.join()

    async def aclose(self) -> None:
        await self._stop_task()

    async def _dispatch(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self.deliver(event)
            finally:
                self._queue.task_done()
