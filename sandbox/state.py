"""What the sandbox bank remembers (in memory: a restart forgets; sandbox only)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from hub.domain.timezones import PHNOM_PENH


@dataclass(frozen=True)
class Transaction:
    """A transaction the sandbox bank holds: what its payment-verify answers and its statements list.

    ``channel`` (BILL | KHQR) and ``paid_at`` put a PAID transaction on the statement of its day
    (Asia/Phnom_Penh); one without them is known to payment-verify only."""

    tx_id: str
    status: str  # PAID | FAILED
    amount: Decimal
    currency: str
    channel: str = ""
    paid_at: datetime | None = None
    bill_number: str | None = None

    def settled_on(self, day: date) -> bool:
        return (
            self.status == "PAID"
            and bool(self.channel)
            and self.paid_at is not None
            and self.paid_at.astimezone(PHNOM_PENH).date() == day
        )


@dataclass
class SandboxState:
    token_ttl_s: int = 3600
    clock: Callable[[], float] = time.time
    verify_available: bool = True
    transactions: dict[str, Transaction] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    sign_ins: int = 0
    qr_images: bool = True  # False: answer with the KHQR string only (PayHub renders the PNG)
    qr_codes: dict[str, Transaction] = field(default_factory=dict)  # invoice -> what the QR asks
    verify_delay_s: float = 0.0  # a slow bank: each payment-verify answer waits this long

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), PHNOM_PENH)

    def statement(self, day: date) -> list[Transaction]:
        """The PAID transactions settled on ``day``, by paid time then id."""
        chosen = [t for t in self.transactions.values() if t.settled_on(day)]
        return sorted(chosen, key=lambda t: (t.paid_at or self.now(), t.tx_id))

    def sign_in(self) -> tuple[str, int]:
        self.sign_ins += 1
        token = "sbx-" + secrets.token_urlsafe(24)
        now = self.clock()
        self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
        self.tokens[token] = now + self.token_ttl_s
        return token, self.token_ttl_s

    def token_valid(self, token: str) -> bool:
        expires = self.tokens.get(token)
        return expires is not None and expires > self.clock()

    def record(self, tx: Transaction) -> None:
        self.transactions[tx.tx_id] = tx
