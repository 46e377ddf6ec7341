"""Money that moved is never refused by a fraud rule (issue 9): a property over rule configurations and
sequences of bank notices. Each sequence is sent twice, signed, through the HTTP app: to a process with
no rules and to one with the drawn rules (and blocklist entries). Every notice must be recorded in both,
and AMK must get the very same answers: the rules may only flag."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hub.adapters.store.memory import MemoryStore
from hub.json_codec import dumps
from payhub.bootstrap import Container
from tests.conftest import auth_header, bank_paid, bill_body, khqr_body, make_settings, running, signed

# id, policy, amount, currency of the demo premiums
PREMIUMS = [(150001, "P123456789", "150.00", "USD"), (150002, "P987654321", "600000", "KHR"),
            (150003, "P555000111", "75.50", "USD")]  # fmt: skip
SUBJECTS = ("policy", "customer", "ip", "device")

velocity = st.fixed_dictionaries(
    {
        "kind": st.just("velocity"),
        "surfaces": st.sampled_from([["webhook"], ["inquiry", "webhook"], ["qr", "webhook"]]),
        "subject": st.sampled_from(SUBJECTS),
        "limit": st.integers(1, 3),
        "window_s": st.sampled_from([1, 60, 86_400]),
        "action": st.sampled_from(["block", "flag"]),
    }
)
amount = st.fixed_dictionaries(
    {
        "kind": st.just("amount"),
        "surfaces": st.just(["inquiry", "qr", "webhook"]),
        "factor": st.sampled_from(["1.001", "1.5", "5"]),
        "min_history": st.integers(1, 2),
        "action": st.sampled_from(["block", "flag"]),
    }
)
other = st.sampled_from(
    [
        {"kind": "quote"},
        {"kind": "blocklist", "surfaces": ["inquiry", "qr", "webhook"], "action": "block"},
        {"kind": "blocklist", "surfaces": ["webhook"], "subjects": ["policy"]},
    ]
)
rule_sets = st.lists(st.one_of(velocity, amount, other), min_size=1, max_size=5).map(
    lambda rules: [{**r, "name": f"r{i}"} for i, r in enumerate(rules)]
)
# (premium index, rail, how many times AMK sends the notice)
notices = st.lists(
    st.tuples(st.integers(0, len(PREMIUMS) - 1), st.sampled_from(["BILL", "KHQR"]), st.integers(1, 2)),
    min_size=1,
    max_size=6,
)
barred = st.lists(st.sampled_from([p[1] for p in PREMIUMS]), max_size=2, unique=True)


async def _answers(
    rules: list[dict[str, Any]] | None, steps: list[tuple[int, str, int]], bars: list[str]
) -> tuple[list[Any], int]:
    """AMK's answers (and the receipts count), and how many notices the rules flagged."""
    overrides = {"fraud_rules": dumps(rules)} if rules is not None else {"fraud_rules": "[]"}
    async with running(make_settings("sqlite:///:memory:", **overrides), store=MemoryStore()) as c:
        assert c.app is not None
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=c.app), base_url="http://t") as client:
            admin = auth_header(c, "admin")
            for policy in bars:
                entry = {"kind": "policy", "value": policy, "reason": "property test"}
                assert (await client.post("/admin/blocklist", json=entry, headers=admin)).status_code == 201
            answers: list[Any] = []
            for n, (index, rail, times) in enumerate(steps):
                answers.append(await _send(c, client, n, index, rail, times))
            async with c.store.transaction() as tx:
                answers.append(await tx.count("webhook_receipts"))
                flagged = sum(1 for r in await tx.reviews(limit=1000) if r["key"].startswith("fraud:webhook:"))
            return answers, flagged


async def _send(c: Container, client: httpx.AsyncClient, n: int, index: int, rail: str, times: int) -> Any:
    premium_id, policy, amount_, currency = PREMIUMS[index]
    if rail == "BILL":
        body = bill_body(premium_id, policy, amount_, currency, tx=f"PROP{n:04d}")
        bank_paid(c, body["bankTransactionId"], amount_, currency)
    else:
        asked = await client.get("/AMK/payments", params={"query": policy}, headers=auth_header(c, "admin"))
        if asked.status_code != 200:  # the premium was paid by an earlier notice: nothing to pay by QR
            return asked.status_code
        payment_id = asked.json()["data"]["paymentId"]
        bank_paid(c, str(payment_id), amount_, currency)
        body = khqr_body(payment_id, amount=amount_, currency=currency)
    seen = []
    for _ in range(times):
        raw, headers = signed(c, body)
        r = await client.post("/AMK/khqr" if rail == "KHQR" else "/AMK/payments", content=raw, headers=headers)
        # Recorded, whatever the rules: 200 with the payment confirmed (a possible double payment is still 200).
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["status"] == "CONFIRMED", data
        seen.append(r.json())
    assert all(s == seen[0] for s in seen)  # a retry gets the first answer
    payment = await c.store.payment(seen[0]["data"]["paymentId"])
    assert payment is not None and payment.status.value == "CONFIRMED"
    return seen[0]


BAR_WEBHOOKS = {"kind": "blocklist", "name": "bars", "surfaces": ["webhook"], "action": "block"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=rule_sets, steps=notices, bars=barred)
@example(
    rules=[BAR_WEBHOOKS, {"kind": "velocity", "name": "v", "surfaces": ["webhook"], "subject": "policy", "limit": 1,
                          "window_s": 60, "action": "block"}],
    steps=[(0, "BILL", 2), (0, "BILL", 1), (2, "KHQR", 2), (1, "BILL", 1)],
    bars=["P555000111"],
)  # fmt: skip
def test_every_signed_valid_notice_is_recorded_whatever_the_rules_say(
    rules: list[dict[str, Any]], steps: list[tuple[int, str, int]], bars: list[str]
) -> None:
    async def run() -> None:
        without, none_flagged = await _answers(None, steps, [])
        with_rules, flagged = await _answers(rules, steps, bars)
        assert with_rules == without
        assert none_flagged == 0
        paid_barred = any(PREMIUMS[i][1] in bars and r == "BILL" for i, r, _ in steps)
        if paid_barred and any(r["kind"] == "blocklist" and "webhook" in r["surfaces"] for r in rules):
            assert flagged > 0  # the rules did see the money: they flagged it, and changed nothing else

    asyncio.run(run())
