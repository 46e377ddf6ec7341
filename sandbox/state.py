"""What the sandbox bank remembers (in memory: a restart forgets; sandbox only)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Transaction:
    tx_id: str
    status: str  # PAID | FAILED
    amount: Decimal
    currency: str


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
