"""KHQR webhook ``status`` and ``paid_datetime``: one parser each, tolerant of what a bank may send.

Issue 7 §5: "success", TIMEOUT or a paid_datetime without exactly 6 fraction digits answered 400,
so AMK's retries could never succeed. Only what cannot be understood is refused (400 naming the field).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.dto import BillPayment, KhqrPayment, KhqrStatus, parse, parse_khqr_status, parse_paid_datetime
from hub.errors import BadRequest

BANGKOK = ZoneInfo("Asia/Bangkok")
BODY = {
    "invoice_number": "150001",
    "status": "SUCCESS",
    "merchant_number": "000000000000001",
    "paid_amount": "150.00",
    "currency": "USD",
    "paid_datetime": "2025-10-07 12:00:00.123456",
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("SUCCESS", KhqrStatus.SUCCESS),
        ("success", KhqrStatus.SUCCESS),
        (" Success ", KhqrStatus.SUCCESS),
        ("FAILED", KhqrStatus.FAILED),
        ("failed", KhqrStatus.FAILED),
        ("TIMEOUT", KhqrStatus.FAILED),
        ("timed-out", KhqrStatus.FAILED),
        ("Expired", KhqrStatus.FAILED),
        ("CANCELLED", KhqrStatus.FAILED),
        ("canceled", KhqrStatus.FAILED),
    ],
)
def test_status_examples(value: str, expected: KhqrStatus) -> None:
    assert parse(KhqrPayment, {**BODY, "status": value}).status is expected
    assert parse_khqr_status(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-10-07 12:00:00.123456", datetime(2025, 10, 7, 12, 0, 0, 123456, BANGKOK)),
        ("2025-10-07 12:00:00", datetime(2025, 10, 7, 12, 0, 0, 0, BANGKOK)),
        ("2025-10-07 12:00:00.1", datetime(2025, 10, 7, 12, 0, 0, 100000, BANGKOK)),
        ("2025-10-07 12:00:00.123", datetime(2025, 10, 7, 12, 0, 0, 123000, BANGKOK)),
        ("2025-10-07 12:00:00.123456789", datetime(2025, 10, 7, 12, 0, 0, 123456, BANGKOK)),
        ("2025-10-07T12:00:00.5", datetime(2025, 10, 7, 12, 0, 0, 500000, BANGKOK)),
        ("2025-10-07T05:00:00Z", datetime(2025, 10, 7, 5, 0, 0, tzinfo=UTC)),
        ("2025-10-07 12:00:00.999999999+07:00", datetime(2025, 10, 7, 12, 0, 0, 999999, BANGKOK)),
        ("2025-10-07 12:00:00+0700", datetime(2025, 10, 7, 12, 0, 0, 0, BANGKOK)),
        ("2025-10-07 12:00:00-05", datetime(2025, 10, 7, 17, 0, 0, tzinfo=UTC)),
    ],
)
def test_paid_datetime_examples(value: str, expected: datetime) -> None:
    got = parse(KhqrPayment, {**BODY, "paid_datetime": value}).paid_datetime
    assert got == expected and got.tzinfo is not None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "MAYBE"),
        ("status", ""),
        ("status", None),
        ("status", ["SUCCESS"]),
        ("paid_datetime", "2025-10-07"),
        ("paid_datetime", "2025-10-07 12:00:00.1234567890"),
        ("paid_datetime", "2025-02-30 12:00:00"),
        ("paid_datetime", "2025-10-07 24:00:00"),
        ("paid_datetime", "2025-10-07 12:00:00+24:00"),
        ("paid_datetime", 1759813200),
        ("paid_datetime", "yesterday"),
    ],
)
def test_what_cannot_be_understood_is_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(KhqrPayment, {**BODY, field: value})
    assert [d["field"] for d in caught.value.details] == [field]


separators = st.sampled_from([" ", "T"])
offsets = st.one_of(
    st.none(),
    st.just("Z"),
    st.tuples(st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59), st.sampled_from([":", ""])),
)


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    nanos=st.integers(0, 999_999_999),
    digits=st.integers(0, 9),
    sep=separators,
    offset=offsets,
)
def test_any_reasonable_paid_datetime_is_the_instant_it_names(
    moment: datetime, nanos: int, digits: int, sep: str, offset: Any
) -> None:
    fraction = f"{nanos:09d}"[:digits]
    text = moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + (f".{fraction}" if digits else "")
    if offset is None:
        tz: Any = BANGKOK
    elif offset == "Z":
        text, tz = text + "Z", UTC
    else:
        sign, hours, minutes, colon = offset
        text += f"{sign}{hours:02d}{colon}{minutes:02d}"
        tz = timezone((-1 if sign == "-" else 1) * timedelta(hours=hours, minutes=minutes))
    micros = int(fraction.ljust(6, "0")[:6]) if digits else 0
    expected = moment.replace(microsecond=micros, tzinfo=tz)
    assert parse_paid_datetime(text) == expected


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.text(max_size=40), st.integers(), st.none(), st.floats(), st.booleans()))
def test_any_status_or_paid_datetime_parses_or_is_a_400_naming_its_field(value: Any) -> None:
    for field in ("status", "paid_datetime"):
        try:
            parsed = parse(KhqrPayment, {**BODY, field: value})
        except BadRequest as exc:
            assert [d["field"] for d in exc.details] == [field]
        else:
            assert parsed.status in (KhqrStatus.SUCCESS, KhqrStatus.FAILED)
            assert parsed.paid_datetime.tzinfo is not None


@settings(max_examples=200, deadline=None)
@given(
    word=st.sampled_from(["success", "failed", "timeout", "expired", "cancelled", "timed_out"]),
    case=st.lists(st.booleans(), min_size=9, max_size=9),
)
def test_status_is_read_in_any_case(word: str, case: list[bool]) -> None:
    mixed = "".join(ch.upper() if up else ch for ch, up in zip(word, case * 2, strict=False))
    expected = KhqrStatus.SUCCESS if word == "success" else KhqrStatus.FAILED
    assert parse_khqr_status(mixed) is expected


BILL = {
    "id": 150001,
    "policyNumber": "P123456789",
    "amount": "150.00",
    "currency": "USD",
    "bankTransactionId": "AMK1",
    "payer": "John Doe",
    "paidDate": "20251007120000",
}


@pytest.mark.parametrize("value", ["usd", "Usd", " USD ", "USD\t", "khr", " Khr"])
def test_currency_is_read_in_any_case_by_both_webhooks(value: str) -> None:
    """The one currency reader (``parse_currency``) also reads the webhooks: case and surrounding
    whitespace are formatting details, as in AMK's verify answers and the sandbox."""
    expected = value.strip().upper()
    assert parse(KhqrPayment, {**BODY, "currency": value}).currency.value == expected
    assert parse(BillPayment, {**BILL, "currency": value}).currency.value == expected


@pytest.mark.parametrize("value", ["EUR", "840", "US D", "", None, 840, ["USD"]])
def test_a_currency_that_is_neither_is_a_400_naming_it(value: Any) -> None:
    for model, body in ((KhqrPayment, BODY), (BillPayment, BILL)):
        with pytest.raises(BadRequest) as caught:
            parse(model, {**body, "currency": value})
        assert [d["field"] for d in caught.value.details] == ["currency"]


@pytest.mark.parametrize("value", ["20251007120000", " 20251007120000 ", 20251007120000])
def test_bill_paid_date_as_text_with_spaces_or_as_a_json_integer_is_the_same_instant(value: Any) -> None:
    paid = parse(BillPayment, {**BILL, "paidDate": value}).paidDate
    assert paid == datetime(2025, 10, 7, 12, 0, 0, tzinfo=timezone(timedelta(hours=7)))


@pytest.mark.parametrize(
    "value", ["2025100712000", 2025100712000.0, True, "20251307120000", "2025-10-07 12:00:00", None]
)
def test_bill_paid_date_that_cannot_be_read_is_a_400_naming_it(value: Any) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(BillPayment, {**BILL, "paidDate": value})
    assert [d["field"] for d in caught.value.details] == ["paidDate"]
