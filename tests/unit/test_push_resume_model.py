"""Sequences of commits, bus deliveries, bus losses, reconnects and resumes against a model of the event
log: the newest-status memory (``Fanout.latest``, at a tiny bound so it evicts) may spare a stream its
store reads, but never changes what the stream delivers — every stored status event after the cursor,
in order, once, ending after the terminal one; a resume at or past a terminal status gets no stream.

A lost delivery (Redis pub/sub forgets a node that is away) means the node's bus connection is down: it
misses every event until the reconnect's ``Fanout.catch_up`` (as ``RedisBus`` does it), which comes before
the end of each case; streams may stall until then, not after. (``RedisBus`` runs the catch-up before it
reads the channel again, so no live event overtakes the catch-up's read.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.fanout import Fanout
from hub.ports import Store
from push.stream import open_stream

S = PaymentStatus
LIFE = (S.PENDING, S.PROCESSING, S.PROCESSING, S.CONFIRMED)  # a payment's status events, the last terminal
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PAYMENTS = 2


class LogStore:
    """The event log, as much of a ``Store`` as ``open_stream`` and ``Fanout.catch_up`` read."""

    def __init__(self) -> None:
        self.log: dict[int, list[PaymentEvent]] = {}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[LogStore]:
        await asyncio.sleep(0)
        yield self

    async def last_status_event(self, payment_id: int) -> PaymentEvent | None:
        events = self.log.get(payment_id)
        return events[-1] if events else None

    async def events_after(self, payment_id: int, after_id: int, limit: int = 500) -> list[PaymentEvent]:
        return [e for e in self.log.get(payment_id, []) if e.id > after_id][:limit]

    async def status_events_of(self, payment_ids: list[int], after_id: int) -> list[PaymentEvent]:
        return sorted((e for p in payment_ids for e in self.log.get(p, []) if e.id > after_id), key=lambda e: e.id)


payment = st.integers(1, PAYMENTS)
op = st.one_of(
    st.tuples(st.just("commit"), payment),
    st.tuples(st.just("deliver"), payment),
    st.tuples(st.just("lose"), payment),
    st.tuples(st.just("reconnect")),
    st.tuples(st.just("resume"), payment, st.sampled_from(["zero", "first", "last", "memory", "ahead", "middle"])),
    st.tuples(st.just("resume"), payment, st.just("memory")),  # the memory's own entry: the likeliest cursor
)


async def run(ops: list[tuple[Any, ...]], remember: int) -> None:
    store = LogStore()
    hub = Fanout(remember=remember)
    pending: dict[int, list[PaymentEvent]] = {}  # committed, not yet delivered by the bus
    next_id = 1
    lost = False
    streams: list[tuple[int, int, list[int], asyncio.Task[None]]] = []

    async def consume(stream: Any, got: list[int]) -> None:
        async for frame in stream.frames(None):
            assert frame is not None
            got.append(frame.id)

    for step in ops:
        kind = step[0]
        if kind == "commit":
            log = store.log.setdefault(step[1], [])
            if len(log) < len(LIFE):
                status = LIFE[len(log)]
                event = PaymentEvent(next_id, step[1], PaymentEvent.STATUS, status, {"status": status.value}, NOW)
                next_id += 1
                log.append(event)
                pending.setdefault(step[1], []).append(event)
        elif kind in ("deliver", "lose"):
            queue = pending.get(step[1])
            if queue:
                event = queue.pop(0)
                if kind == "deliver" and not lost:
                    await hub.on_event(event)
                else:  # the node's bus connection is down: it misses every event until the reconnect
                    lost = True
        elif kind == "reconnect":
            await hub.catch_up(cast(Store, store))
            lost = False
        else:
            p, how = step[1], step[2]
            log = store.log.get(p, [])
            known = hub.latest._events.get(p)
            cursor = {
                "zero": 0,
                "first": log[0].id if log else 0,
                "middle": log[len(log) // 2].id if log else 0,
                "last": log[-1].id if log else 0,
                "memory": known.id if known else 0,
                "ahead": next_id + 5,
            }[how]
            stream = await open_stream(cast(Store, store), hub, p, cursor)
            if stream is None:
                assert any(e.status.terminal and e.id <= cursor for e in log), f"no stream at {cursor} of {log}"
                continue
            got: list[int] = []
            streams.append((p, cursor, got, asyncio.create_task(consume(stream, got))))
        for _ in range(3):
            await asyncio.sleep(0)

    if lost:
        await hub.catch_up(cast(Store, store))  # the reconnect
    for queue in pending.values():
        for event in queue:
            await hub.on_event(event)
    for _ in range(10):
        await asyncio.sleep(0)
    for p, cursor, got, task in streams:
        expected = [e.id for e in store.log.get(p, []) if e.id > cursor]
        assert got == expected, f"payment {p}, cursor {cursor}: got {got}, log {store.log.get(p)}"
        terminal = bool(expected) and store.log[p][-1].status.terminal
        assert task.done() == terminal, "a stream ends right after the terminal status, and only then"
        task.cancel()
    await asyncio.gather(*(t for *_, t in streams), return_exceptions=True)
    assert hub.subscriber_count == 0


@settings(max_examples=1500, deadline=None)
@given(st.lists(op, min_size=8, max_size=30), st.integers(0, 3))
def test_resumes_deliver_exactly_the_log_after_the_cursor(ops: list[tuple[Any, ...]], remember: int) -> None:
    asyncio.run(run(ops, remember))
