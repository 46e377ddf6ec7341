"""The one amount parser (hub.domain.money.parse_amount): exact value or MoneyError, nothing else.

The oracle is ``fractions.Fraction``, which reads decimal text exactly and shares no code with ``Decimal``:
an amount is accepted iff it is > 0, has at most the currency's decimals and at most its integer digits.
"""

from __future__ import annotations

import binascii
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from hub import json_codec
from hub.domain.khqr.codec import KhqrError, KhqrPayload, MerchantAccount, decode, encode
from hub.domain.money import Currency, MoneyError, parse_amount, read_decimal

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A JSON number (RFC 8259 §6), biased towards the interesting region around the bounds.
_DIGITS = st.text("0123456789", min_size=1, max_size=40)
json_numbers = st.one_of(
    st.builds(
        lambda sign, whole, frac, exp: f"{sign}{whole.lstrip('0') or '0'}{frac}{exp}",
        st.sampled_from(["", "-"]),
        _DIGITS,
        st.one_of(st.just(""), _DIGITS.map(lambda d: "." + d)),
        st.one_of(
            st.just(""),
            st.builds(
                lambda e, s, n: f"{e}{s}{n}",
                st.sampled_from("eE"),
                st.sampled_from(["", "+", "-"]),
                st.integers(0, 400).map(str),
            ),
        ),
    ),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-1, max_value=10**11).map(str),
    st.integers(-5, 10**14).map(str),
)


def _oracle(text: str, currency: Currency) -> Fraction | None:
    value = Fraction(text)
    if value <= 0 or (value * 10**currency.decimals).denominator != 1:
        return None
    if value >= 10**currency.max_integer_digits:
        return None
    return value


# --- the issue's examples (each raised decimal.InvalidOperation before: a 500 on the webhook) ---


@pytest.mark.parametrize("text", ["1E+30", "1e309", "123456789012345678901234567890.12"])
@pytest.mark.parametrize("currency", list(Currency))
def test_issue_examples_are_refused_not_crashed(text: str, currency: Currency) -> None:
    value = json_codec.loads(text)  # as the webhook body reads them: exact Decimals
    assert isinstance(value, Decimal)
    with pytest.raises(MoneyError) as caught:
        parse_amount(value, currency)
    assert caught.value.field == "amount"
    with pytest.raises(MoneyError):
        parse_amount(text, currency)  # the same as text (CSV cell, JSON string)


def test_bounds_per_currency() -> None:
    assert parse_amount("9999999999.99", Currency.USD) == Decimal("9999999999.99")
    assert parse_amount("9999999999999", Currency.KHR) == Decimal("9999999999999")
    for text, currency in (("10000000000", Currency.USD), ("10000000000000", Currency.KHR)):
        with pytest.raises(MoneyError, match="at most"):
            parse_amount(text, currency)


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (Decimal("6E+5"), Currency.KHR, "600000"),  # Java BigDecimal.toString() writes such forms
        (Decimal("1.5E+2"), Currency.USD, "150.00"),
        (Decimal("15000E-2"), Currency.USD, "150.00"),
        (Decimal("150.0000000000000000000000000000000"), Currency.USD, "150.00"),  # beyond 28 digits, exact
        ("  75.5\n", Currency.USD, "75.50"),
    ],
)
def test_exact_forms_accepted(value: object, currency: Currency, expected: str) -> None:
    assert str(parse_amount(value, currency)) == expected


@pytest.mark.parametrize(
    "value",
    [
        "1_000",  # Decimal("1_000") is 1000
        "١٢٣",  # Decimal reads non-ASCII digits
        "Inf",
        "sNaN",
        "-0",
        "+5",
        "0x10",
        "1.",
        ".5",
        "5" * 65,
        Decimal("sNaN"),
        Decimal("-Infinity"),
        Decimal("150.0000000000000000000000000000001"),  # would round to 150.00 in a 28-digit context
        [],
        {"amount": 1},
        b"150",
    ],
)
def test_refused_forms(value: object) -> None:
    with pytest.raises(MoneyError):
        parse_amount(value, Currency.USD)


