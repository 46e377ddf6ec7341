"""Amounts and hostile JSON over HTTP: every refusal is a 400 envelope naming the field and changes nothing.

Issue 7 §3 (amounts that answered 500 with decimal.InvalidOperation, which AMK retries forever) and the
JSON-depth part of §4 (5,000 ``[`` → RecursionError → 500) on the signed webhooks, ``GET /khqr?bankCode=``
and WebSocket text frames. Bodies are correctly signed and sent with an amk token, so only the amount
or the JSON can be refused.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import simplejson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from payhub.bootstrap import Container
from tests.conftest import (
    LiveServer,
    auth_header,
    bank_paid,
    bill_body,
    khqr_body,
    signed,
    sqlite_process,
    table_counts,
)

TABLES = ("payments", "payment_events", "webhook_receipts", "reviews", "inquiries")
HTTP_PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ISSUE_AMOUNTS = ["1E+30", "1e309", "123456789012345678901234567890.12"]


@pytest.fixture
async def proc(tmp_path: Path) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    async with sqlite_process(tmp_path) as (c, client):
        yield c, client


async def _counts(c: Container) -> dict[str, int]:
    return await table_counts(c, TABLES)


def _with_amount_text(body: dict[str, Any], field: str, text: str) -> bytes:
    """``body`` as JSON with ``field`` written as the literal JSON text ``text`` (no re-formatting)."""
    marker = "__AMOUNT_LITERAL__"
    return simplejson.dumps({**body, field: marker}).replace(f'"{marker}"', text).encode()


def _assert_400(r: httpx.Response, field: str) -> None:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert r.json()["success"] is False and error["code"] == "BAD_REQUEST"
    assert {"message", "details", "correlationId", "timestamp"} <= error.keys()
    assert field in [d.get("field") for d in error["details"]], error["details"]


# --- the issue's examples ---


def _webhook(c: Container, kind: str) -> tuple[dict[str, Any], str, str]:
    """A good webhook body of ``kind`` (its bill known to the sandbox bank), its path and amount field."""
    if kind == "bill":
        good = bill_body()
        bank_paid(c, good["bankTransactionId"])
        return good, "/AMK/payments", "amount"
    return khqr_body(1), "/AMK/khqr", "paid_amount"


@pytest.mark.parametrize("text", ISSUE_AMOUNTS)
@pytest.mark.parametrize("kind", ["bill", "khqr"])
async def test_issue_amounts_are_400_naming_the_field(
    proc: tuple[Container, httpx.AsyncClient], kind: str, text: str
) -> None:
    c, client = proc
    good, path, field = _webhook(c, kind)
    before = await _counts(c)
    raw, headers = signed(c, _with_amount_text(good, field, text))
    r = await client.post(path, content=raw, headers=headers)
    _assert_400(r, field)
    assert await _counts(c) == before


OUT_OF_RANGE = ["1e999999999999999999999", "1E-999999999999999999999", "0e99999999999999999999999"]


@pytest.mark.parametrize("text", OUT_OF_RANGE)
@pytest.mark.parametrize("as_string", [True, False], ids=["string", "number"])
@pytest.mark.parametrize("kind", ["bill", "khqr"])
async def test_exponent_beyond_the_decimal_range_is_400_not_500(
    proc: tuple[Container, httpx.AsyncClient], kind: str, as_string: bool, text: str
) -> None:
    # decimal.InvalidOperation from Decimal(text) escaped both the JSON codec (numbers) and the amount
    # parser (strings): 500 with a traceback, which AMK retries forever.
    c, client = proc
    good, path, field = _webhook(c, kind)
    before = await _counts(c)
    raw, headers = signed(c, _with_amount_text(good, field, f'"{text}"' if as_string else text))
    r = await client.post(path, content=raw, headers=headers)
    _assert_400(r, field if as_string else "body")  # the JSON codec cannot know which field held it
    assert await _counts(c) == before


@pytest.mark.parametrize(
    "raw",
    [b"[" * 5000, b'{"id": ' + b"[" * 5000, b'{"amount": ' + b"{" * 5000, b"[" * 5000 + b"]" * 5000],
    ids=["arrays", "inside-object-unclosed", "objects", "closed-arrays"],
)
@pytest.mark.parametrize("path", ["/AMK/payments", "/AMK/khqr"])
async def test_deep_json_webhook_is_400(proc: tuple[Container, httpx.AsyncClient], path: str, raw: bytes) -> None:
    c, client = proc
    before = await _counts(c)
    raw, headers = signed(c, raw)
    r = await client.post(path, content=raw, headers=headers)
    _assert_400(r, "body")
    assert await _counts(c) == before


@pytest.mark.parametrize("bank_code", ["[" * 5000, '{"id":' + "[" * 5000, "[" * 5000 + "]" * 5000])
async def test_deep_json_bank_code_is_400(proc: tuple[Container, httpx.AsyncClient], bank_code: str) -> None:
    c, client = proc
    before = await _counts(c)
    r = await client.get(f"/khqr?bankCode={quote(bank_code)}&billNumber=P123456789", headers=auth_header(c))
    _assert_400(r, "bankCode")
    assert await _counts(c) == before


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/payhub.db"


async def test_deep_json_websocket_frame_is_answered_and_socket_kept(container: Container, live: LiveServer) -> None:
    """A refused frame gets an answer (an ERROR frame, or a close frame with a code); the server lives on."""
    url = live.url.replace("http", "ws", 1) + "/ws/payments"
    async with connect(url) as conn:
        await conn.send("[" * 5000)
        try:
            answer = simplejson.loads(await asyncio.wait_for(conn.recv(), 5))
            assert answer["type"] == "ERROR" and answer["code"] == "BAD_REQUEST"
            await conn.send('{"type": "ping"}')
            assert simplejson.loads(await asyncio.wait_for(conn.recv(), 5)) == {"type": "pong"}
        except Exception as exc:  # a close frame with a code and reason is the other acceptable answer
            close = getattr(exc, "rcvd", None)
            assert close is not None and close.code not in (1006, 1011), repr(exc)
    async with httpx.AsyncClient(base_url=live.url) as http:
        assert (await http.get("/healthz")).status_code == 200


# --- properties ---

_DIGITS = st.text("0123456789", min_size=1, max_size=35)
amount_texts = st.one_of(
    st.builds(
        lambda sign, whole, frac, exp: f"{sign}{whole.lstrip('0') or '0'}{frac}{exp}",
        st.sampled_from(["", "-"]),
        _DIGITS,
        st.one_of(st.just(""), _DIGITS.map(lambda d: "." + d)),
        st.one_of(st.just(""), st.integers(-400, 400).map(lambda e: f"E{e:+d}")),
    ),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-1, max_value=10**11).map(str),
    # as JSON strings and other JSON values
    st.text(max_size=40).map(simplejson.dumps),
    st.sampled_from(["true", "null", "[]", "{}", '"NaN"', '"1_000"', '"Infinity"', "[150.00]", '{"v":1}']),
)


_NUMBER_SYNTAX = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII)


def _acceptable(text: str) -> Fraction | None:
    """The oracle (USD): the value of a JSON number, or of a JSON string holding one (surrounding white
    space allowed), if it is > 0, has at most 2 decimals and is below 10**10; else None. It shares no
    code with Decimal or the parser."""
    if text.startswith('"'):
        inner = simplejson.loads(text)
        if not isinstance(inner, str):
            return None
        text = inner.strip()
    if not _NUMBER_SYNTAX.fullmatch(text):
        return None
    value = Fraction(text)
    return value if value > 0 and (value * 100).denominator == 1 and value < 10**10 else None


@HTTP_PROPERTY
@given(text=amount_texts)
@example(text="1E+30")
@example(text="1e309")
@example(text="123456789012345678901234567890.12")
@example(text="150.00")
@example(text='"1"')
@example(text='" 150.00 "')
async def test_no_amount_gives_a_5xx_and_a_refused_one_changes_nothing(
    proc: tuple[Container, httpx.AsyncClient], text: str
) -> None:
    c, client = proc
    good = bill_body()
    bank_paid(c, good["bankTransactionId"])
    before = await _counts(c)
    raw, headers = signed(c, _with_amount_text(good, "amount", text))
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code < 500, r.text
    value = _acceptable(text)
    if value is not None:
        assert r.status_code != 400, r.text
        if value == Fraction("150.00"):
            assert r.status_code == 200 and r.json()["data"]["status"] == "CONFIRMED", r.text
    else:
        _assert_400(r, "amount")
        assert await _counts(c) == before


@HTTP_PROPERTY
@given(text=amount_texts)
@example(text="1E+30")
@example(text="1e309")
@example(text="123456789012345678901234567890.12")
@example(text='"1"')
@example(text='" 7.5 "')
async def test_khqr_webhook_amount_is_never_a_5xx(proc: tuple[Container, httpx.AsyncClient], text: str) -> None:
    c, client = proc
    before = await _counts(c)
    raw, headers = signed(c, _with_amount_text(khqr_body(1), "paid_amount", text))
    r = await client.post("/AMK/khqr", content=raw, headers=headers)
    assert r.status_code < 500, r.text
    if _acceptable(text) is not None:
        assert r.status_code != 400, r.text  # no payment 1 exists: refused later, not for the amount
    else:
        _assert_400(r, "paid_amount")
        assert await _counts(c) == before


@HTTP_PROPERTY
@given(
    raw=st.one_of(
        st.binary(max_size=200),
        st.integers(1, 6000).map(lambda n: b"[" * n),
        st.integers(1, 3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
        st.text(max_size=100).map(str.encode),
    )
)
async def test_any_garbage_webhook_body_is_a_400_envelope(
    proc: tuple[Container, httpx.AsyncClient], raw: bytes
) -> None:
    c, client = proc
    before = await _counts(c)
    raw, headers = signed(c, raw)
    r = await client.post("/AMK/khqr", content=raw, headers=headers)
    _assert_400(r, r.json()["error"]["details"][0]["field"] if r.status_code == 400 else "body")
    assert await _counts(c) == before


@HTTP_PROPERTY
@given(bank_code=st.one_of(st.text(max_size=60), st.integers(1, 6000).map(lambda n: "[" * n)))
async def test_any_bank_code_is_never_a_5xx(proc: tuple[Container, httpx.AsyncClient], bank_code: str) -> None:
    c, client = proc
    r = await client.get("/khqr", params={"bankCode": bank_code, "billNumber": "P123456789"}, headers=auth_header(c))
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        assert r.json()["success"] is False


def test_amount_literal_helper_keeps_the_text() -> None:
    raw = _with_amount_text({"a": 1, "amount": 0}, "amount", "1E+30")
    assert raw == b'{"a": 1, "amount": 1E+30}'
    assert simplejson.loads(raw, use_decimal=True)["amount"] == Decimal("1E+30")


@pytest.mark.parametrize(
    "paid",
    [
        [{"txId": "OK1", "amount": "1.00", "currency": "USD"}, {"txId": "BAD", "amount": "abc", "currency": "USD"}],
        [{"txId": "OK1", "amount": "1.00", "currency": "USD"}, {"txId": "BAD", "amount": "1.5", "currency": "KHR"}],
        [{"txId": "OK1", "amount": "1.00", "currency": "USD"}, "not-an-object"],
        [{"txId": "OK1", "amount": "1.00", "currency": "USD"}, {"amount": "1.00", "currency": "USD"}],
        "not-a-list",
    ],
    ids=["bad-amount", "khr-decimals", "not-an-object", "no-txId", "not-a-list"],
)
async def test_sandbox_control_refused_changes_nothing(proc: tuple[Container, httpx.AsyncClient], paid: Any) -> None:
    # verifyAvailable/qrImages were switched, and the rows before the bad one recorded, before the 400.
    c, client = proc
    body = {"verifyAvailable": False, "qrImages": False, "paidTransactions": paid}
    r = await client.post("/sandbox/amk/control", content=simplejson.dumps(body), headers=auth_header(c, "admin"))
    assert r.status_code == 400, r.text
    state = c.sandbox_state
    assert (state.verify_available, state.qr_images, "OK1" in state.transactions) == (True, True, False)


@pytest.mark.parametrize(
    "override",
    [
        {"expiresAt": Decimal("1E+999999999999999999")},  # int() of it: MemoryError, a 500
        {"expiresAt": Decimal("1E+3000000")},  # int() of it: minutes of CPU with the event loop blocked
        {"expiresAt": Decimal("1.5")},
        {"expiresAt": "1700000000000"},
        {"expiresAt": True},
        {"expiresAt": -1},
        {"expiresAt": 10**4000},
        {"invoiceNumber": ["1"]},
        {"billNumber": {"b": 1}},
        {"amount": "1e999999999999999999999"},
        {"currency": None},
        {"billNumber": "P" * 200},  # KhqrError from encode(), outside the try: a 500
        {"invoiceNumber": "1\n"},
    ],
    ids=[
        "exp-huge",
        "exp-slow",
        "fraction",
        "string",
        "bool",
        "negative",
        "digits",
        "invoice",
        "bill",
        "amount",
        "cur",
        "long-bill",
        "control-char",
    ],
)
async def test_sandbox_qr_generator_refuses_bad_fields_with_400_at_once(
    proc: tuple[Container, httpx.AsyncClient], override: dict[str, Any]
) -> None:
    c, client = proc
    sign_in = await client.post(
        "/sandbox/amk/auth/sign-in",
        json={"username": c.settings.amk_username, "password": c.settings.amk_password.get_secret_value()},
    )
    token = sign_in.json()["access_token"]
    body = {"invoiceNumber": "1", "billNumber": "P123456789", "amount": "1.00", "currency": "USD"}
    body |= {"expiresAt": 1_900_000_000_000} | override
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    r = await asyncio.wait_for(
        client.post("/sandbox/amk/qr/generator", content=simplejson.dumps(body), headers=headers), 5
    )
    assert r.status_code == 400, r.text
    assert c.sandbox_state.qr_codes == {}


@pytest.mark.parametrize("currency", ["usd", " USD", "Usd\n"])
async def test_webhook_currency_is_read_by_the_one_currency_parser(
    proc: tuple[Container, httpx.AsyncClient], currency: str
) -> None:
    # The webhooks used pydantic's enum (exact "USD" only) where every other entry point reads the
    # currency with hub.domain.money.parse_currency: money the bank reported was refused for its case.
    c, client = proc
    good = {**bill_body(), "currency": currency}
    bank_paid(c, good["bankTransactionId"])
    raw, headers = signed(c, good)
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 200 and r.json()["data"]["status"] == "CONFIRMED", r.text
    raw, headers = signed(c, {**khqr_body(999_999), "currency": currency})
    r = await client.post("/AMK/khqr", content=raw, headers=headers)
    assert r.status_code == 404, r.text  # read; refused only because payment 999999 does not exist


@pytest.mark.parametrize("currency", ["EUR", "", None, 840, ["USD"], "U SD"])
async def test_webhook_unknown_currency_is_400_naming_it(
    proc: tuple[Container, httpx.AsyncClient], currency: Any
) -> None:
    c, client = proc
    before = await _counts(c)
    for path, body in (("/AMK/payments", bill_body()), ("/AMK/khqr", khqr_body(1))):
        raw, headers = signed(c, {**body, "currency": currency})
        r = await client.post(path, content=raw, headers=headers)
        _assert_400(r, "currency")
    assert await _counts(c) == before
