"""Money: ``Decimal`` amounts with the currency's exact number of decimals."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from hub.errors import MoneyError as MoneyError  # re-exported: its home was here


class Currency(StrEnum):
    USD = "USD"
    KHR = "KHR"

    @property
    def decimals(self) -> int:
        return 2 if self is Currency.USD else 0

    @property
    def numeric_code(self) -> str:
        """ISO 4217 numeric code, as KHQR tag 53 writes it."""
        return "840" if self is Currency.USD else "116"


def parse_currency(value: str) -> Currency:
    try:
        return Currency(value.strip().upper())
    except ValueError as exc:
        raise MoneyError(f"unknown currency {value!r}; expected USD or KHR") from exc


def parse_amount(value: object, currency: Currency) -> Decimal:
    """Parse an amount exactly. Rejects floats' noise, negatives, zero and extra decimals."""
    if isinstance(value, bool):
        raise MoneyError("amount must be a number")
    if isinstance(value, float):
        # JSON numbers arrive as floats from some parsers: go through repr to keep what was sent.
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError(f"amount {value!r} is not a number") from exc
    if not amount.is_finite():
        raise MoneyError("amount must be finite")
    if amount <= 0:
        raise MoneyError("amount must be greater than 0")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > currency.decimals:
        raise MoneyError(f"{currency.value} amounts have at most {currency.decimals} decimals")
    return quantize(amount, currency)


def quantize(amount: Decimal, currency: Currency) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-currency.decimals), rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal, currency: Currency) -> str:
    """The one formatting function: USD "150.00", KHR "600000"."""
    return f"{quantize(amount, currency):f}"


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: Currency

    @classmethod
    def of(cls, amount: object, currency: str | Currency) -> Money:
        cur = currency if isinstance(currency, Currency) else parse_currency(currency)
        return cls(parse_amount(amount, cur), cur)

    def __str__(self) -> str:
        return f"{format_amount(self.amount, self.currency)} {self.currency.value}"

    @property
    def text(self) -> str:
        return format_amount(self.amount, self.currency)
