"""Fraud controls through real HTTP: ``FRAUD_DETECTED`` (403) in the spec's envelope on inquiry and QR
generation, the blocklist admin API, and bank webhooks recorded and flagged, never refused."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from hub.fraud.engine import PAYMENT_FLAG
from hub.json_codec import dumps
from payhub.bootstrap import Container
from tests.conftest import LiveServer, auth_header, bank_paid, bill_body, make_settings, running, signed, table_counts

BANK = '{"id":"AMK","bank":"AMK"}'
RULES = [
    {"kind": "blocklist", "name": "blocklist", "surfaces": ["inquiry", "qr", "webhook"]},
    {"kind": "velocity", "name": "inquiry-customer", "surfaces": ["inquiry"], "subject": "customer", "limit": 2,
     "window_s": 600},
    {"kind": "velocity", "name": "qr-device", "surfaces": ["qr"], "subject": "device", "limit": 1, "window_s": 600},
]  # fmt: skip


@asynccontextmanager
async def served(
    db_url: str, rules: list[dict[str, Any]] = RULES
) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    """A process on a real socket (uvicorn) and a client speaking HTTP to it."""
    async with running(make_settings(db_url, fraud_rules=dumps(rules))) as c:
        assert c.app is not None
        async with LiveServer(c.app) as live, httpx.AsyncClient(base_url=live.url) as client:
            yield c, client


def fraud_error(r: httpx.Response) -> dict[str, Any]:
    """The spec's envelope of a FRAUD_DETECTED answer."""
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["success"] is False and set(body) == {"success", "error"}
    error = body["error"]
    assert error["code"] == "FRAUD_DETECTED"
    assert error["message"] == "Suspicious transaction detected"
    assert error["correlationId"] == r.headers["X-Correlation-ID"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", error["timestamp"])
    assert "rule" not in dumps(error).lower()  # the caller is not told which rule saw it
    return error


async def fraud_reviews(client: httpx.AsyncClient, c: Container) -> list[dict[str, Any]]:
    r = await client.get("/admin/reviews", headers=auth_header(c, "admin"))
    assert r.status_code == 200, r.text
    return [x for x in r.json()["data"] if x["key"].startswith("fraud:")]


async def inquire(c: Container, client: httpx.AsyncClient, sub: str = "alice", **headers: str) -> httpx.Response:
    return await client.get(
        "/AMK/payments", params={"query": "P123456789"}, headers={**auth_header(c, sub=sub), **headers}
    )


async def test_an_inquiry_over_the_limit_gets_fraud_detected_and_one_review(tmp_path: Path) -> None:
    async with served(f"sqlite:///{tmp_path}/p.db") as (c, client):
        assert (await inquire(c, client)).status_code == 200
        assert (await inquire(c, client)).status_code == 200
        before = await table_counts(c, ("payments", "payment_events"))
        for _ in range(3):  # the customer retries
            fraud_error(await inquire(c, client))
        assert await table_counts(c, ("payments", "payment_events")) == before  # nothing opened
        assert (await inquire(c, client, sub="bob")).status_code == 200  # another customer
        reviews = await fraud_reviews(client, c)
        assert len(reviews) == 1  # one incident, one review
        assert reviews[0]["payload"]["rules"][0]["rule"] == "inquiry-customer"
        assert reviews[0]["payload"]["attempt"]["customer"] == "alice"
        metrics = (await client.get("/metrics", headers=auth_header(c, "admin"))).text
        assert 'payhub_fraud_decisions_total{action="block",rule="inquiry-customer",surface="inquiry"} 3.0' in metrics
        assert 'payhub_inquiries_total{outcome="fraud_detected"} 3.0' in metrics
        assert "payhub_fraud_state_degraded 0.0" in metrics


async def test_a_banks_counter_is_held_to_the_blocklist_but_not_counted(tmp_path: Path) -> None:
    rules = [RULES[0], {**RULES[1], "name": "inquiry-policy", "subject": "policy", "limit": 1}]
    async with served(f"sqlite:///{tmp_path}/p.db", rules) as (c, client):
        bank = auth_header(c, "amk", sub="amk-bank")
        for role in ("amk", "admin", "amk"):
            r = await client.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(c, role))
            assert r.status_code == 200, r.text
        assert (await inquire(c, client)).status_code == 200  # the bank's inquiries were not counted
        fraud_error(await inquire(c, client, sub="bob"))  # the policy's window is full for customers
        r = await client.get("/AMK/payments", params={"query": "P123456789"}, headers=bank)
        assert r.status_code == 200  # ... never for the bank's counter
        entry = {"kind": "policy", "value": "p123456789", "reason": "frozen by court order"}
        assert (await client.post("/admin/blocklist", json=entry, headers=auth_header(c, "admin"))).status_code == 201
        fraud_error(await client.get("/AMK/payments", params={"query": "P123456789"}, headers=bank))
        admin = await client.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(c, "admin"))
        assert admin.status_code == 200  # operators are not screened


