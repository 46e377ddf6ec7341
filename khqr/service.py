"""KHQR use cases: generate (or reuse) a customer's QR session, and read a session's status."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hub.alerts import AlertKind, Alerts
from hub.auth import Authenticator, Principal
from hub.domain.khqr.codec import KhqrError, decode
from hub.domain.money import Currency, MoneyError, format_amount, parse_amount, parse_currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import Payment, PaymentEvent, QrRequest
from hub.errors import (
    AmkUnavailable,
    BadRequest,
    BankNotFound,
    CircuitOpen,
    DuplicatePayment,
    Forbidden,
    NotFound,
    QrMismatch,
    ServiceUnavailable,
)
from hub.fanout import Fanout
from hub.fraud.engine import FraudEngine
from hub.fraud.requester import Requester
from hub.fraud.verdict import Attempt
from hub.json_codec import loads
from hub.keylock import KeyedLocks
from hub.ports import AmkQrGenerator, Publisher, Store
from hub.service.watch import may_watch, offer
from khqr.expiry import ExpiryScheduler
from khqr.gateway_client import GatewayClient
from khqr.sessions import EXPIRED, PAID, PENDING, Session

log = logging.getLogger("payhub.khqr")
BILL_NUMBER = re.compile(r"^[A-Za-z0-9]{1,10}$")
GENERATED = "khqr.generated"
SUPPORTED_BANKS = {"AMK"}
MAX_WAIT_S = 30.0


BANK_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_BANK_CODE_FORMS = 'a bank code such as AMK, or JSON such as {"id":"AMK","bank":"AMK"}'


def parse_bank_code(raw: str | None) -> dict[str, str]:
    """``GET /khqr``'s ``bankCode`` as ``{"id", "bank"}``, in either of the spec's two forms:

    * JSON ``{"id":"AMK","bank":"AMK"}`` (GenerateKhqrReqDto, the endpoint's example), or a JSON string ``"AMK"``;
    * the bare code ``AMK`` (the KHQR flow diagram: ``GET /khqr?bankCode=AMK&billNumber=…``), any letter case.

    Raises ``BadRequest`` (400, field ``bankCode``, naming both forms) for anything else, and
    ``BankNotFound`` (404 BANK_NOT_FOUND, the spec's code, with the banks supported) for a well-formed
    code of a bank PayHub has no configuration for — alike for both forms.
    """
    text = (raw or "").strip()
    if text.startswith(("{", '"')):
        try:
            value: Any = loads(text, field="bankCode")
        except ValueError as exc:
            raise BadRequest(details=[{"field": "bankCode", "message": _BANK_CODE_FORMS}]) from exc
        if isinstance(value, str):
            value = {"id": value, "bank": value}
    elif BANK_CODE.match(text):
        value = {"id": text, "bank": text}
    else:
        raise BadRequest(details=[{"field": "bankCode", "message": f"required: {_BANK_CODE_FORMS}"}])
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) and value[k] for k in ("id", "bank")):
        raise BadRequest(details=[{"field": "bankCode", "message": "needs string fields id and bank"}])
    if not all(BANK_CODE.match(value[k]) for k in ("id", "bank")):
        raise BadRequest(details=[{"field": "bankCode", "message": f"id and bank: {_BANK_CODE_FORMS}"}])
    if value["id"].upper() not in SUPPORTED_BANKS or value["bank"].upper() not in SUPPORTED_BANKS:
        raise BankNotFound(
            f"No bank configuration for {value['id']}",
            details={"bankCode": value, "supported": sorted(SUPPORTED_BANKS)},
        )
    return {"id": value["id"], "bank": value["bank"]}


def _payable(payment: Payment | None) -> Payment:
    """The attempt a QR may be shown for: PENDING only. An attempt holding money that awaits AMK's
    verdict (PROCESSING) gets no QR, neither its own again nor a fresh one: the bank's notice for a
    second payment would carry the same invoice number and read as a replay of the first
    (409 DUPLICATE_PAYMENT; once AMK has decided, the premium is paid or payable again)."""
    if payment is None:
        raise NotFound("No payment for this premium; ask again")
    if payment.status is not PaymentStatus.PENDING:
        raise DuplicatePayment(
            "A payment of this premium is being verified with AMK; no new QR until it is decided",
            details={"paymentId": payment.id, "status": payment.status.value},
            transaction_id=payment.transaction_id,
        )
    return payment


@dataclass
class KhqrService:
    store: Store
    gateway: GatewayClient
    qr: AmkQrGenerator
    auth: Authenticator
    bus: Publisher
    hub: Fanout
    expiry: ExpiryScheduler
    merchant_id: str
    session_ttl_s: int = 1800
    grace_s: int = 600
    public_url: str = ""
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    fraud: FraudEngine | None = None
    _locks: KeyedLocks = field(default_factory=KeyedLocks)
    alerts: Alerts = field(default_factory=Alerts)

    async def generate(
        self, bill_number: str, requester: Requester | None = None, who: Principal | None = None
    ) -> dict[str, Any]:
        """A QR for the premium due on ``bill_number``: its PENDING session, or a new one from AMK.
        ``requester`` (when screened) is held to the fraud rules before any QR is shown: a ``block`` rule
        raises ``FraudDetected`` (403). ``who`` (a customer) may then watch the payment with its own token."""
        if not BILL_NUMBER.match(bill_number or ""):
            raise BadRequest(details=[{"field": "billNumber", "message": "required: 1-10 letters or digits"}])
        async with self._locks.hold(bill_number.upper()):
            await self.expiry.expire_due()  # a due session must not be handed out again
            inquiry = await self.gateway.inquire(bill_number)
            premium_id, payment_id = int(inquiry["id"]), int(inquiry["paymentId"])
            if self.fraud is not None and requester is not None and requester.screened:
                await self._screen(inquiry, bill_number, requester, premium_id, payment_id)
            async with self.store.transaction() as tx:
                await tx.lock_premium(premium_id)  # the ledger's order: premium, then its sessions
                _payable(await tx.payment(payment_id))
                if who is not None:
                    await offer(tx, payment_id, who, self.clock())
                rows = tx.khqr_sessions
                existing = await rows.pending_for_premium(premium_id)
                if existing is not None and existing.payment_id != payment_id:
                    # Its payment ended (e.g. the bank reported FAILED) and the inquiry opened a new
                    # one: that QR can no longer be paid, so retire it instead of handing it out again.
                    await rows.close(existing.id, EXPIRED, self.clock())
                    existing = None
            if existing is not None:
                return self.dto(existing)
            session = await self._create(inquiry, premium_id, payment_id)
            return self.dto(session)

    async def _screen(
        self, inquiry: dict[str, Any], bill_number: str, requester: Requester, premium_id: int, payment_id: int
    ) -> None:
        assert self.fraud is not None
        currency: Currency | None = None
        amount: Decimal | None = None
        try:
            currency = parse_currency(inquiry["currency"])
            amount = parse_amount(inquiry["amount"], currency)
        except MoneyError:  # refused as the gateway's fault when the QR is made; the other rules still apply
            currency, amount = None, None
        await self.fraud.enforce(
            Attempt(
                "qr",
                policy=str(inquiry["policyNumber"]),
                query=bill_number,
                customer=requester.customer,
                ip=requester.ip,
                device=requester.device,
                counted=requester.counted,
                amount=amount,
                currency=currency,
                premium_id=premium_id,
                payment_id=payment_id,
            )
        )

    async def _create(self, inquiry: dict[str, Any], premium_id: int, payment_id: int) -> Session:
        try:
            currency = parse_currency(inquiry["currency"])
            amount = parse_amount(inquiry["amount"], currency)
        except MoneyError as exc:  # the gateway's answer, not the customer's request: never a 400
            raise ServiceUnavailable("Gateway answered an unreadable amount", details=exc.reason) from exc
        now = self.clock()
        expires = now + timedelta(seconds=self.session_ttl_s)
        policy = str(inquiry["policyNumber"])
        try:
            result = await self.qr.generate(QrRequest(str(payment_id), policy, amount, currency, expires))
        except (AmkUnavailable, CircuitOpen) as exc:
            # AMK's QR generator is down (retries spent) or its breaker refuses calls meanwhile: no
            # customer can be shown a KHQR until it is back.
            self.alerts.raise_(
                AlertKind.AMK_QR_UNAVAILABLE,
                log,
                paymentId=payment_id,
                error=exc.message,
                breakerOpen=isinstance(exc, CircuitOpen),
            )
            raise
        self._check(result.qr_string, amount, currency, policy)
        session = Session(
            id=uuid.uuid4().hex,
            payment_id=payment_id,
            premium_id=premium_id,
            policy_number=policy,
            customer_name=str(inquiry.get("payer", "")),
            amount=amount,
            currency=currency,
            qr_string=result.qr_string,
            qr_image=result.image_png_b64,
            status=PENDING,
            created_at=now,
            expires_at=expires,
        )
        events: list[PaymentEvent] = []
        async with self.store.transaction() as tx:
            await tx.lock_premium(premium_id)
            payment = _payable(await tx.payment(payment_id, lock=True))
            rows = tx.khqr_sessions
            if not await rows.insert(session):
                winner = await rows.pending_for_premium(premium_id)
                if winner is None:
                    raise NotFound("QR session vanished; ask again")
                return winner
            if payment.method is None:
                payment = replace(payment, method=PaymentMethod.KHQR, updated_at=now)
                await tx.update_payment(payment)
            data = {
                "sessionId": session.id,
                "paymentId": payment_id,
                "policyNumber": policy,
                "amount": amount,
                "currency": currency.value,
                "expiresAt": expires.isoformat(),
                "occurredAt": now.isoformat(),
            }
            events.append(await tx.append_event(payment_id, GENERATED, payment.status, data, now))
        await self.bus.publish(events)
        self.expiry.wake()
        log.info("QR generated", extra={"sessionId": session.id, "paymentId": payment_id})
        return session

    def _check(self, qr_string: str, amount: Decimal, currency: Currency, policy: str) -> None:
        """Never show a customer a QR whose CRC, amount, currency or bill reference is wrong."""
        try:
            payload = decode(qr_string)
        except KhqrError as exc:
            self.alerts.raise_(AlertKind.AMK_QR_INVALID, log, reason=str(exc))
            raise QrMismatch("AMK returned an invalid KHQR", details=str(exc)) from exc
        bill = payload.additional.bill_number if payload.additional else None
        expected = {
            "amount": format_amount(amount, currency),
            "currency": currency.value,
            "billNumber": policy,
        }
        received = {
            "amount": format_amount(payload.amount, currency) if payload.amount is not None else "none",
            "currency": payload.currency,
            "billNumber": str(bill),
        }
        wrong = {k: {"expected": v, "received": received[k]} for k, v in expected.items() if received[k] != v}
        if wrong:
            self.alerts.raise_(AlertKind.AMK_QR_MISMATCH, log, mismatch=wrong)
            raise QrMismatch(details=wrong)

    def dto(self, s: Session) -> dict[str, Any]:
        valid_until = (s.expires_at + timedelta(seconds=self.grace_s)).timestamp()
        return {
            "paymentId": s.payment_id,
            "policyId": s.policy_number,
            "customerName": s.customer_name,
            "amount": s.amount,
            "currency": s.currency.value,
            "qrCode": s.qr_image,
            "qrString": s.qr_string,
            "sessionId": s.id,
            "expiresAt": s.expires_at.isoformat(),
            "subscribeToken": self.auth.issue_subscribe(s.payment_id, valid_until),
            "eventsUrl": f"{self.public_url}/api/payments/{s.payment_id}/events",
            "wsUrl": f"{self.public_url}/ws/payments",
        }

    async def session_status(
        self, session_id: str, wait_s: float = 0, after: int | None = None, *, who: Principal | None = None
    ) -> dict[str, Any]:
        """PENDING | PAID | EXPIRED; with ``wait_s`` it holds until an event newer than ``after``.

        With ``who``, only for a token that may watch the session's payment (``hub.service.watch``; the
        ``service`` role too): ``Forbidden`` for a subscribe token of another payment, and ``NotFound``, as
        for an unknown session, for a customer the payment was not offered to."""
        first = await self._status(session_id, who)
        if wait_s <= 0 or first["status"] != PENDING or (after is not None and first["lastEventId"] > after):
            return first
        subscription = self.hub.subscribe(first["paymentId"], "longpoll")
        try:
            current = await self._status(session_id)  # re-read after subscribing: nothing falls between
            cursor = after if after is not None else current["lastEventId"]
            if current["status"] != PENDING or current["lastEventId"] > cursor:
                return current
            remaining = min(
                wait_s,
                MAX_WAIT_S,
                max(0.0, (datetime.fromisoformat(current["expiresAt"]) - self.clock()).total_seconds()) + 0.05,
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + remaining
            while (left := deadline - loop.time()) > 0:
                frame = await subscription.next(left)
                if frame is None or frame.id > cursor:
                    break
            return await self._status(session_id)
        finally:
            self.hub.unsubscribe(subscription)

    async def _status(self, session_id: str, who: Principal | None = None) -> dict[str, Any]:
        async with self.store.transaction() as tx:
            session = await tx.khqr_sessions.get(session_id)
            if session is not None and who is not None:
                try:
                    allowed = await may_watch(tx, who, session.payment_id, also=("service",))
                except Forbidden:
                    raise Forbidden("This token does not cover that session") from None
                session = session if allowed else None
            if session is None:
                raise NotFound(f"No QR session {session_id}")
            payment = await tx.payment(session.payment_id)
            last = await tx.last_status_event(session.payment_id)
        status = session.status_at(self.clock())
        payment_status = payment.status.value if payment else None
        if payment_status == "CONFIRMED":
            status = PAID
        elif payment_status in ("FAILED", "EXPIRED") and status == PENDING:
            status = "EXPIRED"
        return {
            "sessionId": session.id,
            "paymentId": session.payment_id,
            "status": status,
            "paymentStatus": payment_status,
            "amount": session.amount,
            "currency": session.currency.value,
            "expiresAt": session.expires_at.isoformat(),
            "lastEventId": last.id if last else 0,
        }

    async def on_event(self, event: PaymentEvent) -> None:
        """Bus handler: a confirmed payment marks its QR session PAID."""
        if event.type == PaymentEvent.STATUS and event.status.value == "CONFIRMED":
            async with self.store.transaction() as tx:
                await tx.khqr_sessions.mark_paid(event.payment_id, self.clock())
