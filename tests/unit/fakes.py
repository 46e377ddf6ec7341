"""Fakes of the ports for use-case unit tests: AMK, the integration service and the bus.

The store fake is the shipped ``hub.adapters.store.memory.MemoryStore`` (held to the store contract).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from hub.domain.money import Currency
from hub.domain.records import PaymentEvent, Premium, Verification
from hub.errors import AmkUnavailable, NotFound

NOW = datetime(2026, 11, 30, 3, 0, 0, tzinfo=UTC)


def premium(pid: int = 7, policy: str = "P000000007", amount: str = "150.00") -> Premium:
    return Premium(pid, policy, "Jane Roe", Decimal(amount), Currency.USD, date(2026, 12, 15))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RecordingPublisher:
    """``hub.ports.Publisher`` that keeps what it was handed, in order."""

    def __init__(self) -> None:
        self.events: list[PaymentEvent] = []

    async def publish(self, events: Sequence[PaymentEvent]) -> None:
        self.events += events


class FakeAmk:
    """``hub.ports.AmkVerifier``: answers from ``verdicts`` by transaction ref; ``down`` raises
    ``AmkUnavailable`` as an unreachable AMK does."""

    def __init__(self) -> None:
        self.verdicts: dict[str, Verification] = {}
        self.down = False
        self.asked: list[str] = []

    def pays(self, ref: str, amount: str | None = None, currency: Currency | None = Currency.USD) -> None:
        self.verdicts[ref] = Verification(ref, "PAID", Decimal(amount) if amount else None, currency)

    async def verify_payment(self, tx_id: str) -> Verification:
        self.asked.append(tx_id)
        if self.down:
            raise AmkUnavailable()
        return self.verdicts.get(tx_id, Verification(tx_id, "NOT_FOUND"))


class FakePremiums:
    """``hub.ports.PremiumSource`` over a dict."""

    def __init__(self, *premiums: Premium) -> None:
        self.by_id = {p.id: p for p in premiums}

    async def due_premium(self, query: str) -> Premium:
        due = [p for p in self.by_id.values() if query in (p.policy_number, p.application_number)]
        if not due:
            raise NotFound(f"No premium due for {query}")
        return min(due, key=lambda p: (p.due_date, p.id))

    async def premium(self, premium_id: int) -> Premium:
        try:
            return self.by_id[premium_id]
        except KeyError:
            raise NotFound(f"No premium {premium_id}") from None
