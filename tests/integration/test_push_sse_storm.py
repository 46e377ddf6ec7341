"""SSE over real HTTP (uvicorn on loopback, SQLite and PostgreSQL): hundreds of clients reconnecting while
the payment is paid, with the newest-status memory warm, cold or thrashed at a tiny bound; clients that
leave mid-stream; a node shutting down with streams open. Every client gets exactly the stored status
events after its cursor, in order, ending with the terminal one; nothing stays subscribed."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest

from hub.domain.payment import PaymentStatus
from payhub.bootstrap import Container
from tests.conftest import LiveServer, make_settings, running
from tests.integration.test_push_sse import SseReader, bearer, events_path, inquire, move, status_ids, wait_until

CLIENTS = 150


def _writers() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if "_write" in repr(t.get_coro())]


async def _thrash(c: Container, stop: asyncio.Event) -> None:
    """Other payments' events pushing this one out of a tiny memory (committed ids are not needed)."""
    from datetime import UTC, datetime

    from hub.domain.records import PaymentEvent

    n = 0
    while not stop.is_set():
        n += 1
        c.push.latest.remember(
            PaymentEvent(n, 10_000_000 + n, PaymentEvent.STATUS, PaymentStatus.PENDING, {}, datetime.now(UTC))
        )
        await asyncio.sleep(0)


@pytest.mark.parametrize("memory", ["warm", "cold", "tiny"])
async def test_reconnect_storm_while_the_payment_is_paid(container: Container, live: LiveServer, memory: str) -> None:
    c = container
    rng = random.Random(memory)
    async with httpx.AsyncClient(base_url=live.url, timeout=30, limits=httpx.Limits(max_connections=None)) as http:
        payment_id, token = await inquire(c, http)
        [pending_id] = await status_ids(c, payment_id)
        if memory == "cold":
            c.push.latest.size = 0
            c.push.latest.forget()
        elif memory == "tiny":
            c.push.latest.size = 2
        stop = asyncio.Event()
        thrash = asyncio.create_task(_thrash(c, stop)) if memory == "tiny" else None
        opened = 0

        async def client() -> tuple[int | None, list[tuple[int, str]]]:
            nonlocal opened
            cursor = rng.choice([None, 0, pending_id, pending_id])
            headers = bearer(token) | ({} if cursor is None else {"Last-Event-ID": str(cursor)})
            await asyncio.sleep(rng.random() * 0.2)
            async with http.stream("GET", events_path(payment_id), headers=headers) as r:
                if r.status_code == 204:
                    return cursor, [(-1, "204")]
                assert r.status_code == 200, await r.aread()
                opened += 1
                frames = await SseReader(r).rest(within=20)
            return cursor, [(int(f.id or 0), str(f.data["status"])) for f in frames]  # type: ignore[index]

        async def pay() -> None:
            await asyncio.sleep(0.1)
            await move(c, payment_id, "PROCESSING")
            await asyncio.sleep(rng.random() * 0.1)
            await move(c, payment_id, "CONFIRMED")

        results, _ = await asyncio.wait_for(
            asyncio.gather(asyncio.gather(*(client() for _ in range(CLIENTS))), pay()), 90
        )
        stop.set()
        if thrash is not None:
            await thrash
        stored = await status_ids(c, payment_id)
        assert len(stored) == 3
        for cursor, frames in results:
            ids = [i for i, _ in frames]
            if ids == [-1]:
                pytest.fail(f"cursor {cursor}: 204 before the terminal status")
            if cursor is None:
                assert ids and ids[0] in stored
                assert ids == [i for i in stored if i >= ids[0]], (cursor, frames, stored)
            else:
                assert ids == [i for i in stored if i > cursor], (cursor, frames, stored)
            assert frames[-1][1] == "CONFIRMED"
        await wait_until(lambda: c.push.subscriber_count == 0, within=10)
        await wait_until(lambda: not _writers(), within=10)
        # and a resume at the terminal id now gets 204, from the memory or the store
        r = await http.get(events_path(payment_id), headers=bearer(token) | {"Last-Event-ID": str(stored[-1])})
        assert r.status_code == 204


async def test_clients_leaving_mid_stream_are_unsubscribed(container: Container, live: LiveServer) -> None:
    c = container
    payment_id, token = 0, ""
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as http:
        payment_id, token = await inquire(c, http)
    # each client its own connection, dropped while the stream is open (some before reading anything)
    clients = [httpx.AsyncClient(base_url=live.url, timeout=10) for _ in range(60)]
    streams = []
    for i, http in enumerate(clients):
        cm = http.stream("GET", events_path(payment_id), headers=bearer(token))
        r = await cm.__aenter__()
        reader = SseReader(r)  # kept: a collected reader's line iterator would close the response
        if i % 2:
            assert await reader.frame() is not None
        streams.append((cm, reader))
    await asyncio.sleep(0.2)
    assert c.push.subscriber_count == 60, c.push.subscribers_by_transport()
    await move(c, payment_id, "PROCESSING")  # written to some clients as they leave
    for http in clients:
        await http.aclose()
    await wait_until(lambda: c.push.subscriber_count == 0, within=10)
    await wait_until(lambda: not _writers(), within=10)
    assert c.push.subscribers_by_transport()["sse"] == 0


async def test_shutdown_with_streams_open_ends_them(tmp_path: Any) -> None:
    """As ``payhub run`` serves (its uvicorn options and ``timeout_graceful_shutdown``): open streams do
    not hold the shutdown beyond the grace, the client sees its stream end, nothing stays subscribed."""
    import time

    import uvicorn

    from hub.http.server import uvicorn_options
    from tests.conftest import free_port

    settings = make_settings(f"sqlite:///{tmp_path}/shut.db", shutdown_grace_s=1)
    async with running(settings) as c:
        port = free_port()
        config = uvicorn.Config(
            c.app,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_config=None,
            timeout_graceful_shutdown=settings.shutdown_grace_s,
            **uvicorn_options(settings),
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline and not task.done(), "server did not start"
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            payment_id, token = await inquire(c, http)
            readers = []
            for _ in range(20):
                r = await http.send(
                    http.build_request("GET", events_path(payment_id), headers=bearer(token)), stream=True
                )
                readers.append((r, SseReader(r)))
                assert await readers[-1][1].frame() is not None
            assert c.push.subscriber_count == 20
            server.should_exit = True  # what SIGTERM does
            await asyncio.wait_for(task, 15)
            for r, reader in readers:
                with pytest.raises((httpx.HTTPError, AssertionError)):  # cut (or ended mid-block)
                    await reader.frame(within=5)
                await r.aclose()
        await wait_until(lambda: c.push.subscriber_count == 0, within=5)
        assert not _writers()