async def test_qr_generation_is_stopped_before_any_qr_is_shown(tmp_path: Path) -> None:
    async with served(f"sqlite:///{tmp_path}/p.db") as (c, client):
        params = {"billNumber": "P555000111", "bankCode": BANK}
        phone = {**auth_header(c, sub="carol"), "X-Device-Id": "phone-1"}
        first = await client.get("/khqr", params=params, headers=phone)
        assert first.status_code == 200, first.text
        error = fraud_error(await client.get("/khqr", params=params, headers=phone))
        assert "qrCode" not in dumps(error)
        other_phone = {**auth_header(c, sub="carol"), "X-Device-Id": "phone-2"}
        assert (await client.get("/khqr", params=params, headers=other_phone)).status_code == 200
        bad = await client.get("/khqr", params=params, headers={**phone, "X-Device-Id": "x" * 129})
        assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "X-Device-Id"
        reviews = await fraud_reviews(client, c)
        assert [r["payload"]["surface"] for r in reviews] == ["qr"]
        assert reviews[0]["paymentId"] == first.json()["data"]["paymentId"]


async def test_the_blocklist_admin_api(db_url: str) -> None:
    async with served(db_url) as (c, client):
        admin = auth_header(c, "admin", sub="ops-lead")
        entry = {"kind": "customer", "value": "mallory", "reason": "chargebacks on 3 cards"}
        added = await client.post("/admin/blocklist", json=entry, headers=admin)
        assert added.status_code == 201, added.text
        data = added.json()["data"]
        assert data["kind"] == "customer" and data["value"] == "mallory" and data["addedBy"] == "ops-lead"
        assert data["active"] is True and data["expiresAt"] is None and data["removedAt"] is None
        fraud_error(await inquire(c, client, sub="mallory"))  # applies at once in this process
        assert (await inquire(c, client, sub="alice")).status_code == 200

        listed = (await client.get("/admin/blocklist", headers=admin)).json()["data"]
        assert [e["id"] for e in listed] == [data["id"]]
        shown = await client.get(f"/admin/blocklist/{data['id']}", headers=admin)
        assert shown.json()["data"] == data

        removed = await client.delete(f"/admin/blocklist/{data['id']}", headers=admin)
        assert removed.status_code == 200 and removed.json()["data"]["removedBy"] == "ops-lead"
        assert (await inquire(c, client, sub="mallory")).status_code == 200
        again = await client.delete(f"/admin/blocklist/{data['id']}", headers=admin)
        assert again.status_code == 404 and again.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
        assert (await client.get("/admin/blocklist", headers=admin)).json()["data"] == []
        history = (await client.get("/admin/blocklist", params={"all": "true"}, headers=admin)).json()["data"]
        assert [(e["id"], e["active"]) for e in history] == [(data["id"], False)]


