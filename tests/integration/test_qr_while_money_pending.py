"""No QR for an attempt that already holds money awaiting AMK's verdict (issue 7 §1).

A KHQR attempt paid while AMK's verify is down is PROCESSING. ``GET /khqr`` used to hand its QR out
again and, once the session's TTL passed, issue a fresh QR for the same attempt (same invoice
number): the bank's notice for paying it again carries that invoice number, so it was answered as a
replay of the first, and the second payment was lost without a review.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from payhub.bootstrap import Container
from tests.conftest import bank_paid, khqr_body
from tests.integration.test_double_payment import qr
from tests.integration.test_invoice_echo import post_khqr
from tests.integration.test_khqr_sessions import FakeClock

PREMIUM = 150001


@pytest.fixture
def clock(container: Container) -> Iterator[FakeClock]:
    fake = FakeClock()
    for service in (container.expiry, container.khqr, container.webhooks, container.reverifier, container.premiums):
        service.clock = fake
    yield fake


async def sessions(c: Container) -> int:
    async with c.store.transaction() as tx:
        return await tx.count("khqr_sessions", "premium_id = $1", PREMIUM)


async def test_no_qr_is_shown_or_issued_while_an_attempt_awaits_amks_verdict(
    container: Container, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    c = container
    session = (await qr(c, client)).json()["data"]
    c.sandbox_state.verify_available = False
    bank_paid(c, str(session["paymentId"]))
    recorded = await post_khqr(c, client, khqr_body(session["paymentId"]))
    assert recorded.status_code == 202 and recorded.json()["data"]["status"] == "PROCESSING"

    again = await qr(c, client)  # the same QR would be paid a second time
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "DUPLICATE_PAYMENT"
    assert again.json()["error"]["details"]["paymentId"] == session["paymentId"]

    clock.advance(seconds=c.settings.khqr_session_ttl_s + 1)
    await c.expiry.expire_due()
    renewed = await qr(c, client)  # nor a fresh QR for the same attempt (same invoice number)
    assert renewed.status_code == 409, renewed.text
    assert await sessions(c) == 1
    held = await c.store.payment(session["paymentId"])
    assert held is not None and held.status.value == "PROCESSING"  # the money is still there

    c.sandbox_state.verify_available = True
    clock.advance(seconds=c.settings.reverify_interval_s + 1)
    assert await c.reverifier.run_once() == 1
    await c.bus.drain()
    assert (await qr(c, client)).status_code == 404  # paid: never offered again


async def test_after_amk_denies_the_pending_money_the_premium_gets_a_new_qr(
    container: Container, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    c = container
    session = (await qr(c, client)).json()["data"]
    c.sandbox_state.verify_available = False
    bank_paid(c, str(session["paymentId"]), status="FAILED")
    assert (await post_khqr(c, client, khqr_body(session["paymentId"]))).status_code == 202
    assert (await qr(c, client)).status_code == 409

    c.sandbox_state.verify_available = True
    clock.advance(seconds=c.settings.reverify_interval_s + 1)
    assert await c.reverifier.run_once() == 1
    failed = await c.store.payment(session["paymentId"])
    assert failed is not None and failed.status.value == "FAILED"
    fresh = await qr(c, client)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["data"]["paymentId"] != session["paymentId"]


async def test_a_failed_attempts_qr_session_ends_with_it(
    container: Container, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A FAILED notice ends the attempt and its QR session in one transaction: the session row does
    not stay PENDING beside a premium that another attempt then pays."""
    c = container
    session = (await qr(c, client)).json()["data"]
    failed = await post_khqr(c, client, khqr_body(session["paymentId"], "FAILED"))
    assert failed.status_code == 200 and failed.json()["data"]["status"] == "FAILED"
    async with c.store.transaction() as tx:
        pending = await tx.count("khqr_sessions", "premium_id = $1 AND status = 'PENDING'", PREMIUM)
    assert pending == 0
