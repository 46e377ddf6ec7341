"""Real traffic of a live ``payhub run`` validated against the documents it serves (jsonschema).

One payment journey per method (KHQR on P123456789, BILL on P555000111): every HTTP answer against its
OpenAPI response schema (status listed, body valid), every SSE frame and every WebSocket message both
ways against the AsyncAPI messages (the WebSocket messages told apart by ``type``), and every Kafka
message the outbox relay then publishes from that process's database (the tests' tansu broker) against
its topic's message. The documents' models forbid extra properties: a field added to a reply or a frame
without its model fails here.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from websockets.asyncio.client import connect

from hub.adapters.stream.kafka import KafkaProducer, ensure_topics
from hub.relay import OutboxRelay
from hub.topics import Topics
from payhub.backends import open_store
from tests.e2e.payhub_process import Server, start_server
from tests.kafka_broker import REQUEST_TIMEOUT_MS, read_topic, start_broker

BANK = json.dumps({"id": "AMK", "bank": "AMK"})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("conformance")
    live = start_server(workdir, PAYHUB_PUSH_HEARTBEAT_S="1")
    try:
        yield live
    finally:
        live.stop()


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": doc["components"]})


def _errors(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(doc, schema).iter_errors(value)]


class OpenApiChecker:
    """Validates answers against ``/openapi.json``; counts what it checked."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.checked: list[str] = []

    def __call__(self, method: str, path: str, response: httpx.Response) -> Any:
        responses = self.doc["paths"][path][method.lower()]["responses"]
        assert str(response.status_code) in responses, f"{method} {path}: undocumented {response.status_code}"
        content = responses[str(response.status_code)].get("content", {})
        kind = response.headers.get("content-type", "").split(";")[0]
        if not content:
            assert not response.content, f"{method} {path}: a body where none is documented"
            self.checked.append(f"{method} {path} {response.status_code}")
            return None
        assert kind in content, f"{method} {path}: {kind} not documented"
        body = response.json() if kind == "application/json" else response.text
        problems = _errors(self.doc, content[kind]["schema"], body)
        assert not problems, f"{method} {path} {response.status_code}: {problems}\n{body}"
        self.checked.append(f"{method} {path} {response.status_code}")
        return body


class AsyncApiChecker:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.messages = doc["components"]["messages"]
        self.checked: dict[str, int] = {}

    def payload(self, message: str, value: Any) -> None:
        problems = _errors(self.doc, self.messages[message]["payload"], value)
        assert not problems, f"{message}: {problems}\n{value}"
        self.checked[message] = self.checked.get(message, 0) + 1

    def ws(self, frame: dict[str, Any], *, sent: bool) -> None:
        """A WebSocket message, by its type: one of the channel's messages, in the right direction."""
        names = (
            {"subscribe", "unsubscribe", "ping"}
            if sent
            else {
                "paymentStatus",
                "subscribed",
                "unsubscribed",
                "completed",
                "pong",
                "error",
            }
        )
        matching = [n for n in names if not _errors(self.doc, self.messages[f"ws_{n}"]["payload"], frame)]
        assert len(matching) == 1, f"{'sent' if sent else 'received'} {frame}: matches {matching}"
        self.checked[f"ws_{matching[0]}"] = self.checked.get(f"ws_{matching[0]}", 0) + 1

    def topic(self, address: str) -> str:
        for channel in self.doc["channels"].values():
            if channel["address"] == address:
                (ref,) = channel["messages"].values()
                return str(ref["$ref"]).rsplit("/", 1)[-1]
        raise AssertionError(f"topic {address} is not in the AsyncAPI document")


class SseReader:
    """Reads one SSE stream in a thread: the data of every ``payment.status`` frame, and its ids."""

    def __init__(self, url: str, token: str, headers: dict[str, str] | None = None) -> None:
        self.frames: list[tuple[int, dict[str, Any]]] = []
        self.first = threading.Event()
        self.status = 0
        self._thread = threading.Thread(target=self._run, args=(url, token, headers or {}), daemon=True)
        self._thread.start()

    def _run(self, url: str, token: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers={"Authorization": f"Bearer {token}", **headers}, timeout=20) as r:
            self.status = r.status_code
            event: dict[str, str] = {}
            for line in r.iter_lines():
                if line.startswith(("id:", "event:", "data:")):
                    name, _, value = line.partition(":")
                    event[name] = value.strip()
                elif line == "" and "data" in event:
                    assert event.get("event") == "payment.status", event
                    self.frames.append((int(event["id"]), json.loads(event["data"])))
                    self.first.set()
                    event = {}

    def join(self) -> None:
        self._thread.join(20)
        assert not self._thread.is_alive(), "the SSE stream did not end after the terminal status"


async def _ws_journey(server: Server, payment_id: int, token: str, check: AsyncApiChecker) -> list[dict[str, Any]]:
    """Ping, a refused subscription, a subscription that runs to COMPLETED, an unsubscribe."""
    url = server.url.replace("http://", "ws://") + "/ws/payments"
    received: list[dict[str, Any]] = []
    async with connect(url) as ws:

        async def send(message: dict[str, Any]) -> None:
            check.ws(message, sent=True)
            await ws.send(json.dumps(message))

        async def receive() -> dict[str, Any]:
            frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 20))
            check.ws(frame, sent=False)
            received.append(frame)
            return frame

        await send({"type": "ping"})
        assert (await receive())["type"] == "pong"
        await send({"type": "subscribe", "paymentId": 999_999_999, "token": token})
        assert (await receive())["type"] == "ERROR"
        await send({"type": "subscribe", "paymentId": payment_id, "token": token, "lastEventId": 0})
        while (await receive())["type"] != "COMPLETED":
            pass
        await send({"type": "unsubscribe", "paymentId": payment_id})
        assert (await receive())["type"] == "UNSUBSCRIBED"
    return received


