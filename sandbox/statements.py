"""The sandbox bank's settlement statements, and the edits that make it disagree with PayHub.

``GET /sandbox/amk/statements/{YYYY-MM-DD}.csv`` lists every PAID transaction the sandbox bank holds
with its channel and paid time on that day (Asia/Phnom_Penh), in the one statement format
(``hub.adapters.amk.statement_csv``). ``POST /sandbox/amk/control`` with
``{"statement": {"drop": [...], "add": [...], "alter": [...]}}`` changes what the bank holds, so its
statements AND its payment-verify answers agree with each other and differ from PayHub:

- ``drop``: ``["<txId>", …]``: the bank forgets the transaction (PayHub has money AMK does not report);
- ``add``: ``[{"txId", "channel": "BILL"|"KHQR", "amount", "currency", "paidAt"?, "billNumber"?}, …]``:
  money PayHub never heard of (``paidAt``: ISO 8601, default now);
- ``alter``: ``[{"txId", "amount"?, "currency"?}, …]``: the bank holds another amount or currency.

Everything is checked before anything changes: a refused request leaves the bank as it was.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from hub.adapters.amk.statement_csv import BILL_NUMBER, TX_ID
from hub.domain.money import MoneyError, parse_amount, parse_currency
from hub.domain.payment import PaymentMethod
from hub.domain.reconciliation import StatementEntry
from hub.domain.timezones import PHNOM_PENH
from hub.errors import BadRequest
from sandbox.state import SandboxState, Transaction


def statement_entries(state: SandboxState, day: date) -> list[StatementEntry]:
    return [
        StatementEntry(
            day,
            t.tx_id,
            PaymentMethod(t.channel),
            parse_amount(t.amount, parse_currency(t.currency)),
            parse_currency(t.currency),
            t.paid_at or state.now(),
            t.bill_number,
        )
        for t in state.statement(day)
    ]


def _bad(field: str, message: str) -> BadRequest:
    return BadRequest("Invalid statement edit", details=[{"field": f"statement.{field}", "message": message}])


def _list(edits: dict[str, Any], name: str) -> list[Any]:
    value = edits.get(name) or []
    if not isinstance(value, list):
        raise _bad(name, "must be a list")
    return value


def _tx_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not TX_ID.fullmatch(value):
        raise _bad(field, "txId: 1-64 letters, digits or _-.:/")
    return value


def _money(entry: dict[str, Any], field: str, amount: Any, currency: Any) -> tuple[Any, str]:
    try:
        parsed_currency = parse_currency(currency, field="currency")
        return parse_amount(amount, parsed_currency), parsed_currency.value
    except MoneyError as exc:
        raise _bad(f"{field}.{exc.field}", exc.reason) from exc


def plan_edits(state: SandboxState, edits: Any) -> list[tuple[str, Transaction | None]]:
    """The changes ``edits`` ask for as ``(txId, transaction or None to drop)``, all validated first;
    ``BadRequest`` naming the field otherwise."""
    if not isinstance(edits, dict):
        raise _bad("", "must be an object with drop, add and alter lists")
    known = dict(state.transactions)
    plan: list[tuple[str, Transaction | None]] = []
    for n, raw in enumerate(_list(edits, "drop")):
        tx_id = _tx_id(raw, f"drop[{n}]")
        if known.pop(tx_id, None) is None:
            raise _bad(f"drop[{n}]", f"the bank holds no transaction {tx_id}")
        plan.append((tx_id, None))
    for n, entry in enumerate(_list(edits, "add")):
        field = f"add[{n}]"
        if not isinstance(entry, dict):
            raise _bad(field, "must be an object")
        tx_id = _tx_id(entry.get("txId"), field)
        if tx_id in known:
            raise _bad(field, f"the bank already holds {tx_id}: use alter")
        channel = str(entry.get("channel", "")).upper()
        if channel not in PaymentMethod.__members__:
            raise _bad(f"{field}.channel", "BILL or KHQR")
        amount, currency = _money(entry, field, entry.get("amount"), entry.get("currency"))
        paid_at = state.now()
        if entry.get("paidAt") is not None:
            try:
                paid_at = datetime.fromisoformat(str(entry["paidAt"]))
            except ValueError:
                raise _bad(f"{field}.paidAt", "ISO 8601 date and time") from None
            paid_at = paid_at if paid_at.tzinfo else paid_at.replace(tzinfo=PHNOM_PENH)
        bill = entry.get("billNumber")
        if bill is not None and not (isinstance(bill, str) and BILL_NUMBER.fullmatch(bill)):
            raise _bad(f"{field}.billNumber", "1-25 letters or digits")
        known[tx_id] = Transaction(tx_id, "PAID", amount, currency, channel, paid_at, bill)
        plan.append((tx_id, known[tx_id]))
    for n, entry in enumerate(_list(edits, "alter")):
        field = f"alter[{n}]"
        if not isinstance(entry, dict):
            raise _bad(field, "must be an object")
        tx_id = _tx_id(entry.get("txId"), field)
        held = known.get(tx_id)
        if held is None:
            raise _bad(field, f"the bank holds no transaction {tx_id}")
        amount, currency = _money(entry, field, entry.get("amount", held.amount), entry.get("currency", held.currency))
        known[tx_id] = replace(held, amount=amount, currency=currency)
        plan.append((tx_id, known[tx_id]))
    return plan


def apply_edits(state: SandboxState, plan: list[tuple[str, Transaction | None]]) -> None:
    for tx_id, transaction in plan:
        if transaction is None:
            state.transactions.pop(tx_id, None)
        else:
            state.record(transaction)
