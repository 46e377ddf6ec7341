"""Handing committed events to the bus, after the commit.

The events are already in ``payment_events``: a bus that is down now loses nothing, because push
nodes catch up from the log after a reconnect and premium settlement reads the committed state
(``integration.settlement``). So a failed publish after a commit is logged, never turned into an
error answer for something that did happen.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from hub.domain.records import PaymentEvent
from hub.errors import ServiceUnavailable
from hub.ports import Publisher

log = logging.getLogger("payhub.announce")


async def announce(publisher: Publisher, events: Sequence[PaymentEvent]) -> bool:
    """Publish ``events`` (already committed); False when the bus could not take them now."""
    try:
        await publisher.publish(events)
    except ServiceUnavailable as exc:
        log.warning(
            "bus unavailable after commit; subscribers and settlement catch up from the event log",
            extra={"eventIds": [e.id for e in events], "error": exc.message},
        )
        return False
    return True