# Exponents beyond what ``decimal`` can hold (±999999999999999999): Decimal(text) raised
# decimal.InvalidOperation, an ArithmeticError that every caller let through as a 500 or a traceback.
OUT_OF_RANGE = [
    "1e999999999999999999999",
    "1E-999999999999999999999",
    "0e99999999999999999999999",
    "9E+1000000000000000000",
]


@pytest.mark.parametrize("text", OUT_OF_RANGE)
@pytest.mark.parametrize("currency", list(Currency))
def test_exponent_beyond_the_decimal_range_is_refused(text: str, currency: Currency) -> None:
    with pytest.raises(MoneyError) as caught:
        parse_amount(text, currency, field="paid_amount")
    assert caught.value.field == "paid_amount"
    with pytest.raises(MoneyError):
        read_decimal(f" {text} ")


def test_error_names_the_field() -> None:
    with pytest.raises(MoneyError) as caught:
        parse_amount("abc", Currency.USD, field="paid_amount")
    assert (caught.value.field, isinstance(caught.value, ValueError)) == ("paid_amount", True)


# --- properties ---


@FAST
@given(json_numbers, st.sampled_from(list(Currency)), st.booleans())
@example("1E+30", Currency.USD, False)
@example("1e309", Currency.KHR, False)
@example("123456789012345678901234567890.12", Currency.USD, False)
@example("150.001", Currency.USD, True)
def test_any_json_number_or_string_is_exact_or_refused(text: str, currency: Currency, as_string: bool) -> None:
    value: Any = text if as_string else json_codec.loads(text)
    expected = _oracle(text, currency)
    try:
        amount = parse_amount(value, currency)
    except MoneyError:
        assert expected is None, f"{text} refused, but it is the exact amount {expected}"
        return
    assert expected is not None, f"{text} accepted as {amount}"
    assert Fraction(amount) == expected  # the exact value, never rounded
    assert amount.as_tuple().exponent == -currency.decimals


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.decimals(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)


@FAST
@given(json_values | st.binary() | st.text(), st.sampled_from(list(Currency)))
def test_anything_else_parses_or_raises_money_error_only(value: object, currency: Currency) -> None:
    try:
        amount = parse_amount(value, currency)
    except MoneyError:
        return
    assert isinstance(amount, Decimal) and amount > 0


# --- KHQR tag 54: the codec reads the amount with the same reader and the same bounds ---

_USD = KhqrPayload(
    MerchantAccount("payhub_sandbox@amkb", "000000000000001", "AMK Sandbox"),
    "PayHub",
    "Phnom Penh",
    "USD",
    created_ms=1_700_000_000_000,  # an amount needs tag 99 (the SDK refuses 54 without it)
    expires_ms=1_700_000_900_000,
)


def _qr_with_amount_text(text: str, currency: Currency) -> str:
    base = encode(KhqrPayload(**{**_USD.__dict__, "currency": currency.value, "amount": Decimal(1)}))
    canonical = "1.00" if currency is Currency.USD else "1"
    body = base[:-4].replace(f"54{len(canonical):02d}{canonical}", f"54{len(text):02d}{text}", 1)
    return body + f"{binascii.crc_hqx(body.encode(), 0xFFFF):04X}"  # CRC-16/CCITT-FALSE


@FAST
@given(st.text("0123456789", min_size=1, max_size=13), st.sampled_from(list(Currency)))
def test_khqr_tag_54_agrees_with_the_amount_parser(digits: str, currency: Currency) -> None:
    text = digits if currency is Currency.KHR or len(digits) < 3 else f"{digits[:-2]}.{digits[-2:]}"
    assume(len(text) <= 13)  # the tag's own length limit (EMVCo), checked before the value
    try:
        decoded = decode(_qr_with_amount_text(text, currency)).amount
    except KhqrError:
        decoded = None
    try:
        parsed: Decimal | None = parse_amount(text, currency)
    except MoneyError:
        parsed = None
    assert decoded == parsed
    if parsed is not None:
        assert str(decoded) == str(parsed)


def test_read_decimal_reads_without_bounds() -> None:
    assert read_decimal("1E+30") == Decimal("1E+30")
    with pytest.raises(MoneyError):
        read_decimal("NaN")
