"""One KHQR notice is one notice, whichever id AMK echoes in ``invoice_number`` (issue 7 §1 and §5).

A premium with two attempts (the first QR expired, a second one issued): the bank's notice names the
payment id once and the bill id another time (or the other way round). Resolving the bill id to "the
open attempt, else the latest" depends on what happened in between, so the two echoes used to land
on different attempts: the replay was refused by AMK's verify (422, a delivered notice answered with
an error) or, with AMK's verify down, counted as money a second time on the closed attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from payhub.bootstrap import Container
from tests.conftest import bank_paid, khqr_body, signed
from tests.integration.test_double_payment import double_reviews, qr, second_attempt
from tests.integration.test_khqr_sessions import FakeClock

PREMIUM = 150001


@pytest.fixture
def clock(container: Container) -> Iterator[FakeClock]:
    fake = FakeClock()
    for service in (container.expiry, container.khqr, container.webhooks, container.reverifier, container.premiums):
        service.clock = fake
    yield fake


async def post_khqr(c: Container, client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    raw, headers = signed(c, body)
    return await client.post("/AMK/khqr", content=raw, headers=headers)


async def money_receipts(c: Container, *payment_ids: int) -> list[tuple[str, int | None]]:
    """The KHQR money receipts stored for these attempts (a KHQR receipt's key names its attempt)."""
    found = []
    async with c.store.transaction() as tx:
        for payment_id in payment_ids:
            receipt = await tx.receipt(f"KHQR:{payment_id}:SUCCESS")
            if receipt is not None:
                found.append((receipt.key, receipt.payment_id))
    return found


@pytest.mark.parametrize("verify_up", [True, False])
async def test_a_notice_replayed_with_the_bill_id_is_the_same_notice(
    container: Container, client: httpx.AsyncClient, clock: FakeClock, verify_up: bool
) -> None:
    c = container
    first, second = await second_attempt(c, client, clock, end_first_by="expiry")
    bank_paid(c, str(first["paymentId"]))
    body = khqr_body(first["paymentId"])  # the bank names the payment id ...
    sent = await post_khqr(c, client, body)
    assert sent.status_code == 200 and sent.json()["data"]["paymentId"] == first["paymentId"]

    c.sandbox_state.verify_available = verify_up
    replay = await post_khqr(c, client, {**body, "invoice_number": str(PREMIUM)})  # ... then the bill id
    assert replay.status_code == 200, replay.text
    assert replay.json() == sent.json()  # the original answer
    closed = await c.store.payment(second["paymentId"])
    assert closed is not None and closed.status.value == "EXPIRED"  # no money appeared on it
    assert await money_receipts(c, first["paymentId"], second["paymentId"]) == [
        (f"KHQR:{first['paymentId']}:SUCCESS", first["paymentId"])
    ]
    assert await double_reviews(c, client) == []


async def test_a_notice_sent_with_the_bill_id_then_the_payment_id_is_the_same_notice(
    container: Container, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    c = container
    first, second = await second_attempt(c, client, clock, end_first_by="expiry")
    body = khqr_body(PREMIUM)  # the bill id: lands on the open attempt
    bank_paid(c, str(second["paymentId"]))
    landed = await post_khqr(c, client, body)
    assert landed.status_code == 200 and landed.json()["data"]["paymentId"] == second["paymentId"]

    bank_paid(c, str(first["paymentId"]))
    echoed = await post_khqr(c, client, {**body, "invoice_number": str(first["paymentId"])})
    assert echoed.status_code == 200, echoed.text
    assert echoed.json() == landed.json()  # the original answer: one notice, recorded once
    untouched = await c.store.payment(first["paymentId"])
    assert untouched is not None and untouched.status.value == "EXPIRED"
    assert await money_receipts(c, first["paymentId"], second["paymentId"]) == [
        (f"KHQR:{second['paymentId']}:SUCCESS", second["paymentId"])
    ]
    assert await double_reviews(c, client) == []
    assert (await qr(c, client)).status_code == 404


async def test_both_echoes_of_one_notice_at_once_count_once(
    container: Container, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """The echo with the payment id and the one with the bill id arrive together (both rails of
    resolution race): the premium's lock makes the second see the first."""
    c = container
    first, second = await second_attempt(c, client, clock, end_first_by="expiry")
    bank_paid(c, str(first["paymentId"]))
    c.sandbox_state.verify_available = False  # both echoes get as far as recording money
    body = khqr_body(first["paymentId"])
    answers = await asyncio.gather(
        post_khqr(c, client, body), post_khqr(c, client, {**body, "invoice_number": str(PREMIUM)})
    )
    assert {a.status_code for a in answers} <= {200, 202}, [a.text for a in answers]
    receipts = await money_receipts(c, first["paymentId"], second["paymentId"])
    assert len(receipts) == 1, receipts
    assert await double_reviews(c, client) == []


async def test_a_repeated_khqr_notice_with_another_paid_time_is_answered_once_and_flagged(
    container: Container, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """KHQR notices carry no bank transaction id: a notice repeated under its key (invoice number +
    status) with another ``paid_datetime`` may be the same QR paid twice. The first answer stands
    (AMK stops retrying), nothing is counted twice, and a person is asked: one double-payment review
    (the same repeat again adds none), its ALERT and the metric."""
    c = container
    r = await qr(c, client)
    assert r.status_code == 200, r.text
    payment_id = r.json()["data"]["paymentId"]
    bank_paid(c, str(payment_id))
    body = khqr_body(payment_id)
    first = await post_khqr(c, client, body)
    assert first.status_code == 200 and first.json()["data"]["status"] == "CONFIRMED", first.text
    assert await double_reviews(c, client) == []

    same = await post_khqr(c, client, body)  # AMK's plain retry: no review
    assert (same.status_code, same.json()["data"]) == (200, first.json()["data"])
    assert await double_reviews(c, client) == []

    later = {**body, "paid_datetime": "2026-11-27 12:05:00.000001"}
    for _ in range(2):
        again = await post_khqr(c, client, later)
        assert (again.status_code, again.json()["data"]) == (200, first.json()["data"])
    flagged = await double_reviews(c, client)
    assert len(flagged) == 1 and flagged[0]["paymentId"] == payment_id, flagged
    assert "paid_datetime" in flagged[0]["reason"]
    assert any("ALERT possible double payment" in rec.getMessage() for rec in caplog.records)
    assert await money_receipts(c, payment_id) == [(f"KHQR:{payment_id}:SUCCESS", payment_id)]
