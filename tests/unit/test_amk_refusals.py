"""Every payment-verify answer is classified: a verdict, retriable, or a refusal with the spec's code.

A refusal is never silent: it carries the spec's error code and a bounded metric label, is logged
as an ALERT and counted (issue 7 §5: MERCHANT_NOT_BIND became an unnoticed 502 at INFO).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.adapters.amk.client import REFUSAL_LABELS, AmkClient, AmkConfig, Verification, classify
from hub.errors import AmkBankNotFound, AmkMerchantNotBound, AmkUnavailable, AmkUnknownError

CONFIG = AmkConfig("https://amk.test/verify", "M", "S", "T", "key", retry_attempts=2, retry_initial_s=0.0)
PAID = {"code": "00", "data": {"txId": "TX1", "status": "PAID", "amount": "1.00", "currency": "USD"}}


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("status", "content", "code", "label"),
    [
        (
            403,
            body({"code": "MERCHANT_NOT_BIND", "message": "Unknown merchant"}),
            "MERCHANT_NOT_BIND",
            "MERCHANT_NOT_BIND",
        ),
        (200, body({"code": "MERCHANT_NOT_BIND"}), "MERCHANT_NOT_BIND", "MERCHANT_NOT_BIND"),
        (400, body({"code": "bank_not_found"}), "BANK_NOT_FOUND", "BANK_NOT_FOUND"),
        (200, body({"code": "BANK_NOT_FOUND", "data": {"status": "PAID"}}), "BANK_NOT_FOUND", "BANK_NOT_FOUND"),
        (401, body({"code": "INVALID_HASH"}), "AMK_UNKNOWN_ERROR", "INVALID_HASH"),
        (400, body({"code": "BAD_REQUEST"}), "AMK_UNKNOWN_ERROR", "BAD_REQUEST"),
        (409, body({"code": "SOMETHING_NEW_AMK_INVENTED"}), "AMK_UNKNOWN_ERROR", "unknown"),
        (200, body({"code": "E042", "data": {"status": "PAID"}}), "AMK_UNKNOWN_ERROR", "unknown"),
        (403, b"", "AMK_UNKNOWN_ERROR", "unreadable"),
        (200, b"<html>ok</html>", "AMK_UNKNOWN_ERROR", "unreadable"),
        (200, body([1, 2]), "AMK_UNKNOWN_ERROR", "unreadable"),
        (200, body({"code": "00"}), "AMK_UNKNOWN_ERROR", "unreadable"),
        (200, body({"code": "00", "data": {"amount": "1"}}), "AMK_UNKNOWN_ERROR", "unreadable"),
        (
            200,
            body({"code": "00", "data": {"status": "PAID", "amount": "x", "currency": "USD"}}),
            "AMK_UNKNOWN_ERROR",
            "unreadable",
        ),
        (200, body({"code": "00", "data": {"status": "PAID", "currency": 7}}), "AMK_UNKNOWN_ERROR", "unreadable"),
        (403, body({"message": "forbidden"}), "AMK_UNKNOWN_ERROR", "unknown"),
    ],
)
def test_refusals_map_to_the_spec_code_and_a_bounded_label(status: int, content: bytes, code: str, label: str) -> None:
    with pytest.raises(AmkUnknownError) as caught:
        classify("TX1", status, content)
    assert caught.value.code == code
    assert caught.value.amk_code == label
    assert caught.value.status_code == 502 and not caught.value.retriable
    assert caught.value.details["httpStatus"] == status


def test_named_refusals_are_their_own_classes() -> None:
    with pytest.raises(AmkMerchantNotBound):
        classify("TX1", 403, body({"code": "MERCHANT_NOT_BIND"}))
    with pytest.raises(AmkBankNotFound):
        classify("TX1", 404 + 1, body({"code": "BANK_NOT_FOUND"}))


@pytest.mark.parametrize(
    ("status", "content"),
    [(500, b""), (503, body({"code": "SERVER_UNAVAILABLE"})), (429, b""), (200, body({"code": "RATE_LIMIT_EXCEEDED"}))],
)
def test_transient_answers_are_retriable(status: int, content: bytes) -> None:
    with pytest.raises(AmkUnavailable):
        classify("TX1", status, content)


def test_verdicts() -> None:
    assert classify("TX1", 200, body(PAID)).paid
    assert classify("TX1", 404, body({"code": "NOT_FOUND"})).status == "NOT_FOUND"
    with pytest.raises(AmkUnknownError):  # a 404 page of a wrong URL is no verdict on the money
        classify("TX1", 404, b"<html>Not Found</html>")
    assert classify("TX1", 200, body({"code": "00", "data": {"status": " unpaid "}})).status == "UNPAID"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
codes = st.one_of(
    st.sampled_from(
        ["00", "0", "NOT_FOUND", "MERCHANT_NOT_BIND", "BANK_NOT_FOUND", "INVALID_HASH", "SERVER_UNAVAILABLE"]
    ),
    st.text(max_size=20),
    st.integers(),
    st.none(),
)
answers = st.one_of(
    st.binary(max_size=64),
    json_values.map(body),
    st.fixed_dictionaries(
        {"code": codes},
        optional={
            "data": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "status": st.one_of(st.sampled_from(["PAID", "FAILED", ""]), json_values),
                        "amount": json_values,
                        "currency": st.one_of(st.sampled_from(["USD", "khr", "EUR"]), json_values),
                        "txId": json_values,
                    },
                ),
            ),
            "message": st.text(max_size=10),
        },
    ).map(body),
)


@settings(max_examples=400, deadline=None)
@given(status=st.integers(min_value=100, max_value=599), content=answers)
def test_any_answer_is_a_verdict_retriable_or_a_labelled_refusal(status: int, content: bytes) -> None:
    try:
        verdict = classify("TX1", status, content)
    except AmkUnavailable as exc:
        assert exc.retriable
    except AmkUnknownError as exc:
        assert exc.code in ("MERCHANT_NOT_BIND", "BANK_NOT_FOUND", "AMK_UNKNOWN_ERROR")
        assert exc.amk_code in REFUSAL_LABELS
        assert not exc.retriable and exc.status_code == 502
    else:
        assert isinstance(verdict, Verification) and verdict.status and verdict.status == verdict.status.upper()
        assert status in (200, 404)


@settings(max_examples=60, deadline=None)
@given(
    code=st.text(min_size=1, max_size=30).filter(lambda c: c.strip().upper() not in ("00", "0", "000", "SUCCESS", "OK"))
)
async def test_every_refusal_through_the_client_is_alerted_and_counted(code: str) -> None:
    counted: list[tuple[str, str]] = []
    records: list[logging.LogRecord] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Grab(level=logging.ERROR)
    logging.getLogger("payhub.amk").addHandler(handler)
    transport = httpx.MockTransport(lambda _: httpx.Response(403, json={"code": code}))
    try:
        async with httpx.AsyncClient(transport=transport) as http:
            amk = AmkClient(http, CONFIG, on_refusal=lambda e: counted.append((e.code, e.amk_code)))
            try:
                await amk.verify_payment("TX1")
            except AmkUnavailable:
                return  # a transient code (SERVER_UNAVAILABLE, ...) is no refusal
            except AmkUnknownError:
                pass
            else:
                pytest.fail("a 403 must not be a verdict")
    finally:
        logging.getLogger("payhub.amk").removeHandler(handler)
    if code.strip().upper() == "NOT_FOUND":
        return
    assert len(counted) == 1 and counted[0][1] in REFUSAL_LABELS
    assert any(r.levelno == logging.ERROR and "ALERT" in r.getMessage() for r in records)


@pytest.mark.parametrize(
    ("status", "content", "code", "label"),
    [
        # The spec's own error envelope ("Enhanced Error Handling"): the code sits in "error".
        (
            400,
            body({"success": False, "error": {"code": "MERCHANT_NOT_BIND", "message": "Merchant not configured"}}),
            "MERCHANT_NOT_BIND",
            "MERCHANT_NOT_BIND",
        ),
        (200, body({"success": False, "error": {"code": "BANK_NOT_FOUND"}}), "BANK_NOT_FOUND", "BANK_NOT_FOUND"),
        (403, body({"success": False, "error": {"code": "fraud_detected"}}), "AMK_UNKNOWN_ERROR", "FRAUD_DETECTED"),
        (400, body({"errorCode": "MERCHANT_NOT_BIND"}), "MERCHANT_NOT_BIND", "MERCHANT_NOT_BIND"),
        # The same word with other separators or case is the same code.
        (400, body({"code": "merchant-not-bind"}), "MERCHANT_NOT_BIND", "MERCHANT_NOT_BIND"),
        (400, body({"code": " Bank Not Found "}), "BANK_NOT_FOUND", "BANK_NOT_FOUND"),
        # An answer that says it failed is no verdict, whatever data it also carries.
        (200, body({"success": False, "data": {"status": "PAID"}}), "AMK_UNKNOWN_ERROR", "unknown"),
    ],
)
def test_the_code_is_read_from_the_spec_error_envelope_in_any_spelling(
    status: int, content: bytes, code: str, label: str
) -> None:
    with pytest.raises(AmkUnknownError) as caught:
        classify("TX1", status, content)
    assert (caught.value.code, caught.value.amk_code) == (code, label)


@pytest.mark.parametrize(
    "content",
    [
        body({"success": False, "error": {"code": "SERVER_UNAVAILABLE", "retryAfter": 30}}),
        body({"success": False, "error": {"code": "rate-limit-exceeded"}}),
        # The spec's service-level example writes SERVICE_UNAVAILABLE: transient, asked again.
        body({"success": False, "error": {"code": "SERVICE_UNAVAILABLE", "retryAfter": 30}}),
        body({"code": "SERVICE_UNAVAILABLE"}),
    ],
)
def test_transient_codes_in_the_error_envelope_are_retriable(content: bytes) -> None:
    for status in (200, 400):
        with pytest.raises(AmkUnavailable):
            classify("TX1", status, content)
