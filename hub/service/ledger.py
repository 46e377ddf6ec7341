"""Status changes and their events, always written together inside one store transaction.

Callers hold a unit of work (``hub.ports.StoreTx``); these functions never commit. After the
transaction commits, the caller publishes the returned events to the bus (the embedded relay).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from hub.domain.money import quantize
from hub.domain.payment import Decision, Outcome, PaymentMethod, PaymentStatus, decide
from hub.domain.records import Payment, PaymentEvent, Premium
from hub.errors import ServiceUnavailable
from hub.ports import StoreTx

IGNORED = "payment.ignored"


def status_data(p: Payment, at: datetime) -> dict[str, Any]:
    """The contract's event ``data`` (``sentAt`` is added when a frame is written)."""
    return {
        "paymentId": p.id,
        "policyNumber": p.policy_number,
        "method": p.method.value if p.method else None,
        "status": p.status.value,
        "amount": quantize(p.amount, p.currency),
        "currency": p.currency.value,
        "transactionId": p.transaction_id,
        "occurredAt": at.isoformat(),
        **({"review": p.review_reason} if p.review_reason else {}),
    }


async def open_payment(
    tx: StoreTx, premium: Premium, method: PaymentMethod | None, now: datetime
) -> tuple[Payment, list[PaymentEvent]]:
    """The premium's open payment, created PENDING (with its event) when there is none.

    Idempotent under concurrency: the database allows one open payment per premium.
    """
    for _ in range(3):
        existing = await tx.open_payment_for(premium.id, lock=True)
        if existing is not None:
            if method is not None and existing.method is None:
                existing = replace(existing, method=method, updated_at=now)
                await tx.update_payment(existing)
            return existing, []
        created = await tx.insert_open_payment(premium, method, now)
        if created is not None:
            event = await tx.append_event(
                created.id, PaymentEvent.STATUS, created.status, status_data(created, now), now
            )
            return created, [event]
    raise ServiceUnavailable("could not open a payment; try again")


async def transition(
    tx: StoreTx,
    payment: Payment,
    target: PaymentStatus,
    now: datetime,
    *,
    method: PaymentMethod | None = None,
    transaction_id: str | None = None,
    review: str | None = None,
) -> tuple[Payment, list[PaymentEvent], Decision]:
    """Apply the state machine to a payment the caller has locked.

    APPLY / APPLY_REVIEW update the row and append a ``payment.status`` event; IGNORE appends a
    ``payment.ignored`` audit event; NOOP writes nothing. ``review`` flags the payment even when
    the move itself is ordinary (e.g. a premium that was already paid).
    """
    decision = decide(payment.status, target)
    if decision.outcome is Outcome.NOOP:
        return payment, [], decision
    if decision.outcome is Outcome.IGNORE:
        data = {**status_data(payment, now), "attempted": target.value, "reason": decision.reason}
        event = await tx.append_event(payment.id, IGNORED, payment.status, data, now)
        return payment, [event], decision
    reasons = [
        r
        for r in (
            payment.review_reason,
            review,
            decision.reason if decision.outcome is Outcome.APPLY_REVIEW else None,
        )
        if r
    ]
    updated = replace(
        payment,
        status=target,
        method=method or payment.method,
        transaction_id=transaction_id or payment.transaction_id,
        review_reason="; ".join(dict.fromkeys(reasons)) or None,
        updated_at=now,
    )
    await tx.update_payment(updated)
    event = await tx.append_event(updated.id, PaymentEvent.STATUS, target, status_data(updated, now), now)
    if updated.review_reason and updated.review_reason != payment.review_reason:
        await tx.add_review(
            f"payment:{updated.id}:{target.value}",
            updated.review_reason,
            updated.id,
            status_data(updated, now),
            now,
        )
    return updated, [event], decision
