"""Each fraud rule firing and not firing, at the edge of its window or threshold, with a fake clock.

The velocity tests run on the in-process windows and on real Redis (the shared local server, each test
under its own key prefix): the same ``limits`` storages production uses, the same clock for both.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from hub.adapters.store.memory import MemoryStore
from hub.domain.blocklist import BlockKind
from hub.domain.money import Currency
from hub.errors import FraudDetected
from hub.fraud.blocklist import NewEntry
from hub.fraud.engine import PAYMENT_FLAG, FraudEngine
from hub.fraud.verdict import Attempt
from hub.fraud.windows import VelocityWindows
from tests.fraud_support import (
    Decisions,
    FakeTime,
    engine,
    fraud_reviews,
    install,
    paid_history,
    velocity,
    velocity_windows,
)
from tests.redis_server import require_shared_redis

SUBJECTS = ("policy", "customer", "ip", "device")


def attempt(surface: str = "inquiry", **changes: Any) -> Attempt:
    base: dict[str, Any] = {
        "policy": "P000000007",
        "query": "P000000007",
        "customer": "alice",
        "ip": "10.0.0.1",
        "device": "dev-1",
        "amount": Decimal("150.00"),
        "currency": Currency.USD,
        "premium_id": 7,
    }
    return Attempt(surface, **{**base, **changes})  # type: ignore[arg-type]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    return install(monkeypatch)


@pytest.fixture(params=["memory", "redis"])
async def windows(request: pytest.FixtureRequest, clock: FakeTime) -> AsyncIterator[VelocityWindows]:
    url = await require_shared_redis() if request.param == "redis" else ""
    async with velocity_windows(request.param, url) as w:
        yield w


async def passes(e: FraudEngine, a: Attempt) -> bool:
    try:
        await e.enforce(a)
    except FraudDetected:
        return False
    return True


# --- velocity ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("subject", SUBJECTS)
async def test_velocity_fires_past_the_limit_and_frees_when_the_window_slides(
    subject: str, windows: VelocityWindows, clock: FakeTime
) -> None:
    store = MemoryStore()
    e = engine([velocity(subject, 3, 60)], store, windows, clock)
    for _ in range(3):
        assert await passes(e, attempt())
    assert not await passes(e, attempt())  # the 4th in the window
    other = {"policy": "P000000008", "customer": "bob", "ip": "10.0.0.2", "device": "dev-2"}[subject]
    assert await passes(e, attempt(**{subject: other}))  # another subject has its own window
    clock.advance(60)  # an entry exactly window_s old still counts
    assert not await passes(e, attempt())
    clock.advance(0.001)
    for _ in range(3):  # the refused requests used up nothing: the whole limit is back
        assert await passes(e, attempt())
    assert not await passes(e, attempt())


async def test_velocity_counts_moving_windows_not_fixed_ones(windows: VelocityWindows, clock: FakeTime) -> None:
    e = engine([velocity("customer", 2, 10)], MemoryStore(), windows, clock)
    assert await passes(e, attempt())
    clock.advance(9)
    assert await passes(e, attempt())
    clock.advance(0.5)  # 9.5 s after the first: two in the last 10 s
    assert not await passes(e, attempt())
    clock.advance(0.6)  # the first is 10.1 s old: one in the window
    assert await passes(e, attempt())
    assert not await passes(e, attempt())


async def test_an_ipv6_client_is_counted_by_its_64_network(windows: VelocityWindows, clock: FakeTime) -> None:
    """Found by breaking it: each IPv6 address had a window of its own, and any home connection holds a
    /64 of them (2^64 addresses), so a per-IP rule never fired for a client rotating addresses."""
    store = MemoryStore()
    e = engine([velocity("ip", 2, 60)], store, windows, clock)
    assert await passes(e, attempt(ip="2001:db8:1:2::1"))
    assert await passes(e, attempt(ip="2001:db8:1:2:aaaa:bbbb:cccc:dddd"))
    assert not await passes(e, attempt(ip="2001:db8:1:2::3"))  # a third address, the same /64
    assert await passes(e, attempt(ip="2001:db8:1:3::1"))  # the next /64 is another client
    for v4 in ("10.0.0.1", "10.0.0.1"):  # IPv4 clients are still counted per address
        assert await passes(e, attempt(ip=v4))
    assert await passes(e, attempt(ip="10.0.0.2"))
    (review,) = await fraud_reviews(store)
    assert review["key"].startswith("fraud:v-ip:ip:2001:db8:1:2::/64:")


async def test_a_rule_keyed_on_an_absent_subject_does_not_apply(windows: VelocityWindows, clock: FakeTime) -> None:
    e = engine([velocity("device", 1, 60)], MemoryStore(), windows, clock)
    for _ in range(5):  # no X-Device-Id: nothing to count
        assert await passes(e, attempt(device=None))


async def test_a_flag_velocity_rule_lets_the_request_on_with_one_review(
    windows: VelocityWindows, clock: FakeTime
) -> None:
    store = MemoryStore()
    decisions = Decisions()
    e = engine([velocity("ip", 1, 60, action="flag")], store, windows, clock, decisions=decisions)
    assert await passes(e, attempt())
    assert await passes(e, attempt())
    assert await passes(e, attempt())
    reviews = await fraud_reviews(store)
    assert len(reviews) == 1 and reviews[0]["payload"]["action"] == "flag"
    assert decisions.seen == [("v-ip", "flag", "inquiry")] * 2


async def test_on_webhooks_a_block_rule_only_flags(windows: VelocityWindows, clock: FakeTime) -> None:
    e = engine([velocity("policy", 1, 60, surfaces=("webhook",))], MemoryStore(), windows, clock)
    first = await e.screen_money(attempt("webhook"))
    second = await e.screen_money(attempt("webhook"))
    assert first.hits == ()
    assert [h.rule for h in second.hits] == ["v-policy"] and not second.blocked


async def test_rules_watch_only_their_surfaces(windows: VelocityWindows, clock: FakeTime) -> None:
    e = engine([velocity("customer", 1, 60, surfaces=("qr",))], MemoryStore(), windows, clock)
    for _ in range(3):
        assert await passes(e, attempt("inquiry"))
    assert await passes(e, attempt("qr"))
    assert not await passes(e, attempt("qr"))


# --- reviews: one per incident ----------------------------------------------------------------------


async def test_a_burst_of_retries_is_one_incident_one_review(windows: VelocityWindows, clock: FakeTime) -> None:
    store = MemoryStore()
    decisions = Decisions()
    e = engine([velocity("customer", 1, 600)], store, windows, clock, decisions=decisions)
    assert await passes(e, attempt())
    for _ in range(5):
        clock.advance(1)
        with pytest.raises(FraudDetected) as info:
            await e.enforce(attempt())
    assert info.value.status_code == 403 and info.value.code == "FRAUD_DETECTED"
    assert info.value.message == "Suspicious transaction detected"
    reviews = await fraud_reviews(store)
    assert len(reviews) == 1
    assert reviews[0]["key"].startswith("fraud:v-customer:customer:alice:")
    assert reviews[0]["payload"]["rules"][0]["rule"] == "v-customer"
    assert decisions.seen == [("v-customer", "block", "inquiry")] * 5  # every decision is counted
    clock.advance(600)  # the next window: a new incident
    assert await passes(e, attempt())
    assert not await passes(e, attempt())
    assert len(await fraud_reviews(store)) == 2


async def test_decisions_are_logged_with_the_rule(
    windows: VelocityWindows, clock: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    e = engine([velocity("policy", 1, 60)], MemoryStore(), windows, clock)
    await e.enforce(attempt())
    with caplog.at_level(logging.WARNING, logger="payhub.fraud"):
        assert not await passes(e, attempt())
    fired = [r for r in caplog.records if r.getMessage() == "fraud rule fired"]
    assert [(r.rule, r.action, r.surface) for r in fired] == [("v-policy", "block", "inquiry")]  # type: ignore[attr-defined]
    assert any(r.getMessage() == "ALERT fraud review opened" for r in caplog.records)


# --- amount -----------------------------------------------------------------------------------------

AMOUNT = {
    "kind": "amount",
    "name": "amount",
    "surfaces": ["inquiry", "qr", "webhook"],
    "factor": "5",
    "action": "block",
}


@pytest.mark.parametrize(
    ("amount", "fires"),
    [("500.00", False), ("500.01", True), ("20.00", False), ("19.99", True), ("100.00", False)],
)
async def test_amount_fires_beyond_factor_times_the_median(amount: str, fires: bool, clock: FakeTime) -> None:
    store = MemoryStore()
    await paid_history(store, "P000000007", ["90.00", "100.00", "400.00"])  # median 100.00
    async with VelocityWindows() as windows:
        e = engine([AMOUNT], store, windows, clock)
        assert await passes(e, attempt(amount=Decimal(amount))) is not fires


async def test_amount_needs_min_history_in_the_same_currency(clock: FakeTime) -> None:
    store = MemoryStore()
    await paid_history(store, "P000000007", ["100.00", "100.00"])
    await paid_history(store, "P000000007", ["400000", "400000"], Currency.KHR, first_id=800)
    await paid_history(store, "P000000009", ["100.00"], first_id=900)  # another policy
    async with VelocityWindows() as windows:
        e = engine([AMOUNT], store, windows, clock)
        assert await passes(e, attempt(amount=Decimal("99999.00")))  # two USD payments: too little history
        await paid_history(store, "P000000007", ["100.00"], first_id=950)
        assert not await passes(e, attempt(amount=Decimal("99999.00")))
        assert not await passes(e, attempt(amount=Decimal("99999.00")))
        assert len(await fraud_reviews(store)) == 1  # one review per premium


async def test_amount_flags_by_default(clock: FakeTime) -> None:
    store = MemoryStore()
    await paid_history(store, "P000000007", ["100.00", "100.00", "100.00"])
    rule = {"kind": "amount", "name": "amount", "surfaces": ["qr"], "factor": "3"}
    async with VelocityWindows() as windows:
        verdict = await engine([rule], store, windows, clock).enforce(attempt("qr", amount=Decimal("301.00")))
    assert [h.action for h in verdict.hits] == ["flag"]
    assert len(await fraud_reviews(store)) == 1


# --- quote ------------------------------------------------------------------------------------------


async def test_quote_flags_a_notice_paying_other_than_the_quoted_amount(clock: FakeTime) -> None:
    rule = {"kind": "quote", "name": "quote"}
    async with VelocityWindows() as windows:
        e = engine([rule], MemoryStore(), windows, clock)
        same = await e.screen_money(attempt("webhook", quoted=(Decimal("150.0"), Currency.USD)))
        other = await e.screen_money(attempt("webhook", quoted=(Decimal("140.00"), Currency.USD)))
        currency = await e.screen_money(attempt("webhook", quoted=(Decimal("150.00"), Currency.KHR)))
        unquoted = await e.screen_money(attempt("webhook"))
    assert same.hits == () and unquoted.hits == ()
    assert [h.rule for h in other.hits] == ["quote"] and [h.rule for h in currency.hits] == ["quote"]


# --- blocklist --------------------------------------------------------------------------------------

BLOCKLIST = {"kind": "blocklist", "name": "blocklist", "surfaces": ["inquiry", "qr", "webhook"]}


@pytest.mark.parametrize(
    ("kind", "value", "request_changes"),
    [
        (BlockKind.POLICY, "P000000007", {}),
        (BlockKind.POLICY, "A00000001", {"query": "a00000001"}),  # asked by application number
        (BlockKind.CUSTOMER, "alice", {}),
        (BlockKind.IP, "10.0.0.1", {}),
        (BlockKind.IP, "10.0.0.0/24", {}),
        (BlockKind.DEVICE, "dev-1", {}),
    ],
)
async def test_a_blocklist_entry_bars_its_subject(
    kind: BlockKind, value: str, request_changes: dict[str, Any], clock: FakeTime
) -> None:
    store = MemoryStore()
    async with VelocityWindows() as windows:
        e = engine([BLOCKLIST], store, windows, clock)
        await e.blocklist.add(NewEntry(kind, value, "chargeback fraud", None), "ops-1")
        assert not await passes(e, attempt(**request_changes))
        clean = {"policy": "P000000008", "query": "P000000008", "customer": "bob", "ip": "10.0.1.1", "device": "d"}
        assert await passes(e, attempt(**clean))
        money = await e.screen_money(attempt("webhook", **request_changes))
    assert money.hits and not money.blocked


async def test_blocklist_entries_expire_without_a_sweeper(clock: FakeTime) -> None:
    store = MemoryStore()
    async with VelocityWindows() as windows:
        e = engine([BLOCKLIST], store, windows, clock, cache_s=3600)  # the cached copy outlives the entry
        expires = clock() + timedelta(seconds=60)
        await e.blocklist.add(NewEntry(BlockKind.CUSTOMER, "alice", "disputed payments", expires), "ops-1")
        assert not await passes(e, attempt())
        clock.advance(59.999)
        assert not await passes(e, attempt())
        clock.advance(0.001)  # expires_at is exclusive
        assert await passes(e, attempt())
        assert await e.blocklist.entries() == []
        everything = await e.blocklist.entries(include_inactive=True)
    assert [x.to_json(clock())["active"] for x in everything] == [False]


async def test_another_process_sees_an_entry_within_the_cache_time(clock: FakeTime) -> None:
    store = MemoryStore()
    async with VelocityWindows() as windows:
        here = engine([BLOCKLIST], store, windows, clock, cache_s=5)
        there = engine([BLOCKLIST], store, windows, clock, cache_s=5)
        assert await passes(here, attempt())  # reads (and caches) the empty list
        entry = await there.blocklist.add(NewEntry(BlockKind.DEVICE, "dev-1", "stolen phone", None), "ops-1")
        assert not await passes(there, attempt())  # where it was added: at once
        assert await passes(here, attempt())  # elsewhere: after the cache time
        clock.advance(5)
        assert not await passes(here, attempt())
        await there.blocklist.remove(entry.id, "ops-2")
        assert await passes(there, attempt())
        assert not await passes(here, attempt())
        clock.advance(5)
        assert await passes(here, attempt())


async def test_a_barred_subject_trying_again_is_one_review_a_day(clock: FakeTime) -> None:
    store = MemoryStore()
    async with VelocityWindows() as windows:
        e = engine([BLOCKLIST], store, windows, clock)
        entry = await e.blocklist.add(NewEntry(BlockKind.CUSTOMER, "alice", "fraud ring", None), "ops-1")
        for _ in range(4):
            assert not await passes(e, attempt())
        clock.advance(86_400)
        assert not await passes(e, attempt("qr"))
    keys = sorted(r["key"] for r in await fraud_reviews(store))
    assert keys == [f"fraud:blocklist:{entry.id}:2026-11-30", f"fraud:blocklist:{entry.id}:2026-12-01"]


async def test_a_blocked_request_counts_in_no_velocity_window(clock: FakeTime) -> None:
    store = MemoryStore()
    async with VelocityWindows() as windows:
        e = engine([BLOCKLIST, velocity("ip", 2, 60)], store, windows, clock)
        entry = await e.blocklist.add(NewEntry(BlockKind.CUSTOMER, "alice", "fraud ring", None), "ops-1")
        for _ in range(5):
            assert not await passes(e, attempt())
        await e.blocklist.remove(entry.id, "ops-1")
        assert await passes(e, attempt())
        assert await passes(e, attempt())
        assert not await passes(e, attempt())


# --- money is never refused -------------------------------------------------------------------------


async def test_a_failing_screen_lets_money_through_loudly(clock: FakeTime, caplog: pytest.LogCaptureFixture) -> None:
    class Broken(VelocityWindows):
        async def count(self, checks: Any) -> Any:
            raise RuntimeError("bug")

    decisions = Decisions()
    async with Broken() as windows:
        e = engine(
            [velocity("policy", 1, 60, surfaces=("webhook",))], MemoryStore(), windows, clock, decisions=decisions
        )
        verdict = await e.screen_money(attempt("webhook"))
    assert verdict.hits == ()
    assert decisions.seen == [("engine", "error", "webhook")]
    assert any(r.getMessage().startswith("ALERT fraud screening failed") for r in caplog.records)


async def test_flagging_a_payment_is_plain_to_the_payer(clock: FakeTime) -> None:
    store = MemoryStore()
    await paid_history(store, "P000000007", ["150.00"])
    async with VelocityWindows() as windows:
        e = engine([velocity("policy", 1, 60, surfaces=("webhook",))], store, windows, clock)
        await e.screen_money(attempt("webhook"))
        verdict = await e.screen_money(attempt("webhook"))
        async with store.transaction() as tx:
            payment = await tx.payment(10**12)
            assert payment is not None
            flagged = await e.flag_payment(tx, payment, verdict, "BILL:TX9")
            again = await e.flag_payment(tx, flagged, verdict, "BILL:TX9")
    assert flagged.review_reason == PAYMENT_FLAG == again.review_reason  # no rule named to the payer
    reviews = await fraud_reviews(store)
    assert [r["key"] for r in reviews] == ["fraud:webhook:BILL:TX9"]
    assert reviews[0]["paymentId"] == 10**12 and "v-policy" in reviews[0]["reason"]
