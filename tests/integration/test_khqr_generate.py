"""``GET /khqr``: validation, a KHQR that matches the premium, the PNG, session reuse (also under
concurrency), the AMK sign-in shared by concurrent generations, and a mismatching AMK QR refused."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import simplejson as json

from hub.domain.khqr.codec import crc16_ccitt_false, decode, encode
from hub.domain.khqr.image import render_png
from hub.domain.money import Currency
from hub.keylock import KeyedLocks
from khqr.amk_qr import QrRequest, QrResult
from payhub.bootstrap import Container
from sandbox.app import build_qr
from tests.conftest import auth_header

BANK = '{"id":"AMK","bank":"AMK"}'
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GENERATED = "khqr.generated"


def khqr_params(bill: str = "P123456789", bank: str | None = BANK) -> dict[str, str]:
    return {"billNumber": bill, **({"bankCode": bank} if bank is not None else {})}


async def get_khqr(c: Container, client: httpx.AsyncClient, bill: str = "P123456789", **kw: Any) -> httpx.Response:
    return await client.get("/khqr", params=khqr_params(bill), headers=auth_header(c), **kw)


def top_level_tags(qr: str) -> list[str]:
    tags, i = [], 0
    while i < len(qr):
        tag, length = qr[i : i + 2], int(qr[i + 2 : i + 4])
        tags.append(tag)
        i += 4 + length
    return tags


async def session_count(c: Container) -> int:
    async with c.store.transaction() as tx:
        return await tx.count("khqr_sessions")


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        (khqr_params(bank=None), 400, "BAD_REQUEST", "bankCode"),
        (khqr_params(bank=""), 400, "BAD_REQUEST", "bankCode"),
        (khqr_params(bank="not json"), 400, "BAD_REQUEST", "bankCode"),
        (khqr_params(bank='{"id":"AMK"}'), 400, "BAD_REQUEST", "bankCode"),
        (khqr_params(bank='["AMK"]'), 400, "BAD_REQUEST", "bankCode"),
        (khqr_params(bank='{"id":"ABA","bank":"ABA"}'), 404, "BANK_NOT_FOUND", None),
        ({"bankCode": BANK}, 400, "BAD_REQUEST", "billNumber"),
        (khqr_params("P-1234567"), 400, "BAD_REQUEST", "billNumber"),
        (khqr_params("P1234567890"), 400, "BAD_REQUEST", "billNumber"),
        (khqr_params("P000000000"), 404, "RESOURCE_NOT_FOUND", None),
    ],
)
async def test_invalid_requests_are_refused(
    container: Container,
    client: httpx.AsyncClient,
    params: dict[str, str],
    status: int,
    code: str,
    field: str | None,
) -> None:
    r = await client.get("/khqr", params=params, headers=auth_header(container))
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    if field is not None:
        assert [d["field"] for d in error["details"]] == [field]
    assert await session_count(container) == 0


async def test_khqr_needs_a_customer_token(container: Container, client: httpx.AsyncClient) -> None:
    assert (await client.get("/khqr", params=khqr_params())).status_code == 401
    r = await client.get("/khqr", params=khqr_params(), headers=auth_header(container, "amk"))
    assert r.status_code == 403
    assert await session_count(container) == 0


# --- the QR ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bill", "premium_id", "payer", "amount", "currency"),
    [
        ("P123456789", 150001, "John Doe", "150.00", "USD"),
        ("P987654321", 150002, "Sok Dara", "600000", "KHR"),
    ],
)
async def test_qr_matches_the_premium(
    container: Container,
    client: httpx.AsyncClient,
    bill: str,
    premium_id: int,
    payer: str,
    amount: str,
    currency: str,
) -> None:
    before = datetime.now(UTC)
    r = await get_khqr(container, client, bill)
    assert r.status_code == 200, r.text
    data = json.loads(r.content, use_decimal=True)["data"]
    payment_id = data["paymentId"]
    assert data["policyId"] == bill and data["customerName"] == payer
    assert (data["amount"], data["currency"]) == (Decimal(amount), currency)
    assert data["eventsUrl"].endswith(f"/api/payments/{payment_id}/events")
    assert data["wsUrl"].endswith("/ws/payments")
    expires = datetime.fromisoformat(data["expiresAt"])
    assert timedelta(minutes=29) < expires - before <= timedelta(minutes=30, seconds=5)

    qr = data["qrString"]
    payload = decode(qr)  # strict: structure, every field rule and the CRC
    assert qr[-8:-4] == "6304" and crc16_ccitt_false(qr[:-4]) == qr[-4:]
    assert "30" in top_level_tags(qr) and "29" not in top_level_tags(qr)
    assert not payload.account.individual and "@" in payload.account.bakong_account_id
    assert payload.account.merchant_id == container.settings.amk_merchant_id
    assert payload.account.acquiring_bank
    assert payload.dynamic
    assert (payload.amount, payload.currency) == (Decimal(amount), currency)
    assert payload.additional is not None and payload.additional.bill_number == bill
    assert payload.created_ms is not None and payload.expires_ms is not None
    assert len(str(payload.created_ms)) == 13 and len(str(payload.expires_ms)) == 13
    assert payload.expires_ms == int(expires.timestamp() * 1000)
    assert payload.created_ms <= time.time() * 1000 < payload.expires_ms

    assert base64.b64decode(data["qrCode"]).startswith(PNG_MAGIC)

    who = await container.auth.verify(data["subscribeToken"])
    assert who.may_watch(payment_id) and not who.may_watch(payment_id + 1)
    async with container.store.transaction() as tx:
        [generated] = await tx.events_of_type(payment_id, GENERATED)
        payment = await tx.payment(payment_id)
        premium = await tx.premium(premium_id)
    assert generated.data["sessionId"] == data["sessionId"]
    assert payment is not None and payment.method is not None and payment.method.value == "KHQR"
    assert premium is not None and payment.premium_id == premium.id


async def test_png_rendered_by_payhub_when_amk_sends_only_the_string(
    container: Container, client: httpx.AsyncClient
) -> None:
    container.sandbox_state.qr_images = False
    r = await get_khqr(container, client)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert base64.b64decode(data["qrCode"]).startswith(PNG_MAGIC)
    assert data["qrCode"] == render_png(data["qrString"]), "the image is the QR of that very string"


# --- session reuse --------------------------------------------------------------------------


async def test_asking_again_reuses_the_pending_session(container: Container, client: httpx.AsyncClient) -> None:
    first = (await get_khqr(container, client)).json()["data"]
    again = (await get_khqr(container, client)).json()["data"]
    for key in ("sessionId", "paymentId", "qrString", "expiresAt", "amount"):
        assert again[key] == first[key], key
    assert await session_count(container) == 1
    assert len(container.sandbox_state.qr_codes) == 1, "AMK was asked for one QR only"


async def test_a_failed_payment_gets_a_new_qr(container: Container, client: httpx.AsyncClient) -> None:
    """The bank reported the KHQR payment FAILED: asking again must not hand out the dead QR."""
    first = (await get_khqr(container, client)).json()["data"]
    failed = await client.post(
        "/sandbox/amk/simulate/pay", json={"paymentId": first["paymentId"], "method": "KHQR", "outcome": "FAILED"}
    )
    assert failed.status_code == 200, failed.text
    await container.bus.drain()
    r = await get_khqr(container, client)
    assert r.status_code == 200, r.text
    again = r.json()["data"]
    assert again["paymentId"] != first["paymentId"] and again["sessionId"] != first["sessionId"]
    payment = await container.store.payment(again["paymentId"])
    assert payment is not None and payment.status.value == "PENDING"
    assert decode(again["qrString"]).additional.terminal_label == str(again["paymentId"])  # type: ignore[union-attr]
    old = await client.get(f"/khqr/sessions/{first['sessionId']}", headers=auth_header(container))
    assert old.json()["data"]["status"] == "EXPIRED"
    assert await session_count(container) == 2
    assert (await get_khqr(container, client)).json()["data"]["sessionId"] == again["sessionId"]


async def test_concurrent_requests_get_one_session(container: Container, client: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(*(get_khqr(container, client) for _ in range(10)))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers if r.status_code != 200]
    assert len({r.json()["data"]["sessionId"] for r in answers}) == 1
    assert len({r.json()["data"]["paymentId"] for r in answers}) == 1
    assert await session_count(container) == 1


async def test_two_processes_racing_get_one_session(container: Container) -> None:
    """Without the in-process lock (another process), the database still keeps one PENDING session."""
    other = dataclasses.replace(container.khqr, _locks=KeyedLocks())
    results = await asyncio.gather(*(svc.generate("P123456789") for svc in (container.khqr, other) * 3))
    assert len({r["sessionId"] for r in results}) == 1
    assert len({r["paymentId"] for r in results}) == 1
    assert await session_count(container) == 1


# --- AMK sign-in shared by concurrent generations ---------------------------------------------


async def test_fifty_concurrent_generations_sign_in_once(container: Container) -> None:
    before = container.sandbox_state.sign_ins
    expires = datetime.now(UTC) + timedelta(minutes=30)
    requests = [QrRequest(str(i), "P123456789", Decimal("150.00"), Currency.USD, expires) for i in range(50)]
    results = await asyncio.gather(*(container.amk_qr.generate(r) for r in requests))
    assert container.sandbox_state.sign_ins - before == 1
    assert container.amk_qr.sign_ins == 1
    assert {decode(r.qr_string).additional.terminal_label for r in results} == {str(i) for i in range(50)}  # type: ignore[union-attr]


# --- a QR that does not match the premium -------------------------------------------------------


def _tampered(kind: str, req: QrRequest) -> str:
    body = {
        "invoiceNumber": req.invoice_number,
        "billNumber": req.bill_number,
        "amount": str(req.amount),
        "currency": req.currency.value,
        "expiresAt": int(req.expires_at.timestamp() * 1000),
    }
    if kind == "amount":
        body["amount"] = str(req.amount + Decimal("1.00"))
    elif kind == "currency":
        body["currency"], body["amount"] = "KHR", "150"
    elif kind == "bill":
        body["billNumber"] = "P999999999"
    qr = encode(build_qr(body, merchant_id="000000000000001", now_ms=int(time.time() * 1000)))
    if kind == "crc":
        qr = qr[:-1] + ("0" if qr[-1] != "0" else "1")
    if kind == "second-amount":  # the SDK would keep the last 54; which one is meant is a guess
        qr = _reframed(qr, lambda fields: [*fields, ("54", "1.00")])
    return qr


Fields = list[tuple[str, str]]


def _reframed(qr: str, change: Callable[[Fields], Fields], lower_crc: bool = False) -> str:
    """``qr``'s fields (CRC dropped) changed by ``change``, then signed again."""
    fields: Fields = []
    i = 0
    while i < len(qr) - 8:
        tag, length = qr[i : i + 2], int(qr[i + 2 : i + 4])
        fields.append((tag, qr[i + 4 : i + 4 + length]))
        i += 4 + length
    body = "".join(f"{tag}{len(value):02d}{value}" for tag, value in change(fields)) + "6304"
    crc = crc16_ccitt_false(body)
    return body + (crc.lower() if lower_crc else crc)


