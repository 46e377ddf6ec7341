"""A payment's case file: everything PayHub holds about it, as the admin API shows it.

Shapes (times ISO 8601 with offset, amounts exact for their currency):

- payment: ``{paymentId, premiumId, policyNumber, applicationNumber, payer, method, status,
  amount, currency, transactionId, review, createdAt, updatedAt}``
- premium: ``{id, policyNumber, applicationNumber, payer, amount, currency, dueDate, status, paidPaymentId}``
- event: ``{id, type, status, data, occurredAt}`` (every type: status changes, ignored reports, QR issued…)
- receipt: ``{key, kind, paymentId, state, webhook, answer: {status, body}, attempts, nextAttemptAt,
  receivedAt, updatedAt}``; ``webhook`` is the bank's body as received
- AMK answer: ``hub.domain.reviews.AmkAnswer.as_json``; review: ``Review.as_json``
"""

from __future__ import annotations

from typing import Any

from hub.domain.lookups import StoredReceipt
from hub.domain.money import quantize
from hub.domain.records import Payment, PaymentEvent, Premium
from hub.domain.reviews import Review
from hub.ports import StoreTx


def payment_json(p: Payment, premium: Premium | None) -> dict[str, Any]:
    return {
        "paymentId": p.id,
        "premiumId": p.premium_id,
        "policyNumber": p.policy_number,
        "applicationNumber": premium.application_number if premium else None,
        "payer": premium.payer if premium else None,
        "method": p.method.value if p.method else None,
        "status": p.status.value,
        "amount": quantize(p.amount, p.currency),
        "currency": p.currency.value,
        "transactionId": p.transaction_id,
        "review": p.review_reason,
        "createdAt": p.created_at.isoformat(),
        "updatedAt": p.updated_at.isoformat(),
    }


def premium_json(p: Premium) -> dict[str, Any]:
    return {
        "id": p.id,
        "policyNumber": p.policy_number,
        "applicationNumber": p.application_number,
        "payer": p.payer,
        "amount": quantize(p.amount, p.currency),
        "currency": p.currency.value,
        "dueDate": p.due_date.isoformat(),
        "status": p.status,
        "paidPaymentId": p.paid_payment_id,
    }


def event_json(e: PaymentEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "type": e.type,
        "status": e.status.value,
        "data": e.data,
        "occurredAt": e.occurred_at.isoformat(),
    }


def receipt_json(stored: StoredReceipt) -> dict[str, Any]:
    r = stored.receipt
    return {
        "key": r.key,
        "kind": r.kind,
        "paymentId": r.payment_id,
        "state": r.state,
        "webhook": r.payload,
        "answer": {"status": r.response_status, "body": r.response_body},
        "attempts": r.attempts,
        "nextAttemptAt": r.next_attempt_at.isoformat() if r.next_attempt_at else None,
        "receivedAt": stored.created_at.isoformat(),
        "updatedAt": stored.updated_at.isoformat(),
    }


def bank_transaction_ids(payloads: list[dict[str, Any]]) -> list[str]:
    """The bank transaction ids bill notices in these payloads carry (a review's payload is often one)."""
    found = [p.get("bankTransactionId") for p in payloads]
    return list(dict.fromkeys(t for t in found if isinstance(t, str) and t))


async def payment_file(
    tx: StoreTx, payment_id: int | None, *, extra_payloads: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The case file of one payment (``payment_id`` None: a case about a bank notice that reached no
    payment; ``extra_payloads`` are such notices, e.g. a review's payload).

    ``{payment, premium, events, receipts, amkAnswers, reviews, attempts}``: the payment and its
    premium (None when unknown), its whole event log, the webhook receipts that landed on it or
    whose bank transaction ``extra_payloads`` name, AMK's answers about it or those transactions,
    every review of it, and every attempt of its premium (itself included), oldest first.
    """
    payment = await tx.payment(payment_id) if payment_id is not None else None
    premium = await tx.premium(payment.premium_id) if payment else None
    transactions = bank_transaction_ids(extra_payloads or [])
    if payment is not None and payment.transaction_id:
        transactions = list(dict.fromkeys([payment.transaction_id, *transactions]))
    receipts = await tx.lookups.receipts_of(payment.id if payment else None, [f"BILL:{t}" for t in transactions])
    ids = [payment.id] if payment else []
    attempts = await tx.payments_for(payment.premium_id) if payment else []
    return {
        "payment": payment_json(payment, premium) if payment else None,
        "premium": premium_json(premium) if premium else None,
        "events": [event_json(e) for e in await tx.lookups.events_of(payment.id)] if payment else [],
        "receipts": [receipt_json(r) for r in receipts],
        "amkAnswers": [a.as_json() for a in await tx.amk_answers.of(ids, transactions)],
        "reviews": [r.as_json() for r in await tx.review_rows.of_payments(ids)],
        "attempts": [payment_json(a, premium) for a in attempts],
    }


async def review_file(tx: StoreTx, review: Review) -> dict[str, Any]:
    """``{review, history, payment, premium, events, receipts, amkAnswers, reviews, attempts}``:
    the review, its history (oldest first), and the case file of its payment (``payment_file``,
    with its payload as a bank notice; ``reviews`` lists every review of that payment)."""
    history = await tx.review_rows.history(review.id)
    linked = await payment_file(tx, review.payment_id, extra_payloads=[review.payload])
    return {"review": review.as_json(), "history": [e.as_json() for e in history], **linked}
