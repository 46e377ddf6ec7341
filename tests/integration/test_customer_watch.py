"""Issue 12, closer to the spec's own examples, over real HTTP, SSE and WebSocket (a live uvicorn):

* a customer's own bearer token watches the payments offered to it (inquiry, ``GET /khqr``) — status, SSE,
  WebSocket, QR-session long-poll — beside the ``subscribeToken``; another customer's token gets, byte for
  byte but for its correlation id and time, the answer an unknown payment (or session) gets;
* event data carries the spec's ``timestamp`` and, while PROCESSING, ``estimatedCompletion``;
* payment errors carry the spec's ``transactionId`` and ``supportContact``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from gateway.reverify import ReVerifier
from hub.domain.timezones import utc_stamp
from hub.secrets_policy import SANDBOX_SUPPORT_CONTACT
from payhub.bootstrap import Container
from tests.conftest import LiveServer, auth_header, bank_paid, bill_body, khqr_body, signed, token
from tests.integration.test_push_sse import SseReader, move
from tests.integration.test_push_ws import Ws, ws_url


@pytest.fixture
def db_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path}/payhub.db"  # about HTTP and access, not storage (the store contract has both)


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as c:
        yield c


def later(c: Container) -> ReVerifier:
    """The gateway's re-verifier an hour on: every pending receipt is due."""
    return dataclasses.replace(c.reverifier, clock=lambda: datetime.now(UTC) + timedelta(hours=1))


def as_customer(c: Container, sub: str) -> dict[str, str]:
    return auth_header(c, "customer", sub)


def same_answer(a: httpx.Response, b: httpx.Response, ids: tuple[str, str] | None = None) -> None:
    """Two refusals that must not be told apart: status, content type, and the error but for its correlation id
    and time (and, given ``ids``, the id each asked for, which the asker knows anyway)."""
    assert (a.status_code, a.headers["content-type"]) == (b.status_code, b.headers["content-type"])
    ea, eb = a.json()["error"], b.json()["error"]
    for e in (ea, eb):
        e.pop("correlationId")
        e.pop("timestamp")
    if ids is not None:
        eb["message"] = eb["message"].replace(ids[1], ids[0])
    assert ea == eb


async def inquire(c: Container, http: httpx.AsyncClient, sub: str, policy: str = "P123456789") -> dict[str, Any]:
    r = await http.get("/AMK/payments", params={"query": policy}, headers=as_customer(c, sub))
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def test_own_token_reads_status_and_streams_sse_others_see_an_unknown_payment(
    container: Container, http: httpx.AsyncClient
) -> None:
    offered = await inquire(container, http, "alice")
    payment_id = offered["paymentId"]
    path = f"/api/payments/{payment_id}"
    r = await http.get(path, headers=as_customer(container, "alice"))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "PENDING"

    other = payment_id + 999
    ids = (str(payment_id), str(other))
    for suffix in ("", "/events"):
        mallory = await http.get(path + suffix, headers=as_customer(container, "mallory"))
        assert mallory.status_code == 404, mallory.text
        unknown = f"/api/payments/{other}{suffix}"
        same_answer(mallory, await http.get(unknown, headers=as_customer(container, "mallory")), ids)
        same_answer(mallory, await http.get(unknown, headers=as_customer(container, "alice")), ids)
    assert container.push.subscriber_count == 0

    async with http.stream("GET", path + "/events", headers=as_customer(container, "alice")) as stream:
        assert stream.status_code == 200
        reader = SseReader(stream)
        first = await reader.frame()
        assert first is not None and first.data is not None
        assert (first.data["paymentId"], first.data["status"]) == (payment_id, "PENDING")
        occurred = datetime.fromisoformat(first.data["occurredAt"])
        assert first.data["timestamp"] == utc_stamp(occurred)
        assert "estimatedCompletion" not in first.data
        await move(container, payment_id, "CONFIRMED")
        rest = await reader.rest()
    assert [f.data["status"] for f in rest if f.data] == ["CONFIRMED"]
    # ?token= (EventSource) works with the customer's JWT too; the stream has ended: 204 past it.
    alice = {"token": token(container, "customer", "alice")}
    r = await http.get(path + "/events", params=alice, headers={"Last-Event-ID": str(rest[-1].id)})
    assert r.status_code == 204


async def test_own_token_subscribes_over_websocket_others_get_the_unknown_answer(
    container: Container, live: LiveServer, http: httpx.AsyncClient
) -> None:
    payment_id = (await inquire(container, http, "alice"))["paymentId"]
    async with connect(ws_url(live)) as conn:
        ws = Ws(conn)
        refused = await ws.subscribe(payment_id, token(container, "customer", "mallory"))
        unknown = await ws.subscribe(payment_id + 999, token(container, "customer", "mallory"))
        assert refused[0]["type"] == unknown[0]["type"] == "ERROR"
        assert refused[0]["code"] == unknown[0]["code"] == "RESOURCE_NOT_FOUND"
        assert refused[0]["message"] == unknown[0]["message"].replace(str(payment_id + 999), str(payment_id))
        answer = await ws.subscribe(payment_id, token(container, "customer", "alice"))
        assert [m["type"] for m in answer][:1] == ["SUBSCRIBED"]
        frames = answer[1:] or [await ws.recv()]
        status = next(m for m in frames if m["type"] == "PAYMENT_STATUS")
        assert status["data"]["status"] == "PENDING" and status["data"]["timestamp"].endswith("Z")


