"""A KHQR invoice_number may be PayHub's payment id or the bill id the inquiry returned (issue 7 §5).

The spec's own example (``invoice_number "150001"``, the bill id) answered 404. Both readings now
land on the right payment, and no number can be read both ways: payment ids start at
PAYMENT_ID_FLOOR and premium ids stay below it (SQLite and PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.invoice import resolve_invoice
from hub.auth import Principal
from hub.constants import PAYMENT_ID_FLOOR
from hub.domain.money import Currency
from hub.domain.payment import PaymentStatus
from hub.domain.records import Premium
from hub.service.ledger import open_payment
from integration.premiums import PremiumImportError, parse_premiums_csv
from payhub.bootstrap import Container
from tests.conftest import bank_paid, khqr_body, signed

WHO = Principal("t", "customer")
NOW = datetime(2026, 11, 27, tzinfo=UTC)


async def inquire(c: Container, policy: str = "P123456789") -> int:
    return int((await c.inquiry.inquire(policy, WHO, "127.0.0.1", "cid"))["paymentId"])


async def post_khqr(c: Container, client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    raw, headers = signed(c, body)
    return await client.post("/AMK/khqr", content=raw, headers=headers)


async def test_the_specs_example_with_the_bill_id_lands_on_the_premiums_payment(
    container: Container, client: httpx.AsyncClient
) -> None:
    payment_id = await inquire(container)
    assert payment_id >= PAYMENT_ID_FLOOR
    bank_paid(container, str(payment_id))  # AMK knows the QR by the invoice number PayHub gave it
    spec_example = {
        "invoice_number": "150001",
        "status": "SUCCESS",
        "merchant_number": container.settings.amk_merchant_id,
        "paid_amount": Decimal("150.00"),
        "currency": "USD",
        "paid_datetime": "2025-10-07 12:00:00.123456",
    }
    r = await post_khqr(container, client, spec_example)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert (data["paymentId"], data["status"], data["transactionId"]) == (
        payment_id,
        "CONFIRMED",
        f"AMK_KHQR_{payment_id}",
    )
    # AMK echoing the payment id this time is the same notice: answered from the receipt.
    again = await post_khqr(container, client, {**spec_example, "invoice_number": str(payment_id)})
    assert again.status_code == 200 and again.json()["data"] == data
    events = await container.store.events_after(payment_id, 0)
    assert [e.status for e in events] == [PaymentStatus.PENDING, PaymentStatus.CONFIRMED]


async def test_the_payment_id_lands_on_that_payment(container: Container, client: httpx.AsyncClient) -> None:
    first = await inquire(container)
    other = await inquire(container, "P987654321")
    bank_paid(container, str(other), "600000", "KHR")
    r = await post_khqr(
        container,
        client,
        khqr_body(other, amount="600000", currency="KHR", merchant=container.settings.amk_merchant_id),
    )
    assert r.status_code == 200 and r.json()["data"]["paymentId"] == other
    untouched = await container.store.payment(first)
    assert untouched is not None and untouched.status is PaymentStatus.PENDING


async def test_a_failure_or_timeout_by_bill_id_fails_the_open_attempt(
    container: Container, client: httpx.AsyncClient
) -> None:
    payment_id = await inquire(container)
    body = {**khqr_body(150001, status="timeout", merchant=container.settings.amk_merchant_id)}
    body["paid_datetime"] = "2026-11-27 12:00:00.1234567"
    r = await post_khqr(container, client, body)
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["paymentId"], r.json()["data"]["status"]) == (payment_id, "FAILED")


@pytest.mark.parametrize("invoice", ["150099", str(PAYMENT_ID_FLOOR + 777)], ids=["bill-id", "payment-id"])
async def test_a_number_that_names_nothing_is_404_and_flagged(
    container: Container, client: httpx.AsyncClient, invoice: str
) -> None:
    r = await post_khqr(container, client, {**khqr_body(1), "invoice_number": invoice})
    assert r.status_code == 404, r.text
    async with container.store.transaction() as tx:
        assert [f["reason"] for f in await tx.reviews()] == ["unknown invoice number"]


async def test_premium_ids_at_or_above_the_floor_are_refused(container: Container) -> None:
    header = "id,policy_number,application_number,payer,amount,currency,due_date\n"
    with pytest.raises(PremiumImportError) as caught:
        parse_premiums_csv(header + f"{PAYMENT_ID_FLOOR},P000000001,,A B,1.00,USD,2027-01-01\n")
    assert "not below" in caught.value.errors[0]
    premium = Premium(PAYMENT_ID_FLOOR + 5, "P000000002", "A B", Decimal("1.00"), Currency.USD, date(2027, 1, 1))
    with pytest.raises(PremiumImportError):
        await container.premiums.import_premiums([premium])
    assert await container.premiums.get(PAYMENT_ID_FLOOR + 5) is None


async def _legacy_payment(c: Container, payment_id: int, premium_id: int) -> None:
    """A payment written before migration 0003, when payment ids started at 1."""
    async with c.store.transaction() as tx:
        await tx._c.execute(
            "INSERT INTO payments (id, premium_id, policy_number, method, status, amount, currency,"
            " created_at, updated_at) VALUES ($1, $2, 'P123456789', 'KHQR', 'EXPIRED', $3, 'USD', $4, $4)",
            payment_id,
            premium_id,
            Decimal("150.00"),
            NOW,
        )


async def test_a_number_that_reads_both_ways_never_lands_on_a_wrong_payment(
    container: Container, client: httpx.AsyncClient
) -> None:
    # Old payment 150002 belongs to premium 150001; premium 150002 has an open attempt today.
    await _legacy_payment(container, 150002, 150001)
    attempt = await inquire(container, "P987654321")
    before = [(await container.store.payment(i)) for i in (150002, attempt)]
    r = await post_khqr(
        container,
        client,
        khqr_body(150002, amount="600000", currency="KHR", merchant=container.settings.amk_merchant_id),
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "PAYMENT_VERIFICATION_DATA_MISMATCHED"
    assert [(await container.store.payment(i)) for i in (150002, attempt)] == before
    async with container.store.transaction() as tx:
        reasons = [f["reason"] for f in await tx.reviews()]
    assert reasons == ["ambiguous invoice number: a bill id and an old payment id"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    premium_ids=st.lists(
        st.one_of(st.integers(1, 50), st.integers(1, PAYMENT_ID_FLOOR - 1)), min_size=1, max_size=5, unique=True
    ),
    attempts=st.lists(st.integers(0, 4), max_size=6),
    probes=st.lists(st.integers(1, PAYMENT_ID_FLOOR + 60), max_size=6),
)
async def test_any_number_resolves_only_by_its_own_reading(
    container: Container, premium_ids: list[int], attempts: list[int], probes: list[int]
) -> None:
    premiums = [
        Premium(pid, f"P{pid % 10**9:09d}", "A B", Decimal("1.00"), Currency.USD, date(2027, 1, 1))
        for pid in premium_ids
    ]
    await container.premiums.import_premiums(premiums)
    opened: list[int] = []
    for index in attempts:
        premium = premiums[index % len(premiums)]
        async with container.store.transaction() as tx:
            payment, _ = await open_payment(tx, premium, None, NOW)
            opened.append(payment.id)
            if index % 2:  # close some, so later ones open new attempts
                await tx._c.execute("UPDATE payments SET status = 'EXPIRED' WHERE id = $1", payment.id)
    assert all(pid >= PAYMENT_ID_FLOOR for pid in opened)
    for number in [*premium_ids, *opened, *probes]:
        async with container.store.transaction() as tx:
            found = await resolve_invoice(tx, number)
            rows = await tx._c.fetch("SELECT id, premium_id, status FROM payments WHERE premium_id = $1", number)
        if number >= PAYMENT_ID_FLOOR:
            assert getattr(found, "id", number) == number  # a payment id names that payment only
            continue
        if not rows:
            assert not hasattr(found, "id")
            continue
        assert getattr(found, "premium_id", None) == number  # a bill id names an attempt of that premium
        open_ids = [int(r["id"]) for r in rows if r["status"] in ("PENDING", "PROCESSING")]
        expected = open_ids[0] if open_ids else max(int(r["id"]) for r in rows)
        assert getattr(found, "id", None) == expected


async def test_an_invoice_number_sent_as_a_json_number_lands_like_its_text(
    container: Container, client: httpx.AsyncClient
) -> None:
    """A JSON number where the spec writes a string is a formatting detail: the same payment, the same notice."""
    payment_id = await inquire(container)
    bank_paid(container, str(payment_id))
    body = khqr_body(payment_id, merchant=container.settings.amk_merchant_id)
    by_bill_id = await post_khqr(container, client, {**body, "invoice_number": 150001})
    assert by_bill_id.status_code == 200, by_bill_id.text
    assert by_bill_id.json()["data"]["paymentId"] == payment_id
    for same in (payment_id, "0150001", f" {payment_id} "):
        again = await post_khqr(container, client, {**body, "invoice_number": same})
        assert again.status_code == 200 and again.json()["data"] == by_bill_id.json()["data"], same
    events = await container.store.events_after(payment_id, 0)
    assert [e.status for e in events] == [PaymentStatus.PENDING, PaymentStatus.CONFIRMED]


@pytest.mark.parametrize("number", [True, -150001, 150001.5, 150001.0, 10**19, "150001.0", "-150001", "1e5", [150001]])
async def test_an_invoice_number_that_is_no_whole_id_is_a_400_naming_it(
    container: Container, client: httpx.AsyncClient, number: Any
) -> None:
    payment_id = await inquire(container)
    body = khqr_body(payment_id, merchant=container.settings.amk_merchant_id)
    r = await post_khqr(container, client, {**body, "invoice_number": number})
    assert r.status_code == 400, r.text
    assert [d["field"] for d in r.json()["error"]["details"]] == ["invoice_number"]
    assert (await container.store.payment(payment_id)).status is PaymentStatus.PENDING  # type: ignore[union-attr]
