"""Defects schemathesis found over the OpenAPI document (tests/e2e/test_schemathesis.py), each pinned here.

Each test names the class of input that failed, so that the fix covers the kind, not one example.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tests.conftest import auth_header, sqlite_process, table_counts
from tests.integration.test_hostile_sockets import raw, serve


@pytest.mark.parametrize("method", ["OPTIONS", "DELETE", "PUT", "PATCH"])
async def test_405_under_a_static_mount_lists_the_routes_methods(tmp_path: Path, method: str) -> None:
    """RFC 9110 §15.5.6: ``Allow`` lists the methods of the resource. A route under the ``/demo`` static
    mount (``POST /demo/api/token``) was answered with the static files' ``Allow: GET, HEAD``."""
    async with sqlite_process(tmp_path) as (_, client):
        r = await client.request(method, "/demo/api/token")
        assert r.status_code == 405
        assert {m.strip() for m in r.headers["allow"].split(",")} == {"POST"}
        r = await client.request(method, "/demo/api/config")
        assert {m.strip() for m in r.headers["allow"].split(",")} == {"GET", "HEAD"}


_NOT_TEXT = [False, True, 0, 1, [], {}, ["KHQR"]]


@pytest.mark.parametrize("field", ["method", "outcome", "currency"])
@pytest.mark.parametrize("value", _NOT_TEXT)
async def test_simulate_refuses_a_word_that_is_not_text(tmp_path: Path, field: str, value: object) -> None:
    """``simulate/pay`` read ``method``, ``outcome`` and ``currency`` with ``str(x or default)``: ``false``,
    ``0``, ``[]`` paid with the default, ``1`` or ``true`` became the word "1"/"TRUE". Text or null only."""
    async with sqlite_process(tmp_path) as (c, client):
        before = await table_counts(c, ("payments", "payment_events", "webhook_receipts"))
        r = await client.post("/sandbox/amk/simulate/pay", json={"billNumber": "P123456789", field: value})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["details"][0]["field"] == field
        assert await table_counts(c, ("payments", "payment_events", "webhook_receipts")) == before


@pytest.mark.parametrize("paid", [False, 0, "", {}, "x", 5])
async def test_control_refuses_paid_transactions_that_are_not_a_list(tmp_path: Path, paid: object) -> None:
    """``control`` read ``paidTransactions`` with ``body.get(...) or []``: any falsy value was an empty list."""
    async with sqlite_process(tmp_path) as (_, client):
        r = await client.post("/sandbox/amk/control", json={"verifyAvailable": False, "paidTransactions": paid})
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "BAD_REQUEST"
        state = (await client.post("/sandbox/amk/control", json={})).json()["data"]
        assert state["verifyAvailable"] is True  # nothing changed


@pytest.mark.parametrize("tx_id", [None, True, 1.5, {}, [], ""])
async def test_control_refuses_a_transaction_id_that_is_not_text_or_an_integer(tmp_path: Path, tx_id: object) -> None:
    """``str(tx["txId"])`` registered ``None``, ``True`` or ``{}`` as the transaction ids "None", "True", "{}"."""
    async with sqlite_process(tmp_path) as (c, client):
        tx = {"txId": tx_id, "amount": "150.00", "currency": "USD"}
        r = await client.post("/sandbox/amk/control", json={"paidTransactions": [tx]})
        assert r.status_code == 400, r.text
        assert str(tx_id) not in c.sandbox_state.transactions


async def test_an_answer_given_before_the_body_arrived_says_connection_close(tmp_path: Path) -> None:
    """A request answered before its body arrived (405 for the method, 401 before a webhook reads its body)
    has its connection closed by the server (the rest of the body is never read, ``hub.http.http_protocol``).
    The answer did not say so: keep-alive clients sent their next request on the dead connection and got
    ``Connection reset by peer`` (schemathesis' TRACE after a refused webhook). RFC 9112 §9.6: it says
    ``Connection: close``."""
    async with serve(tmp_path) as (_, server):
        for head in (
            b"TRACE /AMK/khqr HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n",
            b"POST /AMK/payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        ):
            reader, writer = await raw(server)
            writer.write(head)  # and the body never comes
            await writer.drain()
            data = await asyncio.wait_for(reader.read(-1), 5)  # the server closes after its answer
            answer_head = data.partition(b"\r\n\r\n")[0].lower()
            assert answer_head.startswith((b"http/1.1 4", b"http/1.1 2")), data[:100]
            assert b"\r\nconnection: close" in answer_head, answer_head
            writer.close()


def _keep_alive_client(url: str, rounds: int) -> list[str]:
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=Retry(total=0)))  # a reset surfaces, as for schemathesis
    body = b'{"invoice_number": "150001", "status": "SUCCESS"}' * 4
    failures = []
    for i in range(rounds):
        try:
            session.request(("TRACE", "POST", "PUT")[i % 3], f"{url}/AMK/khqr", data=body, timeout=5)
        except requests.ConnectionError as exc:
            failures.append(repr(exc))
    session.close()
    return failures


