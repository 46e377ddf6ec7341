"""Money: ``Decimal`` amounts with the currency's exact number of decimals.

:func:`parse_amount` is the one parser for every amount that enters PayHub (both AMK webhooks, AMK's
payment-verify answers, KHQR tag 54, the premium CSV import, the integration service's inquiry
answers, sandbox requests). :func:`format_amount` is the one formatter. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, Inexact, InvalidOperation
from enum import StrEnum

from hub.errors import MoneyError as MoneyError  # re-exported: its home was here


class Currency(StrEnum):
    USD = "USD"
    KHR = "KHR"

    @property
    def decimals(self) -> int:
        """Decimal places of an amount (its scale).

        USD: 2 (ISO 4217 minor unit, cents). KHR: 0 — whole riel, as the Bakong KHQR SDK (``bakong-khqr``)
        writes and checks KHR amounts and as the KHQR codec of this project encodes them; ISO 4217 lists
        a minor unit of 2 for KHR, but no sub-riel unit is in use and AMK's spec shows none.
        """
        return 2 if self is Currency.USD else 0

    @property
    def max_integer_digits(self) -> int:
        """Digits before the decimal point: USD 10, KHR 13.

        Source: EMVCo MPM tag 54 (Transaction Amount) holds at most 13 characters, and every premium must
        be payable by KHQR, so an amount is at most ``9999999999.99`` USD or ``9999999999999`` KHR
        (the database column, ``NUMERIC(20, 2)``, holds more).
        """
        return 13 - (self.decimals + 1 if self.decimals else 0)

    @property
    def numeric_code(self) -> str:
        """ISO 4217 numeric code, as KHQR tag 53 writes it."""
        return "840" if self is Currency.USD else "116"


def parse_currency(value: object, *, field: str = "currency") -> Currency:
    if not isinstance(value, str):
        raise MoneyError(f"currency must be a string, got {type(value).__name__}", field=field)
    try:
        return Currency(value.strip().upper())
    except ValueError as exc:
        raise MoneyError(f"unknown currency {value[:16]!r}; expected USD or KHR", field=field) from exc


# A JSON number (RFC 8259 §6), ASCII digits only; leading zeros are allowed in text (CSV cells).
# ``Decimal(str)`` alone would also read "1_000", "Inf", "sNaN" and non-ASCII digits.
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_MAX_TEXT = 64  # characters of text read at all; any valid amount is far shorter
# Traps every inexact step: after the bounds below none can happen, and none may pass silently.
_EXACT = Context(prec=40, traps=[InvalidOperation, Inexact])


def parse_amount(value: object, currency: Currency, *, field: str = "amount") -> Decimal:
    """The exact amount ``value`` denotes, with ``currency.decimals`` decimals; or :class:`MoneyError`.

    ``value``: a ``Decimal`` (as the JSON codec reads every JSON number with a fraction or exponent), an
    ``int``, or text (a JSON string, a CSV cell, KHQR tag 54) in JSON number syntax with optional
    surrounding whitespace. A ``float`` (never produced by PayHub's JSON codec) is read through its
    shortest ``repr``. The value is read exactly and validated before any arithmetic; nothing is rounded:

    - refused: booleans, other types, NaN/Infinity, zero and negatives, text that is not a decimal number;
    - refused: more decimals than the currency has (``150.001`` USD, ``600000.5`` KHR); trailing zeros are
      not extra decimals (``150.000`` USD is ``150.00``);
    - refused: more than ``currency.max_integer_digits`` digits before the point (``1E+30``, ``1e309``,
      ``123456789012345678901234567890.12``) and text whose exponent is past what ``decimal`` holds
      (``"1e999999999999999999999"``);
    - accepted: exponent forms that denote an exact amount within those bounds (``6E+5`` KHR is 600000,
      ``1.5E+2`` USD is 150.00) — Java's ``BigDecimal.toString()``, which AMK's DTOs use, writes them.

    Returns a ``Decimal`` whose exponent is ``-currency.decimals`` (``Decimal("150.00")``, ``Decimal("600000")``).
    """
    amount = read_decimal(value, field=field)
    if amount.is_zero() or amount.is_signed():
        raise MoneyError("must be greater than 0", field=field)
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite
    zeros = 0
    for digit in reversed(digits):  # trailing zeros are not extra decimals
        if digit:
            break
        zeros += 1
    lowest = exponent + zeros  # exponent of the last non-zero digit
    if -lowest > currency.decimals:
        rule = "whole numbers" if currency.decimals == 0 else f"at most {currency.decimals} decimals"
        raise MoneyError(f"{currency.value} amounts are {rule}", field=field)
    if amount.adjusted() + 1 > currency.max_integer_digits:
        largest = f"{'9' * currency.max_integer_digits}{'.' + '9' * currency.decimals if currency.decimals else ''}"
        raise MoneyError(f"{currency.value} amounts are at most {largest}", field=field)
    try:
        return amount.quantize(Decimal(1).scaleb(-currency.decimals, _EXACT), context=_EXACT)
    except ArithmeticError as exc:  # unreachable after the checks above; never let it pass as a 500
        raise MoneyError(f"cannot be read exactly: {exc!r}", field=field) from exc


def read_decimal(value: object, *, field: str = "amount") -> Decimal:
    """First step of :func:`parse_amount`, for validators that learn the currency later: the exact, finite
    ``Decimal`` that ``value`` denotes (same accepted inputs), or :class:`MoneyError`. No bounds yet."""
    amount = _read(value, field)
    if not amount.is_finite():
        raise MoneyError("must be a finite number", field=field)
    return amount


def _read(value: object, field: str) -> Decimal:
    if isinstance(value, bool):
        raise MoneyError("must be a number, not a boolean", field=field)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # Only reached by callers holding a float already; repr is the shortest text that round-trips.
        value = repr(value)
    if not isinstance(value, str):
        raise MoneyError(f"must be a number, got {type(value).__name__}", field=field)
    text = value.strip()
    shown = text if len(text) <= 24 else text[:24] + "…"
    if len(text) > _MAX_TEXT or not _NUMBER.fullmatch(text):
        raise MoneyError(f"{shown!r} is not a decimal number", field=field)
    try:
        return Decimal(text)  # exact: constructing a Decimal from text never rounds
    except ArithmeticError as exc:  # an exponent past decimal's ±999999999999999999 (InvalidOperation)
        raise MoneyError(f"{shown!r} is out of range", field=field) from exc


def quantize(amount: Decimal, currency: Currency) -> Decimal:
    """``amount`` at the currency's scale; for amounts already validated by :func:`parse_amount`."""
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
