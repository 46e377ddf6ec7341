"""The KHQR amount field (tag 54), in one place: the encoder's canonical text, the decoder's reading
(through PayHub's one amount parser, :mod:`hub.domain.money`).

Canonical form (what :func:`format_amount` writes): plain decimal, no exponent, no sign; KHR a
whole number (``Decimal("5000")`` -> ``"5000"``), USD exactly two decimals (``Decimal("150")`` ->
``"150.00"``).  The SDK limits the field to 13 characters, so USD is at most 9999999999.99 and
KHR at most 9999999999999.
"""

from __future__ import annotations

from decimal import Context, Decimal

from hub.domain import money
from hub.domain.khqr._tlv import KhqrError, units

MAX_AMOUNT_CHARS = 13  # bakong-khqr 1.0.20: emv.INVALID_LENGTH.AMOUNT
DECIMAL_PLACES = {"USD": 2, "KHR": 0}
_CTX = Context(prec=40)


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
    """Read tag 54 with PayHub's one amount parser (:func:`hub.domain.money.parse_amount`): the exact
    value at the currency's exponent (``"150.5"`` -> ``Decimal("150.50")``, ``"5000.00"`` KHR ->
    ``Decimal("5000")``), or :class:`KhqrError`.

    The SDK's own rule comes first: at most 13 characters and no ``-`` (so ``"1E-2"`` is refused as
    the SDK refuses it).  Beyond that the SDK accepts any text; the parser refuses what is not a
    decimal number, zero, and more decimals or integer digits than the currency has, because money
    must be read exactly or not at all.  These refusals say "(PayHub's amount parser)".
    """
    if units(text) > MAX_AMOUNT_CHARS:
        raise KhqrError(f"54 amount: at most {MAX_AMOUNT_CHARS} characters, got {units(text)}")
    if "-" in text:
        raise KhqrError(f"54 amount: must not contain '-', got {text!r}")
    try:
        return money.parse_amount(text, money.Currency(currency), field="54 amount")
    except money.MoneyError as exc:
        raise KhqrError(f"54 amount: {exc.reason} (PayHub's amount parser)") from exc
