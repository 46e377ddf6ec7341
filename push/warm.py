"""Start-up warming of the fan-out's memory of the newest status per payment (``Fanout.latest``).

After a restart that memory is empty, so every client resuming at its last id costs the store two
reads (authorization and the newest status; ``push.stream``), exactly when all of them come back at
once. One bounded query at start-up (``StoreTx.recent_status_events``: the newest status event of
each of the payments that changed last) makes a reconnect storm after a restart as cheap as one on a
warm node.

Safe at any time after the bus is started: every entry is a committed event, the memory only moves
forward (an event fanned out meanwhile with a higher id wins), and an event committed after the query
reaches this process through the bus it is already subscribed to, so the memory's invariant (at least
as new as every event this process fanned out; ``hub.fanout.LatestStatus``) holds as it does for the
entries a stream's own log reads add.
"""

from __future__ import annotations

import logging
import time

from hub.fanout import Fanout
from hub.ports import Store

log = logging.getLogger("payhub.push")


async def warm_latest(store: Store, hub: Fanout, payments: int) -> int:
    """Remember the newest status of the ``payments`` payments whose status changed last (no more than
    the memory holds); returns how many were read. Call it after the bus has started (see above)."""
    limit = min(payments, hub.latest.size)
    if limit <= 0:
        return 0
    started = time.perf_counter()
    async with store.transaction() as tx:
        events = await tx.recent_status_events(limit)
    for event in events:  # oldest first: the payments that changed last are the last forgotten
        hub.latest.remember(event)
    log.info(
        "push memory warmed",
        extra={"payments": len(events), "ms": round((time.perf_counter() - started) * 1000, 1)},
    )
    return len(events)