def _journey(
    server: Server, http: httpx.Client, api: OpenApiChecker, streams: AsyncApiChecker, policy: str, method: str
) -> int:
    customer = {"Authorization": f"Bearer {server.token('customer', 'conformance')}"}
    inquiry = api("GET", "/AMK/payments", http.get("/AMK/payments", params={"query": policy}, headers=customer))
    payment_id, token = inquiry["data"]["paymentId"], inquiry["data"]["subscribeToken"]
    if method == "KHQR":
        qr = api("GET", "/khqr", http.get("/khqr", params={"bankCode": BANK, "billNumber": policy}, headers=customer))
        session = qr["data"]["sessionId"]
        api("GET", "/khqr/sessions/{session_id}", http.get(f"/khqr/sessions/{session}", headers=customer))
    watcher = {"Authorization": f"Bearer {token}"}
    api("GET", "/api/payments/{payment_id}", http.get(f"/api/payments/{payment_id}", headers=watcher))
    sse = SseReader(f"{server.url}/api/payments/{payment_id}/events", token)
    assert sse.first.wait(10), "no first frame (the current status)"
    ws_task = asyncio.run_coroutine_threadsafe(_ws_journey(server, payment_id, token, streams), _LOOP.loop)
    body = {"paymentId": payment_id, "method": "KHQR"} if method == "KHQR" else {"billNumber": policy}
    paid = api("POST", "/sandbox/amk/simulate/pay", http.post("/sandbox/amk/simulate/pay", json=body))
    for webhook in paid["data"]["webhooks"]:
        for attempt in webhook["attempts"]:  # the gateway's answers to the webhooks, as AMK got them
            path = "/AMK/khqr" if method == "KHQR" else "/AMK/payments"
            schema = api.doc["paths"][path]["post"]["responses"][str(attempt["status"])]["content"]
            assert not _errors(api.doc, schema["application/json"]["schema"], attempt["response"])
    sse.join()
    ws_task.result(30)
    assert sse.status == 200 and sse.frames[-1][1]["status"] == "CONFIRMED", sse.frames
    for _, data in sse.frames:
        streams.payload("sseStatus", data)
    ids = [i for i, _ in sse.frames]
    assert ids == sorted(set(ids))
    # A reconnect at the terminal event: 204, as documented.
    resumed = http.get(f"/api/payments/{payment_id}/events", headers={**watcher, "Last-Event-ID": str(ids[-1])})
    api("GET", "/api/payments/{payment_id}/events", resumed)
    assert resumed.status_code == 204
    return int(payment_id)


class _Loop:
    """One event loop in a thread for the WebSocket clients, while the test's own thread drives HTTP."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


_LOOP: _Loop


def test_real_answers_frames_and_kafka_messages_fit_the_documents(server: Server, tmp_path: Path) -> None:
    global _LOOP
    _LOOP = _Loop()
    try:
        with httpx.Client(base_url=server.url, timeout=20) as http:
            api = OpenApiChecker(http.get("/openapi.json").json())
            streams = AsyncApiChecker(http.get("/asyncapi.json").json())
            payments = [
                _journey(server, http, api, streams, "P123456789", "KHQR"),
                _journey(server, http, api, streams, "P555000111", "BILL"),
            ]
            admin = {"Authorization": f"Bearer {server.token('admin', 'conformance')}"}
            api("GET", "/admin/reviews", http.get("/admin/reviews", headers=admin))
            api(
                "GET",
                "/integration/premiums",
                http.get("/integration/premiums", params={"query": "P987654321"}, headers=admin),
            )
            api("GET", "/integration/premiums/{premium_id}", http.get("/integration/premiums/150001", headers=admin))
            api("GET", "/ws/payments", http.get("/ws/payments"))
            for path in ("/", "/healthz", "/readyz", "/demo/api/config"):
                api("GET", path, http.get(path))
            api("POST", "/demo/api/token", http.post("/demo/api/token"))
    finally:
        _LOOP.close()
    assert len(payments) == 2
    assert {"ws_pong", "ws_error", "ws_subscribed", "ws_paymentStatus", "ws_completed", "ws_unsubscribed"} <= set(
        streams.checked
    ), streams.checked
    asyncio.run(_kafka(server, streams, tmp_path))


async def _kafka(server: Server, streams: AsyncApiChecker, tmp_path: Path) -> None:
    """The events the live process committed, published by the outbox relay to a real broker, read back."""
    topics = Topics("dev.")
    async with start_broker(tmp_path) as broker:
        await ensure_topics(broker.bootstrap, topics.all(), partitions=1)
        async with (
            open_store(server.database_url, migrate=False, pool_min=1, pool_max=2) as store,
            KafkaProducer(broker.bootstrap, idempotence=False, request_timeout_ms=REQUEST_TIMEOUT_MS) as producer,
        ):
            relay = OutboxRelay(store, producer, topics, batch=100, poll_s=0.1)
            while await relay.run_once():
                pass
        seen: dict[str, int] = {}
        for address in topics.all():
            message = streams.topic(address)
            for record in await read_topic(broker.bootstrap, address):
                assert record.key is not None and record.key.decode().isdigit(), record.key
                streams.payload(message, json.loads(record.value))
                seen[address] = seen.get(address, 0) + 1
    assert set(seen) == set(topics.all()), seen  # every topic carried a message, each one valid
