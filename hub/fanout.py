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
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.domain.timezones import utc_stamp
from hub.json_codec import dumps
from hub.ports import Store

log = logging.getLogger("payhub.push")


_stamp_ms = -1
_stamp = ""


def sent_stamp() -> str:
    """Now, as ``sentAt`` writes it (ISO 8601, UTC, microsecond field): formatted once per millisecond,
    not once per subscriber, since a fan-out writes thousands of frames within one millisecond."""
    global _stamp_ms, _stamp
    ms = time.time_ns() // 1_000_000
    if ms != _stamp_ms:
        _stamp_ms = ms
        _stamp = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="microseconds")
    return _stamp


@dataclass(frozen=True)
class Frame:
    """One status event, serialized once for every subscriber of this process.

    ``sentAt`` is stamped when each frame is written (a slow client's frame says when it really
    left), by appending it to the JSON serialized once, not by serializing again; the wire forms
    (SSE bytes, WebSocket text) are kept for the last stamp, so every subscriber written within the
    same millisecond shares one encoding.
    """

    id: int
    payment_id: int
    status: PaymentStatus
    data: dict[str, Any]
    body: str  # ``data`` as JSON without its closing brace
    sent_at: datetime | None = None  # a fixed stamp (tests); None: the moment of writing
    occurred_at: datetime | None = None  # when the event was committed (stamped in its transaction)
    _wire: dict[str, tuple[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @classmethod
    def of(cls, event: PaymentEvent, sent_at: datetime | None = None) -> Frame:
        data = event.data
        if "occurredAt" in data and "timestamp" not in data:  # stored before ``timestamp`` was written (issue 12)
            data = {**data, "timestamp": utc_stamp(event.occurred_at)}
        return cls(event.id, event.payment_id, event.status, data, dumps(data)[:-1], sent_at, event.occurred_at)

    def _stamp(self) -> str:
        return self.sent_at.isoformat() if self.sent_at is not None else sent_stamp()

    def _json(self, stamp: str) -> str:
        return f'{self.body}{"," if len(self.body) > 1 else ""}"sentAt":"{stamp}"}}'

    @property
    def json(self) -> str:
        return self._json(self._stamp())

    def sse(self) -> bytes:
        stamp = self._stamp()
        kept = self._wire.get("sse")
        if kept is not None and kept[0] == stamp:
            return kept[1]  # type: ignore[no-any-return]
        wire = f"id: {self.id}\nevent: payment.status\ndata: {self._json(stamp)}\n\n".encode()
        self._wire["sse"] = (stamp, wire)
        return wire

    def ws(self) -> str:
        stamp = self._stamp()
        kept = self._wire.get("ws")
        if kept is not None and kept[0] == stamp:
            return kept[1]  # type: ignore[no-any-return]
        wire = f'{{"type":"PAYMENT_STATUS","id":{self.id},"data":{self._json(stamp)}}}'
        self._wire["ws"] = (stamp, wire)
        return wire


class Subscriber:
    """A bounded mailbox of frames for one payment stream.

    A waiting reader holds one future (created only while it waits); no timer of its own: the
    process's heartbeat timer (``Fanout``) marks every stream subscriber at once (``beat``).
    """

    __slots__ = ("_waiter", "beat_due", "capacity", "closed", "conflated", "frames", "payment_id", "quiet", "transport")

    def __init__(self, payment_id: int, capacity: int = 16, transport: str = "sse") -> None:
        self.payment_id = payment_id
        self.capacity = capacity
        self.transport = transport  # sse | ws | longpoll: how the subscriber is served (metrics label)
        self.frames: list[Frame] = []  # at most ``capacity`` (16): a list costs 56 bytes empty, a deque ~600
        self.conflated = 0
        self.beat_due = False  # the heartbeat timer fired since the last frame or heartbeat was taken
        self.quiet = 0  # heartbeat timer ticks (half periods) since a frame or heartbeat was last taken
        self.closed = False  # the client went away: the reader stops
        self._waiter: asyncio.Future[None] | None = None

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
        self._wakeup()

    def beat(self) -> None:
        """The process heartbeat timer ticked (every half period). The second tick without a frame taken
        makes a heartbeat due (its waiting reader gets ``None``): so one comes after more than half a
        period and at most a whole period of silence, and an idle stream gets one per period."""
        self.quiet += 1
        if self.quiet < 2:
            return
        self.beat_due = True
        self._wakeup()

    def close(self) -> None:
        """The client is gone: wake the reader, which stops."""
        self.closed = True
        self._wakeup()

    def _wakeup(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def next(self, wait_s: float) -> Frame | None:
        """The next frame, or None after ``wait_s`` seconds without one (long polls: a deadline of their own)."""
        if not self.frames:
            try:
                async with asyncio.timeout(wait_s):
                    await self._wait()
            except TimeoutError:
                return None
        return self.frames.pop(0) if self.frames else None

    async def next_or_beat(self) -> Frame | None:
        """The next frame; None when the heartbeat timer fired first or the subscriber was closed."""
        while not self.frames:
            if self.beat_due or self.closed:
                self.beat_due = False
                self.quiet = 0
                return None
            await self._wait()
        self.beat_due, self.quiet = False, 0  # a frame is as good as a heartbeat
        return self.frames.pop(0)


_NO_DATA: dict[str, Any] = {}


class LatestStatus:
    """A bounded memory of the newest status event per payment, fed by the fan-out and by log reads.

    Every entry is a committed event (the bus carries committed events only; the store returns them).
    An entry only moves forward (a higher id wins), so for each payment it is at least as new as every
    event this process has fanned out: a stream that subscribed first and finds the cursor equal to the
    entry has nothing to read from the log that will not reach it live (see ``push.stream``). The least
    recently updated payments are forgotten beyond ``size``; a miss reads the store.
    """

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._events: OrderedDict[int, PaymentEvent] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._events)

    def forget(self) -> None:
        """Forget every entry (the bus lost events: any entry may be stale; reads go to the store)."""
        self._events.clear()

    def get(self, payment_id: int) -> PaymentEvent | None:
        event = self._events.get(payment_id)
        if event is None:
            self.misses += 1
        else:
            self.hits += 1
        return event

    def remember(self, event: PaymentEvent) -> None:
        """Keep ``event`` (a committed status event) unless a newer one of its payment is known."""
        if self.size <= 0 or event.type != PaymentEvent.STATUS:
            return
        known = self._events.get(event.payment_id)
        if known is not None and known.id >= event.id:
            return
        # Only what a stream needs (the id, status and time; the PROCESSING estimate): the data stays small.
        estimate = event.data.get("estimatedCompletion")
        data = {"estimatedCompletion": estimate} if estimate else _NO_DATA
        self._events[event.payment_id] = replace(event, data=data)
        self._events.move_to_end(event.payment_id)
        if len(self._events) > self.size:
            self._events.popitem(last=False)


class Fanout:
    """This process's open payment streams: each event offered once to the subscribers of its payment."""

    TRANSPORTS = ("sse", "ws", "longpoll")

    def __init__(
        self,
        *,
        capacity: int = 16,
        on_written: Callable[[str, float], None] | None = None,
        remember: int = 100_000,
    ) -> None:
        """``remember``: how many payments' newest status ``latest`` keeps (0: none, always read the store)."""
        self._subs: dict[int, set[Subscriber]] = {}
        self._all: set[Subscriber] = set()  # watchers of every payment (the operations console)
        self._capacity = capacity
        self.delivered = 0
        # (transport, seconds from commit to a live frame written): the push path's freshness
        self.on_written = on_written
        self.latest = LatestStatus(remember)
        # One timer per heartbeat interval for the whole process, not one per subscriber; its subscribers in
        # HEARTBEAT_SLOTS groups taken in turn, so heartbeats leave in small batches rather than all at once.
        self._beating: dict[float, list[set[Subscriber]]] = {}
        self._beat_timers: dict[float, asyncio.TimerHandle] = {}
        self._beat_phase: dict[float, int] = {}
        self._beat_at: dict[float, float] = {}  # loop time the next tick of each interval is due
        self._joined = 0

    HEARTBEAT_SLOTS = 8

    def heartbeat(self, sub: Subscriber, interval_s: float) -> None:
        """Give ``sub`` a heartbeat after at most ``interval_s`` of silence, until it is unsubscribed.

        The process timer of that interval ticks ``2 * HEARTBEAT_SLOTS`` times per interval, each tick
        calling ``Subscriber.beat`` on one of the slots: every subscriber every half interval. The timer
        runs while it has subscribers and stops with the last one."""
        slots = self._beating.get(interval_s)
        if slots is None:
            slots = self._beating[interval_s] = [set() for _ in range(self.HEARTBEAT_SLOTS)]
        self._joined += 1
        slots[self._joined % self.HEARTBEAT_SLOTS].add(sub)
        if interval_s not in self._beat_timers:
            self._beat_phase[interval_s] = 0
            self._beat_at[interval_s] = asyncio.get_running_loop().time()
            self._arm(interval_s)

    def _arm(self, interval_s: float) -> None:
        # Ticks on a fixed grid (call_at the previous due time plus one tick, not call_later from now): a
        # late loop would otherwise add its lateness at every tick, 16 times per interval, to the silence.
        self._beat_at[interval_s] += interval_s / (2 * self.HEARTBEAT_SLOTS)
        self._beat_timers[interval_s] = asyncio.get_running_loop().call_at(
            self._beat_at[interval_s], self._beat, interval_s
        )

    def _beat(self, interval_s: float) -> None:
        del self._beat_timers[interval_s]
        slots = self._beating.get(interval_s)
        if slots is None or not any(slots):
            self._beating.pop(interval_s, None)
            self._beat_phase.pop(interval_s, None)
            self._beat_at.pop(interval_s, None)
            return
        phase = self._beat_phase[interval_s]
        self._beat_phase[interval_s] = (phase + 1) % self.HEARTBEAT_SLOTS
        for sub in slots[phase]:
            sub.beat()
        self._arm(interval_s)

    def stop_heartbeats(self) -> None:
        """Cancel the heartbeat timers (a closing process)."""
        for timer in self._beat_timers.values():
            timer.cancel()
        self._beat_timers.clear()
        self._beating.clear()
        self._beat_phase.clear()
        self._beat_at.clear()

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
        for slots in self._beating.values():
            for beating in slots:
                beating.discard(sub)
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
        self.latest.remember(event)
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
        fill gaps, never duplicate.

        The memory of the newest status (``latest``) is forgotten first: it missed the lost events of
        every payment, watched or not, and a stream resuming at a stale entry would read nothing and wait
        for events that will never come live. (Done before the watched payments are listed, so a stream
        opening after this reads the store and one opened before is re-offered here.)"""
        self.latest.forget()
        watched = list(self._subs)
        offered = 0
        for start in range(0, len(watched), chunk):
            async with store.transaction() as tx:
                events = await tx.status_events_of(watched[start : start + chunk], 0)
            for event in events:
                await self.on_event(event)
                offered += 1
        return offered
