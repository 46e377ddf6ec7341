"""The payment state machine against an explicit table, and the money rules."""

from __future__ import annotations

from decimal import Decimal
from itertools import product

import pytest

from hub.domain.money import Currency, Money, MoneyError, format_amount, parse_amount, parse_currency
from hub.domain.payment import Outcome, PaymentStatus, can_transition, decide

S = PaymentStatus
AP, RV, IG, NO = Outcome.APPLY, Outcome.APPLY_REVIEW, Outcome.IGNORE, Outcome.NOOP

# Rows: current status; columns: target in this order.
COLUMNS = (S.PENDING, S.PROCESSING, S.CONFIRMED, S.FAILED, S.EXPIRED)
# fmt: off
TABLE: dict[PaymentStatus, tuple[Outcome, ...]] = {
    #              PENDING PROCESSING CONFIRMED FAILED EXPIRED
    S.PENDING:    (NO,     AP,        AP,       AP,    AP),
    S.PROCESSING: (IG,     NO,        AP,       AP,    IG),
    S.CONFIRMED:  (IG,     IG,        NO,       IG,    IG),
    S.FAILED:     (IG,     RV,        RV,       NO,    IG),
    S.EXPIRED:    (IG,     RV,        RV,       IG,    NO),
}
# fmt: on
EXPECTED = {
    (current, target): outcome for current, row in TABLE.items() for target, outcome in zip(COLUMNS, row, strict=True)
}


def test_table_covers_every_pair() -> None:
    assert set(EXPECTED) == set(product(PaymentStatus, PaymentStatus))


@pytest.mark.parametrize(("current", "target"), sorted(EXPECTED))
def test_every_transition_matches_the_table(current: PaymentStatus, target: PaymentStatus) -> None:
    decision = decide(current, target)
    assert decision.outcome is EXPECTED[current, target]
    assert decision.changes_status is (decision.outcome in (AP, RV))
    assert can_transition(current, target) is decision.changes_status
    if decision.outcome is not AP:
        assert decision.reason  # everything that is not a plain move says why


def test_terminal_statuses() -> None:
    assert {s for s in PaymentStatus if s.terminal} == {S.CONFIRMED, S.FAILED, S.EXPIRED}


@pytest.mark.parametrize("terminal", [S.CONFIRMED, S.FAILED, S.EXPIRED])
def test_terminal_statuses_never_go_back(terminal: PaymentStatus) -> None:
    assert not can_transition(terminal, S.PENDING)
    # Nothing turns a terminal status into another "closed without money" status either.
    for other in (S.FAILED, S.EXPIRED):
        if other is not terminal:
            assert not can_transition(terminal, other)


def test_confirmed_is_final() -> None:
    assert [t for t in PaymentStatus if can_transition(S.CONFIRMED, t)] == []


def test_late_failed_after_confirmed_is_ignored() -> None:
    decision = decide(S.CONFIRMED, S.FAILED)
    assert decision.outcome is Outcome.IGNORE
    assert "FAILED" in decision.reason and "CONFIRMED" in decision.reason


@pytest.mark.parametrize("closed", [S.EXPIRED, S.FAILED])
def test_money_after_expired_or_failed_is_applied_for_review(closed: PaymentStatus) -> None:
    decision = decide(closed, S.CONFIRMED)
    assert decision.outcome is Outcome.APPLY_REVIEW
    assert closed.value in decision.reason


def test_same_status_is_noop() -> None:
    for status in PaymentStatus:
        assert decide(status, status).outcome is Outcome.NOOP


# --- money ---


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("150.00", Currency.USD, "150.00"),
        ("150", Currency.USD, "150.00"),
        ("150.1", Currency.USD, "150.10"),
        (" 0.01 ", Currency.USD, "0.01"),
        (150, Currency.USD, "150.00"),
        (Decimal("75.50"), Currency.USD, "75.50"),
        ("600000", Currency.KHR, "600000"),
        (600000, Currency.KHR, "600000"),
        ("600000.0", Currency.KHR, "600000"),  # trailing zeros are not extra precision
        (Decimal("1E+6"), Currency.KHR, "1000000"),
    ],
)
def test_parse_amount_accepts(value: object, currency: Currency, expected: str) -> None:
    amount = parse_amount(value, currency)
    assert isinstance(amount, Decimal)
    assert str(amount) == expected
    assert -amount.as_tuple().exponent == currency.decimals  # type: ignore[operator]


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        ("150.001", Currency.USD),
        ("0.001", Currency.USD),
        ("600000.5", Currency.KHR),
        ("1.5", Currency.KHR),
        ("0", Currency.USD),
        ("0.00", Currency.USD),
        (0, Currency.KHR),
        ("-1", Currency.USD),
        (-150, Currency.KHR),
        ("abc", Currency.USD),
        ("", Currency.USD),
        (None, Currency.USD),
        ("NaN", Currency.USD),
        ("Infinity", Currency.USD),
        (float("inf"), Currency.USD),
        (float("nan"), Currency.USD),
        (True, Currency.USD),
        (False, Currency.KHR),
        (0.1 + 0.2, Currency.USD),  # 0.30000000000000004: float noise is refused, not rounded
    ],
)
def test_parse_amount_rejects(value: object, currency: Currency) -> None:
    with pytest.raises(MoneyError):
        parse_amount(value, currency)


def test_parse_amount_reads_floats_through_repr() -> None:
    # Decimal(150.1) would be 150.099999999999994315658113919198513031005859375.
    assert parse_amount(150.1, Currency.USD) == Decimal("150.10")
    assert parse_amount(0.07, Currency.USD) == Decimal("0.07")
    assert parse_amount(600000.0, Currency.KHR) == Decimal("600000")
    with pytest.raises(MoneyError):
        parse_amount(150.125, Currency.USD)


def test_money_error_is_a_value_error() -> None:
    assert issubclass(MoneyError, ValueError)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (Decimal("150"), Currency.USD, "150.00"),
        (Decimal("150.00"), Currency.USD, "150.00"),
        (Decimal("0.5"), Currency.USD, "0.50"),
        (Decimal("600000"), Currency.KHR, "600000"),
        (Decimal("600000.00"), Currency.KHR, "600000"),  # as PostgreSQL NUMERIC(20,2) returns it
        (Decimal("6E+5"), Currency.KHR, "600000"),  # never scientific notation
        (Decimal("1234567.89"), Currency.USD, "1234567.89"),
    ],
)
def test_format_amount(amount: Decimal, currency: Currency, text: str) -> None:
    assert format_amount(amount, currency) == text


def test_currency_decimals_and_codes() -> None:
    assert (Currency.USD.decimals, Currency.KHR.decimals) == (2, 0)
    assert (Currency.USD.numeric_code, Currency.KHR.numeric_code) == ("840", "116")
    assert parse_currency(" usd ") is Currency.USD
    with pytest.raises(MoneyError):
        parse_currency("EUR")


def test_money_of() -> None:
    usd = Money.of("150", "usd")
    assert usd == Money(Decimal("150.00"), Currency.USD)
    assert usd.text == "150.00" and str(usd) == "150.00 USD"
    khr = Money.of(600000, Currency.KHR)
    assert khr.amount == Decimal("600000") and str(khr) == "600000 KHR"
    assert Money.of(150.1, "USD").text == "150.10"
    for bad in (("1.234", "USD"), ("1", "EUR"), ("0", "KHR"), (True, "USD")):
        with pytest.raises(MoneyError):
            Money.of(*bad)
