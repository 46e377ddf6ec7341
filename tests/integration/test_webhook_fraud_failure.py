"""Fraud screening runs inside the webhook's own transaction, after its receipt (gateway/webhooks.py
``_screen``). A rule that fails there, even on a statement of its own (a PostgreSQL statement that fails
aborts the whole transaction), must not lose the bank's money: the notice is recorded unscreened, with
the ``fraud_screening_failed`` alert (``FraudEngine.screen_money``)."""

from __future__ import annotations

from typing import Any

from gateway.dto import BillPayment, parse
from gateway.webhooks import WebhookService
from hub.adapters.store.sql import Tx
from hub.domain.payment import PaymentStatus
from hub.fraud.verdict import Attempt, Verdict
from hub.ports import StoreTx
from payhub.bootstrap import Container
from tests.conftest import bank_paid, bill_body


async def test_a_fraud_rule_failing_on_a_statement_does_not_lose_the_webhook(container: Container) -> None:
    assert container.fraud is not None
    body: dict[str, Any] = bill_body()
    bank_paid(container, body["bankTransactionId"])

    async def failing(attempt: Attempt, tx: StoreTx | None = None) -> Verdict:
        assert isinstance(tx, Tx)
        await tx._c.fetch("SELECT * FROM no_such_fraud_table")  # fails on both dialects
        raise AssertionError("unreachable")

    container.fraud.screen = failing  # type: ignore[method-assign]
    answer = await container.webhooks.handle(WebhookService.bill(parse(BillPayment, body), body))
    assert answer.status_code == 200 and answer.body["status"] == "CONFIRMED"
    async with container.store.transaction() as tx:
        receipt = await tx.receipt(f"BILL:{body['bankTransactionId']}")
        assert receipt is not None and receipt.payment_id is not None
        payment = await tx.payment(receipt.payment_id)
    assert payment is not None and payment.status is PaymentStatus.CONFIRMED
    # The same notice again: answered as the first time, nothing recorded twice.
    again = await container.webhooks.handle(WebhookService.bill(parse(BillPayment, dict(body)), dict(body)))
    assert again == answer
