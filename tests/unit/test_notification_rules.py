"""The notifier's pure rules and templates: customer hours, the reminder's moment, stable message ids,
and the spec's messages in Khmer and English with amounts written by the one money formatter."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.money import Currency, format_amount
from hub.domain.notification import (
    Channel,
    Hours,
    Kind,
    Language,
    NotificationKey,
    message_id,
    parse_language,
    reminder_send_at,
)
from hub.errors import BadRequest
from notifier.app import parse_preferences
from notifier.messages import Templates, payment_values, reminder_values

PP = ZoneInfo("Asia/Phnom_Penh")
DEFAULT = Hours(time(9), time(18))
TEMPLATES = Templates()

moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
clock_times = st.times().map(lambda t: t.replace(second=0, microsecond=0))
windows = st.tuples(clock_times, clock_times).filter(lambda w: w[0] != w[1]).map(lambda w: Hours(*w))


@given(at=moments, hours=windows)
def test_next_open_is_the_first_moment_inside_the_hours(at: datetime, hours: Hours) -> None:
    opened = hours.next_open(at, PP)
    assert opened >= at
    assert hours.contains(opened.astimezone(PP).time())
    if opened > at:  # closed at ``at``, and it opens exactly at the window's start, within a day
        assert not hours.contains(at.astimezone(PP).time())
        assert opened.astimezone(PP).time() == hours.start
        assert opened - at <= timedelta(days=1)


def test_hours_examples() -> None:
    assert DEFAULT.contains(time(9)) and DEFAULT.contains(time(17, 59)) and not DEFAULT.contains(time(18))
    night = Hours.parse("20:00", "08:00")
    assert night.contains(time(23)) and night.contains(time(7, 59)) and not night.contains(time(12))
    for bad in (("9", "18:00"), ("09:00", "09:00"), ("", "")):
        with pytest.raises(ValueError):
            Hours.parse(*bad)


@pytest.mark.parametrize(
    "start", ["09:00:10", "09:00+07:00", "09:00Z", "0900", "T09:00", "09:00:00.5", "9:00", "24:00", "٠٩:٠٠"]
)
def test_hours_are_hh_mm_only(start: str) -> None:
    # Stored as HH:MM: anything finer (seconds, an offset) was accepted, then cut off when stored, so
    # "09:00:10"-"09:00:50" became an empty window that no later read of the preferences could parse.
    with pytest.raises(ValueError):
        Hours.parse(start, "18:00")
    with pytest.raises(BadRequest):
        parse_preferences("P123456789", {"hours": {"start": start, "end": "18:00"}})


@given(start=st.text(max_size=12), end=st.text(max_size=12))
def test_hours_accepted_are_the_hours_stored(start: str, end: str) -> None:
    try:
        hours = Hours.parse(start, end)
    except ValueError:
        return
    assert Hours.parse(**hours.text()) == hours  # what the store writes reads back the same


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=PP)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (local(2026, 12, 1, 12), local(2026, 12, 12, 9)),  # long before: the opening 3 days before
        (local(2026, 12, 12, 3), local(2026, 12, 12, 9)),  # that night: at 09:00
        (local(2026, 12, 12, 11, 30), local(2026, 12, 12, 11, 30)),  # inside the hours: now
        (local(2026, 12, 12, 18), local(2026, 12, 13, 9)),  # after the hours: next morning
        (local(2026, 12, 15, 17, 59), local(2026, 12, 15, 17, 59)),  # on the due date itself, still
        (local(2026, 12, 15, 18), None),  # never after the due date
        (local(2026, 12, 20, 10), None),
    ],
)
def test_reminder_moment(now: datetime, expected: datetime | None) -> None:
    assert reminder_send_at(date(2026, 12, 15), now.astimezone(UTC), DEFAULT, PP) == expected


@given(now=moments, due=st.dates(date(2025, 1, 1), date(2030, 12, 31)), hours=windows, days=st.integers(0, 10))
def test_reminder_moment_properties(now: datetime, due: date, hours: Hours, days: int) -> None:
    at = reminder_send_at(due, now, hours, PP, days)
    earliest = datetime.combine(due - timedelta(days=days), hours.start, PP)
    if at is None:
        assert hours.next_open(max(now, earliest), PP).astimezone(PP).date() > due
        return
    assert at >= now and at >= earliest
    assert hours.contains(at.astimezone(PP).time())
    assert at.astimezone(PP).date() <= due


def test_message_ids_are_stable_and_distinct() -> None:
    a = NotificationKey("event:12", Channel.WEBHOOK, "acme")
    assert message_id(a) == message_id(NotificationKey("event:12", Channel.WEBHOOK, "acme"))
    assert message_id(a).startswith("msg_") and "." not in message_id(a)  # Standard Webhooks: no '.'
    others = {
        NotificationKey("event:12", Channel.WEBHOOK, "beta"),
        NotificationKey("event:13", Channel.WEBHOOK, "acme"),
    }
    assert message_id(a) not in {message_id(k) for k in others}


def test_languages() -> None:
    assert [parse_language(v) for v in ("km", "KM-kh", "en_US", " en ", "", None)] == [
        Language.KM,
        Language.KM,
        Language.EN,
        Language.EN,
        None,
        None,
    ]
    with pytest.raises(ValueError):
        parse_language("fr")


usd = st.decimals(Decimal("0.01"), Decimal("9999999999.99"), places=2)
khr = st.integers(1, 9_999_999_999_999).map(Decimal)


@given(
    amount=st.one_of(usd.map(lambda a: (a, Currency.USD)), khr.map(lambda a: (a, Currency.KHR))),
    language=st.sampled_from(Language),
)
def test_every_message_writes_the_amount_as_the_money_formatter_does(
    amount: tuple[Decimal, Currency], language: Language
) -> None:
    value, currency = amount
    data = {
        "currency": currency.value,
        "amount": value,
        "policyNumber": "P123456789",
        "paymentId": 1000000000000,
        "transactionId": "AMK1",
        "method": "KHQR",
    }
    written = f"{format_amount(value, currency)} {currency.value}"
    for kind in (Kind.PAYMENT_SUCCESS, Kind.PAYMENT_FAILED):
        rendered = TEMPLATES.render(
            kind, language, payment_values(data, "Jane", datetime(2026, 11, 27, tzinfo=UTC), language, PP)
        )
        assert written in rendered.sms and written in rendered.email_text and written in rendered.email_html
    reminder = TEMPLATES.render(
        Kind.PAYMENT_REMINDER, language, reminder_values("Jane", "P123456789", value, currency, date(2026, 12, 15))
    )
    assert written in reminder.sms and "2026-12-15" in reminder.sms


def test_the_spec_payment_success_sms_in_english_and_khmer() -> None:
    data = {
        "currency": "USD",
        "amount": Decimal("150.00"),
        "policyNumber": "P123456789",
        "paymentId": 1000000000000,
        "transactionId": "AMK202510070001",
        "method": "BILL",
    }
    at = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    en = TEMPLATES.render(Kind.PAYMENT_SUCCESS, Language.EN, payment_values(data, "John Doe", at, Language.EN, PP))
    assert en.sms == "Payment of 150.00 USD for policy P123456789 successful. Ref: AMK202510070001"
    assert "Paid on:         2026-11-27 12:00 (Asia/Phnom_Penh)" in en.email_text  # local time
    assert "Payment method:  Bill payment" in en.email_text
    km = TEMPLATES.render(Kind.PAYMENT_SUCCESS, Language.KM, payment_values(data, "John Doe", at, Language.KM, PP))
    assert km.sms == ("ការបង់ប្រាក់ចំនួន 150.00 USD សម្រាប់បណ្ណសន្យារ៉ាប់រង P123456789 បានជោគជ័យ។ លេខយោង៖ AMK202510070001")
    assert '<html lang="km">' in km.email_html and "ការបង់វិក្កយបត្រ" in km.email_html
    riel = {**data, "currency": "KHR", "amount": 600000}
    assert (
        "600000 KHR"
        in TEMPLATES.render(
            Kind.PAYMENT_SUCCESS, Language.KM, payment_values(riel, "Sok Dara", at, Language.KM, PP)
        ).sms
    )


def test_html_parts_escape_what_they_show() -> None:
    data = {
        "currency": "USD",
        "amount": Decimal("1.00"),
        "policyNumber": "P123456789",
        "paymentId": 1,
        "transactionId": "<b>x</b>",
        "method": "KHQR",
    }
    at = datetime(2026, 11, 27, tzinfo=UTC)
    rendered = TEMPLATES.render(
        Kind.PAYMENT_SUCCESS, Language.EN, payment_values(data, "<script>alert(1)</script>", at, Language.EN, PP)
    )
    assert "<script>" not in rendered.email_html and "&lt;script&gt;" in rendered.email_html
    assert "&lt;b&gt;x&lt;/b&gt;" in rendered.email_html
    assert "<script>alert(1)</script>" in rendered.email_text  # the text part is text
