"""Webhook security: bearer role and HMAC-SHA512 signature (ARCHITECTURE, "Gateway").

Unit tests pin ``hub.adapters.amk.signature.verify``; HTTP tests go through ``POST /AMK/payments`` and
``POST /AMK/khqr`` of a wired sandbox process on SQLite. A rejected webhook must change nothing.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

import gateway.app
from hub.adapters.amk.signature import sign, signature_header, verify
from hub.errors import Unauthorized
from hub.secrets_policy import SANDBOX_WEBHOOK_SECRET
from payhub.bootstrap import Container
from tests.conftest import auth_header, bank_paid, bill_body, khqr_body, signed, sqlite_process

NOW = 1_800_000_000
BODY = b'{"id":150001,"amount":150.00}'
TABLES = ("payments", "payment_events", "webhook_receipts", "reviews")


# --------------------------------------------------------------------------- unit: verify()


def _headers(ts: int | str | None, sig: str | None) -> dict[str, str]:
    headers = {}
    if ts is not None:
        headers["x-amk-timestamp"] = str(ts)
    if sig is not None:
        headers["x-amk-signature"] = sig
    return headers


def _check(headers: dict[str, str], body: bytes = BODY, secrets: tuple[str, ...] = ("s3cret",)) -> None:
    verify(headers, body, secrets, now=NOW, tolerance_s=300)


def test_sign_is_hmac_sha512_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"s3cret", b"%d." % NOW + BODY, hashlib.sha512).hexdigest()
    assert sign("s3cret", NOW, BODY) == expected
    assert signature_header(["a", "b"], NOW, BODY) == f"v1={sign('a', NOW, BODY)},v1={sign('b', NOW, BODY)}"


def test_good_signature_passes() -> None:
    _check(_headers(NOW, f"v1={sign('s3cret', NOW, BODY)}"))


def test_uppercase_hex_and_spaces_around_entries_pass() -> None:
    _check(_headers(NOW, f" v1={sign('s3cret', NOW, BODY).upper()} "))


def test_forged_signature_fails() -> None:
    with pytest.raises(Unauthorized, match="Invalid webhook signature"):
        _check(_headers(NOW, f"v1={sign('wrong', NOW, BODY)}"))


@pytest.mark.parametrize("skew", [-300, -1, 0, 1, 300])
def test_timestamp_within_tolerance_passes(skew: int) -> None:
    ts = NOW + skew
    _check(_headers(ts, f"v1={sign('s3cret', ts, BODY)}"))


@pytest.mark.parametrize("skew", [-301, 301, -86400])
def test_stale_or_future_timestamp_fails_even_if_correctly_signed(skew: int) -> None:
    ts = NOW + skew
    with pytest.raises(Unauthorized, match="tolerance") as caught:
        _check(_headers(ts, f"v1={sign('s3cret', ts, BODY)}"))
    assert caught.value.details["skewSeconds"] == -skew


def test_signature_binds_the_timestamp() -> None:
    """A captured signature cannot be replayed under a fresher timestamp."""
    with pytest.raises(Unauthorized):
        _check(_headers(NOW, f"v1={sign('s3cret', NOW - 400, BODY)}"))


@pytest.mark.parametrize("secret", ["new", "old"])
def test_rotated_keys_accept_either_secret(secret: str) -> None:
    _check(_headers(NOW, f"v1={sign(secret, NOW, BODY)}"), secrets=("new", "old"))


def test_rotation_drops_retired_secret() -> None:
    with pytest.raises(Unauthorized):
        _check(_headers(NOW, f"v1={sign('older', NOW, BODY)}"), secrets=("new", "old"))


@pytest.mark.parametrize("good_first", [True, False])
def test_several_v1_entries_pass_when_any_matches(good_first: bool) -> None:
    good, bad = sign("s3cret", NOW, BODY), sign("other", NOW, BODY)
    entries = [good, bad] if good_first else [bad, good]
    _check(_headers(NOW, ",".join(f"v1={e}" for e in entries)))


def test_several_v1_entries_fail_when_none_matches() -> None:
    with pytest.raises(Unauthorized):
        _check(_headers(NOW, f"v1={sign('x', NOW, BODY)},v1={sign('y', NOW, BODY)}"))


def test_body_altered_by_one_byte_fails() -> None:
    header = f"v1={sign('s3cret', NOW, BODY)}"
    altered = BODY.replace(b"150.00", b"150.01")
    assert len(altered) == len(BODY) and altered != BODY
    with pytest.raises(Unauthorized):
        _check(_headers(NOW, header), body=altered)
    with pytest.raises(Unauthorized):
        _check(_headers(NOW, header), body=BODY + b" ")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(_headers(None, "v1=00"), id="no-timestamp"),
        pytest.param(_headers(NOW, None), id="no-signature"),
        pytest.param(_headers(None, None), id="neither"),
        pytest.param(_headers("", "v1=00"), id="empty-timestamp"),
        pytest.param(_headers(NOW, ""), id="empty-signature"),
    ],
)
def test_missing_headers_fail(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="Missing"):
        _check(headers)


@pytest.mark.parametrize(
    "sig",
    [
        "garbage",
        "v2=" + "0" * 128,
        "sha512=" + "0" * 128,
        "v1=",
        "v1=zz",
        "v1=" + "0" * 128,
        ",,,",
    ],
)
def test_malformed_signature_header_fails(sig: str) -> None:
    with pytest.raises(Unauthorized):
        _check(_headers(NOW, sig))


@pytest.mark.parametrize("ts", ["abc", "-5", "1.8e9", "1800000000.5", "\u00b2", "\u0661\u0668", "9" * 5000])
def test_malformed_timestamp_fails(ts: str) -> None:
    # Non-ASCII digits pass str.isdigit(): they must still be refused as 401, not crash as 500.
    with pytest.raises(Unauthorized, match="Malformed"):
        _check(_headers(ts, f"v1={sign('s3cret', NOW, BODY)}"))


# --------------------------------------------------------------------------- HTTP


_process = sqlite_process


@pytest.fixture
async def proc(tmp_path: Path) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    async with _process(tmp_path) as pair:
        yield pair


async def _counts(c: Container) -> dict[str, int]:
    async with c.store.transaction() as tx:
        return {t: await tx.count(t) for t in TABLES}


def _assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers.get("x-correlation-id")
    body = r.json()
    assert body["success"] is False
    error: dict[str, Any] = body["error"]
    assert error["code"] == code
    assert {"code", "message", "details", "correlationId", "timestamp"} <= error.keys()
    assert error["correlationId"] == r.headers["x-correlation-id"]
    return error


async def _open_payment(c: Container, client: httpx.AsyncClient, query: str = "P123456789") -> int:
    r = await client.get("/AMK/payments", params={"query": query}, headers=auth_header(c))
    assert r.status_code == 200, r.text
    pid: int = r.json()["data"]["paymentId"]
    return pid


def _paid_bill(c: Container) -> dict[str, Any]:
    """A bill the sandbox bank really paid: accepted if (and only if) the signature holds."""
    body = bill_body()
    bank_paid(c, body["bankTransactionId"])
    return body


def _freeze_gateway_clock(monkeypatch: pytest.MonkeyPatch, now: int) -> None:
    # Only the gateway's own clock: tokens keep using the real time.
    monkeypatch.setattr(gateway.app, "time", SimpleNamespace(time=lambda: float(now)))


async def test_http_good_signature_bill_confirms(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    raw, headers = signed(c, _paid_bill(c))
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "CONFIRMED"


async def test_http_good_signature_khqr_confirms(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    pid = await _open_payment(c, client)
    bank_paid(c, str(pid))
    raw, headers = signed(c, khqr_body(pid))
    r = await client.post("/AMK/khqr", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "CONFIRMED"


Tamper = Callable[[Container, bytes, dict[str, str]], tuple[bytes, dict[str, str]]]


def _forged(c: Container, raw: bytes, h: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return signed(c, raw, secret="not-the-secret")


# Against the live clock, well past the ±300 s tolerance: 301 s ahead flaked when a second boundary fell
# between signing and checking (int(now) moved on, the skew became 300). The exact boundary is
# test_http_tolerance_boundary's, on a frozen clock.
OUTSIDE_TOLERANCE_S = 330


def _stale(c: Container, raw: bytes, h: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return signed(c, raw, ts=int(time.time()) - OUTSIDE_TOLERANCE_S)


def _future(c: Container, raw: bytes, h: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return signed(c, raw, ts=int(time.time()) + OUTSIDE_TOLERANCE_S)


def _one_byte(c: Container, raw: bytes, h: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    altered = raw.replace(b"150.00", b"150.01")  # still valid JSON, still the right premium
    assert altered != raw and len(altered) == len(raw)
    return altered, h


def _drop(name: str) -> Tamper:
    def tamper(c: Container, raw: bytes, h: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        return raw, {k: v for k, v in h.items() if k != name}

    return tamper


def _set(name: str, value: str) -> Tamper:
    def tamper(c: Container, raw: bytes, h: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        return raw, {**h, name: value}

    return tamper


REJECTIONS: list[Any] = [
    pytest.param(_forged, id="forged"),
    pytest.param(_stale, id="stale-330s"),
    pytest.param(_future, id="future-330s"),
    pytest.param(_one_byte, id="body-altered-one-byte"),
    pytest.param(_drop("X-AMK-Timestamp"), id="missing-timestamp"),
    pytest.param(_drop("X-AMK-Signature"), id="missing-signature"),
    pytest.param(_set("X-AMK-Signature", "sha512=deadbeef"), id="malformed-signature"),
    pytest.param(_set("X-AMK-Signature", "v1="), id="empty-v1"),
    pytest.param(_set("X-AMK-Timestamp", "yesterday"), id="malformed-timestamp"),
]


@pytest.mark.parametrize("tamper", REJECTIONS)
async def test_http_bad_signature_bill_is_401_and_changes_nothing(
    proc: tuple[Container, httpx.AsyncClient], tamper: Tamper
) -> None:
    c, client = proc
    raw, headers = signed(c, _paid_bill(c))
    bad_raw, bad_headers = tamper(c, raw, headers)
    before = await _counts(c)
    r = await client.post("/AMK/payments", content=bad_raw, headers=bad_headers)
    _assert_error(r, 401, "UNAUTHORIZED")
    assert await _counts(c) == before
    # The very same webhook, correctly signed, is accepted: the rejection was the signature's doing.
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("tamper", REJECTIONS)
async def test_http_bad_signature_khqr_is_401_and_changes_nothing(
    proc: tuple[Container, httpx.AsyncClient], tamper: Tamper
) -> None:
    c, client = proc
    pid = await _open_payment(c, client)
    bank_paid(c, str(pid))
    raw, headers = signed(c, khqr_body(pid))
    bad_raw, bad_headers = tamper(c, raw, headers)
    before = await _counts(c)
    r = await client.post("/AMK/khqr", content=bad_raw, headers=bad_headers)
    _assert_error(r, 401, "UNAUTHORIZED")
    assert await _counts(c) == before
    r = await client.post("/AMK/khqr", content=raw, headers=headers)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("skew", "status"), [(-300, 200), (300, 200), (-301, 401), (301, 401)], ids=str)
async def test_http_tolerance_boundary(
    proc: tuple[Container, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch, skew: int, status: int
) -> None:
    c, client = proc
    now = int(time.time())
    _freeze_gateway_clock(monkeypatch, now)
    raw, headers = signed(c, _paid_bill(c), ts=now + skew)
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == status, r.text


@pytest.mark.parametrize("value", [b"\xb2", b"9" * 5000], ids=["superscript-two", "5000-digits"])
async def test_http_odd_timestamp_is_401_not_500(proc: tuple[Container, httpx.AsyncClient], value: bytes) -> None:
    c, client = proc
    raw, headers = signed(c, _paid_bill(c))
    raw_headers = [(k.encode(), v.encode()) for k, v in headers.items() if k != "X-AMK-Timestamp"]
    r = await client.post("/AMK/payments", content=raw, headers=[*raw_headers, (b"X-AMK-Timestamp", value)])
    _assert_error(r, 401, "UNAUTHORIZED")


@pytest.mark.parametrize("path", ["/AMK/payments", "/AMK/khqr"])
async def test_http_no_bearer_token_is_401(proc: tuple[Container, httpx.AsyncClient], path: str) -> None:
    c, client = proc
    raw, headers = signed(c, _paid_bill(c))
    del headers["Authorization"]
    before = await _counts(c)
    r = await client.post(path, content=raw, headers=headers)
    _assert_error(r, 401, "UNAUTHORIZED")
    assert await _counts(c) == before


async def test_http_garbage_or_foreign_token_is_401(proc: tuple[Container, httpx.AsyncClient]) -> None:
    import jwt

    c, client = proc
    raw, headers = signed(c, _paid_bill(c))
    foreign = jwt.encode(
        {"sub": "amk-bank", "role": "amk", "exp": int(time.time()) + 60},
        "another-key-of-at-least-thirty-two-bytes",
        algorithm="HS256",
    )
    for value in ("Bearer not-a-jwt", f"Bearer {foreign}", "Basic YW1rOmFtaw=="):
        r = await client.post("/AMK/payments", content=raw, headers={**headers, "Authorization": value})
        _assert_error(r, 401, "UNAUTHORIZED")


@pytest.mark.parametrize("path", ["/AMK/payments", "/AMK/khqr"])
@pytest.mark.parametrize("role", ["customer", "admin"])
async def test_http_wrong_role_is_403(proc: tuple[Container, httpx.AsyncClient], path: str, role: str) -> None:
    c, client = proc
    raw, headers = signed(c, _paid_bill(c), role=role)
    before = await _counts(c)
    r = await client.post(path, content=raw, headers=headers)
    _assert_error(r, 403, "FORBIDDEN")
    assert await _counts(c) == before


async def test_http_subscribe_token_cannot_post_webhooks(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    r = await client.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(c))
    subscribe = r.json()["data"]["subscribeToken"]
    raw, headers = signed(c, _paid_bill(c))
    r = await client.post("/AMK/payments", content=raw, headers={**headers, "Authorization": f"Bearer {subscribe}"})
    _assert_error(r, 403, "FORBIDDEN")


async def test_http_error_echoes_incoming_correlation_id(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    raw, headers = signed(c, _paid_bill(c), secret="forged")
    r = await client.post("/AMK/payments", content=raw, headers={**headers, "X-Correlation-ID": "amk-42"})
    error = _assert_error(r, 401, "UNAUTHORIZED")
    assert error["correlationId"] == "amk-42"


# --------------------------------------------------------------------------- key rotation over HTTP


@pytest.fixture
async def rotated(tmp_path: Path) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    async with _process(tmp_path, amk_webhook_secrets=("new", "old")) as pair:
        yield pair


@pytest.mark.parametrize("secret", ["new", "old"])
async def test_http_rotated_key_accepts_either_secret(
    rotated: tuple[Container, httpx.AsyncClient], secret: str
) -> None:
    c, client = rotated
    raw, headers = signed(c, _paid_bill(c), secret=secret)
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 200, r.text


async def test_http_rotated_key_refuses_the_replaced_default(
    rotated: tuple[Container, httpx.AsyncClient],
) -> None:
    c, client = rotated
    raw, headers = signed(c, _paid_bill(c), secret=SANDBOX_WEBHOOK_SECRET)
    before = await _counts(c)
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    _assert_error(r, 401, "UNAUTHORIZED")
    assert await _counts(c) == before


async def test_http_several_v1_entries_pass_when_any_matches(
    rotated: tuple[Container, httpx.AsyncClient],
) -> None:
    c, client = rotated
    raw, headers = signed(c, _paid_bill(c))
    ts = int(headers["X-AMK-Timestamp"])
    headers["X-AMK-Signature"] = signature_header(["retired", "old"], ts, raw)
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 200, r.text


async def test_sandbox_simulator_signs_with_the_first_rotated_secret(
    rotated: tuple[Container, httpx.AsyncClient],
) -> None:
    _, client = rotated
    r = await client.post("/sandbox/amk/simulate/pay", json={"billNumber": "P123456789", "method": "BILL"})
    assert r.status_code == 200, r.text
    attempts = r.json()["data"]["webhooks"][0]["attempts"]
    assert attempts[-1]["status"] == 200
