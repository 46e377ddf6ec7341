"""WebSocket subscribe/unsubscribe storms over real HTTP (uvicorn on loopback): whatever order the
messages come in, and however fast, every subscription the socket opened is released — the fan-out's
subscriber count returns to zero and no forwarding task is left behind."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import simplejson as json
from websockets.asyncio.client import connect

from tests.conftest import LiveServer, make_settings, running
from tests.integration.test_push_sse import inquire, wait_until


def _forwarders() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if "forward" in repr(t.get_coro())]


async def test_subscribe_unsubscribe_storm_releases_every_subscription(tmp_path: Any) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/storm.db")
    async with running(settings) as c, LiveServer(c.app) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as http:
            payment_id, token = await inquire(c, http)
        known = c.push.latest.get(payment_id)
        if known is None:  # a first stream reads the log and fills the memory
            async with connect(f"ws://127.0.0.1:{live.port}/ws/payments") as ws:
                await ws.send(json.dumps({"type": "subscribe", "paymentId": payment_id, "token": token}))
                await ws.recv()
                status = json.loads(await ws.recv())
            known_id = int(status["id"])
        else:
            known_id = known.id
        await wait_until(lambda: c.push.subscriber_count == 0)
        subscribe = json.dumps({"type": "subscribe", "paymentId": payment_id, "token": token, "lastEventId": known_id})
        unsubscribe = json.dumps({"type": "unsubscribe", "paymentId": payment_id})
        async with connect(f"ws://127.0.0.1:{live.port}/ws/payments") as ws:
            # Back to back, no reading in between: the server finds them queued together.
            for _ in range(200):
                await ws.send(subscribe)
                await ws.send(subscribe)  # a re-subscribe replaces the running subscription
                await ws.send(unsubscribe)
            await ws.send(json.dumps({"type": "ping"}))
            replies = []
            async with asyncio.timeout(20):
                while True:
                    reply = json.loads(await ws.recv())
                    replies.append(reply["type"])
                    if reply["type"] == "pong":
                        break
            assert replies.count("SUBSCRIBED") == 400 and replies.count("UNSUBSCRIBED") == 200, set(replies)
            await wait_until(lambda: c.push.subscriber_count == 0, within=5)
            assert _forwarders() == []
        await wait_until(lambda: c.push.subscriber_count == 0, within=5)
        assert c.push.subscribers_by_transport()["ws"] == 0
