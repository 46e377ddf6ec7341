"""PayHub's record of one transaction, found by the id AMK's payment-verify knows it by.

- A bill payment (``BILL``) is found by its ``bankTransactionId``: the webhook receipt ``BILL:<id>`` that
  recorded its money (answered 200, or 202 while AMK's verdict was pending) names the payment and the
  amount accepted; a payment carrying the id as its ``transaction_id`` is the fallback.
- A KHQR payment is found by its invoice number: the payment id PayHub gave AMK's QR generator (a
  smaller number is a bill id AMK echoed: the premium's one KHQR attempt holding money), with the
  amount of its ``KHQR:<paymentId>:SUCCESS`` receipt.
"""

from __future__ import annotations

from decimal import Decimal

from backoffice.reconcile.matching import Ours
from hub.constants import PAYMENT_ID_FLOOR
from hub.domain.money import Currency, MoneyError, parse_amount, parse_currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import Payment, PaymentEvent, Receipt
from hub.ports import StoreTx

MONEY_ANSWERS = (200, 202)
HOLDS_MONEY = (PaymentStatus.PROCESSING, PaymentStatus.CONFIRMED)
_MAX_ID = 2**63 - 1


async def our_record(tx: StoreTx, channel: str, tx_ref: str) -> Ours | None:
    """PayHub's record of the transaction ``tx_ref`` on ``channel`` (``BILL`` or ``KHQR``), or None."""
    if channel == PaymentMethod.BILL:
        receipt = await tx.receipt(f"BILL:{tx_ref}")
        if _recorded_money(receipt):
            assert receipt is not None and receipt.payment_id is not None
            payment = await tx.payment(receipt.payment_id)
            if payment is not None:
                return await _ours(tx, payment, receipt)
        found = await tx.reconciliation.payments_by_transaction(tx_ref, HOLDS_MONEY)
        return await _ours(tx, found[0], None) if found else None
    if channel == PaymentMethod.KHQR:
        payment = await _khqr_payment(tx, tx_ref)
        if payment is None:
            return None
        receipt = await tx.receipt(f"KHQR:{payment.id}:SUCCESS")
        return await _ours(tx, payment, receipt if _recorded_money(receipt) else None)
    return None


def _recorded_money(receipt: Receipt | None) -> bool:
    return receipt is not None and receipt.payment_id is not None and receipt.response_status in MONEY_ANSWERS


async def _khqr_payment(tx: StoreTx, tx_ref: str) -> Payment | None:
    if not (tx_ref.isascii() and tx_ref.isdigit() and len(tx_ref) <= 19 and 0 < int(tx_ref) <= _MAX_ID):
        return None
    number = int(tx_ref)
    if number >= PAYMENT_ID_FLOOR:
        return await tx.payment(number)
    # A bill id: the premium's one KHQR attempt holding money (none or several: not PayHub's record of it).
    held = [p for p in await tx.payments_for(number) if p.method is PaymentMethod.KHQR and p.status in HOLDS_MONEY]
    return held[0] if len(held) == 1 else None


async def _ours(tx: StoreTx, payment: Payment, receipt: Receipt | None) -> Ours:
    amount, currency = payment.amount, payment.currency
    if receipt is not None:
        amount, currency = _receipt_money(receipt, amount, currency)
    since = payment.updated_at
    for event in await tx.events_of_type(payment.id, PaymentEvent.STATUS):
        if event.status in HOLDS_MONEY:
            since = event.occurred_at
            break
    return Ours(payment.id, payment.premium_id, payment.policy_number, payment.status, amount, currency, since)


def _receipt_money(receipt: Receipt, amount: Decimal, currency: Currency) -> tuple[Decimal, Currency]:
    """The amount a receipt accepted: its fingerprint is ``<amount>|<currency>`` (``format_amount``)."""
    text, _, code = receipt.fingerprint.partition("|")
    try:
        parsed_currency = parse_currency(code)
        return parse_amount(text, parsed_currency), parsed_currency
    except MoneyError:
        return amount, currency
