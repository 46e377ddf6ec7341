"""The KHQR amount field (tag 54), in one place: the encoder's canonical text, the decoder's reading.

Canonical form (what :func:`format_amount` writes): plain decimal, no exponent, no sign; KHR a
whole number (``Decimal("5000")`` -> ``"5000"``), USD exactly two decimals (``Decimal("150")`` ->
``"150.00"``).  The SDK limits the field to 13 characters, so USD is at most 9999999999.99 and
KHR at most 9999999999999.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal

from khqr._tlv import KhqrError

MAX_AMOUNT_CHARS = 13  # bakong-khqr 1.0.20: emv.INVALID_LENGTH.AMOUNT
DECIMAL_PLACES = {"USD": 2, "KHR": 0}
_CTX = Context(prec=40)
_PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def _minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-DECIMAL_PLACES[currency])


def format_amount(amount: object, currency: str) -> str:
    """Canonical tag-54 text of ``amount`` (a finite ``Decimal`` > 0); raises :class:`KhqrError`.

    Never rounds: an amount finer than the currency's minor unit is refused.
    """
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise KhqrError("54 amount: must be a finite decimal.Decimal (never float)")
    if amount <= 0:
        raise KhqrError("54 amount: must be greater than 0")
    if amount.adjusted() >= MAX_AMOUNT_CHARS:
        raise KhqrError(f"54 amount: at most {MAX_AMOUNT_CHARS} characters")
    canonical = amount.quantize(_minor_unit(currency), context=_CTX)
    if canonical != amount:
        places = DECIMAL_PLACES[currency]
        rule = "KHR amounts must be whole numbers" if places == 0 else f"at most {places} decimal places"
        raise KhqrError(f"54 amount: {rule} for {currency}, got {amount}")
    text = f"{canonical:f}"
    if len(text) > MAX_AMOUNT_CHARS:
        raise KhqrError(f"54 amount: at most {MAX_AMOUNT_CHARS} characters, got {text!r}")
    return text


def parse_amount(text: str, currency: str) -> Decimal:
    """Read tag 54 exactly: a plain decimal of 1-13 characters whose value is a whole number of the
    currency's minor unit (cents, riel), returned at the canonical exponent (``"150.5"`` ->
    ``Decimal("150.50")``, ``"5000.00"`` KHR -> ``Decimal("5000")``).  Zero is read as zero: the
    SDK accepts it and the caller compares the amount with what it asked for.

    The SDK accepts any 1-13 characters without ``-``; we refuse text that is not a number and
    values finer than the minor unit, because an amount must be known exactly or not at all.
    """
    if len(text) > MAX_AMOUNT_CHARS:
        raise KhqrError(f"54 amount: at most {MAX_AMOUNT_CHARS} characters, got {len(text)}")
    if not _PLAIN_DECIMAL.fullmatch(text):
        raise KhqrError(f"54 amount: not a plain decimal number: {text!r}")
    value = Decimal(text)
    canonical = value.quantize(_minor_unit(currency), context=_CTX)
    if canonical != value:
        raise KhqrError(f"54 amount: {text!r} is finer than the {currency} minor unit")
    return canonical