async def test_the_khqr_customer_long_polls_its_session_others_see_an_unknown_session(
    container: Container, http: httpx.AsyncClient
) -> None:
    r = await http.get("/khqr?bankCode=AMK&billNumber=P987654321", headers=as_customer(container, "alice"))
    assert r.status_code == 200, r.text
    qr = r.json()["data"]
    path = f"/khqr/sessions/{qr['sessionId']}"
    mine = await http.get(path, params={"wait": "0.2"}, headers=as_customer(container, "alice"))
    assert mine.status_code == 200 and mine.json()["data"]["status"] == "PENDING"
    theirs = await http.get(path, headers=as_customer(container, "mallory"))
    assert theirs.status_code == 404
    nobody = await http.get("/khqr/sessions/none-such", headers=as_customer(container, "mallory"))
    same_answer(theirs, nobody, ids=(qr["sessionId"], "none-such"))
    assert theirs.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
    # The payment's subscribe token reads it; a subscribe token of another payment is refused, as before.
    assert (await http.get(path, headers={"Authorization": f"Bearer {qr['subscribeToken']}"})).status_code == 200
    other = await inquire(container, http, "bob", "P555000111")
    r = await http.get(path, headers={"Authorization": f"Bearer {other['subscribeToken']}"})
    assert r.status_code == 403
    # Alice's own token streams the QR's payment.
    r = await http.get(f"/api/payments/{qr['paymentId']}", headers=as_customer(container, "alice"))
    assert r.status_code == 200


async def test_processing_events_carry_the_estimated_completion(container: Container, http: httpx.AsyncClient) -> None:
    payment_id = (await inquire(container, http, "alice"))["paymentId"]
    container.sandbox_state.verify_available = False  # AMK unreachable: recorded PROCESSING, re-verified later
    body = bill_body()
    raw, headers = signed(container, body)
    r = await http.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 202, r.text
    interval = timedelta(seconds=container.settings.reverify_interval_s)
    for cursor in (None, "0"):  # the current-status frame and the replayed log agree
        params = {"lastEventId": cursor} if cursor else {}
        async with http.stream(
            "GET", f"/api/payments/{payment_id}/events", params=params, headers=as_customer(container, "alice")
        ) as stream:
            reader = SseReader(stream)
            frame = await reader.frame()
            while frame is not None and frame.data is not None and frame.data["status"] != "PROCESSING":
                frame = await reader.frame()
        assert frame is not None and frame.data is not None
        occurred = datetime.fromisoformat(frame.data["occurredAt"])
        assert frame.data["timestamp"] == utc_stamp(occurred)
        assert frame.data["estimatedCompletion"] == utc_stamp(occurred + interval)
    container.sandbox_state.verify_available = True
    bank_paid(container, body["bankTransactionId"])
    assert await later(container).run_once() == 1
    r = await http.get(
        f"/api/payments/{payment_id}/events", params={"lastEventId": "0"}, headers=as_customer(container, "alice")
    )
    frames = [line for line in r.text.splitlines() if line.startswith("data: ")]
    assert '"CONFIRMED"' in frames[-1] and "estimatedCompletion" not in frames[-1]


async def test_payment_errors_carry_the_transaction_and_the_support_contact(
    container: Container, http: httpx.AsyncClient
) -> None:
    body = bill_body(amount="149.00")  # not the premium's amount
    raw, headers = signed(container, body)
    r = await http.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "PAYMENT_VERIFICATION_DATA_MISMATCHED"
    assert (error["transactionId"], error["supportContact"]) == (body["bankTransactionId"], SANDBOX_SUPPORT_CONTACT)

    good = bill_body()
    bank_paid(container, good["bankTransactionId"])
    raw, headers = signed(container, good)
    assert (await http.post("/AMK/payments", content=raw, headers=headers)).status_code == 200
    raw, headers = signed(container, {**good, "amount": 151})  # same transaction, another amount
    r = await http.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 409
    error = r.json()["error"]
    assert (error["code"], error["transactionId"]) == ("DUPLICATE_PAYMENT", good["bankTransactionId"])
    assert error["supportContact"] == SANDBOX_SUPPORT_CONTACT

    # Not a payment error: the transaction is named, no support contact; unreadable input names neither.
    raw, headers = signed(container, khqr_body(999_999))
    r = await http.post("/AMK/khqr", content=raw, headers=headers)
    assert r.status_code == 404
    assert r.json()["error"]["transactionId"] == "AMK_KHQR_999999" and "supportContact" not in r.json()["error"]
    raw, headers = signed(container, {**good, "currency": "EUR"})
    r = await http.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 400 and {"transactionId", "supportContact"}.isdisjoint(r.json()["error"])


async def test_a_stored_reverification_failure_names_the_transaction_on_replay(
    container: Container, http: httpx.AsyncClient
) -> None:
    container.sandbox_state.verify_available = False
    body = bill_body()
    raw, headers = signed(container, body)
    assert (await http.post("/AMK/payments", content=raw, headers=headers)).status_code == 202
    container.sandbox_state.verify_available = True
    bank_paid(container, body["bankTransactionId"], status="FAILED")  # AMK: not paid
    assert await later(container).run_once() == 1
    raw, headers = signed(container, body)
    r = await http.post("/AMK/payments", content=raw, headers=headers)  # AMK's retry gets the stored answer
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert (error["code"], error["transactionId"]) == ("TRANSACTION_VERIFY_FAILED", body["bankTransactionId"])
    assert error["supportContact"] == SANDBOX_SUPPORT_CONTACT
