"""clients/js/payhub.js in Node.js against a real ``payhub run``.

Node 20 has neither EventSource nor WebSocket: the module detects that and reads the SSE stream with
streaming ``fetch``, then falls back to long-polling the QR session (or polling the payment). Each
test watches one payment to its terminal status and checks that nothing is requested after it.
Without Node.js the tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.client_policies import import_policies
from tests.e2e.payhub_process import Server, start_server

WATCH = Path(__file__).resolve().parents[1] / "clients_js" / "watch.mjs"
BANK_CODE = '{"id":"AMK","bank":"AMK"}'


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node not found (CI=true: not skipping)")
        pytest.skip("node not found")
    return found


def node_major() -> int:
    return int(
        subprocess.run([node(), "--version"], capture_output=True, text=True, check=True).stdout[1:].split(".")[0]
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("jsnode")
    s = start_server(workdir)
    try:
        import_policies(
            s,
            workdir,
            [(170000 + i, f"P17000000{i}", "Chan Sophea", "20.00", "USD") for i in range(1, 7)],
        )
        yield s
    finally:
        s.stop()


async def khqr(server: Server, policy: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        r = await http.get(
            "/khqr",
            params={"bankCode": BANK_CODE, "billNumber": policy},
            headers={"Authorization": f"Bearer {server.token('customer')}"},
        )
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def pay(server: Server, **body: Any) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        r = await http.post("/sandbox/amk/simulate/pay", json=body)
    assert r.status_code == 200, r.text


async def watch(config: dict[str, Any], on_ready: Callable[[], Awaitable[None]] | None = None) -> list[dict[str, Any]]:
    """Run watch.mjs; call ``on_ready`` once it is watching; its JSON lines, once it exited."""
    proc = await asyncio.create_subprocess_exec(
        node(), str(WATCH), json.dumps(config), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(30):
            while raw := await proc.stdout.readline():
                lines.append(json.loads(raw))
                if "ready" in lines[-1] and on_ready is not None:
                    ready, on_ready = on_ready, None
                    await ready()
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, (await proc.stderr.read()).decode()
    return lines


def of(lines: list[dict[str, Any]], key: str) -> list[Any]:
    return [line[key] for line in lines if key in line]


async def test_sse_by_fetch_to_confirmed(server: Server) -> None:
    qr = await khqr(server, "P170000001")
    config = {
        "baseUrl": server.url,
        "paymentId": qr["paymentId"],
        "token": qr["subscribeToken"],
        "sessionId": qr["sessionId"],
        "eventsUrl": qr["eventsUrl"],
    }
    lines = await watch(config, lambda: pay(server, paymentId=qr["paymentId"], method="KHQR"))
    expected = ["sse", "poll"] if node_major() < 22 else ["sse", "ws", "poll"]
    assert of(lines, "transports") == [expected]  # feature-detected: no EventSource, no WebSocket in Node 20
    events = of(lines, "event")
    assert [e["status"] for e in events] == ["PENDING", "CONFIRMED"]
    assert {e["transport"] for e in events} == {"sse"} and not any(e["resumed"] for e in events)
    assert events[0]["id"] < events[1]["id"] and events[1]["data"]["transactionId"]
    assert of(lines, "done") == ["CONFIRMED"] and of(lines, "after") == [0]  # nothing after the end


async def test_long_poll_of_the_session(server: Server) -> None:
    qr = await khqr(server, "P170000002")
    config = {
        "baseUrl": server.url,
        "paymentId": qr["paymentId"],
        "token": qr["subscribeToken"],
        "sessionId": qr["sessionId"],
        "transports": ["poll"],
    }
    lines = await watch(config, lambda: pay(server, paymentId=qr["paymentId"], method="KHQR"))
    events = of(lines, "event")
    assert [e["status"] for e in events] == ["PENDING", "CONFIRMED"] and {e["transport"] for e in events} == {"poll"}
    assert events[-1]["data"]["transactionId"] and events[-1]["id"] > events[0]["id"]
    assert of(lines, "done") == ["CONFIRMED"] and of(lines, "after") == [0]


async def test_falls_back_to_long_poll_when_the_stream_is_unreachable(server: Server) -> None:
    qr = await khqr(server, "P170000003")
    config = {
        "baseUrl": server.url,
        "paymentId": qr["paymentId"],
        "token": qr["subscribeToken"],
        "sessionId": qr["sessionId"],
        "blockEvents": True,
    }
    lines = await watch(config, lambda: pay(server, paymentId=qr["paymentId"], method="KHQR", outcome="FAILED"))
    assert of(lines, "ready") == ["poll"]
    events = of(lines, "event")
    assert [e["status"] for e in events] == ["PENDING", "FAILED"] and {e["transport"] for e in events} == {"poll"}
    [last] = [line for line in lines if "done" in line]
    assert last["done"] == "FAILED" and last["stats"]["fallbacks"] >= 1 and last["stats"]["attempts"] >= 3
    assert of(lines, "after") == [0]


async def test_plain_poll_of_a_bill_payment_without_a_session(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        r = await http.get(
            "/AMK/payments",
            params={"query": "P170000004"},
            headers={"Authorization": f"Bearer {server.token('customer')}"},
        )
    inquiry = r.json()["data"]
    config = {
        "baseUrl": server.url,
        "paymentId": inquiry["paymentId"],
        "token": inquiry["subscribeToken"],
        "transports": ["poll"],
        "pollIntervalMs": 200,
    }
    lines = await watch(config, lambda: pay(server, billNumber="P170000004", method="BILL"))
    events = of(lines, "event")
    assert [e["status"] for e in events] == ["PENDING", "CONFIRMED"] and {e["id"] for e in events} == {None}
    assert of(lines, "done") == ["CONFIRMED"] and of(lines, "after") == [0]


async def test_a_refused_token_ends_the_watch_at_once(server: Server) -> None:
    qr = await khqr(server, "P170000005")
    for transports in (["sse"], ["poll"]):
        config = {
            "baseUrl": server.url,
            "paymentId": qr["paymentId"],
            "token": "not-a-token",
            "sessionId": qr["sessionId"],
            "transports": transports,
        }
        lines = await watch(config)
        assert of(lines, "failed") == ["UNAUTHORIZED"] and of(lines, "after") == [0], (transports, lines)


async def test_a_cursor_past_the_end_gets_the_final_status_and_stops(server: Server) -> None:
    qr = await khqr(server, "P170000006")
    first = await watch(
        {"baseUrl": server.url, "paymentId": qr["paymentId"], "token": qr["subscribeToken"]},
        lambda: pay(server, paymentId=qr["paymentId"], method="KHQR"),
    )
    terminal = of(first, "event")[-1]
    # The server answers 204 to a cursor at the terminal event: the module reads the final status once.
    lines = await watch(
        {
            "baseUrl": server.url,
            "paymentId": qr["paymentId"],
            "token": qr["subscribeToken"],
            "lastEventId": terminal["id"],
        }
    )
    assert [e["status"] for e in of(lines, "event")] == ["CONFIRMED"]
    assert of(lines, "done") == ["CONFIRMED"] and of(lines, "after") == [0]
