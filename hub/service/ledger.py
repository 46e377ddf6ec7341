"""Status changes and their events, always written together inside one store transaction.

Callers hold a unit of work (``hub.ports.StoreTx``); these functions never commit. After the
transaction commits, the caller publishes the returned events to the bus (the embedded relay).

The attempts of one premium are kept consistent here, whichever rail and whichever caller (bill or
KHQR webhook, re-verifier, expiry) moves one of them (issue 7 §1):

* when an attempt receives money (PROCESSING or CONFIRMED), every other payable (PENDING) attempt
  of its premium is closed in the same transaction: payment EXPIRED with a ``closedBy`` status
  event (its stream's terminal frame) and its QR session EXPIRED, so its QR is never shown again;
  the QR session of another attempt that already holds money awaiting AMK (PROCESSING) is EXPIRED
  too (its money is left to AMK's verdict): once money reaches an attempt, the only QR of its premium
  that may stay PENDING is that attempt's own, and a paid premium has none;
* money on an attempt of a premium that another attempt already paid, or a second bank transaction
  on one attempt, is recorded like any money (never dropped) and raises a "possible double
  payment" review (key ``double-payment:…``, counted by ``payhub_double_payments_total``) and an
  ERROR ``ALERT`` log line once the transaction has committed.

The premium's lock (``StoreTx.lock_premium``, taken by every payment row lock) makes the second of two
concurrent payers see the first.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hub.alerts import AlertKind, Alerts
from hub.domain.money import quantize
from hub.domain.payment import Decision, Outcome, PaymentMethod, PaymentStatus, decide
from hub.domain.records import Payment, PaymentEvent, Premium
from hub.domain.timezones import utc_stamp
from hub.errors import ServiceUnavailable
from hub.ports import StoreTx

IGNORED = "payment.ignored"
DOUBLE_PAYMENT_KEY = "double-payment:"
_MONEY = (PaymentStatus.PROCESSING, PaymentStatus.CONFIRMED)

log = logging.getLogger("payhub.ledger")


def status_data(p: Payment, at: datetime, *, estimated_completion: datetime | None = None) -> dict[str, Any]:
    """The contract's event ``data`` (``sentAt`` is added when a frame is written).

    ``timestamp`` is the spec's name for when the status was reached (``occurredAt``, in the spec's
    ``2025-10-07T12:00:00Z`` form). ``estimatedCompletion`` (spec: the PROCESSING update) is given while the
    payment is PROCESSING: when PayHub next asks AMK for its verdict on the reported money (the re-verifier's
    next attempt, ``PAYHUB_REVERIFY_INTERVAL_S`` after the money was reported). It is an estimate: if AMK
    still cannot answer then, the payment stays PROCESSING without a new event and is asked again at growing
    intervals (at most 10 minutes apart); the next status event is the answer.
    """
    return {
        "paymentId": p.id,
        "policyNumber": p.policy_number,
        "method": p.method.value if p.method else None,
        "status": p.status.value,
        "amount": quantize(p.amount, p.currency),
        "currency": p.currency.value,
        "transactionId": p.transaction_id,
        "occurredAt": at.isoformat(),
        "timestamp": utc_stamp(at),
        **(
            {"estimatedCompletion": utc_stamp(estimated_completion)}
            if estimated_completion is not None and p.status is PaymentStatus.PROCESSING
            else {}
        ),
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
    failure_report: bool = False,
    estimated_completion: datetime | None = None,
    alerts: Alerts | None = None,
) -> tuple[Payment, list[PaymentEvent], Decision]:
    """Apply the state machine to a payment the caller has locked (``tx.payment(id, lock=True)``).

    APPLY / APPLY_REVIEW update the row and append a ``payment.status`` event; IGNORE appends a
    ``payment.ignored`` audit event; NOOP writes nothing. ``review`` flags the payment even when
    the move itself is ordinary. Money (``target`` PROCESSING or CONFIRMED) also closes the
    premium's other payable attempts and flags a possible double payment (see the module doc).
    ``failure_report``: FAILED comes from a bank's webhook, not from AMK's verify; it cannot fail an
    attempt whose reported money awaits AMK's verdict (PROCESSING), which alone settles that money.
    ``estimated_completion``: for a move to PROCESSING, when AMK is asked next (the event's
    ``estimatedCompletion``, see ``status_data``).
    ``alerts``: the process's ALERT sink, which raises the double-payment ALERT after the commit.
    """
    decision = decide(payment.status, target)
    if failure_report and payment.status is PaymentStatus.PROCESSING and target is PaymentStatus.FAILED:
        decision = Decision(Outcome.IGNORE, "FAILED report ignored: reported money awaits AMK's verdict")
    doubles = await _double_payments(tx, payment, target, transaction_id, decision) if target in _MONEY else []
    if decision.outcome is Outcome.NOOP or decision.outcome is Outcome.IGNORE:
        events: list[PaymentEvent] = []
        if decision.outcome is Outcome.IGNORE:
            data = {**status_data(payment, now), "attempted": target.value, "reason": decision.reason}
            events.append(await tx.append_event(payment.id, IGNORED, payment.status, data, now))
        for key, reason in doubles:
            data = {**status_data(payment, now), "bankTransactionId": transaction_id}
            await _flag_double(tx, payment, key, reason, transaction_id, data, now, alerts)
        return payment, events, decision
    events = await close_other_attempts(tx, payment, now) if target in _MONEY else []
    reasons = [
        r
        for r in (
            payment.review_reason,
            review,
            decision.reason if decision.outcome is Outcome.APPLY_REVIEW else None,
            *(reason for _, reason in doubles),
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
    data = status_data(updated, now, estimated_completion=estimated_completion)
    events.append(await tx.append_event(updated.id, PaymentEvent.STATUS, target, data, now))
    if target is PaymentStatus.CONFIRMED:
        await tx.end_qr_sessions(updated.id, "PAID", now)
    elif target in (PaymentStatus.FAILED, PaymentStatus.EXPIRED):
        # An attempt that ends without money ends its QR with it: no session stays PENDING
        # beside a premium another attempt then pays.
        await tx.end_qr_sessions(updated.id, "EXPIRED", now)
    for key, reason in doubles:
        await _flag_double(tx, updated, key, reason, transaction_id, status_data(updated, now), now, alerts)
    if not doubles and updated.review_reason and updated.review_reason != payment.review_reason:
        await tx.add_review(
            f"payment:{updated.id}:{target.value}",
            updated.review_reason,
            updated.id,
            status_data(updated, now),
            now,
        )
    return updated, events, decision


async def close_other_attempts(tx: StoreTx, paying: Payment, now: datetime) -> list[PaymentEvent]:
    """Close every PENDING attempt of ``paying``'s premium but ``paying`` itself: payment EXPIRED
    (its status event carries ``closedBy``) and QR session EXPIRED. Returns the status events.

    Attempts already holding money (PROCESSING) stay as they are: their money is settled by AMK's
    verdict, and a second confirmation is flagged as a double payment. Their QR session, still
    PENDING while AMK verifies, is EXPIRED all the same: otherwise a premium another attempt pays
    keeps a payable QR until its TTL runs out (its session turns PAID if AMK confirms its money).
    """
    events: list[PaymentEvent] = []
    for other in await tx.pending_payments_for(paying.premium_id, excluding=paying.id):
        closed = replace(other, status=PaymentStatus.EXPIRED, updated_at=now)
        await tx.update_payment(closed)
        data = {**status_data(closed, now), "closedBy": paying.id}
        events.append(await tx.append_event(closed.id, PaymentEvent.STATUS, closed.status, data, now))
        await tx.end_qr_sessions(closed.id, "EXPIRED", now)
    # A premium has at most one PENDING session (``khqr_sessions_one_pending``); the premium's lock,
    # held by the caller, orders this after any QR being issued for it.
    live = await tx.khqr_sessions.pending_for_premium(paying.premium_id)
    if live is not None and live.payment_id != paying.id:
        await tx.khqr_sessions.close(live.id, "EXPIRED", now)
    return events


async def _double_payments(
    tx: StoreTx, payment: Payment, target: PaymentStatus, transaction_id: str | None, decision: Decision
) -> list[tuple[str, str]]:
    """(review key, reason) for each way money for ``payment`` may pay its premium twice.

    Each extra bank transaction of a premium is flagged exactly once: a second transaction on one
    attempt by its own key, and the first transaction of a second confirmed attempt by the
    attempt's ``paid`` key (the first attempt confirmed is the premium's payment).
    """
    found: list[tuple[str, str]] = []
    if transaction_id is not None and payment.transaction_id not in (None, transaction_id) and payment.status in _MONEY:
        # The status cannot say it (the attempt is one), so money is never silently merged.
        found.append(
            (
                f"{DOUBLE_PAYMENT_KEY}{payment.id}:{transaction_id}",
                f"bank transaction {transaction_id} for payment {payment.id}, already {payment.status.value}"
                f" by {payment.transaction_id} (possible double payment)",
            )
        )
    if target is PaymentStatus.CONFIRMED and decision.changes_status:
        paid_by = await tx.confirmed_payment_for(payment.premium_id, excluding=payment.id)
        if paid_by is not None:
            found.append(
                (
                    f"{DOUBLE_PAYMENT_KEY}{payment.id}:paid",
                    f"premium {payment.premium_id} already paid by payment {paid_by.id} (possible double payment)",
                )
            )
    return found


async def _flag_double(
    tx: StoreTx,
    payment: Payment,
    key: str,
    reason: str,
    transaction_id: str | None,
    data: dict[str, Any],
    now: datetime,
    alerts: Alerts | None,
) -> None:
    """One double-payment review (idempotent per key) and, after commit, its ALERT."""
    if not await tx.add_review(key, reason, payment.id, data, now):
        return
    extra = {
        "paymentId": payment.id,
        "premiumId": payment.premium_id,
        "policyNumber": payment.policy_number,
        "transactionId": transaction_id or payment.transaction_id,
        "review": key,
        "reason": reason,
    }
    sink = alerts if alerts is not None else Alerts()
    tx.after_commit(lambda: sink.raise_(AlertKind.DOUBLE_PAYMENT, log, **extra))


async def flag_repeated_notice(
    tx: StoreTx,
    payment_id: int,
    paid_at: datetime,
    data: dict[str, Any],
    now: datetime,
    *,
    alerts: Alerts | None = None,
) -> None:
    """A KHQR success notice whose idempotency key (invoice number + status) was already received, but
    with another ``paid_datetime``: either AMK re-sent one payment with a changed time, or the same QR
    was paid twice. KHQR notices carry no bank transaction id, so the two cannot be told apart here:
    the first answer stands and a person decides (a double-payment review, its ALERT, the metric).
    Idempotent per (payment, paid time)."""
    payment = await tx.payment(payment_id)
    if payment is None:
        return
    key = f"{DOUBLE_PAYMENT_KEY}{payment_id}:khqr-notice:{paid_at.astimezone(UTC).isoformat()}"
    reason = f"possible double payment: KHQR notice for payment {payment_id} repeated with another paid_datetime"
    await _flag_double(tx, payment, key, reason, None, data, now, alerts)


async def double_payments(tx: StoreTx) -> int:
    """How many double-payment reviews exist (every one ever raised: reviews are never deleted)."""
    return await tx.count_reviews(DOUBLE_PAYMENT_KEY)
