"""A paid premium has no live QR, even one of an attempt whose money still awaits AMK (issue 7 §1).

The stateful attempts machine found it (PostgreSQL, then this minimal sequence on both backends):
attempt 1's QR expires and attempt 2 gets its own; money for attempt 2 arrives while AMK's verify is
down (PROCESSING, its QR session still PENDING); then attempt 1's QR is paid late and AMK confirms
it. The premium was paid but attempt 2's session stayed PENDING: money closed only the premium's
PENDING attempts, so a PROCESSING attempt's QR stayed payable (and its session said PENDING) until
its TTL ran out.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from payhub.bootstrap import Container
from tests.conftest import auth_header, bank_paid, khqr_body
from tests.integration.test_double_payment import (
    PREMIUM,
    double_reviews,
    pay_bill,
    second_attempt,
    session_row_status,
)
from tests.integration.test_invoice_echo import post_khqr
from tests.integration.test_khqr_sessions import FakeClock


@pytest.fixture
def clock(container: Container) -> Iterator[FakeClock]:
    fake = FakeClock()
    for service in (container.expiry, container.khqr, container.webhooks, container.reverifier, container.premiums):
        service.clock = fake
    yield fake


async def pending_sessions(c: Container) -> int:
    async with c.store.transaction() as tx:
        return await tx.count("khqr_sessions", "premium_id = $1 AND status = 'PENDING'", PREMIUM)


@pytest.mark.parametrize("rail", ["bill", "khqr"])
async def test_confirming_one_attempt_ends_the_qr_of_another_awaiting_amk(
    container: Container, client: httpx.AsyncClient, clock: FakeClock, rail: str
) -> None:
    c = container
    first, second = await second_attempt(c, client, clock, end_first_by="expiry")

    c.sandbox_state.verify_available = False  # attempt 2's money arrives while AMK cannot verify it
    if rail == "bill":
        pending = await pay_bill(c, client)
    else:
        bank_paid(c, str(second["paymentId"]))
        pending = await post_khqr(c, client, khqr_body(second["paymentId"]))
    assert pending.status_code == 202, pending.text
    assert pending.json()["data"] == {**pending.json()["data"], "paymentId": second["paymentId"]}
    assert pending.json()["data"]["status"] == "PROCESSING"
    assert await session_row_status(c, second["sessionId"]) == "PENDING"  # verifying: as before

    c.sandbox_state.verify_available = True
    bank_paid(c, str(first["paymentId"]))
    late = await post_khqr(c, client, khqr_body(first["paymentId"]))  # attempt 1's QR, paid late
    assert late.status_code == 200 and late.json()["data"]["status"] == "CONFIRMED", late.text
    await c.bus.drain()

    # The premium is paid: no QR of it is live, attempt 2's included; its money is untouched.
    assert await pending_sessions(c) == 0
    assert await session_row_status(c, second["sessionId"]) == "EXPIRED"
    status = (await client.get(f"/khqr/sessions/{second['sessionId']}", headers=auth_header(c))).json()["data"]
    assert (status["status"], status["paymentStatus"]) == ("EXPIRED", "PROCESSING")
    held = await c.store.payment(second["paymentId"])
    assert held is not None and held.status.value == "PROCESSING"

    # AMK then confirms attempt 2's money: recorded, flagged as the double it is, its session PAID.
    clock.advance(seconds=c.settings.reverify_interval_s + 1)
    assert await c.reverifier.run_once() == 1
    await c.bus.drain()
    confirmed = await c.store.payment(second["paymentId"])
    assert confirmed is not None and confirmed.status.value == "CONFIRMED"
    assert await session_row_status(c, second["sessionId"]) == "PAID"
    assert [r["paymentId"] for r in await double_reviews(c, client)] == [second["paymentId"]]
    assert await pending_sessions(c) == 0
