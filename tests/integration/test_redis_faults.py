"""Redis restarted under a push node: subscribers still get every event (live or via catch-up)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from hub.domain.payment import PaymentStatus
from hub.service.ledger import transition
from push.stream import open_stream
from tests.conftest import auth_header, make_settings, running
from tests.redis_server import PrivateRedis


async def test_push_node_catches_up_after_redis_restart(tmp_path: Path) -> None:
    redis_server = PrivateRedis(tmp_path)
    await redis_server.start()
    settings = make_settings(f"sqlite:///{tmp_path}/p.db", redis_url=redis_server.url)
    try:
        async with running(settings) as c:
            app = c.app
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                r = await client.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(c))
                payment_id = r.json()["data"]["paymentId"]
            stream = await open_stream(c.store, c.push, payment_id, cursor=None)
            assert stream is not None
            frames = stream.frames(heartbeat_s=0.1)
            snapshot = await anext(frames)
            assert snapshot is not None and snapshot.status is PaymentStatus.PENDING

            redis_server.stop()  # the push node loses its pub/sub connection ...
            async with c.store.transaction() as tx:  # ... while the payment moves on
                payment = await tx.payment(payment_id, lock=True)
                assert payment is not None
                payment, processing, _ = await transition(tx, payment, PaymentStatus.PROCESSING, c.khqr.clock())
                payment, confirmed, _ = await transition(tx, payment, PaymentStatus.CONFIRMED, c.khqr.clock())
            lost = [*processing, *confirmed]
            try:
                await c.bus.publish(lost)  # Redis is down: this publish cannot reach anyone
            except Exception:
                pass
            await redis_server.start()  # same port: the bus reconnects and catches up from the log

            seen = []
            async with asyncio.timeout(15):
                async for frame in frames:
                    if frame is None:
                        continue
                    seen.append((frame.id, frame.status))
                    if frame.terminal:
                        break
            assert seen == [(e.id, e.status) for e in lost]
            assert c.bus.reconnects >= 1  # type: ignore[attr-defined]
    finally:
        redis_server.stop()
