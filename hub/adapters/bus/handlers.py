"""What both buses share: the subscribed handlers, handing one event to each, and the reader task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from hub.domain.records import PaymentEvent

Handler = Callable[[PaymentEvent], Awaitable[None]]


class Handlers:
    """Handlers of a bus, called in subscription order; one that raises is logged and does not stop the others.

    A bus runs one background task (``_start_task``) that calls :meth:`deliver`; ``_stop_task`` cancels it."""

    def __init__(self, log: logging.Logger) -> None:
        self._handlers: list[Handler] = []
        self._task: asyncio.Task[None] | None = None
        self._log = log

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        """Register a handler; returns the function that removes it."""
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler) if handler in self._handlers else None

    async def deliver(self, event: PaymentEvent) -> None:
        for handler in list(self._handlers):
            try:
                await handler(event)
            except Exception:
                self._log.exception("bus handler failed", extra={"event_id": event.id})

    def _start_task(self, run: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        if self._task is None:
            self._task = asyncio.create_task(run(), name=name)

    async def _stop_task(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
