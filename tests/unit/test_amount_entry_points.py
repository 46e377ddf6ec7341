"""Every entry point of an amount uses the one parser: AMK verify answers, integration-service answers,
the premium CSV import, sandbox requests. Each example crashed (InvalidOperation → 500/traceback) or was
silently changed through a float before."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from hub.adapters.amk.client import AmkClient, AmkConfig, Verification
from hub.adapters.integration import IntegrationClient
from hub.errors import AmkUnknownError, BadRequest, ServiceUnavailable
from integration.premiums import PremiumImportError, parse_premiums_csv
from sandbox.simulate import SimulateRequest

CONFIG = AmkConfig("https://amk.test/verify", "M001", "S002", "T003", "s3cret-key", retry_attempts=1)
ISSUE_AMOUNTS = [b"1E+30", b"1e309", b"123456789012345678901234567890.12"]


def _answer(amount: bytes, currency: bytes = b'"USD"') -> bytes:
    return b'{"code":"00","data":{"txId":"TX1","status":"PAID","amount":' + amount + b',"currency":' + currency + b"}}"


async def _verify(raw: bytes) -> Verification:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=raw))
    async with httpx.AsyncClient(transport=transport) as http:
        return await AmkClient(http, CONFIG, clock=lambda: 1_790_000_000.0).verify_payment("TX1")


@pytest.mark.parametrize("amount", [*ISSUE_AMOUNTS, b"0.1000000000000000055511151231257827", b"150.001"])
async def test_amk_verify_answer_amounts_are_read_exactly_or_refused(amount: bytes) -> None:
    # 0.1000000000000000055511151231257827 read through a float (response.json()) became 0.1.
    with pytest.raises(AmkUnknownError, match="unreadable amounts"):
        await _verify(_answer(amount))


async def test_amk_verify_answer_amount_is_exact() -> None:
    verdict = await _verify(_answer(b"150.10"))
    assert verdict.amount == Decimal("150.10") and str(verdict.amount) == "150.10"
    verdict = await _verify(_answer(b"6E+5", b'"KHR"'))
    assert str(verdict.amount) == "600000"


async def test_amk_verify_amount_without_currency_is_unreadable() -> None:
    with pytest.raises(AmkUnknownError, match="unreadable amounts"):
        await _verify(_answer(b"150.00", b"null"))


async def _premium_answer_is_unavailable(amount: bytes) -> None:
    """The integration service answers a premium whose amount is ``amount`` (raw JSON): 503, not 500."""
    raw = (
        b'{"success":true,"data":{"id":150001,"policyNumber":"P123456789","payer":"John Doe","amount":'
        + amount
        + b',"currency":"USD","dueDate":"2026-12-15"}}'
    )
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=raw))
    async with httpx.AsyncClient(transport=transport, base_url="http://integration.test") as http:
        with pytest.raises(ServiceUnavailable, match="unreadable premium"):
            await IntegrationClient(http).due_premium("P123456789")


@pytest.mark.parametrize("amount", [*ISSUE_AMOUNTS, b'"abc"', b"true"])
async def test_integration_service_answer_with_a_bad_amount_is_503_not_500(amount: bytes) -> None:
    await _premium_answer_is_unavailable(amount)


@pytest.mark.parametrize("amount", ["1E+30", "1e309", "123456789012345678901234567890.12", "1_000", "NaN"])
def test_csv_import_refuses_the_row_naming_the_amount(amount: str) -> None:
    csv = (
        "id,policy_number,application_number,payer,amount,currency,due_date\n"
        f"150001,P123456789,,John Doe,{amount},USD,2026-12-15\n"
    )
    with pytest.raises(PremiumImportError) as caught:
        parse_premiums_csv(csv)
    assert len(caught.value.errors) == 1 and caught.value.errors[0].startswith("row 2: amount: ")


@pytest.mark.parametrize("amount", [{"v": 1}, [150], True, "abc", "Infinity"])
def test_sandbox_simulate_request_refuses_a_bad_amount_with_400(amount: object) -> None:
    with pytest.raises(BadRequest) as caught:
        SimulateRequest.from_json({"paymentId": 1, "amount": amount})
    assert {"field": "amount", "message": caught.value.details[0]["message"]} in caught.value.details


async def test_http_layer_answers_money_error_with_400_naming_the_field() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Route

    from hub.domain.money import Currency, parse_amount
    from hub.http.errors import EXCEPTION_HANDLERS

    async def route(request: Request) -> None:
        parse_amount(request.query_params["amount"], Currency.USD, field="amount")
        raise AssertionError("not reached")

    app = Starlette(routes=[Route("/", route)], exception_handlers=EXCEPTION_HANDLERS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        r = await http.get("/", params={"amount": "1E+30"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "BAD_REQUEST" and error["details"][0]["field"] == "amount"


OUT_OF_RANGE = [b"1e999999999999999999999", b'"1E-999999999999999999999"']  # past decimal's exponent range


@pytest.mark.parametrize("amount", OUT_OF_RANGE)
async def test_amk_verify_answer_with_an_out_of_range_exponent_is_unreadable(amount: bytes) -> None:
    with pytest.raises(AmkUnknownError, match=r"unreadable amounts|non-JSON"):
        await _verify(_answer(amount))


@pytest.mark.parametrize("amount", OUT_OF_RANGE)
async def test_integration_service_answer_with_an_out_of_range_exponent_is_503(amount: bytes) -> None:
    await _premium_answer_is_unavailable(amount)


def test_csv_import_refuses_an_out_of_range_exponent_naming_the_amount() -> None:
    csv = (
        "id,policy_number,application_number,payer,amount,currency,due_date\n"
        "150001,P123456789,,John Doe,1e999999999999999999999,USD,2026-12-15\n"
    )
    with pytest.raises(PremiumImportError) as caught:
        parse_premiums_csv(csv)
    assert [e.split(":")[:2] for e in caught.value.errors] == [["row 2", " amount"]]


@pytest.mark.parametrize("premium_id", ["²", "١٢٣", "9223372036854775808", "9" * 5000, "0", "-1", "1.0"])
def test_csv_import_refuses_an_id_that_is_not_a_64_bit_ascii_integer(premium_id: str) -> None:
    # "²" passed str.isdigit() and crashed int(); 2**63 and 5,000 digits crashed the store or int();
    # Arabic-Indic digits were read as 123.
    csv = (
        "id,policy_number,application_number,payer,amount,currency,due_date\n"
        f"{premium_id},P123456789,,John Doe,150.00,USD,2026-12-15\n"
    )
    with pytest.raises(PremiumImportError) as caught:
        parse_premiums_csv(csv)
    assert len(caught.value.errors) == 1 and caught.value.errors[0].startswith("row 2: id: ")


def test_csv_import_accepts_the_largest_id() -> None:
    from hub.constants import PAYMENT_ID_FLOOR  # premium ids stay below the payment ids

    csv = (
        "id,policy_number,application_number,payer,amount,currency,due_date\n"
        f"{PAYMENT_ID_FLOOR - 1},P123456789,,John Doe,150.00,USD,2026-12-15\n"
    )
    assert [p.id for p in parse_premiums_csv(csv)] == [PAYMENT_ID_FLOOR - 1]


@pytest.mark.parametrize("bill", [123456789, 1e5, True, ["P123456789"], {"b": 1}, "P" * 11, "P-12", "P\u0000", "١٢٣"])
def test_sandbox_simulate_request_refuses_a_bad_bill_number_with_400(bill: object) -> None:
    # It was forwarded to the gateway's inquiry, whose 400 the sandbox answered as 503 SERVICE_UNAVAILABLE.
    with pytest.raises(BadRequest) as caught:
        SimulateRequest.from_json({"billNumber": bill, "method": "BILL"})
    assert "billNumber" in [d["field"] for d in caught.value.details]