BANK_FORMS: dict[str, Callable[[str], str]] = {
    # Issue 7 §2: QRs the official SDK verifies, in forms AMK may send; PayHub shows them as sent.
    "postal-code-tag-61": lambda qr: _reframed(qr, lambda f: [*f, ("61", "12000")]),
    "lowercase-crc": lambda qr: _reframed(qr, lambda f: f, lower_crc=True),
    "reordered-with-unionpay-and-reserved-template": lambda qr: _reframed(
        qr, lambda f: [f[0], ("15", "9704360012345678"), *reversed(f[1:]), ("80", "0003abc")]
    ),
}


@pytest.mark.parametrize("form", BANK_FORMS)
async def test_a_valid_bank_qr_in_another_form_is_accepted(
    container: Container, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    sent: list[str] = []

    class OtherFormAmk:
        async def generate(self, req: QrRequest) -> QrResult:
            sent.append(BANK_FORMS[form](_tampered("none", req)))
            return QrResult(sent[-1], render_png(sent[-1]))

    monkeypatch.setattr(container.khqr, "qr", OtherFormAmk())
    r = await get_khqr(container, client)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["qrString"] == sent[0]
    assert await session_count(container) == 1


@pytest.mark.parametrize("kind", ["amount", "currency", "bill", "crc", "second-amount"])
async def test_a_qr_that_does_not_match_the_premium_is_refused(
    container: Container,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    class WrongAmk:
        async def generate(self, req: QrRequest) -> QrResult:
            qr = _tampered(kind, req)
            return QrResult(qr, render_png(qr))

    monkeypatch.setattr(container.khqr, "qr", WrongAmk())
    r = await get_khqr(container, client)
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "AMK_UNKNOWN_ERROR"
    assert "qrString" not in r.text
    alerts = [rec.getMessage() for rec in caplog.records if rec.getMessage().startswith("ALERT AMK QR")]
    assert alerts == [
        "ALERT AMK QR is not a valid KHQR"
        if kind in ("crc", "second-amount")
        else "ALERT AMK QR does not match the premium"
    ]
    assert await session_count(container) == 0
    inquiry = await client.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(container))
    payment_id = inquiry.json()["data"]["paymentId"]
    async with container.store.transaction() as tx:
        assert await tx.events_of_type(payment_id, GENERATED) == []
        payment = await tx.payment(payment_id)
    assert payment is not None and payment.method is None, "nothing about the payment changed"
