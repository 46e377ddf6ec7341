"""The analytics report (``hub.domain.analytics``) and its range (``backoffice.analytics.query``): pure code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backoffice.analytics.query import MAX_RANGE, RangeQuery, parse_range
from hub.domain.analytics import (
    PHNOM_PENH,
    PHNOM_PENH_OFFSET_HOURS,
    AnalyticsRange,
    PaymentFigures,
    hour_label,
    peak_hours,
    report,
)
from hub.domain.payment import PaymentStatus
from hub.errors import BadRequest
from hub.json_codec import dumps

WINDOW = AnalyticsRange(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def metrics(figures: PaymentFigures) -> dict[str, Any]:
    document: dict[str, Any] = report(figures, WINDOW, NOW)["analytics"]
    return {**document["realTimeMetrics"], **document["businessMetrics"]}


def test_rates_and_times_are_rounded_half_up_once_from_the_exact_value() -> None:
    figures = PaymentFigures(
        ended={PaymentStatus.CONFIRMED: 2, PaymentStatus.FAILED: 1},
        processing_count=2,
        processing_us=4_699_000,  # mean 2.3495 s: 2.350 to the ms, 2.3 (not 2.4) to the tenth
        by_method={"KHQR": 1, "BILL": 1},
        by_hour=(0,) * 23 + (2,),
        volume={"USD": Decimal("0.30")},
    )
    m = metrics(figures)
    assert m["successRate"] == Decimal("0.6667")
    assert (m["averageProcessingTime"], m["averageProcessingTimeSeconds"]) == ("2.3 seconds", Decimal("2.350"))
    assert m["peakHours"] == ["23:00-00:00"]
    assert m["popularPaymentMethods"] == {"BILL_PAYMENT": Decimal("0.5000"), "KHQR": Decimal("0.5000")}
    assert m["totalVolume"] == {"USD": "0.30", "KHR": "0"}
    # JSON numbers keep their exact text (the one codec writes Decimals as they are)
    assert '"successRate":0.6667' in dumps(report(figures, WINDOW, NOW))


def test_one_in_twenty_thousand_rounds_up_to_a_basis_point() -> None:
    figures = PaymentFigures(
        ended={PaymentStatus.CONFIRMED: 1, PaymentStatus.EXPIRED: 19_999}, by_hour=(1,) + (0,) * 23
    )
    assert metrics(figures)["successRate"] == Decimal("0.0001")


def test_payments_without_a_method_are_named_unknown() -> None:
    figures = PaymentFigures(ended={PaymentStatus.CONFIRMED: 4}, by_method={"KHQR": 3, "UNKNOWN": 1})
    assert metrics(figures)["popularPaymentMethods"] == {"KHQR": Decimal("0.7500"), "UNKNOWN": Decimal("0.2500")}


@pytest.mark.parametrize(
    ("by_hour", "peaks"),
    [
        ((0,) * 24, []),
        (tuple(1 if h in (3, 20) else 0 for h in range(24)), ["03:00-04:00", "20:00-21:00"]),
        (tuple(h % 5 for h in range(24)), ["04:00-05:00", "09:00-10:00", "14:00-15:00"]),  # ties: earlier first
        (tuple(24 - h for h in range(24)), ["00:00-01:00", "01:00-02:00", "02:00-03:00"]),
    ],
)
def test_peak_hours_are_the_busiest_first_then_the_earliest(by_hour: tuple[int, ...], peaks: list[str]) -> None:
    assert peak_hours(by_hour) == peaks


def test_hour_labels_wrap_at_midnight() -> None:
    assert [hour_label(h) for h in (0, 9, 23)] == ["00:00-01:00", "09:00-10:00", "23:00-00:00"]


def test_figures_compare_by_value_whatever_the_zero_entries() -> None:
    a = PaymentFigures(ended={PaymentStatus.FAILED: 0}, volume={"USD": Decimal("1.00")}, by_method={"BILL": 0})
    assert a == PaymentFigures(volume={"USD": Decimal("1")})
    with pytest.raises(ValueError, match="24"):
        PaymentFigures(by_hour=(0,) * 23)


@given(st.datetimes(datetime(1990, 1, 1), datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_phnom_penh_is_seven_hours_ahead_all_year(moment: datetime) -> None:
    """What SQLite relies on (it adds 7 hours): no daylight saving time in Cambodia."""
    assert moment.astimezone(PHNOM_PENH).utcoffset() == timedelta(hours=PHNOM_PENH_OFFSET_HOURS)


# --- the range ------------------------------------------------------------------------------------


def test_defaults_are_the_last_day_up_to_now() -> None:
    query = parse_range({})
    assert query == RangeQuery()
    assert query.resolve(NOW) == AnalyticsRange(NOW - timedelta(days=1), NOW)
    assert parse_range({"window": "3600"}).resolve(NOW) == AnalyticsRange(NOW - timedelta(hours=1), NOW)
    start = datetime(2026, 11, 30, tzinfo=timezone(timedelta(hours=7)))
    assert parse_range({"from": start.isoformat()}).resolve(NOW) == AnalyticsRange(start, NOW)
    end = datetime(2026, 11, 2, tzinfo=UTC)
    assert parse_range({"to": "2026-11-02T00:00:00Z"}).resolve(NOW) == AnalyticsRange(end - timedelta(days=1), end)


def test_a_range_of_exactly_the_maximum_is_allowed() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + MAX_RANGE
    query = parse_range({"from": start.isoformat(), "to": end.isoformat()})
    assert query.resolve(NOW) == AnalyticsRange(start, end)


offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(datetime(1971, 1, 1), datetime(9000, 1, 1), timezones=offsets)


@given(instants)
def test_every_iso_instant_with_an_offset_reads_back_as_itself(moment: datetime) -> None:
    text = moment.isoformat()
    assert parse_range({"to": text}).end == moment
    assert parse_range({"to": text.replace("+", " ")}).end == moment  # a "+" decoded as a space
    assert parse_range({"to": moment.astimezone(UTC).isoformat().replace("+00:00", "Z")}).end == moment


@given(st.text(max_size=80), st.sampled_from(["from", "to", "window", "token", "x"]))
def test_any_text_is_a_range_or_a_bad_request_naming_its_parameter(text: str, name: str) -> None:
    try:
        window = parse_range([(name, text)]).resolve(NOW)
    except BadRequest as exc:
        assert exc.details[0]["field"] in (name[:24], "from", "to"), exc.details
        return
    assert window.start < window.end <= window.start + MAX_RANGE
