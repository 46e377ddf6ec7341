"""WebSocket ``/ws/payments`` over a real socket against a live uvicorn server (SQLite containers).

Contract (ARCHITECTURE.md, Push): subscribe with a token (and optionally ``lastEventId``),
``PAYMENT_STATUS`` frames with the same resume rules as SSE, several subscriptions per socket,
unsubscribe, ping/pong, refusals as ERROR frames with no data.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import simplejson as json
from websockets.asyncio.client import ClientConnection, connect

from payhub.bootstrap import Container
from tests.conftest import LiveServer, auth_header
from tests.integration.test_push_sse import SseReader, inquire, move, status_ids, wait_until

DEADLINE_S = 5.0
Message = dict[str, Any]


@pytest.fixture
def db_url(tmp_path: Any) -> str:
    """Push tests run on SQLite only (the race test covers PostgreSQL)."""
    return f"sqlite:///{tmp_path}/payhub.db"


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as c:
        yield c


class Ws:
    """A JSON-speaking test client over one socket."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    async def send(self, **message: Any) -> None:
        await self.conn.send(json.dumps(message))

    async def recv(self, within: float = DEADLINE_S) -> Message:
        try:
            raw = await asyncio.wait_for(self.conn.recv(), within)
        except TimeoutError:
            raise AssertionError(f"no message within {within}s") from None
        message: Message = json.loads(raw, use_decimal=True)
        return message

    async def until(self, done: Callable[[Message], bool]) -> list[Message]:
        """Messages up to and including the first for which ``done`` is true."""
        seen = []
        while True:
            seen.append(await self.recv())
            if done(seen[-1]):
                return seen

    async def drain(self) -> list[Message]:
        """Everything the server sent before answering a ping."""
        await self.send(type="ping")
        return (await self.until(lambda m: m["type"] == "pong"))[:-1]

    async def subscribe(self, payment_id: int, token: str | None, **extra: Any) -> list[Message]:
        """Subscribe; the answer up to SUBSCRIBED (or ERROR)."""
        await self.send(type="subscribe", paymentId=payment_id, **({"token": token} if token else {}), **extra)
        return await self.until(lambda m: m["type"] in ("SUBSCRIBED", "ERROR"))


def ws_url(live: LiveServer, query: str = "") -> str:
    return live.url.replace("http", "ws", 1) + "/ws/payments" + query


def of(payment_id: int, kind: str = "PAYMENT_STATUS") -> Callable[[Message], bool]:
    return lambda m: m["type"] == kind and (m.get("paymentId") or m.get("data", {}).get("paymentId")) == payment_id


def statuses(messages: list[Message]) -> list[tuple[int, str]]:
    return [(m["id"], m["data"]["status"]) for m in messages if m["type"] == "PAYMENT_STATUS"]


async def test_subscribe_snapshot_live_frames_then_completed(
    container: Container, live: LiveServer, http: httpx.AsyncClient
) -> None:
    payment_id, token = await inquire(container, http)
    [pending_id] = await status_ids(container, payment_id)
    async with connect(ws_url(live)) as conn:
        ws = Ws(conn)
        assert await ws.subscribe(payment_id, token) == [{"type": "SUBSCRIBED", "paymentId": payment_id}]
        snapshot = await ws.recv()
        assert set(snapshot) == {"type", "id", "data"}
        assert (snapshot["type"], snapshot["id"]) == ("PAYMENT_STATUS", pending_id)
        data = snapshot["data"]
        assert data["paymentId"] == payment_id and data["status"] == "PENDING"
        assert {"policyNumber", "method", "amount", "currency", "transactionId", "occurredAt", "sentAt"} <= set(data)

        [processing] = await move(container, payment_id, "PROCESSING")
        assert statuses([await ws.recv()]) == [(processing.id, "PROCESSING")]
        [confirmed] = await move(container, payment_id, "CONFIRMED")
        tail = await ws.until(of(payment_id, "COMPLETED"))
        assert statuses(tail) == [(confirmed.id, "CONFIRMED")]
        assert len(tail) == 2, tail
        await wait_until(lambda: container.push.subscriber_count == 0)
        assert await ws.drain() == [], "nothing after COMPLETED"


