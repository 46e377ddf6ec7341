"""Streams opened from the fan-out's memory of the newest status (``Fanout.latest``) are the streams the
store would have served: the same frames (differential), and the same ordering contract under races
(no gap, no duplicate, exact resume) when the memory answers the opening instead of the log."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from hub.domain.payment import PaymentStatus
from hub.fanout import Fanout, Frame
from payhub.bootstrap import Container
from push.stream import open_stream
from tests.integration.test_push_race import _move, _pay, _yield, add_latency, fresh_payment

S = PaymentStatus
PATHS = {
    S.PENDING: (S.PROCESSING, S.CONFIRMED),
    S.PROCESSING: (S.CONFIRMED, S.FAILED),
}


async def opened(c: Container, hub: Fanout, payment_id: int, cursor: int | None) -> list[Frame] | None:
    """What a stream opened on ``hub`` replays before going live (None: 204, nothing to stream)."""
    async with c.store.transaction() as tx:
        payment = await tx.payment(payment_id)  # as authorization reads it
    stream = await open_stream(c.store, hub, payment_id, cursor, payment=payment)
    if stream is None:
        return None
    frames = []
    async for frame in stream.frames(heartbeat_s=0.01):
        if frame is None:
            break  # the replay is over: live from here
        frames.append(frame)
        if frame.terminal:
            break
    stream.close()
    return frames


def wire(frames: list[Frame] | None) -> list[tuple[int, dict[str, object]]] | None:
    return None if frames is None else [(f.id, f.data) for f in frames]


async def test_memory_and_store_open_the_same_streams(container: Container) -> None:
    """Payments walked along random paths, the events fanned out as the services do; for every cursor
    (none, 0, each event id and one past the last) the stream opened with the memory equals the one
    opened by a fan-out that remembers nothing (``remember=0``: always the store)."""
    rng = random.Random(13)
    store_only = Fanout(remember=0)
    for n in range(25):
        payment_id, _ = await fresh_payment(container, 970_000 + n)
        status = S.PENDING
        while status in PATHS and rng.random() < 0.8:
            status = rng.choice(PATHS[status])
            await _move(container, payment_id, status)
        await container.bus.drain()
        assert container.push.latest.get(payment_id) is not None
        ids = [e.id for e in await container.store.events_after(payment_id, 0)]
        for cursor in [None, 0, *ids, ids[-1] + 1]:
            remembered = await opened(container, container.push, payment_id, cursor)
            from_store = await opened(container, store_only, payment_id, cursor)
            assert wire(remembered) == wire(from_store), (n, cursor, ids)
    assert container.push.latest.hits > 0, "the memory answered"
    assert store_only.latest.hits == 0 and len(store_only.latest) == 0


async def test_a_cold_memory_is_filled_by_the_store_reads(container: Container) -> None:
    payment_id, _ = await fresh_payment(container, 980_000)
    await _move(container, payment_id, S.PROCESSING)
    await container.bus.drain()
    fresh = Fanout()  # a push node just started: it has fanned out nothing
    assert fresh.latest.get(payment_id) is None
    frames = await opened(container, fresh, payment_id, None)
    assert frames is not None and fresh.latest.get(payment_id) is not None
    assert fresh.latest.get(payment_id).id == frames[-1].id  # type: ignore[union-attr]
    # Resuming at the newest id now reads nothing from the log, and says the same as the store.
    assert wire(await opened(container, fresh, payment_id, frames[-1].id)) == []


@pytest.mark.parametrize("seed", [3, 11])
async def test_race_opening_from_memory_no_gap_no_duplicate(
    container: Container, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """The race of ``test_push_race`` with the opening served by the memory: the payment row is read
    first (as authorization does), then the stream subscribes and takes its current status from the
    memory when the two agree; PROCESSING and CONFIRMED commit and fan out at random points around it."""
    add_latency(container.store, monkeypatch, random.Random(seed))
    rng = random.Random(seed)
    for n in range(150):
        payment_id, pending_id = await fresh_payment(container, 990_000 + 1000 * seed + n)
        if rng.random() < 0.5:
            await container.bus.drain()
        cursor = rng.choice([None, 0, pending_id])
        received: list[tuple[int, str]] = []

        async def consume(
            payment_id: int = payment_id,
            cursor: int | None = cursor,
            received: list[tuple[int, str]] = received,
            n: int = n,
        ) -> None:
            await _yield(rng)
            async with container.store.transaction() as tx:
                payment = await tx.payment(payment_id)
            await _yield(rng)
            stream = await open_stream(container.store, container.push, payment_id, cursor, payment=payment)
            assert stream is not None
            async for frame in stream.frames(heartbeat_s=2.0):
                assert frame is not None, f"round {n}: stalled after {received}"
                received.append((frame.id, frame.status.value))

        await asyncio.wait_for(asyncio.gather(consume(), _pay(container, payment_id, rng)), 5)
        ids = [i for i, _ in received]
        stored = [e.id for e in await container.store.events_after(payment_id, 0)]
        expected = [i for i in stored if i >= ids[0]] if cursor is None else [i for i in stored if i > cursor]
        assert ids == expected, f"round {n}, cursor {cursor}: {received} vs {stored}"
        assert all(a < b for a, b in itertools.pairwise(ids)) and received[-1][1] == "CONFIRMED"
    await container.bus.drain()
    assert container.push.subscriber_count == 0
    assert container.push.latest.hits > 0
