"""The back office's admin API over real HTTP (uvicorn on a loopback port), on SQLite and PostgreSQL:
the review queue (filters, pages, the case file, moves and their audit trail, concurrent resolves,
the open-reviews gauge) and the look-ups (by AMK transaction id, policy or application number,
payer, dates; a payment's case file; a premium's attempts)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from hub.domain.reviews import ReviewState
from payhub.bootstrap import Container
from tests.conftest import LiveServer, auth_header, bank_paid, bill_body, signed, table_counts
from tests.integration.test_double_payment import metric
from tests.integration.test_khqr_sessions import BANK

JOHN = (150001, "P123456789")  # demo premiums: John Doe 150.00 USD, Sok Dara 600000 KHR
DARA = (150002, "P987654321")
SOPHEA = (150003, "P555000111")  # application number A10000001
TABLES = ("payments", "payment_events", "webhook_receipts", "reviews", "review_events", "amk_answers")


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        yield client


def admin(c: Container, sub: str = "clerk") -> dict[str, str]:
    return auth_header(c, "admin", sub)


async def pay_bill(
    c: Container, http: httpx.AsyncClient, premium: tuple[int, str], amount: str = "150.00", currency: str = "USD"
) -> tuple[str, httpx.Response]:
    body = bill_body(premium[0], premium[1], amount=amount, currency=currency)
    bank_paid(c, body["bankTransactionId"], amount, currency)
    raw, headers = signed(c, body)
    return body["bankTransactionId"], await http.post("/AMK/payments", content=raw, headers=headers)


async def reviews(c: Container, http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await http.get("/admin/reviews", params=params, headers=admin(c))
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["data"]
    return found


async def test_a_double_payment_review_shows_everything_linked(container: Container, http: httpx.AsyncClient) -> None:
    c = container
    first_tx, first = await pay_bill(c, http, JOHN)
    second_tx, second = await pay_bill(c, http, JOHN)  # the premium is paid already: a possible double
    assert first.status_code == second.status_code == 200
    [flagged] = await reviews(c, http, kind="double-payment")
    assert flagged["state"] == "OPEN" and flagged["outcome"] is None and flagged["policyNumber"] == JOHN[1]

    r = await http.get(f"/admin/reviews/{flagged['id']}", headers=admin(c))
    assert r.status_code == 200, r.text
    case = r.json()["data"]
    assert case["review"] == flagged
    assert [(h["action"], h["actor"], h["toState"]) for h in case["history"]] == [("open", "payhub", "OPEN")]
    payment = case["payment"]
    assert payment["paymentId"] == flagged["paymentId"] == second.json()["data"]["paymentId"]
    assert (payment["status"], payment["transactionId"], payment["payer"]) == ("CONFIRMED", second_tx, "John Doe")
    assert case["premium"]["id"] == JOHN[0] and case["premium"]["status"] == "PAID"
    assert [e["status"] for e in case["events"] if e["type"] == "payment.status"] == ["PENDING", "CONFIRMED"]
    [receipt] = case["receipts"]
    assert receipt["key"] == f"BILL:{second_tx}" and receipt["webhook"]["bankTransactionId"] == second_tx
    assert receipt["answer"]["status"] == 200 and receipt["answer"]["body"]["status"] == "CONFIRMED"
    [answer] = case["amkAnswers"]
    assert (answer["source"], answer["reference"], answer["status"]) == ("webhook", second_tx, "PAID")
    assert (answer["amount"], answer["currency"], answer["paymentId"]) == (150.0, "USD", payment["paymentId"])
    assert [a["transactionId"] for a in case["attempts"]] == [first_tx, second_tx]
    assert [x["id"] for x in case["reviews"]] == [flagged["id"]]


async def test_a_refused_webhook_review_links_its_notice(container: Container, http: httpx.AsyncClient) -> None:
    c = container
    tx, refused = await pay_bill(c, http, DARA, amount="5.00", currency="KHR")  # not what is due
    assert refused.status_code == 422
    [flagged] = await reviews(c, http, kind="webhook", policy=DARA[1])
    assert flagged["paymentId"] is None and flagged["payload"]["bankTransactionId"] == tx
    case = (await http.get(f"/admin/reviews/{flagged['id']}", headers=admin(c))).json()["data"]
    assert case["payment"] is None and case["premium"] is None and case["events"] == [] and case["attempts"] == []
    assert case["review"]["reason"] == "webhook does not match the premium"


async def test_filters_pages_and_refusals(container: Container, http: httpx.AsyncClient) -> None:
    c = container
    base = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # 10:00 in Phnom Penh
    keys = ["webhook:a", "double-payment:b", "reconcile:c", "webhook:d", "fraud:e"]
    async with c.store.transaction() as tx:
        for n, key in enumerate(keys):
            assert await tx.add_review(key, f"r{n}", None, {"policyNumber": f"P00000000{n}"}, base + timedelta(days=n))
    ids = {r["key"]: r["id"] for r in await reviews(c, http)}
    await http.post(f"/admin/reviews/{ids['webhook:d']}/escalate", json={"note": "AMK"}, headers=admin(c))
    await http.post(
        f"/admin/reviews/{ids['fraud:e']}/resolve", json={"outcome": "dismissed", "note": "ok"}, headers=admin(c)
    )

    async def keys_of(**params: Any) -> list[str]:
        return [r["key"][-1] for r in await reviews(c, http, **params)]

    assert await keys_of() == ["e", "d", "c", "b", "a"]
    assert await keys_of(state="open") == ["c", "b", "a"]
    assert await keys_of(state="OPEN,ESCALATED") == ["d", "c", "b", "a"]
    assert await keys_of(state=["RESOLVED", "ESCALATED"]) == ["e", "d"]  # repeated parameter
    assert await keys_of(kind="webhook") == ["d", "a"]
    assert await keys_of(kind="webhook", state="OPEN") == ["a"]
    assert await keys_of(outcome="dismissed") == ["e"]
    assert await keys_of(**{"from": "2026-11-28", "to": "2026-11-29"}) == ["c", "b"]  # whole days, Phnom Penh
    assert await keys_of(**{"from": "2026-11-28T10:00:00+07:00"}) == ["e", "d", "c", "b"]
    assert await keys_of(**{"to": "2026-11-28T10:00:00+07:00"}) == ["a"]  # an instant is excluded
    assert await keys_of(policy="p000000002") == ["c"]

    # pages: follow Link rel="next" until it stops; every review once, newest first
    seen: list[str] = []
    url: str | None = "/admin/reviews?limit=2&kind=webhook,double-payment,reconcile,fraud"
    while url:
        r = await http.get(url, headers=admin(c))
        assert r.status_code == 200 and len(r.json()["data"]) <= 2
        seen += [x["key"][-1] for x in r.json()["data"]]
        link = r.headers.get("link")
        url = link[1 : link.index(">")] if link else None
        if url:
            assert 'rel="next"' in (link or "") and parse_qs(urlsplit(url).query)["limit"] == ["2"]
    assert seen == ["e", "d", "c", "b", "a"]

    before = await table_counts(c, TABLES)
    for params, field in [
        ({"state": "CLOSED"}, "state"),
        ({"kind": "Not A Kind!"}, "kind"),
        ({"outcome": "maybe"}, "outcome"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-11-29", "to": "2026-11-28"}, "to"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"before": "-1"}, "before"),
        ({"payment": "abc"}, "payment"),
        ({"policy": "P 1"}, "policy"),
        ({"sort": "id"}, "sort"),
        ({"limit": ["1", "2"]}, "limit"),
    ]:
        r = await http.get("/admin/reviews", params=params, headers=admin(c))
        assert r.status_code == 400, (params, r.text)
        error = r.json()["error"]
        assert error["code"] == "BAD_REQUEST" and field in [d["field"] for d in error["details"]], (params, error)
        assert r.headers["x-correlation-id"] == error["correlationId"]
    assert (await http.get("/admin/reviews")).status_code == 401
    assert (await http.get("/admin/reviews", headers=auth_header(c, "customer"))).status_code == 403
    assert await table_counts(c, TABLES) == before


async def test_moves_over_http_keep_an_audit_trail(container: Container, http: httpx.AsyncClient) -> None:
    c = container
    async with c.store.transaction() as tx:
        assert await tx.add_review("webhook:audit", "check it", None, {}, datetime.now(UTC))
    [review] = await reviews(c, http)
    rid = review["id"]
    steps = [
        ("escalate", {"note": "needs AMK"}, "alice", 200),
        ("escalate", {"note": "again?"}, "bob", 409),
        ("reopen", {"note": "not resolved"}, "bob", 409),
        ("resolve", {"outcome": "refund-required", "note": "refund 150 USD to payer"}, "bob", 200),
        ("resolve", {"outcome": "accepted", "note": "second try"}, "alice", 409),
        ("reopen", {"note": "payer says no refund arrived"}, "carol", 200),
        ("resolve", {"outcome": "accepted", "note": "refund confirmed by bank"}, "carol", 200),
    ]
    for action, body, actor, status in steps:
        before = await table_counts(c, TABLES)
        r = await http.post(f"/admin/reviews/{rid}/{action}", json=body, headers=admin(c, actor))
        assert r.status_code == status, (action, r.text)
        if status == 409:
            assert r.json()["error"]["code"] == "BAD_REQUEST" and r.json()["error"]["details"]["reviewId"] == rid
            assert await table_counts(c, TABLES) == before
    case = (await http.get(f"/admin/reviews/{rid}", headers=admin(c))).json()["data"]
    assert case["review"]["state"] == "RESOLVED" and case["review"]["outcome"] == "accepted"
    trail = [(h["action"], h["fromState"], h["toState"], h["outcome"], h["actor"], h["note"]) for h in case["history"]]
    assert trail == [
        ("open", None, "OPEN", None, "payhub", "check it"),
        ("escalate", "OPEN", "ESCALATED", None, "alice", "needs AMK"),
        ("resolve", "ESCALATED", "RESOLVED", "refund_required", "bob", "refund 150 USD to payer"),
        ("reopen", "RESOLVED", "OPEN", None, "carol", "payer says no refund arrived"),
        ("resolve", "OPEN", "RESOLVED", "accepted", "carol", "refund confirmed by bank"),
    ]
    for path, body in [
        ("/admin/reviews/999999/resolve", {"outcome": "accepted", "note": "x"}),
        ("/admin/reviews/abc/reopen", {"note": "x"}),
    ]:
        r = await http.post(path, json=body, headers=admin(c))
        assert r.status_code == 404 and r.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
    assert (await http.get("/admin/reviews/999999", headers=admin(c))).status_code == 404
    r = await http.post(f"/admin/reviews/{rid}/reopen", content=b"not json", headers=admin(c))
    assert r.status_code == 400 and r.json()["error"]["details"][0]["field"] == "body"
    r = await http.get(f"/admin/reviews/{rid}/resolve", headers=admin(c))
    assert r.status_code == 405


async def test_concurrent_resolves_of_one_review_have_exactly_one_winner(
    container: Container, live: LiveServer
) -> None:
    c = container
    async with c.store.transaction() as tx:
        assert await tx.add_review("double-payment:race", "race", None, {}, datetime.now(UTC))
        review = await tx.review_rows.by_key("double-payment:race")
    assert review is not None
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=live.url, timeout=30, limits=limits) as http:

        async def resolve(n: int) -> httpx.Response:
            body = {"outcome": ["accepted", "refund_required", "dismissed"][n % 3], "note": f"admin {n} decides"}
            return await http.post(f"/admin/reviews/{review.id}/resolve", json=body, headers=admin(c, f"admin{n}"))

        answers = await asyncio.gather(*(resolve(n) for n in range(12)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 11, [a.text for a in answers]
    [won] = [a.json()["data"] for a in answers if a.status_code == 200]
    async with c.store.transaction() as tx:
        history = await tx.review_rows.history(review.id)
        final = await tx.review_rows.get(review.id)
    assert [e.action.value for e in history] == ["open", "resolve"]
    assert history[-1].actor == won["event"]["actor"] and final is not None
    assert final.state is ReviewState.RESOLVED and final.outcome is not None
    assert final.outcome.value == won["review"]["outcome"]


async def test_open_reviews_gauge_by_kind(container: Container, http: httpx.AsyncClient) -> None:
    """``payhub_reviews_open{kind}``: OPEN and ESCALATED reviews, labelled with the kind the API filters by."""
    c = container

    async def gauge(kind: str) -> float | None:
        text = (await http.get("/metrics", headers=admin(c))).text
        try:
            return metric(text, f'payhub_reviews_open{{kind="{kind}"}}')
        except AssertionError:
            return None

    assert await gauge("double-payment") == 0.0  # the kinds PayHub raises are there from the start
    assert await gauge("fraud") == await gauge("reconcile") == 0.0
    assert await gauge("custom-kind") is None
    async with c.store.transaction() as tx:
        for key in ("double-payment:1", "double-payment:2", "custom-kind:3"):
            assert await tx.add_review(key, "r", None, {}, datetime.now(UTC))
    ids = {r["key"]: r["id"] for r in await reviews(c, http)}
    assert await gauge("double-payment") == 2.0
    assert await gauge("custom-kind") == 1.0
    assert [r["key"] for r in await reviews(c, http, kind="custom-kind")] == ["custom-kind:3"]  # the same label
    await http.post(f"/admin/reviews/{ids['double-payment:1']}/escalate", json={"note": "n"}, headers=admin(c))
    assert await gauge("double-payment") == 2.0  # escalated still waits
    body = {"outcome": "accepted", "note": "n"}
    assert (
        await http.post(f"/admin/reviews/{ids['double-payment:1']}/resolve", json=body, headers=admin(c))
    ).status_code == 200
    assert await gauge("double-payment") == 1.0
    assert (
        await http.post(f"/admin/reviews/{ids['double-payment:2']}/resolve", json=body, headers=admin(c))
    ).status_code == 200
    assert await gauge("double-payment") == 0.0
    await http.post(f"/admin/reviews/{ids['double-payment:2']}/reopen", json={"note": "n"}, headers=admin(c))
    assert await gauge("double-payment") == 1.0


# --- look-ups ---


async def khqr_payment(c: Container, http: httpx.AsyncClient, premium: tuple[int, str]) -> int:
    qr = await http.get("/khqr", params={"bankCode": BANK, "billNumber": premium[1]}, headers=auth_header(c))
    assert qr.status_code == 200, qr.text
    payment_id = int(qr.json()["data"]["paymentId"])
    paid = await http.post(
        "/sandbox/amk/simulate/pay", json={"paymentId": payment_id, "method": "KHQR", "outcome": "SUCCESS"}
    )
    assert paid.status_code == 200, paid.text
    return payment_id


async def test_payment_look_ups(container: Container, http: httpx.AsyncClient) -> None:
    c = container
    bill_tx, bill = await pay_bill(c, http, JOHN)
    bill_id = bill.json()["data"]["paymentId"]
    qr_id = await khqr_payment(c, http, SOPHEA)
    dara_tx, dara = await pay_bill(c, http, DARA, amount="600000", currency="KHR")
    dara_id = dara.json()["data"]["paymentId"]

    async def found(**params: Any) -> list[int]:
        r = await http.get("/admin/payments", params=params, headers=admin(c))
        assert r.status_code == 200, r.text
        return [p["paymentId"] for p in r.json()["data"]]

    assert await found() == [dara_id, qr_id, bill_id]
    assert await found(transactionId=bill_tx) == [bill_id]
    assert await found(transactionId=f"AMK_KHQR_{qr_id}") == [qr_id]
    assert await found(transactionId="AMK-NOT-THERE") == []
    assert await found(policy=JOHN[1]) == [bill_id]
    assert await found(policy="a10000001") == [qr_id]  # the application number, letter case ignored
    assert await found(payer="sok") == [dara_id]
    assert await found(payer="Chan S") == [qr_id]
    assert await found(payer="Doe") == []  # the start of the name
    assert await found(status="CONFIRMED", policy=DARA[1]) == [dara_id]
    today = datetime.now(UTC).astimezone(tz=None).date()
    day_after = today + timedelta(days=2)
    assert await found(**{"from": (today - timedelta(days=1)).isoformat()}) == [dara_id, qr_id, bill_id]
    assert await found(**{"from": day_after.isoformat()}) == []
    r = await http.get("/admin/payments", params={"limit": 1}, headers=admin(c))
    assert r.headers["link"] == f'</admin/payments?limit=1&before={dara_id}>; rel="next"'
    [row] = r.json()["data"]
    assert (row["payer"], row["currency"], row["amount"], row["transactionId"]) == ("Sok Dara", "KHR", 600000, dara_tx)
    for params in ({"transactionId": "has space"}, {"payer": "x\u0000"}, {"status": "PAID"}, {"policy": "P" * 40}):
        r = await http.get("/admin/payments", params=params, headers=admin(c))
        assert r.status_code == 400, (params, r.text)

    case = (await http.get(f"/admin/payments/{qr_id}", headers=admin(c))).json()["data"]
    assert case["payment"]["method"] == "KHQR" and case["payment"]["applicationNumber"] == "A10000001"
    types = [e["type"] for e in case["events"]]
    assert "khqr.generated" in types and types.count("payment.status") == 2
    assert [r["key"] for r in case["receipts"]] == [f"KHQR:{qr_id}:SUCCESS"]
    assert case["receipts"][0]["webhook"]["invoice_number"] == str(qr_id)
    assert [(a["reference"], a["status"]) for a in case["amkAnswers"]] == [(str(qr_id), "PAID")]
    assert (await http.get("/admin/payments/1", headers=admin(c))).status_code == 404

    history = (await http.get(f"/admin/premiums/{JOHN[0]}/attempts", headers=admin(c))).json()["data"]
    assert history["premium"]["payer"] == "John Doe" and history["premium"]["status"] == "PAID"
    [attempt] = history["attempts"]
    assert attempt["paymentId"] == bill_id and [e["status"] for e in attempt["events"]] == ["PENDING", "CONFIRMED"]
    assert attempt["receipts"][0]["webhook"]["bankTransactionId"] == bill_tx
    assert [a["reference"] for a in history["amkAnswers"]] == [bill_tx]
    assert (await http.get("/admin/premiums/999999/attempts", headers=admin(c))).status_code == 404
    assert (await http.get(f"/admin/premiums/{JOHN[0]}/attempts", headers=auth_header(c))).status_code == 403


async def test_a_premium_with_several_attempts(container: Container, http: httpx.AsyncClient) -> None:
    """Two QRs (the first expired), then a bill: the premium's whole history, oldest first."""
    c = container
    first = await http.get("/khqr", params={"bankCode": BANK, "billNumber": DARA[1]}, headers=auth_header(c))
    first_id = int(first.json()["data"]["paymentId"])
    later = datetime.now(UTC) + timedelta(seconds=c.settings.khqr_session_ttl_s + 5)
    c.expiry.clock = lambda: later
    assert await c.expiry.expire_due() == 1  # the first QR expires
    second_id = await khqr_payment(c, http, DARA)
    history = (await http.get(f"/admin/premiums/{DARA[0]}/attempts", headers=admin(c))).json()["data"]
    assert [(a["paymentId"], a["status"]) for a in history["attempts"]] == [
        (first_id, "EXPIRED"),
        (second_id, "CONFIRMED"),
    ]
    assert [e["status"] for e in history["attempts"][0]["events"] if e["type"] == "payment.status"] == [
        "PENDING",
        "EXPIRED",
    ]
