"""``backoffice.reconcile.matching.decide``: each outcome, and the rules between AMK's two sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backoffice.reconcile.matching import Listed, Ours, Outcome, Undecidable, Verified, decide
from hub.domain.money import Currency
from hub.domain.payment import PaymentStatus

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
USD = Currency.USD


def ours(status: PaymentStatus = PaymentStatus.CONFIRMED, amount: str = "150.00", since: timedelta = HOUR / 2) -> Ours:
    return Ours(1000000000000, 150001, "P123456789", status, Decimal(amount), USD, NOW - since)


def listed(amount: str = "150.00", currency: Currency = USD) -> Listed:
    return Listed(Decimal(amount), currency, 2)


PAID = Verified("PAID", Decimal("150.00"), USD)
NOT_FOUND = Verified("NOT_FOUND")
DOWN = Verified(None, error="unavailable")


@pytest.mark.parametrize(
    ("mine", "statement", "verify", "expected"),
    [
        (ours(), listed(), PAID, Outcome.MATCHED),
        (ours(), None, PAID, Outcome.MATCHED),  # settled on another day's statement
        (ours(), listed(), DOWN, Outcome.MATCHED),  # the statement decides while verify is down
        (None, listed(), PAID, Outcome.MISSING_IN_PAYHUB),
        (None, None, PAID, Outcome.MISSING_IN_PAYHUB),
        (ours(PaymentStatus.EXPIRED), listed(), PAID, Outcome.MISSING_IN_PAYHUB),
        (ours(), None, NOT_FOUND, Outcome.MISSING_AT_AMK),
        (ours(), None, Verified("UNPAID"), Outcome.MISSING_AT_AMK),
        (ours(), listed("140.00"), Verified("PAID", Decimal("140.00"), USD), Outcome.AMOUNT_MISMATCH),
        (ours(), listed("150", Currency.KHR), PAID, Outcome.AMOUNT_MISMATCH),
        (ours(), listed(), Verified("PAID", Decimal("149.99"), USD), Outcome.AMOUNT_MISMATCH),  # AMK disagrees
        (ours(), None, Verified("PAID", Decimal("1.00"), USD), Outcome.AMOUNT_MISMATCH),
        (ours(PaymentStatus.PROCESSING, since=2 * HOUR), listed(), PAID, Outcome.STUCK_PROCESSING),
        (ours(PaymentStatus.PROCESSING, since=2 * HOUR), None, NOT_FOUND, Outcome.STUCK_PROCESSING),
        (ours(PaymentStatus.PROCESSING, since=HOUR / 2), listed(), PAID, Outcome.MATCHED),  # not yet stuck
        (None, None, NOT_FOUND, Outcome.MATCHED),
    ],
)
def test_outcomes(mine: Ours | None, statement: Listed | None, verify: Verified, expected: Outcome) -> None:
    decision = decide(mine, statement, verify, now=NOW, stuck_after=HOUR)
    assert decision.outcome is expected, decision.detail
    assert decision.detail


@pytest.mark.parametrize("mine", [ours(), None])
def test_amk_unknown_is_undecidable_never_a_guess(mine: Ours | None) -> None:
    with pytest.raises(Undecidable):
        decide(mine, None, Verified(None, error="MERCHANT_NOT_BIND"), now=NOW, stuck_after=HOUR)


@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999.99"), places=2),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999.99"), places=2),
    st.booleans(),
)
def test_matched_exactly_when_amounts_agree(ours_amount: Decimal, amk_amount: Decimal, on_statement: bool) -> None:
    mine = Ours(1, 1, "P1", PaymentStatus.CONFIRMED, ours_amount, USD, NOW)
    statement = Listed(amk_amount, USD, 2) if on_statement else None
    verify = Verified("PAID", amk_amount, USD)
    outcome = decide(mine, statement, verify, now=NOW, stuck_after=HOUR).outcome
    assert (outcome is Outcome.MATCHED) == (ours_amount == amk_amount)
    assert outcome in (Outcome.MATCHED, Outcome.AMOUNT_MISMATCH)
