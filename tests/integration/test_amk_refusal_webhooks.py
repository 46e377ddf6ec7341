"""AMK refusing payment-verify is never silent, and a failure notice is matched like money.

Issue 7 §5: MERCHANT_NOT_BIND (and any refusal) became 502 AMK_UNKNOWN_ERROR at INFO with no
review or ALERT; a KHQR FAILED naming another merchant, amount or currency closed an open payment.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.webhooks import VERIFY_PENDING
from hub.auth import Principal
from hub.domain.payment import PaymentStatus
from payhub.bootstrap import Container
from tests.conftest import bank_paid, bill_body, khqr_body, signed

WHO = Principal("t", "customer")


async def inquire(container: Container, policy: str = "P123456789") -> int:
    return int((await container.inquiry.inquire(policy, WHO, "127.0.0.1", "cid"))["paymentId"])


async def reviews(container: Container) -> list[dict[str, Any]]:
    async with container.store.transaction() as tx:
        return await tx.reviews()


def misconfigure_merchant(container: Container) -> None:
    """PayHub asks AMK with a merchant AMK does not know: the sandbox answers 403 MERCHANT_NOT_BIND."""
    container.amk._cfg = dataclasses.replace(container.amk._cfg, merchant_id="900000000999999")


def refusals_metric(text: str, code: str, amk_code: str) -> float:
    prefix = f'payhub_amk_verify_refusals_total{{amk_code="{amk_code}",code="{code}"}} '
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


async def test_merchant_not_bind_is_mapped_alerted_reviewed_and_counted(
    container: Container, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    payment_id = await inquire(container)
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    misconfigure_merchant(container)
    raw, headers = signed(container, body)
    with caplog.at_level(logging.INFO):
        r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "MERCHANT_NOT_BIND"
    assert any(rec.levelno == logging.ERROR and "ALERT" in rec.getMessage() for rec in caplog.records)
    flagged = await reviews(container)
    assert [f["reason"] for f in flagged] == ["AMK payment-verify refused: MERCHANT_NOT_BIND"]
    assert flagged[0]["payload"]["bankTransactionId"] == body["bankTransactionId"]  # the bank's notice is kept
    found = await container.store.payment(payment_id)
    assert found is not None and found.status is PaymentStatus.PENDING  # nothing changed
    assert await container.store.receipt(f"BILL:{body['bankTransactionId']}") is None
    metrics = (
        await client.get("/metrics", headers={"Authorization": f"Bearer {container.auth.issue('o', 'admin', 60)}"})
    ).text
    assert refusals_metric(metrics, "MERCHANT_NOT_BIND", "MERCHANT_NOT_BIND") == 1.0

    # Once the configuration is fixed, AMK's retry of the same webhook confirms: nothing was lost.
    container.amk._cfg = dataclasses.replace(container.amk._cfg, merchant_id=container.settings.amk_merchant_id)
    again = await client.post("/AMK/payments", content=raw, headers=headers)
    assert again.status_code == 200 and again.json()["data"]["status"] == "CONFIRMED"
    assert again.json()["data"]["paymentId"] == payment_id


async def test_refusal_during_reverification_keeps_the_money_pending_and_flags_it(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    from gateway.dto import BillPayment, parse
    from gateway.webhooks import WebhookService

    payment_id = await inquire(container)
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    container.sandbox_state.verify_available = False
    pending = await container.webhooks.handle(WebhookService.bill(parse(BillPayment, body), body))
    assert pending.status_code == 202
    container.sandbox_state.verify_available = True
    misconfigure_merchant(container)
    later = dataclasses.replace(container.reverifier, clock=lambda: datetime.now(UTC) + timedelta(hours=1))
    with caplog.at_level(logging.INFO):
        assert await later.run_once() == 0  # no crash, no verdict
    receipt = await container.store.receipt(f"BILL:{body['bankTransactionId']}")
    assert receipt is not None and receipt.state == VERIFY_PENDING and receipt.attempts == 2
    assert "AMK payment-verify refused: MERCHANT_NOT_BIND" in [f["reason"] for f in await reviews(container)]
    assert any("ALERT" in rec.getMessage() and rec.levelno == logging.ERROR for rec in caplog.records)
    found = await container.store.payment(payment_id)
    assert found is not None and found.status is PaymentStatus.PROCESSING

    container.amk._cfg = dataclasses.replace(container.amk._cfg, merchant_id=container.settings.amk_merchant_id)
    much_later = dataclasses.replace(container.reverifier, clock=lambda: datetime.now(UTC) + timedelta(days=2))
    assert await much_later.run_once() == 1
    found = await container.store.payment(payment_id)
    assert found is not None and found.status is PaymentStatus.CONFIRMED


@pytest.mark.parametrize(
    "change",
    [
        {"merchant_number": "999999999999999"},
        {"paid_amount": 1},
        {"currency": "KHR", "paid_amount": 600000},
    ],
    ids=["other-merchant", "other-amount", "other-currency"],
)
async def test_khqr_failed_that_does_not_match_changes_nothing(
    container: Container, client: httpx.AsyncClient, change: dict[str, Any]
) -> None:
    payment_id = await inquire(container)
    body = {**khqr_body(payment_id, status="FAILED", merchant=container.settings.amk_merchant_id), **change}
    raw, headers = signed(container, body)
    r = await client.post("/AMK/khqr", content=raw, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "PAYMENT_VERIFICATION_DATA_MISMATCHED"
    found = await container.store.payment(payment_id)
    assert found is not None and found.status is PaymentStatus.PENDING
    assert [e.status for e in await container.store.events_after(payment_id, 0)] == [PaymentStatus.PENDING]
    assert [f["reason"] for f in await reviews(container)] == ["webhook does not match the premium"]


async def test_khqr_failed_that_matches_fails_the_payment(container: Container, client: httpx.AsyncClient) -> None:
    payment_id = await inquire(container)
    raw, headers = signed(
        container, khqr_body(payment_id, status="FAILED", merchant=container.settings.amk_merchant_id)
    )
    r = await client.post("/AMK/khqr", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "FAILED"
