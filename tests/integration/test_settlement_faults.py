"""A premium is settled from what was committed, not from the bus alone (real Redis, no Kafka).

Issue 7 §5: with Redis and no Kafka, a payment the re-verifier confirmed while Redis was down never
settled its premium until a restart. Now the publish failure after the commit is only logged, and
the integration side settles from the committed state after the bus reconnects and periodically.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.dto import BillPayment, parse
from gateway.webhooks import WebhookService
from hub.auth import Principal
from hub.domain.payment import PaymentStatus
from payhub.bootstrap import Container
from tests.conftest import bank_paid, bill_body, make_settings, running
from tests.redis_server import PrivateRedis

WHO = Principal("t", "customer")


async def _pending_bill(c: Container) -> tuple[int, str]:
    """A bill webhook recorded PROCESSING because AMK's payment-verify is down."""
    payment_id = int((await c.inquiry.inquire("P123456789", WHO, "127.0.0.1", "cid"))["paymentId"])
    body = bill_body()
    bank_paid(c, body["bankTransactionId"])
    c.sandbox_state.verify_available = False
    answer = await c.webhooks.handle(WebhookService.bill(parse(BillPayment, body), body))
    assert (answer.status_code, answer.body["status"]) == (202, "PROCESSING")
    return payment_id, body["bankTransactionId"]


async def _premium_status(c: Container) -> str:
    premium = await c.premiums.get(150001)
    assert premium is not None
    return premium.status


async def _wait_paid(c: Container, timeout_s: float) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if await _premium_status(c) == "PAID":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"premium not settled within {timeout_s} s")


async def test_confirmed_while_redis_is_down_is_settled_after_the_bus_reconnects(tmp_path: Path) -> None:
    redis_server = PrivateRedis(tmp_path)
    await redis_server.start()
    settings = make_settings(f"sqlite:///{tmp_path}/p.db", redis_url=redis_server.url, settle_interval_s=3600)
    try:
        async with running(settings) as c:
            payment_id, tx = await _pending_bill(c)

            redis_server.stop()
            c.sandbox_state.verify_available = True
            later = dataclasses.replace(c.reverifier, clock=lambda: datetime.now(UTC) + timedelta(hours=1))
            assert await later.run_once() == 1  # confirmed and committed; the publish cannot reach Redis
            payment = await c.store.payment(payment_id)
            assert payment is not None and payment.status is PaymentStatus.CONFIRMED and payment.transaction_id == tx
            await asyncio.sleep(0.3)
            assert await _premium_status(c) == "DUE"  # the bus never carried it

            await redis_server.start()  # same port: the bus reconnects and settles from the log
            await _wait_paid(c, 15)
            premium = await c.premiums.get(150001)
            assert premium is not None and premium.paid_payment_id == payment_id
            assert c.bus.reconnects >= 1  # type: ignore[attr-defined]
    finally:
        redis_server.stop()


async def test_confirmed_while_redis_stays_down_is_settled_by_the_periodic_sweep(tmp_path: Path) -> None:
    redis_server = PrivateRedis(tmp_path)
    await redis_server.start()
    settings = make_settings(f"sqlite:///{tmp_path}/p.db", redis_url=redis_server.url, settle_interval_s=0.2)
    try:
        async with running(settings) as c:
            payment_id, _ = await _pending_bill(c)
            redis_server.stop()
            c.sandbox_state.verify_available = True
            # The real background loops: the re-verifier confirms, the sweeper settles, Redis stays down.
            await c.start(seed=False, background=True)
            await _wait_paid(c, 15)
            payment = await c.store.payment(payment_id)
            assert payment is not None and payment.status is PaymentStatus.CONFIRMED
            premium = await c.premiums.get(150001)
            assert premium is not None and premium.paid_payment_id == payment_id
    finally:
        redis_server.stop()
