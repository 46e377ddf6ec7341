"""Issue 7 §1: a premium paid by one attempt closes its other attempts, and money for an attempt of
an already-paid premium is accepted, flagged for review, ALERTed and counted (both rails, both backends)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hub.adapters.store.sql import SqlStore
from payhub.bootstrap import Container
from tests.conftest import auth_header, bank_paid, bill_body, khqr_body, signed
from tests.integration.test_khqr_sessions import BANK, FakeClock

POLICY = "P123456789"
PREMIUM = 150001


@pytest.fixture
def clock(container: Container) -> Iterator[FakeClock]:
    fake = FakeClock()
    for service in (container.expiry, container.khqr, container.webhooks, container.reverifier, container.premiums):
        service.clock = fake
    yield fake


async def qr(c: Container, client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/khqr", params={"bankCode": BANK, "billNumber": POLICY}, headers=auth_header(c))


async def simulate(client: httpx.AsyncClient, payment_id: int, outcome: str = "SUCCESS") -> dict[str, Any]:
    r = await client.post(
        "/sandbox/amk/simulate/pay", json={"paymentId": payment_id, "method": "KHQR", "outcome": outcome}
    )
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()["data"]["webhooks"][0]["attempts"][-1]
    return answer


async def pay_bill(c: Container, client: httpx.AsyncClient) -> httpx.Response:
    body = bill_body(PREMIUM, POLICY)
    bank_paid(c, body["bankTransactionId"])
    raw, headers = signed(c, body)
    return await client.post("/AMK/payments", content=raw, headers=headers)


async def session_row_status(c: Container, session_id: str) -> str:
    async with c.store.transaction() as tx:
        session = await tx.khqr_sessions.get(session_id)
    assert session is not None
    return session.status


async def double_reviews(c: Container, client: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await client.get("/admin/reviews", headers=auth_header(c, "admin"))
    assert r.status_code == 200
    return [x for x in r.json()["data"] if "double payment" in x["reason"]]


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def alerts(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.ERROR and "ALERT" in r.getMessage()]


async def second_attempt(
    c: Container, client: httpx.AsyncClient, clock: FakeClock, *, end_first_by: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The issue's set-up: attempt 1 ends (expiry or a FAILED webhook), attempt 2 gets its own QR."""
    first = (await qr(c, client)).json()["data"]
    if end_first_by == "expiry":
        clock.advance(seconds=c.settings.khqr_session_ttl_s + 1)
    else:
        assert (await simulate(client, first["paymentId"], "FAILED"))["response"]["data"]["status"] == "FAILED"
    second = (await qr(c, client)).json()["data"]
    assert second["paymentId"] != first["paymentId"]
    return first, second


@pytest.mark.parametrize("end_first_by", ["expiry", "failed"])
async def test_late_money_on_one_attempt_closes_the_other_and_paying_it_is_a_flagged_double(
    container: Container,
    client: httpx.AsyncClient,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    end_first_by: str,
) -> None:
    c = container
    first, second = await second_attempt(c, client, clock, end_first_by=end_first_by)

    late = await simulate(client, first["paymentId"])
    assert late["status"] == 200 and late["response"]["data"]["status"] == "CONFIRMED"
    assert "review" in late["response"]["data"]  # money after EXPIRED/FAILED: flagged, as before

    # The same transaction closed attempt 2: payment, QR session and stream all say so.
    closed = await c.store.payment(second["paymentId"])
    assert closed is not None and closed.status.value == "EXPIRED"
    assert await session_row_status(c, second["sessionId"]) == "EXPIRED"
    events = await c.store.events_after(second["paymentId"], 0)
    assert [e.status.value for e in events][-1] == "EXPIRED"
    assert events[-1].data["closedBy"] == first["paymentId"]
    status = await client.get(f"/khqr/sessions/{second['sessionId']}", headers=auth_header(c))
    assert status.json()["data"]["status"] == "EXPIRED"
    assert (await qr(c, client)).status_code == 404  # its QR is never shown again, nor a new one
    assert await double_reviews(c, client) == []

    caplog.clear()
    with caplog.at_level(logging.INFO):
        double = await simulate(client, second["paymentId"])
    assert double["status"] == 200 and double["response"]["data"]["status"] == "CONFIRMED"  # accepted
    assert "double payment" in double["response"]["data"]["review"]
    reviews = await double_reviews(c, client)
    assert [r["paymentId"] for r in reviews] == [second["paymentId"]]
    assert str(first["paymentId"]) in reviews[0]["reason"]
    assert any("double payment" in r.getMessage() for r in alerts(caplog))
    assert (
        metric((await client.get("/metrics", headers=auth_header(c, "admin"))).text, "payhub_double_payments_total")
        == 1.0
    )


