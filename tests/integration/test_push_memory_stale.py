"""The newest-status memory (``Fanout.latest``) must never stand in for the event log when it may be stale.

Redis pub/sub forgets a subscriber that is away: events committed during a bus outage never reach the
node's memory. After the reconnect, a client resuming at the status it last saw (the memory's stale
entry) must still get what was committed meanwhile — for a payment nobody was watching during the
outage too (``Fanout.catch_up`` re-offers the watched payments only).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from hub.domain.payment import PaymentStatus
from hub.service.ledger import transition
from push.stream import open_stream
from tests.conftest import auth_header, make_settings, running
from tests.integration.test_push_sse import wait_until
from tests.redis_server import PrivateRedis


async def test_resume_after_a_bus_outage_reads_what_the_memory_missed(tmp_path: Path) -> None:
    redis_server = PrivateRedis(tmp_path)
    await redis_server.start()
    settings = make_settings(f"sqlite:///{tmp_path}/p.db", redis_url=redis_server.url)
    try:
        async with running(settings) as c:
            await asyncio.wait_for(c.bus.subscribed.wait(), 5)  # type: ignore[attr-defined]
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=c.app), base_url="http://t") as client:
                r = await client.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(c))
                payment_id = r.json()["data"]["paymentId"]
            # A client watched the payment, saw PENDING (the memory now knows it), and went away.
            stream = await open_stream(c.store, c.push, payment_id, cursor=None)
            assert stream is not None
            frames = stream.frames(heartbeat_s=0.1)
            pending = await anext(frames)
            assert pending is not None and pending.status is PaymentStatus.PENDING
            await frames.aclose()
            known = c.push.latest.get(payment_id)
            assert known is not None and known.id == pending.id
            assert c.push.subscriber_count == 0

            redis_server.stop()  # the bus loses its connection while the payment is paid
            async with c.store.transaction() as tx:
                payment = await tx.payment(payment_id, lock=True)
                assert payment is not None
                payment, processing, _ = await transition(tx, payment, PaymentStatus.PROCESSING, c.khqr.clock())
                payment, confirmed, _ = await transition(tx, payment, PaymentStatus.CONFIRMED, c.khqr.clock())
            lost = [*processing, *confirmed]
            try:
                await c.bus.publish(lost)  # cannot reach anyone
            except Exception:
                pass
            reconnects = c.bus.reconnects  # type: ignore[attr-defined]
            await redis_server.start()
            await wait_until(lambda: c.bus.reconnects > reconnects, within=15)  # type: ignore[attr-defined]
            await asyncio.sleep(0.2)  # the catch-up callbacks ran

            # The client comes back at the id it last saw.
            resumed = await open_stream(c.store, c.push, payment_id, cursor=pending.id)
            assert resumed is not None
            seen = []
            async with asyncio.timeout(5):
                async for frame in resumed.frames(heartbeat_s=0.1):
                    assert frame is not None, f"stalled after {seen}: the memory hid {[e.id for e in lost]}"
                    seen.append((frame.id, frame.status))  # the stream ends after the terminal one
            assert seen == [(e.id, e.status) for e in lost]
            assert c.push.subscriber_count == 0
    finally:
        redis_server.stop()


async def test_two_push_nodes_one_memory_behind(tmp_path: Path) -> None:
    """Node B remembers PENDING; the payment is paid through node A. Clients resuming on B at PENDING —
    before, while and after B's bus delivers the news — all get PROCESSING and CONFIRMED, once, in order."""
    redis_server = PrivateRedis(tmp_path)
    await redis_server.start()
    settings = make_settings(f"sqlite:///{tmp_path}/two.db", redis_url=redis_server.url)
    try:
        async with running(settings) as a, running(settings) as b:
            for c in (a, b):
                await asyncio.wait_for(c.bus.subscribed.wait(), 5)  # type: ignore[attr-defined]
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=a.app), base_url="http://t") as client:
                r = await client.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(a))
                payment_id = r.json()["data"]["paymentId"]
            first = await open_stream(b.store, b.push, payment_id, cursor=None)
            assert first is not None
            frames = first.frames(heartbeat_s=None)
            pending = await anext(frames)
            assert pending is not None
            await frames.aclose()

            async def resume() -> list[int]:
                stream = await open_stream(b.store, b.push, payment_id, cursor=pending.id)
                assert stream is not None
                async with asyncio.timeout(10):
                    return [f.id for f in [f async for f in stream.frames(None)] if f is not None]

            early = [asyncio.create_task(resume()) for _ in range(20)]
            async with a.store.transaction() as tx:
                payment = await tx.payment(payment_id, lock=True)
                assert payment is not None
                payment, processing, _ = await transition(tx, payment, PaymentStatus.PROCESSING, a.khqr.clock())
                payment, confirmed, _ = await transition(tx, payment, PaymentStatus.CONFIRMED, a.khqr.clock())
            middle = [asyncio.create_task(resume()) for _ in range(20)]  # committed, not yet published
            await a.bus.publish([*processing, *confirmed])
            late = [asyncio.create_task(resume()) for _ in range(20)]
            expected = [e.id for e in (*processing, *confirmed)]
            for got in await asyncio.gather(*early, *middle, *late):
                assert got == expected
            assert b.push.subscriber_count == 0
            r204 = await open_stream(b.store, b.push, payment_id, cursor=expected[-1])
            assert r204 is None
    finally:
        redis_server.stop()
