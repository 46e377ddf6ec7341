"""What the fraud-control tests share: one fake clock for the engine and ``limits``' storages, an engine
over any store and velocity storage, and a policy's payment history."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import Premium
from hub.fraud.blocklist import Blocklist
from hub.fraud.engine import FraudEngine
from hub.fraud.rules import parse_rules
from hub.fraud.windows import VelocityWindows
from hub.ports import Store
from hub.service import ledger

START = datetime(2026, 11, 30, 3, 0, 0, tzinfo=UTC)


class FakeTime:
    """One clock for everything a rule reads: the engine and blocklist (``clock()``, a datetime) and the
    ``time`` module where ``limits``' memory and Redis storages and the velocity windows read it."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start.timestamp()  # whole seconds: differences stay exact

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def install(monkeypatch: pytest.MonkeyPatch, clock: FakeTime | None = None) -> FakeTime:
    clock = clock or FakeTime()
    monkeypatch.setattr("limits.aio.storage.memory.time", clock)
    monkeypatch.setattr("limits.aio.storage.redis.redispy.time", clock)
    monkeypatch.setattr("hub.resilience.fallback_storage.time", clock)  # the fall-back's retry pause
    return clock


def velocity(
    subject: str, limit: int, window_s: int, *, surfaces: tuple[str, ...] = ("inquiry",), action: str = "block"
) -> dict[str, Any]:
    return {
        "kind": "velocity",
        "name": f"v-{subject}",
        "surfaces": list(surfaces),
        "subject": subject,
        "limit": limit,
        "window_s": window_s,
        "action": action,
    }


class Decisions:
    """Stands in for the Prometheus counter: (rule, action, surface) per call."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, rule: str, action: str, surface: str) -> None:
        self.seen.append((rule, action, surface))


@asynccontextmanager
async def velocity_windows(kind: str, redis_url: str = "") -> AsyncIterator[VelocityWindows]:
    """In-process windows, or windows in Redis under a key prefix of this test's own (then deleted)."""
    if kind == "memory":
        async with VelocityWindows() as windows:
            yield windows
        return
    async with VelocityWindows(redis_url, key_prefix=f"payhub:test:fraud:{uuid.uuid4().hex}") as windows:
        try:
            yield windows
        finally:
            await windows.reset()


def engine(
    rules: list[dict[str, Any]],
    store: Store,
    windows: VelocityWindows,
    clock: FakeTime,
    *,
    cache_s: float = 5.0,
    decisions: Decisions | None = None,
) -> FraudEngine:
    blocklist = Blocklist(store, cache_s=cache_s, clock=clock)
    return FraudEngine(parse_rules(rules), windows, blocklist, store, count=decisions or Decisions(), clock=clock)


async def paid_history(
    store: Store, policy: str, amounts: list[str], currency: Currency = Currency.USD, first_id: int = 700
) -> None:
    """The policy's earlier premiums, each paid by one confirmed payment of its amount."""
    for offset, amount in enumerate(amounts):
        premium = Premium(first_id + offset, policy, "Jane Roe", Decimal(amount), currency, date(2026, 1, 1))
        async with store.transaction() as tx:
            await tx.upsert_premium(premium, START)
            payment, _ = await ledger.open_payment(tx, premium, PaymentMethod.BILL, START)
            await ledger.transition(
                tx, payment, PaymentStatus.CONFIRMED, START, transaction_id=f"HIST{first_id + offset}"
            )


async def fraud_reviews(store: Store) -> list[dict[str, Any]]:
    async with store.transaction() as tx:
        return [r for r in await tx.reviews(limit=1000) if r["key"].startswith("fraud:")]
