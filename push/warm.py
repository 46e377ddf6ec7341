"""Start-up warming of the fan-out's memory of the newest status per payment (``Fanout.latest``).

After a restart that memory is empty, so every client resuming at its last id costs the store two
reads (authorization and the newest status; ``push.stream``), exactly when all of them come back at
once. One bounded query at start-up (``StoreTx.recent_status_events``: the newest status event of
each of the payments that changed last) makes a reconnect storm after a restart as cheap as one on a
warm node.

Safe once this process is subscribed to the bus: every entry is a committed event, the memory only
moves forward (an event fanned out meanwhile with a higher id wins), and an event committed after the
query reaches this process through the bus, so no entry is older than an event that will not come
live (the memory's invariant; ``hub.fanout.LatestStatus``). A bus that subscribes in the background
(Redis: ``subscribed``, ``reconnects``) is waited for, briefly; if it is not subscribed in time, or
lost its subscription while the query ran (events may have been missed: ``Fanout.catch_up`` forgets
the memory then), nothing is remembered and streams read the store as without warming.
"""

from __future__ import annotations

import asyncio
import logging
import time

from hub.background import wait_set
from hub.fanout import Fanout
from hub.ports import Store

log = logging.getLogger("payhub.push")


async def warm_latest(store: Store, hub: Fanout, payments: int, bus: object = None, wait_s: float = 2.0) -> int:
    """Remember the newest status of the ``payments`` payments whose status changed last (no more than
    the memory holds); returns how many were remembered. Call it after ``bus.start()``; a bus with a
    ``subscribed`` event is waited for up to ``wait_s`` seconds (see above)."""
    limit = min(payments, hub.latest.size)
    if limit <= 0:
        return 0
    subscribed: asyncio.Event | None = getattr(bus, "subscribed", None)
    if subscribed is not None:
        if not await wait_set(subscribed, wait_s):
            log.warning("push memory not warmed: the bus is not subscribed yet")
            return 0
    reconnects = getattr(bus, "reconnects", 0)
    started = time.perf_counter()
    async with store.transaction() as tx:
        events = await tx.recent_status_events(limit)
    if subscribed is not None and (not subscribed.is_set() or getattr(bus, "reconnects", 0) != reconnects):
        log.warning("push memory not warmed: the bus lost its subscription meanwhile")
        return 0
    for event in events:  # oldest first: the payments that changed last are the last forgotten
        hub.latest.remember(event)
    log.info(
        "push memory warmed",
        extra={"payments": len(events), "ms": round((time.perf_counter() - started) * 1000, 1)},
    )
    return len(events)