async def test_the_blocklist_admin_api_refuses_bad_input_and_changes_nothing(tmp_path: Path) -> None:
    async with served(f"sqlite:///{tmp_path}/p.db") as (c, client):
        admin = auth_header(c, "admin")
        cases: list[tuple[Any, set[str]]] = [
            ({"kind": "ip", "value": "10.0.0.300", "reason": "x"}, {"value"}),
            ({"kind": "card", "value": "4111", "reason": "x"}, {"kind"}),
            ({"kind": "policy", "value": "P1", "reason": ""}, {"reason"}),
            ({"kind": "policy", "value": "P1", "reason": "x", "expiresAt": "2000-01-01T00:00:00Z"}, {"expiresAt"}),
            ({"kind": "policy", "value": "P1", "reason": "x", "expiresAt": "2999-01-01T00:00:00"}, {"expiresAt"}),
            ({"kind": "policy", "value": "P1", "reason": "x", "addedBy": "someone-else"}, {"addedBy"}),
        ]
        for body, fields in cases:
            r = await client.post("/admin/blocklist", json=body, headers=admin)
            assert r.status_code == 400, (body, r.text)
            assert r.json()["error"]["code"] == "BAD_REQUEST"
            assert {d["field"] for d in r.json()["error"]["details"]} == fields, body
        not_json = await client.post("/admin/blocklist", content=b"[1,", headers=admin)
        assert not_json.status_code == 400
        big = await client.post("/admin/blocklist", content=b" " * 9000, headers=admin)
        assert big.status_code == 413
        for params in ({"all": "maybe"}, {"limit": "0"}, {"limit": "1001"}, {"limit": "x"}):
            assert (await client.get("/admin/blocklist", params=params, headers=admin)).status_code == 400
        for path in ("/admin/blocklist/0", "/admin/blocklist/abc", "/admin/blocklist/99"):
            assert (await client.delete(path, headers=admin)).status_code == 404
        body = {"kind": "policy", "value": "P1", "reason": "x"}
        customer = await client.post("/admin/blocklist", json=body, headers=auth_header(c))
        assert customer.status_code == 403 and customer.json()["error"]["code"] == "FORBIDDEN"
        assert (await client.post("/admin/blocklist", json=body)).status_code == 401
        assert (await client.get("/admin/blocklist", headers=auth_header(c))).status_code == 403
        assert await table_counts(c, ("blocklist",)) == {"blocklist": 0}


async def test_a_bank_notice_on_a_barred_policy_is_recorded_and_flagged(tmp_path: Path) -> None:
    async with served(f"sqlite:///{tmp_path}/p.db") as (c, client):
        admin = auth_header(c, "admin")
        entry = {"kind": "policy", "value": "P123456789", "reason": "policy holder reported identity theft"}
        assert (await client.post("/admin/blocklist", json=entry, headers=admin)).status_code == 201
        body = bill_body()
        bank_paid(c, body["bankTransactionId"])
        raw, headers = signed(c, body)
        first = await client.post("/AMK/payments", content=raw, headers=headers)
        assert first.status_code == 200, first.text
        answer = first.json()["data"]
        assert answer["status"] == "CONFIRMED" and "review" not in answer  # the bank is told nothing else
        raw, headers = signed(c, body)
        retry = await client.post("/AMK/payments", content=raw, headers=headers)  # AMK's retry
        assert retry.json() == first.json()
        payment = (await client.get(f"/api/payments/{answer['paymentId']}", headers=admin)).json()["data"]
        assert payment["status"] == "CONFIRMED" and payment["review"] == PAYMENT_FLAG
        reviews = await fraud_reviews(client, c)
        assert [r["key"] for r in reviews] == [f"fraud:webhook:BILL:{body['bankTransactionId']}"]
        assert reviews[0]["paymentId"] == answer["paymentId"]
        metrics = (await client.get("/metrics", headers=admin)).text
        assert 'payhub_fraud_decisions_total{action="flag",rule="blocklist",surface="webhook"} 1.0' in metrics
