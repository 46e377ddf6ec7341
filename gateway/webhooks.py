"""AMK webhooks: idempotent, verified with AMK, stored atomically.

Order of work for one webhook (the HTTP layer has already checked token and signature):
1. a receipt with the same idempotency key answers a replay (same amount/currency → the original
   response; different → 409 DUPLICATE_PAYMENT, nothing changed, alert logged);
2. the payment and premium are located and matched (mismatch → 422, flagged for review);
3. AMK's payment-verify is asked (with retries); unreachable → the payment is recorded PROCESSING
   and the background re-verifier finishes it later (never lost, never counted twice);
4. ONE transaction inserts the receipt (unique key: of concurrent duplicates exactly one wins,
   decided by the database) and applies the status change with its event row;
5. inside it, once the receipt has made this the first delivery (and a KHQR notice is no echo of an
   earlier one), the fraud rules screen a money notice (``hub.fraud``): they never refuse it; what
   fires flags the payment and opens a ``fraud:webhook:<key>`` review. A copy that loses the race is a
   replay: it is never screened, so it counts in no velocity window and opens no review.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.invoice import EarlierNotice, InvoiceProblem, earlier_notice, resolve_invoice
from gateway.webhook_notice import (
    Answer,
    Incoming,
    answer_for,
    bill_notice,
    check_verdict,
    khqr_notice,
    mismatches,
    paid_at_differs,
    verify_ref,
)
from hub.alerts import AlertKind, Alerts
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import Payment, PaymentEvent, Premium, Receipt, Verification
from hub.errors import (
    AmkUnavailable,
    AmkUnknownError,
    DuplicatePayment,
    NotFound,
    PayHubError,
    ServiceUnavailable,
    TransactionVerifyFailed,
    VerificationMismatch,
)
from hub.fraud.engine import FraudEngine
from hub.fraud.verdict import Attempt, Verdict
from hub.keylock import KeyedLocks
from hub.ports import AmkVerifier, PremiumSource, Publisher, Store, StoreTx
from hub.service.amk_answers import remember_refusal, remember_verdict
from hub.service.announce import announce
from hub.service.ledger import flag_repeated_notice, open_payment, transition

log = logging.getLogger("payhub.webhooks")

# ``Incoming`` and ``Answer`` are imported from here by the HTTP layer and tests.
__all__ = ["DONE", "HELD_INTEGRATION_DOWN", "VERIFY_PENDING", "Answer", "Incoming", "WebhookService"]

DONE = "DONE"
VERIFY_PENDING = "VERIFY_PENDING"
HELD_INTEGRATION_DOWN = "bank notice held: integration service unavailable (answered 503; AMK retries)"


class _LostRace(Exception):
    """A concurrent duplicate committed first; roll back and answer with its receipt."""

    def __init__(self, key: str | None = None) -> None:
        super().__init__(key)
        self.key = key  # the winner's receipt key, when it differs from the webhook's own


@dataclass
class WebhookService:
    store: Store
    verifier: AmkVerifier
    premiums: PremiumSource
    bus: Publisher
    merchant_id: str
    reverify_interval_s: float = 30.0
    on_confirmed: Callable[[Payment], Any] | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    fraud: FraudEngine | None = None
    _locks: KeyedLocks = field(default_factory=KeyedLocks)
    alerts: Alerts = field(default_factory=Alerts)
    # (kind, seconds from the webhook's arrival to its commit), for the metrics
    on_committed: Callable[[str, float], None] | None = None

    # The two kinds of notice as ``handle`` takes them (kept here for callers that build one).
    bill = staticmethod(bill_notice)
    khqr = staticmethod(khqr_notice)

    async def handle(self, w: Incoming, *, received_at: float | None = None) -> Answer:
        """Process one notice (see the module doc); ``received_at`` is ``time.perf_counter()`` at its
        arrival, to time it to its commit. Every ``PayHubError`` it raises names the notice's transaction
        (``transaction_id``: the envelope's ``transactionId``), once the KHQR invoice is resolved the
        payment's ``AMK_KHQR_<paymentId>``."""
        try:
            if w.kind == "KHQR" and w.payment_id is None:
                w = await self._resolve_invoice(w)
            return await self._handle(w, received_at)
        except PayHubError as exc:
            exc.transaction_id = exc.transaction_id or w.transaction_id
            raise

    async def _handle(self, w: Incoming, received_at: float | None) -> Answer:
        # One process handles one key at a time (spares AMK 50 identical verifies); across
        # processes the receipt's unique key in the database is what decides.
        async with self._locks.hold(w.key):
            existing = await self.store.receipt(w.key)
            if existing is not None:
                return await self._replay(existing, w)
            premium, payment = await self._locate(w)
            await self._match(w, premium, payment)
            verification = await self._verify(w) if w.target is PaymentStatus.CONFIRMED else None
            try:
                return await self._commit(w, premium, verification, received_at)
            except _LostRace as lost:
                receipt = await self.store.receipt(lost.key or w.key)
                assert receipt is not None
                return await self._replay(receipt, w)

    async def _resolve_invoice(self, w: Incoming) -> Incoming:
        """Name the payment a KHQR ``invoice_number`` means (see ``gateway.invoice``); the
        idempotency key and transaction id then name that payment, so AMK echoing the payment id
        once and the bill id another time is one notice, not two."""
        assert w.invoice_number is not None
        async with self.store.transaction() as tx:
            found = await resolve_invoice(tx, int(w.invoice_number))
            if not isinstance(found, InvoiceProblem):
                # The same notice delivered before (echoing the other id) lands where it landed.
                earlier = await self._earlier(tx, w, found.premium_id)
                if earlier is not None and earlier.payment_id != found.id:
                    found = await tx.payment(earlier.payment_id) or found
        if isinstance(found, InvoiceProblem):
            await self._review(w, found.reason, None, {"candidates": found.candidates})
            if found.ambiguous:
                self.alerts.raise_(AlertKind.AMBIGUOUS_INVOICE, log, invoice=w.invoice_number)
                raise VerificationMismatch(found.reason, details={"invoice_number": w.invoice_number, **found.details})
            raise NotFound(f"No payment for invoice {w.invoice_number}")
        status = "SUCCESS" if w.target is PaymentStatus.CONFIRMED else "FAILED"
        return replace(w, payment_id=found.id, key=f"KHQR:{found.id}:{status}", transaction_id=f"AMK_KHQR_{found.id}")

    @staticmethod
    async def _earlier(tx: StoreTx, w: Incoming, premium_id: int) -> EarlierNotice | None:
        assert w.paid_at is not None and w.invoice_number is not None
        outcome = "SUCCESS" if w.target is PaymentStatus.CONFIRMED else "FAILED"
        return await earlier_notice(tx, premium_id, outcome, w.paid_at, w.fingerprint, int(w.invoice_number))

    async def _replay(self, receipt: Receipt, w: Incoming) -> Answer:
        if receipt.fingerprint != w.fingerprint:
            self.alerts.raise_(
                AlertKind.DUPLICATE_TRANSACTION_KEY,
                log,
                key=w.key,
                original=receipt.fingerprint,
                received=w.fingerprint,
            )
            raise DuplicatePayment(details={"key": w.key, "original": receipt.fingerprint, "received": w.fingerprint})
        if paid_at_differs(receipt, w) and receipt.payment_id is not None and w.paid_at is not None:
            async with self.store.transaction() as tx:
                await flag_repeated_notice(
                    tx, receipt.payment_id, w.paid_at, w.payload, self.clock(), alerts=self.alerts
                )
        log.info("webhook replay answered from receipt", extra={"key": w.key})
        return Answer(receipt.response_status, receipt.response_body)

    async def _locate(self, w: Incoming) -> tuple[Premium | None, Payment | None]:
        if w.payment_id is not None:
            payment = await self.store.payment(w.payment_id)
            assert payment is not None  # resolved from an existing row; payments are never deleted
            return None, payment
        assert w.premium_id is not None
        try:
            premium = await self.premiums.premium(w.premium_id)
        except NotFound:
            await self._review(w, "unknown premium id", None)
            raise
        except ServiceUnavailable as exc:
            # The premium cannot be matched now, so nothing is recorded as paid: AMK retries a 503
            # (Retry-After), and the retry lands exactly once (the receipt decides). The bank's
            # notice is kept for a person meanwhile, in case AMK's retries stop before we are back.
            self.alerts.raise_(AlertKind.INTEGRATION_UNAVAILABLE, log, key=w.key, error=exc.message)
            await self._review(w, HELD_INTEGRATION_DOWN, None, {"error": exc.message})
            raise ServiceUnavailable(
                "Integration service temporarily unavailable; the webhook was not processed, retry it",
                details=exc.message,
                retry_after=exc.retry_after or 30,
            ) from exc
        return premium, None

    async def _match(self, w: Incoming, premium: Premium | None, payment: Payment | None) -> None:
        wrong = mismatches(w, premium, payment, self.merchant_id)
        # A failure notice is matched exactly like money: one naming another merchant, amount or
        # currency must not close someone's open payment.
        if wrong:
            await self._review(
                w, "webhook does not match the premium", payment.id if payment else None, {"mismatch": wrong}
            )
            raise VerificationMismatch(details=wrong)

    async def _verify(self, w: Incoming) -> Verification | None:
        """AMK's verdict, or None when AMK cannot be reached now (re-verified later)."""
        try:
            verdict = await self.verifier.verify_payment(verify_ref(w))
        except AmkUnavailable:
            log.warning("AMK unreachable; recording PROCESSING for re-verification", extra={"key": w.key})
            return None
        except AmkUnknownError as exc:
            # AMK refused to verify (merchant not bound, bank not found, unknown code, unreadable
            # answer): the client has alerted and counted it; the bank's notice waits for a person
            # (and for AMK's retry, as the answer is a 5xx), nothing is changed.
            async with self.store.transaction() as tx:
                await remember_refusal(tx, w.payment_id, verify_ref(w), "webhook", exc, self.clock())
            await self._review(
                w,
                f"AMK payment-verify refused: {exc.code}",
                w.payment_id,
                {"amk": exc.details, "amkCode": exc.amk_code},
            )
            raise
        try:
            check_verdict(w, verdict)
        except (TransactionVerifyFailed, VerificationMismatch) as exc:
            # A bank claiming money that AMK does not confirm is for a person to look at.
            if isinstance(exc, TransactionVerifyFailed):
                self.alerts.raise_(AlertKind.AMK_NOT_CONFIRMED, log, key=w.key, amkStatus=verdict.status)
            async with self.store.transaction() as tx:
                await remember_verdict(tx, w.payment_id, verify_ref(w), "webhook", verdict, self.clock())
            await self._review(w, exc.message, w.payment_id, {"amk": exc.details})
            raise
        return verdict

    async def _screen(
        self, tx: StoreTx, w: Incoming, premium: Premium | None, payment: Payment, quoted: bool
    ) -> Verdict | None:
        """The fraud rules' verdict on a money notice (None: no rules, or not money), inside the notice's
        transaction after its receipt is inserted. ``quoted``: ``payment`` is a bill's attempt an inquiry
        opened (its amount was quoted), not one opened by this notice. Never raises: a bank's money is
        recorded whatever the rules say (``FraudEngine.screen_money``)."""
        if self.fraud is None or w.target is not PaymentStatus.CONFIRMED:
            return None
        return await self.fraud.screen_money(
            Attempt(
                "webhook",
                policy=premium.policy_number if premium is not None else payment.policy_number,
                amount=w.amount,
                currency=w.currency,
                premium_id=premium.id if premium is not None else payment.premium_id,
                payment_id=payment.id,
                quoted=(payment.amount, payment.currency) if quoted else None,
            ),
            tx,
        )

    async def _commit(
        self, w: Incoming, premium: Premium | None, verification: Verification | None, received_at: float | None
    ) -> Answer:
        now = self.clock()
        pending = w.target is PaymentStatus.CONFIRMED and verification is None
        target = PaymentStatus.PROCESSING if pending else w.target
        events: list[PaymentEvent] = []
        async with self.store.transaction() as tx:
            placeholder = Receipt(w.key, w.kind, w.fingerprint, None, w.payload, DONE, 0, {}, 0, None)
            if not await tx.insert_receipt(placeholder, now):
                raise _LostRace
            payment = await self._payment_for(tx, w, premium, now, events)
            # A bill landing on the attempt an inquiry opened was quoted that attempt's amount; one that
            # opened its own (events) was quoted nothing. A KHQR notice's amount is the QR's (matched).
            quoted = premium is not None and not events
            if verification is not None:
                await remember_verdict(tx, payment.id, verify_ref(w), "webhook", verification, now)
            if w.kind == "KHQR":
                # Under the premium's lock: an echo of this notice naming the other id may have
                # committed since it was resolved; then this is a replay of it.
                earlier = await self._earlier(tx, w, payment.premium_id)
                if earlier is not None and earlier.key != w.key:
                    raise _LostRace(earlier.key)
            # Only now is this the notice's first delivery: screened (and counted) once.
            verdict = await self._screen(tx, w, premium, payment, quoted)
            # The ledger closes the premium's other attempts and flags money for an already-paid
            # premium (or a second bank transaction on this attempt) as a possible double payment.
            payment, new_events, decision = await transition(
                tx,
                payment,
                target,
                now,
                method=w.method,
                transaction_id=w.transaction_id,
                failure_report=target is PaymentStatus.FAILED,
                # The receipt's next_attempt_at below: when the re-verifier asks AMK again.
                estimated_completion=now + timedelta(seconds=self.reverify_interval_s) if pending else None,
                alerts=self.alerts,
            )
            events += new_events
            answer = answer_for(w, payment, decision.outcome, pending)
            if verdict is not None and self.fraud is not None:
                # After the answer and the status event: flagged for staff, not told to AMK or the payer.
                payment = await self.fraud.flag_payment(tx, payment, verdict, w.key)
            receipt = Receipt(
                w.key,
                w.kind,
                w.fingerprint,
                payment.id,
                w.payload,
                VERIFY_PENDING if pending else DONE,
                answer.status_code,
                answer.body,
                1 if pending else 0,
                now + timedelta(seconds=self.reverify_interval_s) if pending else None,
            )
            await tx.update_receipt(receipt, now)
        if received_at is not None and self.on_committed is not None:
            self.on_committed(w.kind, time.perf_counter() - received_at)
        await announce(self.bus, events)
        if payment.status is PaymentStatus.CONFIRMED and self.on_confirmed is not None:
            await self.on_confirmed(payment)
        log.info(
            "webhook processed",
            extra={
                "key": w.key,
                "paymentId": payment.id,
                "status": payment.status.value,
                "outcome": decision.outcome.value,
            },
        )
        return answer

    async def _payment_for(
        self, tx: StoreTx, w: Incoming, premium: Premium | None, now: datetime, events: list[PaymentEvent]
    ) -> Payment:
        if w.payment_id is not None:
            payment = await tx.payment(w.payment_id, lock=True)
            assert payment is not None
            return payment
        assert premium is not None
        # A bill for a premium already paid lands on an attempt of its own (opened here): the
        # ledger then flags it as a possible double payment.
        payment, opened = await open_payment(tx, premium, PaymentMethod.BILL, now)
        events += opened
        return payment

    async def _review(
        self, w: Incoming, reason: str, payment_id: int | None, extra: dict[str, Any] | None = None
    ) -> None:
        async with self.store.transaction() as tx:
            await tx.add_review(
                f"webhook:{w.key}:{reason}", reason, payment_id, {**w.payload, **(extra or {})}, self.clock()
            )
        log.warning("flagged for review", extra={"key": w.key, "reason": reason})
