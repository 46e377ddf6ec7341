"""Background re-verification of webhooks recorded while AMK could not be reached.

Every ``interval`` seconds (and once at start-up) it asks AMK again about each VERIFY_PENDING
receipt that is due. Under the receipt's row lock it re-checks that the receipt is still pending,
so two re-verifiers (or a re-verifier and an AMK retry) never confirm one payment twice. It never
gives up on money: a receipt AMK still cannot answer for is retried with growing delays (max 10 min).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.webhooks import DONE, VERIFY_PENDING
from hub.alerts import AlertKind, Alerts
from hub.domain.money import Currency, parse_amount
from hub.domain.payment import PaymentStatus
from hub.domain.records import Payment, PaymentEvent, Receipt, Verification
from hub.errors import AmkUnavailable, AmkUnknownError, PayHubError, TransactionVerifyFailed, VerificationMismatch
from hub.http.envelope import error_body
from hub.ports import AmkVerifier, Publisher, Store
from hub.service.amk_answers import remember_refusal, remember_verdict
from hub.service.announce import announce
from hub.service.ledger import transition

log = logging.getLogger("payhub.reverify")
MAX_DELAY_S = 600.0


@dataclass
class ReVerifier:
    store: Store
    verifier: AmkVerifier
    bus: Publisher
    interval_s: float = 30.0
    on_confirmed: Callable[[Payment], Any] | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    support_contact: str = ""  # named by the stored error answer a replay of the webhook gets
    alerts: Alerts = field(default_factory=Alerts)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("re-verification pass failed")
            await asyncio.sleep(self.interval_s)

    async def run_once(self) -> int:
        """One pass over the due receipts; returns how many were settled."""
        async with self.store.transaction() as tx:
            due = await tx.due_verifications(self.clock())
        settled = 0
        for receipt in due:
            settled += await self._one(receipt)
        return settled

    async def _one(self, receipt: Receipt) -> int:
        # KHQR: AMK knows the QR by the payment id PayHub gave its generator, whichever id it echoed.
        tx_ref = receipt.payment_id if receipt.kind == "KHQR" else receipt.payload.get("bankTransactionId")
        refused: AmkUnknownError | None = None
        try:
            verdict: Verification | None = await self.verifier.verify_payment(str(tx_ref))
        except AmkUnavailable:
            verdict = None
        except AmkUnknownError as exc:
            # A refusal (merchant not bound, unknown code, unreadable answer) is no verdict on the
            # money: keep the payment PROCESSING, ask again later, and put it before a person.
            verdict, refused = None, exc
        now = self.clock()
        events: list[PaymentEvent] = []
        async with self.store.transaction() as tx:
            current = await tx.lock_receipt(receipt.key)
            if current is None or current.state != VERIFY_PENDING or current.payment_id is None:
                return 0
            if verdict is None:
                delay = min(MAX_DELAY_S, self.interval_s * 2 ** min(current.attempts, 10))
                await tx.update_receipt(
                    replace(current, attempts=current.attempts + 1, next_attempt_at=now + timedelta(seconds=delay)),
                    now,
                )
                if refused is not None:
                    await remember_refusal(tx, current.payment_id, str(tx_ref), "reverify", refused, now)
                    await tx.add_review(
                        f"reverify:{current.key}:refused:{refused.code}",
                        f"AMK payment-verify refused: {refused.code}",
                        current.payment_id,
                        {**current.payload, "amk": refused.details, "amkCode": refused.amk_code},
                        now,
                    )
                    return 0
                self.alerts.raise_(
                    AlertKind.AMK_UNREACHABLE_FOR_PAYMENT, log, key=current.key, attempts=current.attempts + 1
                )
                return 0
            payment = await tx.payment(current.payment_id, lock=True)
            assert payment is not None
            await remember_verdict(tx, payment.id, str(tx_ref), "reverify", verdict, now)
            problem = _problem(current, verdict)
            target = PaymentStatus.FAILED if problem else PaymentStatus.CONFIRMED
            payment, events, _ = await transition(
                tx, payment, target, now, review=problem.message if problem else None, alerts=self.alerts
            )
            if problem:
                problem.transaction_id = current.response_body.get("transactionId")
                status, body = problem.status_code, error_body(problem, support_contact=self.support_contact)
            else:
                status, body = (
                    200,
                    {
                        **current.response_body,
                        "status": payment.status.value,
                        "message": "Payment successfully processed",
                    },
                )
            await tx.update_receipt(replace(current, state=DONE, response_status=status, response_body=body), now)
        await announce(self.bus, events)
        if payment.status is PaymentStatus.CONFIRMED and self.on_confirmed is not None:
            await self.on_confirmed(payment)
        log.info("re-verified", extra={"key": receipt.key, "status": payment.status.value})
        return 1


def _problem(receipt: Receipt, verdict: Verification) -> PayHubError | None:
    if not verdict.paid:
        return TransactionVerifyFailed(details={"amkStatus": verdict.status})
    currency = Currency(str(receipt.payload.get("currency")))
    amount = parse_amount(receipt.payload.get("amount", receipt.payload.get("paid_amount")), currency)
    if verdict.amount is not None and (verdict.amount != amount or verdict.currency != currency):
        return VerificationMismatch(
            "AMK's record differs from the webhook",
            details={"amk": f"{verdict.amount} {verdict.currency}", "webhook": f"{amount} {currency.value}"},
        )
    return None
