"""Differential test: random sequences of store operations give the same answers on the in-memory
store and on SQLite (the embedded default), step by step and in the final state.

The contract suite pins chosen cases; this one lets hypothesis look for a sequence where the fake
and a real store disagree, so the use-case unit tests built on the fake stay honest.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hub.adapters.store.memory import MemoryStore
from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import KhqrSession, Premium, Receipt
from hub.errors import UniqueViolation
from hub.ports import Store
from hub.service import ledger
from payhub.bootstrap import open_store
from tests.integration.test_store_contract import NOW

PREMIUMS = st.integers(1, 2)
STATUSES = st.sampled_from(
    [
        PaymentStatus.CONFIRMED,
        PaymentStatus.CONFIRMED,
        PaymentStatus.PROCESSING,
        PaymentStatus.PENDING,
        PaymentStatus.FAILED,
        PaymentStatus.EXPIRED,
    ]
)
OPS = st.one_of(
    st.tuples(st.just("upsert"), PREMIUMS, st.just("10.00"), st.just(True), st.integers(0, 2)),
    st.tuples(st.just("upsert"), PREMIUMS, st.sampled_from(["10.00", "20.50"]), st.booleans(), st.integers(0, 2)),
    st.tuples(st.just("open"), PREMIUMS, st.sampled_from([None, PaymentMethod.BILL, PaymentMethod.KHQR])),
    st.tuples(st.just("move"), PREMIUMS, STATUSES, st.sampled_from(["T1", "T2", None]), st.booleans()),
    st.tuples(st.just("settle"), PREMIUMS),
    st.tuples(st.just("pay"), PREMIUMS, st.sampled_from(["T1", "T2"])),
    st.tuples(st.just("review"), st.sampled_from(["k1", "k2"]), st.sampled_from(["r1", "r2"])),
    st.tuples(st.just("receipt"), st.sampled_from(["BILL:T1", "BILL:T2"]), st.sampled_from(["DONE", "VERIFY_PENDING"])),
    st.tuples(st.just("qr"), PREMIUMS, st.sampled_from(["s1", "s2", "s3"]), st.integers(0, 3)),
    st.tuples(st.just("qr_close"), st.sampled_from(["s1", "s2", "s3"]), st.sampled_from(["EXPIRED", "PAID"])),
    st.tuples(st.just("qr_due"), st.integers(0, 4)),
)


def _premium(pid: int, amount: str, due_shift: int) -> Premium:
    policy = "P000000001"  # premiums 1 and 2 share a policy: which is due first depends on due_date
    return Premium(pid, policy, "Jane Roe", Decimal(amount), Currency.USD, date(2027, 1, 1) + timedelta(days=due_shift))


async def _apply(store: Store, op: tuple[Any, ...]) -> Any:
    kind, *args = op
    try:
        async with store.transaction() as tx:
            if kind == "upsert":
                pid, amount, overwrite, shift = args
                await tx.upsert_premium(_premium(pid, amount, shift), NOW, overwrite=overwrite)
                return await tx.premium(pid)
            if kind == "open":
                premium = await tx.premium(args[0])
                if premium is None:
                    return None
                payment, events = await ledger.open_payment(tx, premium, args[1], NOW)
                return payment, [(e.type, e.status, e.data) for e in events]
            if kind == "move":
                pid, target, tx_id, first = args
                latest = await tx.latest_payment_for(pid)
                if latest is None:
                    return None
                locked = await tx.payment(min(latest.id, pid) if first else latest.id, lock=True)
                if locked is None or locked.premium_id != pid:
                    return None
                assert locked is not None
                moved, events, decision = await ledger.transition(tx, locked, target, NOW, transaction_id=tx_id)
                return moved, [(e.type, e.status) for e in events], decision.outcome
            if kind == "pay":  # a whole payment: opened, confirmed by the bank, its premium settled
                pid, tx_id = args
                premium = await tx.premium(pid)
                if premium is None:
                    return None
                payment, _ = await ledger.open_payment(tx, premium, PaymentMethod.BILL, NOW)
                paid, _, _ = await ledger.transition(tx, payment, PaymentStatus.CONFIRMED, NOW, transaction_id=tx_id)
                return paid, await tx.mark_premium_paid(pid, paid.id, NOW)
            if kind == "settle":
                confirmed = await tx.confirmed_payment_for(args[0])
                paid = confirmed is not None and await tx.mark_premium_paid(args[0], confirmed.id, NOW)
                return paid, await tx.unsettled_confirmed()
            if kind == "review":
                return await tx.add_review(args[0], args[1], None, {"n": Decimal("1.50")}, NOW)
            if kind == "receipt":
                key, state = args
                receipt = Receipt(key, "BILL", "f", None, {"a": Decimal("2.00")}, state, 200, {}, 1, NOW)
                return await tx.insert_receipt(receipt, NOW), await tx.due_verifications(NOW)
            if kind == "qr":
                pid, sid, minutes = args
                latest = await tx.latest_payment_for(pid)
                if latest is None:
                    return None
                session = KhqrSession(
                    sid, latest.id, pid, "P", "Jane", Decimal("1.00"), Currency.USD, "q", "i", "PENDING", NOW,
                    NOW + timedelta(minutes=minutes),
                )  # fmt: skip
                return await tx.khqr_sessions.insert(session), await tx.khqr_sessions.pending_for_premium(pid)
            if kind == "qr_close":
                sid, status = args
                closed = await tx.khqr_sessions.close(sid, status, NOW, only_pending=status == "EXPIRED")
                return closed, await tx.khqr_sessions.get(sid)
            if kind == "qr_due":
                due = await tx.khqr_sessions.due(NOW + timedelta(minutes=args[0]))
                return [s.id for s in due], await tx.khqr_sessions.next_expiry()
    except UniqueViolation:
        return "UniqueViolation"
    raise AssertionError(kind)


async def _state(store: Store) -> Any:
    async with store.transaction() as tx:
        payments = [await tx.payment(pid) for pid in range(1, 9)]
        return (
            [await tx.premium(pid) for pid in (1, 2)],
            payments,
            [await tx.events_after(p.id, 0, types=(PaymentEvent_STATUS, ledger.IGNORED)) for p in payments if p],
            await tx.find_due_premium("P000000001"),
            await tx.unsettled_confirmed(),
            [(r["key"], r["reason"], r["payload"]) for r in await tx.reviews()],
            [await tx.count(t) for t in ("premiums", "payments", "payment_events", "webhook_receipts", "reviews")],
            await tx.outbox.unpublished_count(),
        )


PaymentEvent_STATUS = "payment.status"


# No shrinking: a failure names the exact prefix of operations where the stores first disagree.
@settings(
    max_examples=30,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(OPS, min_size=8, max_size=30))
def test_memory_and_sqlite_answer_alike(ops: list[tuple[Any, ...]]) -> None:
    async def run() -> None:
        memory = MemoryStore()
        with tempfile.TemporaryDirectory() as tmp:
            async with open_store(f"sqlite:///{tmp}/d.db") as sqlite:
                for step, op in enumerate(ops):
                    assert await _apply(memory, op) == await _apply(sqlite, op), ops[: step + 1]
                    assert await _state(memory) == await _state(sqlite), ops[: step + 1]

    asyncio.run(run())
