"""A push node going away: WebSockets are closed with 1012 (service restart) so clients come back with
backoff and jitter; SSE streams open with a jittered ``retry:`` (PAYHUB_PUSH_RETRY_MS / _JITTER_MS)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import simplejson as json
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hub.http.server import uvicorn_options
from tests.conftest import free_port, make_settings, running
from tests.integration.test_push_sse import SseReader, bearer, events_path, inquire


@pytest.fixture
def db_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path}/payhub.db"


async def test_websockets_are_closed_with_1012_at_shutdown(db_url: str) -> None:
    settings = make_settings(db_url)
    async with running(settings) as c:
        port = free_port()
        # The server as ``payhub run`` configures it (its protocol classes and WebSocket options).
        config = uvicorn.Config(
            c.app, host="127.0.0.1", port=port, lifespan="off", log_config=None, **uvicorn_options(settings)
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline and not task.done(), "server did not start"
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            payment_id, token = await inquire(c, http)
        async with connect(f"ws://127.0.0.1:{port}/ws/payments") as ws:
            await ws.send(json.dumps({"type": "subscribe", "paymentId": payment_id, "token": token}))
            assert json.loads(await ws.recv())["type"] == "SUBSCRIBED"
            assert json.loads(await ws.recv())["type"] == "PAYMENT_STATUS"
            server.should_exit = True  # what SIGTERM does
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012, closed.value
        await asyncio.wait_for(task, 15)


async def test_sse_streams_announce_a_jittered_retry(db_url: str) -> None:
    from tests.conftest import LiveServer

    settings = make_settings(db_url, push_retry_ms=300, push_retry_jitter_ms=200)
    async with running(settings) as c:
        async with LiveServer(c.app) as live, httpx.AsyncClient(base_url=live.url, timeout=10) as http:
            payment_id, token = await inquire(c, http)
            seen = set()
            for _ in range(12):
                async with http.stream("GET", events_path(payment_id), headers=bearer(token)) as r:
                    first = await SseReader(r).block()
                    assert first is not None and first.retry is not None and first.data is None
                    assert 300 <= first.retry <= 500
                    seen.add(first.retry)
            assert len(seen) > 1, "drawn per stream"


async def test_a_restarted_push_node_knows_the_newest_status_before_any_client_returns(db_url: str) -> None:
    from tests.conftest import LiveServer
    from tests.integration.test_push_sse import move

    settings = make_settings(db_url)
    async with running(settings) as c:
        async with LiveServer(c.app) as live, httpx.AsyncClient(base_url=live.url, timeout=10) as http:
            payment_id, _ = await inquire(c, http)
        (processing,) = await move(c, payment_id, "PROCESSING")
    async with running(settings) as c:  # the node restarted: its memory is warmed from the log
        async with c.store.transaction() as tx:
            assert await tx.last_status_event(payment_id) == processing
        known = c.push.latest.get(payment_id)
        assert known is not None and (known.id, known.status) == (processing.id, processing.status)
    async with running(make_settings(db_url, push_warm_payments=0)) as c:
        assert c.push.latest.get(payment_id) is None  # warming off: the first stream reads the store
