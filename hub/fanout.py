"""The per-process fan-out of payment events to waiting subscribers.

One bus handler per process receives every committed event; each event is serialized once and
offered to the subscribers of its payment (a dict lookup, no database access). Each subscriber
has a bounded buffer: when a slow client lets it fill, older non-terminal frames are dropped and
the newest status kept (statuses only move forward, so the newest one is the truth), and memory
stays bounded whatever the client does.

Replay→live without gap or duplicate: a subscriber registers with the hub *before* it reads the
event log, then skips live frames whose id it has already sent. An event committed after the log
read is published after it, so it reaches the buffer; one committed before is in the log read.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.domain.timezones import utc_stamp
from hub.json_codec import dumps
from hub.ports import Store

log = logging.getLogger("payhub.push")


@dataclass(frozen=True)
class Frame:
    """One status event, serialized once for every subscriber of this process.

    ``sentAt`` is stamped when each frame is written (a slow client's frame says when it really
    left), by appending it to the JSON serialized once, not by serializing again.
    """

    id: int
    payment_id: int
    status: PaymentStatus
    data: dict[str, Any]
    body: str  # ``data`` as JSON without its closing brace
    sent_at: datetime | None = None  # a fixed stamp (tests); None: the moment of writing
    occurred_at: datetime | None = None  # when the event was committed (stamped in its transaction)

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @classmethod
    def of(cls, event: PaymentEvent, sent_at: datetime | None = None) -> Frame:
        data = event.data
        if "occurredAt" in data and "timestamp" not in data:  # stored before ``timestamp`` was written (issue 12)
            data = {**data, "timestamp": utc_stamp(event.occurred_at)}
        return cls(event.id, event.payment_id, event.status, data, dumps(data)[:-1], sent_at, event.occurred_at)

    @property
    def json(self) -> str:
        stamp = (self.sent_at or datetime.now(UTC)).isoformat()
        return f'{self.body}{"," if len(self.body) > 1 else ""}"sentAt":"{stamp}"}}'

    def sse(self) -> bytes:
        return f"id: {self.id}\nevent: payment.status\ndata: {self.json}\n\n".encode()

    def ws(self) -> str:
        return f'{{"type":"PAYMENT_STATUS","id":{self.id},"data":{self.json}}}'


@dataclass(eq=False)
class Subscriber:
    """A bounded mailbox of frames for one payment stream."""

    payment_id: int
    capacity: int = 16
    transport: str = "sse"  # sse | ws | longpoll: how the subscriber is served (metrics label)
    frames: deque[Frame] = field(default_factory=deque)
    conflated: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, frame: Frame) -> None:
        if len(self.frames) >= self.capacity:
            # Keep the newest status: drop the oldest frame that is not terminal.
            for i, old in enumerate(self.frames):
                if not old.terminal:
                    del self.frames[i]
                    self.conflated += 1
                    break
            else:
                return
        self.frames.append(frame)
        self._wake.set()

    async def next(self, wait_s: float) -> Frame | None:
        """The next frame, or None after ``wait_s`` seconds without one."""
        if not self.frames:
            self._wake.clear()
            try:
                async with asyncio.timeout(wait_s):  # no extra task per waiting subscriber
                    await self._wake.wait()
            except TimeoutError:
                return None
        return self.frames.popleft() if self.frames else None


class Fanout:
    """This process's open payment streams: each event offered once to the subscribers of its payment."""

    TRANSPORTS = ("sse", "ws", "longpoll")

    def __init__(self, *, capacity: int = 16, on_written: Callable[[str, float], None] | None = None) -> None:
        self._subs: dict[int, set[Subscriber]] = {}
        self._all: set[Subscriber] = set()  # watchers of every payment (the operations console)
        self._capacity = capacity
        self.delivered = 0
        # (transport, seconds from commit to a live frame written): the push path's freshness
        self.on_written = on_written

    def subscribe(self, payment_id: int, transport: str = "sse") -> Subscriber:
        sub = Subscriber(payment_id, self._capacity, transport)
        self._subs.setdefault(payment_id, set()).add(sub)
        return sub

    def subscribe_all(self, transport: str = "sse", capacity: int = 256) -> Subscriber:
        """A subscriber offered the status events of every payment (``payment_id`` 0 marks it).

        Its buffer is larger than one payment's (many payments share it); when a slow client lets it
        fill, the oldest non-terminal frames are dropped as for any subscriber, and the client can
        re-read them from the event log (``Last-Event-ID``)."""
        sub = Subscriber(0, capacity, transport)
        self._all.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub in self._all:
            self._all.discard(sub)
            return
        subs = self._subs.get(sub.payment_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.payment_id]

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subs.values()) + len(self._all)

    def subscribers_by_transport(self) -> dict[str, int]:
        """Open subscribers per transport; every transport of ``TRANSPORTS`` is present (0 if none)."""
        counts = Counter(sub.transport for subs in (*self._subs.values(), self._all) for sub in subs)
        return {t: counts.get(t, 0) for t in (*self.TRANSPORTS, *counts)}

    def written(self, sub: Subscriber, frame: Frame) -> None:
        """A live frame (from the bus, not the log replay) was written to ``sub``'s client: report
        how long after its commit (wall clocks of the committing and the serving process)."""
        if self.on_written is not None and frame.occurred_at is not None:
            lag = (datetime.now(UTC) - frame.occurred_at).total_seconds()
            self.on_written(sub.transport, max(0.0, lag))

    async def on_event(self, event: PaymentEvent) -> None:
        """Bus handler: one serialization, one fan-out per status event."""
        if event.type != PaymentEvent.STATUS:
            return
        subs = self._subs.get(event.payment_id, set())
        if not subs and not self._all:
            return
        frame = Frame.of(event)
        for sub in (*subs, *self._all):
            sub.offer(frame)
        self.delivered += len(subs) + len(self._all)

    async def catch_up(self, store: Store, *, chunk: int = 500) -> int:
        """After the bus lost events (e.g. Redis reconnect): re-offer every status event of the
        watched payments from the log. Subscribers drop ids they already sent, so this can only
        fill gaps, never duplicate."""
        watched = list(self._subs)
        offered = 0
        for start in range(0, len(watched), chunk):
            async with store.transaction() as tx:
                events = await tx.status_events_of(watched[start : start + chunk], 0)
            for event in events:
                await self.on_event(event)
                offered += 1
        return offered