async def test_resume_with_last_event_id(container: Container, live: LiveServer, http: httpx.AsyncClient) -> None:
    payment_id, token = await inquire(container, http)
    [pending_id] = await status_ids(container, payment_id)
    missed = await move(container, payment_id, "PROCESSING")
    missed += await move(container, payment_id, "CONFIRMED")
    async with connect(ws_url(live)) as conn:
        ws = Ws(conn)
        await ws.subscribe(payment_id, token, lastEventId=pending_id)
        frames = await ws.until(of(payment_id, "COMPLETED"))
    assert statuses(frames) == [(e.id, e.status.value) for e in missed]
    assert len(frames) == len(missed) + 1


async def test_cursor_at_terminal_completes_immediately(
    container: Container, live: LiveServer, http: httpx.AsyncClient
) -> None:
    payment_id, token = await inquire(container, http)
    [expired] = await move(container, payment_id, "EXPIRED")
    async with connect(ws_url(live)) as conn:
        ws = Ws(conn)
        for cursor in (expired.id, expired.id + 50):
            assert await ws.subscribe(payment_id, token, lastEventId=cursor) == [
                {"type": "SUBSCRIBED", "paymentId": payment_id}
            ]
            assert await ws.recv() == {"type": "COMPLETED", "paymentId": payment_id}
        assert await ws.drain() == []
    assert container.push.subscriber_count == 0


async def test_several_subscriptions_on_one_socket_and_unsubscribe(
    container: Container, live: LiveServer, http: httpx.AsyncClient
) -> None:
    payment_a, token_a = await inquire(container, http, "P123456789")
    payment_b, token_b = await inquire(container, http, "P987654321")
    async with connect(ws_url(live)) as conn:
        ws = Ws(conn)
        await ws.subscribe(payment_a, token_a)
        assert (await ws.recv())["data"]["paymentId"] == payment_a
        await ws.subscribe(payment_b, token_b)
        assert (await ws.recv())["data"]["paymentId"] == payment_b
        assert container.push.subscriber_count == 2

        [b_processing] = await move(container, payment_b, "PROCESSING")
        [a_processing] = await move(container, payment_a, "PROCESSING")
        frames = [await ws.recv(), await ws.recv()]
        by_payment = {m["data"]["paymentId"]: m["id"] for m in frames}
        assert by_payment == {payment_a: a_processing.id, payment_b: b_processing.id}
        assert next(m for m in frames if m["id"] == b_processing.id)["data"]["currency"] == "KHR"

        await ws.send(type="unsubscribe", paymentId=payment_b)
        assert await ws.until(of(payment_b, "UNSUBSCRIBED")) == [{"type": "UNSUBSCRIBED", "paymentId": payment_b}]
        await wait_until(lambda: container.push.subscriber_count == 1)
        await move(container, payment_b, "CONFIRMED")
        await container.bus.drain()
        [a_confirmed] = await move(container, payment_a, "CONFIRMED")
        rest = await ws.until(of(payment_a, "COMPLETED"))
        assert statuses(rest) == [(a_confirmed.id, "CONFIRMED")], "no frame for the unsubscribed payment"
        assert await ws.drain() == []


async def test_subscribing_twice_replaces_the_subscription(
    container: Container, live: LiveServer, http: httpx.AsyncClient
) -> None:
    payment_id, token = await inquire(container, http)
    async with connect(ws_url(live)) as conn:
        ws = Ws(conn)
        await ws.subscribe(payment_id, token)
        await ws.subscribe(payment_id, token)
        await wait_until(lambda: container.push.subscriber_count == 1)
        [confirmed] = await move(container, payment_id, "CONFIRMED")
        frames = await ws.until(of(payment_id, "COMPLETED"))
        assert [m for m in statuses(frames) if m[0] == confirmed.id] == [(confirmed.id, "CONFIRMED")]


