"""AMK's payment-verify answers are kept for the case file (SQLite and PostgreSQL): the verdict of
a webhook's verification (in the transaction that records the money), a verdict that refused the
money, a refusal to answer, and the re-verifier's verdict; unreachability is not an answer."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from gateway.reverify import ReVerifier
from hub.domain.reviews import AmkAnswer
from payhub.bootstrap import Container
from tests.conftest import auth_header, bank_paid, bill_body, signed
from tests.integration.test_amk_refusal_webhooks import misconfigure_merchant


async def answers(c: Container, reference: str) -> list[AmkAnswer]:
    async with c.store.transaction() as tx:
        return await tx.amk_answers.of([], [reference])


async def post_bill(c: Container, client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    raw, headers = signed(c, body)
    return await client.post("/AMK/payments", content=raw, headers=headers)


async def case_of_review(c: Container, client: httpx.AsyncClient, reason_part: str) -> dict[str, Any]:
    listed = (await client.get("/admin/reviews", headers=auth_header(c, "admin"))).json()["data"]
    [review] = [r for r in listed if reason_part in r["reason"]]
    case: dict[str, Any] = (await client.get(f"/admin/reviews/{review['id']}", headers=auth_header(c, "admin"))).json()[
        "data"
    ]
    return case


async def test_a_confirmed_webhook_keeps_amks_verdict(container: Container, client: httpx.AsyncClient) -> None:
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    r = await post_bill(container, client, body)
    assert r.status_code == 200, r.text
    [answer] = await answers(container, body["bankTransactionId"])
    assert (answer.source, answer.status, answer.payment_id) == ("webhook", "PAID", r.json()["data"]["paymentId"])
    assert str(answer.amount) in ("150.00", "150") and answer.currency is not None and answer.currency.value == "USD"
    replay = await post_bill(container, client, body)  # a replay asks nothing and keeps nothing more
    assert replay.status_code == 200 and len(await answers(container, body["bankTransactionId"])) == 1


async def test_money_amk_does_not_confirm_keeps_its_answer_in_the_review(
    container: Container, client: httpx.AsyncClient
) -> None:
    body = bill_body()  # the bank (sandbox) never heard of this transaction
    r = await post_bill(container, client, body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "TRANSACTION_VERIFY_FAILED"
    [answer] = await answers(container, body["bankTransactionId"])
    assert (answer.source, answer.status, answer.payment_id) == ("webhook", "NOT_FOUND", None)
    case = await case_of_review(container, client, "AMK does not confirm")
    assert [a["status"] for a in case["amkAnswers"]] == ["NOT_FOUND"]
    assert case["review"]["payload"]["bankTransactionId"] == body["bankTransactionId"]


async def test_a_refusal_to_verify_is_kept_with_amks_code(container: Container, client: httpx.AsyncClient) -> None:
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    misconfigure_merchant(container)
    r = await post_bill(container, client, body)
    assert r.status_code == 502
    [answer] = await answers(container, body["bankTransactionId"])
    assert (answer.status, answer.detail["amkCode"], answer.amount) == ("MERCHANT_NOT_BIND", "MERCHANT_NOT_BIND", None)
    case = await case_of_review(container, client, "refused: MERCHANT_NOT_BIND")
    assert [a["status"] for a in case["amkAnswers"]] == ["MERCHANT_NOT_BIND"]


async def test_the_reverifier_keeps_the_verdict_it_settles_with(
    container: Container, client: httpx.AsyncClient
) -> None:
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    container.sandbox_state.verify_available = False
    r = await post_bill(container, client, body)
    assert r.status_code == 202, r.text
    assert await answers(container, body["bankTransactionId"]) == []  # unreachable: no answer
    container.sandbox_state.verify_available = True
    merchant = container.amk._cfg.merchant_id
    misconfigure_merchant(container)  # AMK now refuses to answer the re-verifier
    hours = iter(range(1, 100))

    def later() -> ReVerifier:
        at = datetime.now(UTC) + timedelta(hours=next(hours))
        return dataclasses.replace(container.reverifier, clock=lambda: at)

    assert await later().run_once() == 0
    container.amk._cfg = dataclasses.replace(container.amk._cfg, merchant_id=merchant)
    assert await later().run_once() == 1
    refused, paid = await answers(container, body["bankTransactionId"])
    payment_id = r.json()["data"]["paymentId"]
    assert (refused.source, refused.status, refused.payment_id) == ("reverify", "MERCHANT_NOT_BIND", payment_id)
    assert (paid.source, paid.status, paid.payment_id) == ("reverify", "PAID", payment_id)
    listed = await client.get(f"/admin/payments/{payment_id}", headers=auth_header(container, "admin"))
    assert [a["status"] for a in listed.json()["data"]["amkAnswers"]] == ["MERCHANT_NOT_BIND", "PAID"]