async def test_a_keep_alive_client_never_meets_a_closed_connection(tmp_path: Path) -> None:
    """The class of the defect above: refusals before the body, back to back on one keep-alive session."""
    async with serve(tmp_path) as (_, server):
        failures = await asyncio.to_thread(_keep_alive_client, server.url, 150)
    assert failures == []


async def test_a_route_under_the_static_mount_is_not_shadowed_by_it(tmp_path: Path) -> None:
    """``GET /demo/api/token`` (a POST route) went to the ``/demo`` static files and was a 404; the route's
    405 with ``Allow: POST`` is the answer. Files of the demo are still served."""
    async with sqlite_process(tmp_path) as (_, client):
        for method in ("GET", "HEAD"):
            r = await client.request(method, "/demo/api/token")
            assert r.status_code == 405 and r.headers["allow"] == "POST", (method, r.status_code)
        assert (await client.get("/demo/")).headers["content-type"].startswith("text/html")
        assert (await client.get("/demo/app.js")).status_code == 200
        assert (await client.get("/demo/api/nothing")).status_code == 404
        assert (await client.post("/demo/api/token")).status_code == 200


@pytest.mark.parametrize("day", ["20251007", "2025-W41-2", "2025-280"])
async def test_a_statement_day_is_written_yyyy_mm_dd(tmp_path: Path, day: str) -> None:
    """``date.fromisoformat`` (Python 3.11) also reads ``20251007`` and week dates: the sandbox served a
    statement for days its documented path (``{day}.csv``, YYYY-MM-DD) does not name."""
    async with sqlite_process(tmp_path) as (_, client):
        r = await client.get(f"/sandbox/amk/statements/{day}.csv")
        assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST"
        assert (await client.get("/sandbox/amk/statements/2025-10-07.csv")).status_code == 200


@pytest.mark.parametrize("edit", ["drop", "add", "alter"])
@pytest.mark.parametrize("value", [False, 0, "", {}])
async def test_control_refuses_statement_edits_that_are_not_lists(tmp_path: Path, edit: str, value: object) -> None:
    """``edits.get(name) or []`` took any falsy value as no edits."""
    async with sqlite_process(tmp_path) as (_, client):
        r = await client.post("/sandbox/amk/control", json={"statement": {edit: value}, "verifyAvailable": False})
        assert r.status_code == 400, r.text
        assert (await client.post("/sandbox/amk/control", json={})).json()["data"]["verifyAvailable"] is True


async def test_simulate_passes_on_the_gateways_refusal_instead_of_a_503(tmp_path: Path) -> None:
    """The sandbox bank looks the bill up at the gateway first; a refusal there (a blocklisted policy:
    403 FRAUD_DETECTED) came back as ``503 SERVICE_UNAVAILABLE "gateway answered 403"``, an outage to
    retry, when it is a refusal that retrying does not change. The gateway's error is answered as it was."""
    async with sqlite_process(tmp_path) as (c, client):
        entry = {"kind": "policy", "value": "P123456789", "reason": "test"}
        assert (await client.post("/admin/blocklist", json=entry, headers=auth_header(c, "admin"))).status_code == 201
        r = await client.post("/sandbox/amk/simulate/pay", json={"billNumber": "P123456789"})
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "FRAUD_DETECTED"


@pytest.mark.parametrize("path", ["/api/payments/{id}/events", "/admin/events/stream"])
async def test_a_malformed_lastEventId_is_refused_even_beside_a_Last_Event_ID_header(tmp_path: Path, path: str) -> None:
    """With a ``Last-Event-ID`` header, a ``?lastEventId=AAA`` in the URL was never read: the bad input went
    unnoticed (200). Both are read; the header still wins when both are good."""
    async with sqlite_process(tmp_path) as (c, client):
        inquiry = await client.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(c))
        url = path.replace("{id}", str(inquiry.json()["data"]["paymentId"]))
        headers = {**auth_header(c, "admin"), "Last-Event-ID": "12"}
        r = await client.get(url, params={"lastEventId": "AAA"}, headers=headers)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["details"][0]["field"] == "lastEventId"