async def test_refused_subscriptions_get_an_error_and_no_data(
    container: Container, live: LiveServer, http: httpx.AsyncClient
) -> None:
    payment_a, token_a = await inquire(container, http, "P123456789")
    payment_b, token_b = await inquire(container, http, "P987654321")
    stranger = auth_header(container, "customer", "stranger")["Authorization"][7:]  # not offered payment_b
    admin = auth_header(container, "admin")["Authorization"][7:]
    async with connect(ws_url(live)) as conn:
        ws = Ws(conn)
        refusals = [
            (payment_b, token_a, {}, "FORBIDDEN"),
            (payment_b, stranger, {}, "RESOURCE_NOT_FOUND"),  # as an unknown payment (issue 12)
            (payment_b, "not-a-jwt", {}, "UNAUTHORIZED"),
            (payment_b, None, {}, "UNAUTHORIZED"),
            (999_999, admin, {}, "RESOURCE_NOT_FOUND"),
            (payment_b, token_b, {"lastEventId": "abc"}, "BAD_REQUEST"),
            (payment_b, token_b, {"lastEventId": -1}, "BAD_REQUEST"),
            (payment_b, token_b, {"lastEventId": 10**25}, "BAD_REQUEST"),
            (10**25, admin, {}, "RESOURCE_NOT_FOUND"),
        ]
        for payment_id, token, extra, code in refusals:
            answer = await ws.subscribe(payment_id, token, **extra)
            assert len(answer) == 1 and answer[0]["type"] == "ERROR", answer
            assert (answer[0]["code"], answer[0]["paymentId"]) == (code, payment_id)
        assert container.push.subscriber_count == 0
        await move(container, payment_b, "PROCESSING")
        await container.bus.drain()
        assert await ws.drain() == [], "a refused subscription must not leak frames"
        # The socket is still usable.
        assert (await ws.subscribe(payment_a, admin))[-1]["type"] == "SUBSCRIBED"
        assert (await ws.recv())["data"]["paymentId"] == payment_a


async def test_ping_pong_and_malformed_messages(container: Container, live: LiveServer) -> None:
    async with connect(ws_url(live)) as conn:
        ws = Ws(conn)
        await ws.send(type="ping")
        assert await ws.recv() == {"type": "pong"}
        for raw in ("not json", "[1, 2]", json.dumps({"type": "subscribe", "paymentId": "1"}), '{"type":"x"}'):
            await conn.send(raw)
            answer = await ws.recv()
            assert (answer["type"], answer["code"]) == ("ERROR", "BAD_REQUEST"), answer
        await ws.send(type="ping")
        assert await ws.recv() == {"type": "pong"}


async def test_token_in_the_socket_url(container: Container, live: LiveServer, http: httpx.AsyncClient) -> None:
    payment_id, token = await inquire(container, http)
    async with connect(ws_url(live, f"?token={token}")) as conn:
        ws = Ws(conn)
        assert (await ws.subscribe(payment_id, None))[-1]["type"] == "SUBSCRIBED"
        assert (await ws.recv())["data"]["paymentId"] == payment_id


async def test_closing_sockets_cleans_up_every_subscription(
    container: Container, live: LiveServer, http: httpx.AsyncClient
) -> None:
    payment_a, token_a = await inquire(container, http, "P123456789")
    payment_b, token_b = await inquire(container, http, "P987654321")
    async with connect(ws_url(live)) as one, connect(ws_url(live)) as two:
        await Ws(one).subscribe(payment_a, token_a)
        await Ws(one).subscribe(payment_b, token_b)
        await Ws(two).subscribe(payment_a, token_a)
        assert container.push.subscriber_count == 3
    await wait_until(lambda: container.push.subscriber_count == 0)
    # An SSE stream and a socket at once, both dropped by the client.
    async with http.stream("GET", f"/api/payments/{payment_a}/events", params={"token": token_a}) as r:
        sse = SseReader(r)  # keep a reference: a collected line iterator closes the connection
        assert await sse.frame() is not None
        async with connect(ws_url(live)) as three:
            await Ws(three).subscribe(payment_b, token_b)
            assert container.push.subscriber_count == 2
    await wait_until(lambda: container.push.subscriber_count == 0)