async def test_bill_paying_the_premium_closes_the_open_qr_and_late_qr_money_is_a_flagged_double(
    container: Container, client: httpx.AsyncClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    c = container
    first, second = await second_attempt(c, client, clock, end_first_by="expiry")

    paid = await pay_bill(c, client)
    assert paid.status_code == 200 and paid.json()["data"]["status"] == "CONFIRMED"
    bill_payment = paid.json()["data"]["paymentId"]
    assert bill_payment == second["paymentId"]  # the bill paid the open attempt ...
    assert await session_row_status(c, second["sessionId"]) == "PAID"  # ... and its QR ended with it

    with caplog.at_level(logging.INFO):
        double = await simulate(client, first["paymentId"])  # the first QR, paid late
    assert double["status"] == 200 and double["response"]["data"]["status"] == "CONFIRMED"
    assert [r["paymentId"] for r in await double_reviews(c, client)] == [first["paymentId"]]
    assert alerts(caplog)

    # A second bill for the paid premium: accepted on an attempt of its own, flagged again.
    again = await pay_bill(c, client)
    assert again.status_code == 200 and again.json()["data"]["status"] == "CONFIRMED"
    assert "double payment" in again.json()["data"]["review"]
    assert len(await double_reviews(c, client)) == 2
    assert (
        metric((await client.get("/metrics", headers=auth_header(c, "admin"))).text, "payhub_double_payments_total")
        == 2.0
    )


async def test_a_second_bank_transaction_on_one_attempt_is_a_counted_double(
    container: Container, client: httpx.AsyncClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    c = container
    session = (await qr(c, client)).json()["data"]
    assert (await pay_bill(c, client)).json()["data"]["paymentId"] == session["paymentId"]
    with caplog.at_level(logging.INFO):
        double = await simulate(client, session["paymentId"])  # the same attempt's QR, paid too
    assert double["status"] == 200
    assert [r["paymentId"] for r in await double_reviews(c, client)] == [session["paymentId"]]
    assert alerts(caplog)
    assert (
        metric((await client.get("/metrics", headers=auth_header(c, "admin"))).text, "payhub_double_payments_total")
        == 1.0
    )


async def test_two_attempts_paid_at_once_are_one_payment_and_one_flagged_double(
    container: Container, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Both QRs of a premium paid at the same moment: the premium's lock makes the second see the first."""
    c = container
    for _ in range(5):
        first, second = await second_attempt(c, client, clock, end_first_by="expiry")
        bank_paid(c, str(first["paymentId"]))
        bank_paid(c, str(second["paymentId"]))

        async def pay(payment_id: int) -> httpx.Response:
            raw, headers = signed(c, khqr_body(payment_id))
            return await client.post("/AMK/khqr", content=raw, headers=headers)

        answers = await asyncio.gather(pay(first["paymentId"]), pay(second["paymentId"]))
        assert [a.status_code for a in answers] == [200, 200]
        doubles = [
            r for r in await double_reviews(c, client) if r["paymentId"] in (first["paymentId"], second["paymentId"])
        ]
        assert len(doubles) == 1, doubles
        await c.bus.drain()
        async with c.store.transaction() as tx:  # a fresh premium for the next round
            await tx._c.execute("UPDATE payments SET premium_id = -premium_id WHERE premium_id = $1", PREMIUM)
            await tx._c.execute("UPDATE khqr_sessions SET premium_id = -premium_id WHERE premium_id = $1", PREMIUM)
            await tx._c.execute("UPDATE premiums SET status = 'DUE', paid_payment_id = NULL WHERE id = $1", PREMIUM)
        await c.inquiry.forget(POLICY)


async def test_after_commit_callbacks_run_only_when_the_transaction_commits(store: SqlStore) -> None:
    """The double-payment ALERT is sent after commit: a rolled-back transaction alerts no one."""
    ran: list[str] = []
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            tx.after_commit(lambda: ran.append("rolled back"))
            raise RuntimeError("abort")
    async with store.transaction() as tx:
        tx.after_commit(lambda: ran.append("committed"))
        assert ran == []  # not before the commit
    assert ran == ["committed"]
