"""In-process bus: the embedded default.

``publish`` only enqueues, so a webhook's answer never waits for subscribers; one dispatcher task
hands every event to every handler in publish order. A failing handler is logged and does not
stop the others. Events published before ``start()`` or while handlers are slow wait in the
queue; what is still queued at shutdown is recoverable from the event log (consumers resume from it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from hub.domain.records import PaymentEvent

Handler = Callable[[PaymentEvent], Awaitable[None]]
log = logging.getLogger("payhub.bus")


class MemoryBus:
    def __init__(self, *, max_queue: int = 100_000) -> None:
        self._handlers: list[Handler] = []
        self._queue: asyncio.Queue[PaymentEvent] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        """Register a handler; returns the function that removes it."""
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler) if handler in self._handlers else None

    async def publish(self, events: Sequence[PaymentEvent]) -> None:
        for event in events:
            await self._queue.put(event)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._dispatch(), name="payhub-bus")

    async def drain(self) -> None:
        """Wait until everything published so far has been handed to the handlers."""
        await self._queue.join()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _dispatch(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                for handler in list(self._handlers):
                    try:
                        await handler(event)
                    except Exception:
                        log.exception("bus handler failed", extra={"event_id": event.id})
            finally:
                self._queue.task_done()
