"""Webhook body validation: every field rule answers 400 BAD_REQUEST naming the field, and writes nothing.

Bodies are correctly signed and sent with an amk token, so only validation can refuse them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import simplejson as json

from payhub.bootstrap import Container
from tests.conftest import bank_paid, bill_body, khqr_body, signed, sqlite_process, table_counts

TABLES = ("payments", "payment_events", "webhook_receipts", "reviews", "inquiries")
MISSING = object()


@pytest.fixture
async def proc(tmp_path: Path) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    async with sqlite_process(tmp_path) as (c, client):
        yield c, client


async def _counts(c: Container) -> dict[str, int]:
    return await table_counts(c, TABLES)


def _with(body: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    changed = dict(body)
    if value is MISSING:
        del changed[field]
    else:
        changed[field] = value
    return changed


def _raw_number(text: str) -> Any:
    return json.loads(text, use_decimal=True)


def _assert_bad_request(r: httpx.Response, field: str) -> dict[str, Any]:
    assert r.status_code == 400, r.text
    assert r.headers.get("x-correlation-id")
    body = r.json()
    assert body["success"] is False
    error: dict[str, Any] = body["error"]
    assert error["code"] == "BAD_REQUEST"
    assert {"message", "details", "correlationId", "timestamp"} <= error.keys()
    named = [d.get("field") for d in error["details"]]
    assert field in named, f"{field!r} not named in {error['details']}"
    return error


BILL_CASES: list[Any] = [
    pytest.param("id", MISSING, id="id-missing"),
    pytest.param("id", "150001", id="id-string"),
    pytest.param("id", 150001.5, id="id-float"),
    pytest.param("id", 0, id="id-zero"),
    pytest.param("id", -150001, id="id-negative"),
    pytest.param("id", True, id="id-bool"),
    pytest.param("policyNumber", "P1234567", id="policy-8-chars"),
    pytest.param("policyNumber", "P1234567890", id="policy-11-chars"),
    pytest.param("policyNumber", "P12345-789", id="policy-non-alphanumeric"),
    pytest.param("policyNumber", "P1234567 9", id="policy-inner-space"),
    pytest.param("policyNumber", MISSING, id="policy-missing"),
    pytest.param("amount", 0, id="amount-zero"),
    pytest.param("amount", -1, id="amount-negative"),
    pytest.param("amount", "abc", id="amount-text"),
    pytest.param("amount", _raw_number("150.001"), id="amount-usd-3-decimals"),
    pytest.param("amount", True, id="amount-bool"),
    pytest.param("amount", None, id="amount-null"),
    pytest.param("amount", MISSING, id="amount-missing"),
    pytest.param("currency", "EUR", id="currency-eur"),
    # Case and whitespace are formatting details now (test_khqr_fields, currency in any case).
    pytest.param("currency", "usdt", id="currency-unknown-word"),
    pytest.param("currency", MISSING, id="currency-missing"),
    pytest.param("bankTransactionId", "", id="bank-tx-empty"),
    pytest.param("bankTransactionId", MISSING, id="bank-tx-missing"),
    pytest.param("payer", "", id="payer-empty"),
    pytest.param("payer", "   ", id="payer-blank"),
    pytest.param("paidDate", "2025-10-07", id="paid-date-iso-date"),
    pytest.param("paidDate", "20251307120000", id="paid-date-month-13"),
    pytest.param("paidDate", "2025100712000", id="paid-date-13-digits"),
    # 14 digits as a JSON integer are read as their text now (test_khqr_fields); 13 are not a date.
    pytest.param("paidDate", 2025100712000, id="paid-date-number-13-digits"),
    pytest.param("paidDate", MISSING, id="paid-date-missing"),
]


@pytest.mark.parametrize(("field", "value"), BILL_CASES)
async def test_bill_field_rule(proc: tuple[Container, httpx.AsyncClient], field: str, value: Any) -> None:
    c, client = proc
    good = bill_body()
    bank_paid(c, good["bankTransactionId"])
    before = await _counts(c)
    raw, headers = signed(c, _with(good, field, value))
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    _assert_bad_request(r, field)
    assert await _counts(c) == before


async def test_bill_khr_amount_with_decimals(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    body = bill_body(150002, "P987654321", "600000.50", "KHR")
    before = await _counts(c)
    raw, headers = signed(c, body)
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    _assert_bad_request(r, "amount")
    assert await _counts(c) == before


async def test_bill_reports_every_bad_field_at_once(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    body = {**bill_body(), "policyNumber": "P1", "currency": "EUR", "payer": ""}
    raw, headers = signed(c, body)
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    error = _assert_bad_request(r, "policyNumber")
    named = {d["field"] for d in error["details"]}
    assert {"policyNumber", "currency", "payer"} <= named


async def test_valid_bodies_pass_validation(proc: tuple[Container, httpx.AsyncClient]) -> None:
    """The cases above differ from an accepted body by one field only."""
    c, client = proc
    good = bill_body()
    bank_paid(c, good["bankTransactionId"])
    raw, headers = signed(c, good)
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    khr = bill_body(150002, "P987654321", "600000", "KHR")
    bank_paid(c, khr["bankTransactionId"], "600000", "KHR")
    raw, headers = signed(c, khr)
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 200, r.text


KHQR_CASES: list[Any] = [
    pytest.param("invoice_number", "15a001", id="invoice-non-digits"),
    pytest.param("invoice_number", "", id="invoice-empty"),
    # A JSON integer is read as its text now (test_khqr_invoice_number); a fraction is not an id.
    pytest.param("invoice_number", 150001.5, id="invoice-number-fraction"),
    pytest.param("invoice_number", MISSING, id="invoice-missing"),
    pytest.param("status", "MAYBE", id="status-unknown-word"),
    pytest.param("status", 1, id="status-number"),
    pytest.param("status", MISSING, id="status-missing"),
    pytest.param("paid_amount", 0, id="amount-zero"),
    pytest.param("paid_amount", -5, id="amount-negative"),
    pytest.param("paid_amount", "abc", id="amount-text"),
    pytest.param("paid_amount", _raw_number("150.001"), id="amount-usd-3-decimals"),
    pytest.param("paid_amount", False, id="amount-bool"),
    pytest.param("currency", "EUR", id="currency-eur"),
    pytest.param("currency", MISSING, id="currency-missing"),
    pytest.param("merchant_number", "", id="merchant-empty"),
    pytest.param("paid_datetime", "2026-11-27 12:00", id="datetime-no-seconds"),
    pytest.param("paid_datetime", "2026-11-27 12:00:00.1234567890", id="datetime-10-fraction-digits"),
    pytest.param("paid_datetime", "2026-11-27 12:00:00+25:00", id="datetime-offset-out-of-range"),
    pytest.param("paid_datetime", "20261127120000", id="datetime-bill-format"),
    pytest.param("paid_datetime", "2026-13-27 12:00:00.123456", id="datetime-month-13"),
    pytest.param("paid_datetime", MISSING, id="datetime-missing"),
]


@pytest.mark.parametrize(("field", "value"), KHQR_CASES)
async def test_khqr_field_rule(proc: tuple[Container, httpx.AsyncClient], field: str, value: Any) -> None:
    c, client = proc
    before = await _counts(c)
    raw, headers = signed(c, _with(khqr_body(1), field, value))
    r = await client.post("/AMK/khqr", content=raw, headers=headers)
    _assert_bad_request(r, field)
    assert await _counts(c) == before


async def test_khqr_khr_amount_with_decimals(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    raw, headers = signed(c, khqr_body(1, amount="600000.5", currency="KHR"))
    r = await client.post("/AMK/khqr", content=raw, headers=headers)
    _assert_bad_request(r, "paid_amount")


BAD_BODIES: list[Any] = [
    pytest.param(b'{"id": 150001,', id="truncated-json"),
    pytest.param(b"not json at all", id="not-json"),
    pytest.param(b"", id="empty"),
    pytest.param(b"\xff\xfe{}", id="not-utf8"),
    pytest.param(b"[]", id="json-array"),
    pytest.param(b'[{"id": 150001}]', id="json-array-of-object"),
    pytest.param(b'"P123456789"', id="json-string"),
    pytest.param(b"null", id="json-null"),
    pytest.param(b"150", id="json-number"),
]


@pytest.mark.parametrize("path", ["/AMK/payments", "/AMK/khqr"])
@pytest.mark.parametrize("raw", BAD_BODIES)
async def test_malformed_or_non_object_body_is_400(
    proc: tuple[Container, httpx.AsyncClient], path: str, raw: bytes
) -> None:
    c, client = proc
    before = await _counts(c)
    raw, headers = signed(c, raw)
    r = await client.post(path, content=raw, headers=headers)
    _assert_bad_request(r, "body")
    assert await _counts(c) == before


@pytest.mark.parametrize("path", ["/AMK/payments", "/AMK/khqr"])
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_oversized_body_is_413(proc: tuple[Container, httpx.AsyncClient], path: str, streamed: bool) -> None:
    c, client = proc
    limit = c.settings.max_body_bytes
    assert limit == 64 * 1024
    good = bill_body()
    bank_paid(c, good["bankTransactionId"])
    raw = json.dumps({**good, "padding": "x" * limit}).encode()
    assert len(raw) > limit
    raw, headers = signed(c, raw)
    before = await _counts(c)
    if streamed:
        headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(raw), 8192):
                yield raw[i : i + 8192]

        r = await client.post(path, content=chunks(), headers=headers)
        assert "content-length" not in r.request.headers
    else:
        r = await client.post(path, content=raw, headers=headers)
    assert r.status_code == 413, r.text
    assert r.headers.get("x-correlation-id")
    body = r.json()
    assert body["success"] is False
    assert body["error"]["code"] == "BAD_REQUEST"
    assert body["error"]["details"] == {"limitBytes": limit}
    assert body["error"]["correlationId"] == r.headers["x-correlation-id"]
    assert await _counts(c) == before


async def test_body_of_exactly_the_limit_is_accepted(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    limit = c.settings.max_body_bytes
    good = bill_body()
    bank_paid(c, good["bankTransactionId"])
    compact = json.dumps(good, use_decimal=True).encode()
    raw = compact + b" " * (limit - len(compact))  # trailing whitespace is valid JSON
    assert len(raw) == limit
    raw, headers = signed(c, raw)
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "CONFIRMED"


@pytest.mark.parametrize(
    ("policy", "currency"), [("p123456789", "USD"), ("P123456789", "usd"), (" p123456789 ", " Usd ")]
)
async def test_case_and_whitespace_of_policy_and_currency_never_refuse_money(
    proc: tuple[Container, httpx.AsyncClient], policy: str, currency: str
) -> None:
    """Policy numbers are cross-checked case-insensitively, currency is read by the one
    currency reader: a bill webhook differing from the premium only in case lands CONFIRMED."""
    c, client = proc
    body = bill_body(policy=policy, currency=currency)
    bank_paid(c, body["bankTransactionId"])
    raw, headers = signed(c, body)
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "CONFIRMED"
