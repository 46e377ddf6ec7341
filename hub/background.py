"""Background jobs of a process, run under one ``asyncio.TaskGroup`` while a body runs.

The group lives in one supervising task. On exit the group is ended the way the asyncio
documentation shows ("Terminating a Task Group"): a private exception raised inside the group
makes it cancel its tasks and wait for them, and is caught here. No task is cancelled by hand.
A job that fails ends the group: the others are cancelled, the failure is logged at once and
raised when the body exits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, NoReturn

log = logging.getLogger("payhub.background")


class _Stop(Exception):
    """Raised inside the group to end it."""


@asynccontextmanager
async def running(*jobs: Coroutine[Any, Any, None], name: str = "payhub-background") -> AsyncIterator[None]:
    """Run ``jobs`` concurrently until the body ends, then stop them and wait for them."""
    stop = asyncio.Event()

    async def supervise() -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for job in jobs:
                    group.create_task(job)
                await stop.wait()
                raise _Stop
        except* _Stop:
            pass

    def report(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background work failed", exc_info=task.exception())

    supervisor = asyncio.create_task(supervise(), name=name)
    supervisor.add_done_callback(report)
    try:
        yield
    finally:
        stop.set()
        await supervisor


async def every(
    interval_s: float,
    job: Callable[[], Awaitable[object]],
    *,
    log: logging.Logger,
    failed: str,
    first_at_once: bool = False,
) -> NoReturn:
    """Run ``job`` every ``interval_s`` seconds until cancelled: after the first wait, or at once with
    ``first_at_once``. A run that raises is logged (``failed``, with the traceback, on ``log``) and the
    next one comes at the next interval: a periodic sweep outlives a database or broker outage."""
    if not first_at_once:
        await asyncio.sleep(interval_s)
    while True:
        try:
            await job()
        except Exception:
            log.exception(failed)
        await asyncio.sleep(interval_s)


async def wait_set(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until ``event`` is set or ``timeout_s`` seconds pass; True when it was set.

    Why not ``asyncio.wait_for(event.wait(), timeout_s)``: on Python 3.11 it swallows a cancellation
    that arrives in the same loop turn as the event (CPython gh-86296, fixed in 3.12 by building
    ``wait_for`` on ``asyncio.timeout``), and a ``while True`` loop around it then never stops, which
    hung shutdown under load. ``asyncio.timeout`` turns only its own deadline into ``TimeoutError``.
    """
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True
