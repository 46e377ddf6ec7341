"""Records of reconciliation with AMK: a settlement statement and its entries, a run and its items.

Pure data, no I/O. The statement's file format lives in one adapter (``hub.adapters.amk.statement_csv``);
the runs are kept by the store (``hub.ports.ReconciliationRows``) and worked by ``backoffice.reconcile``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hub.domain.money import Currency, format_amount
from hub.domain.payment import PaymentMethod

RUNNING = "RUNNING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
RUN_STATUSES = (RUNNING, COMPLETED, FAILED)


@dataclass(frozen=True)
class StatementEntry:
    """One money movement AMK reports as credited to the merchant.

    ``tx_id`` is what AMK's payment-verify knows the transaction by (its ``txId``): a bill payment's
    ``bankTransactionId``, a KHQR payment's invoice number (the payment id PayHub gave AMK's QR
    generator). ``line`` is where it was read (not part of its identity).
    """

    settlement_date: date
    tx_id: str
    channel: PaymentMethod
    amount: Decimal
    currency: Currency
    paid_at: datetime  # timezone-aware
    bill_number: str | None = None
    line: int = field(default=0, compare=False)

    @property
    def key(self) -> str:
        """The transaction's identity within a day: ``<channel>:<tx_id>``."""
        return f"{self.channel.value}:{self.tx_id}"

    def as_json(self) -> dict[str, Any]:
        return {
            "settlementDate": self.settlement_date.isoformat(),
            "txId": self.tx_id,
            "channel": self.channel.value,
            "billNumber": self.bill_number,
            "amount": format_amount(self.amount, self.currency),
            "currency": self.currency.value,
            "paidAt": self.paid_at.isoformat(),
            "line": self.line,
        }


@dataclass(frozen=True)
class Statement:
    """One settlement statement: the entries of one settlement day (``day`` is None when it has none)."""

    day: date | None
    entries: tuple[StatementEntry, ...]
    sha256: str = ""

    def by_key(self) -> dict[str, StatementEntry]:
        return {e.key: e for e in self.entries}


@dataclass(frozen=True)
class StoredStatement:
    """The statement a day is reconciled against, as kept by the store (``content``: the file's text)."""

    day: date
    source: str  # "fetched" (from AMK / the sandbox) or "file:<name>" (imported by an operator)
    sha256: str
    content: str
    stored_at: datetime


@dataclass(frozen=True)
class ReconRun:
    """The reconciliation of one day (one row per day: a rerun updates it).

    ``generation`` grows with each rerun of a completed day; an item is decided for this run once its
    ``decided_generation`` equals it, so a run killed halfway resumes where it stopped. The lease
    (``lease_owner`` until ``lease_until``) lets one process at a time work the run.
    """

    id: int
    day: date
    status: str  # RUNNING | COMPLETED | FAILED
    generation: int
    collected_generation: int
    trigger: str
    lease_owner: str | None
    lease_until: datetime | None
    statement_source: str | None
    statement_sha256: str | None
    summary: dict[str, Any]
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "date": self.day.isoformat(),
            "status": self.status,
            "generation": self.generation,
            "trigger": self.trigger,
            "statement": (
                {"source": self.statement_source, "sha256": self.statement_sha256} if self.statement_source else None
            ),
            "summary": self.summary,
            "error": self.error,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
            "updatedAt": self.updated_at.isoformat(),
            "leaseOwner": self.lease_owner,
            "leaseUntil": self.lease_until.isoformat() if self.lease_until else None,
        }


@dataclass(frozen=True)
class ReconItem:
    """One transaction of a run: PayHub's record, AMK's (statement, payment-verify) and the outcome.

    ``key`` is ``<channel>:<txRef>``; ``outcome`` is None until decided (see ``ReconRun``).
    """

    run_id: int
    key: str
    channel: str
    tx_ref: str
    payment_id: int | None
    outcome: str | None
    decided_generation: int
    payhub: dict[str, Any] | None
    statement: dict[str, Any] | None
    verify: dict[str, Any] | None
    detail: str
    review_key: str | None
    decided_at: datetime | None
    alerted_at: datetime | None = None  # when the ALERT of its review was logged

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "channel": self.channel,
            "txRef": self.tx_ref,
            "paymentId": self.payment_id,
            "outcome": self.outcome,
            "payhub": self.payhub,
            "statement": self.statement,
            "verify": self.verify,
            "detail": self.detail,
            "reviewKey": self.review_key,
            "decidedAt": self.decided_at.isoformat() if self.decided_at else None,
            "alertedAt": self.alerted_at.isoformat() if self.alerted_at else None,
        }


@dataclass(frozen=True)
class MovedMoney:
    """A transaction PayHub recorded money for, found by the day it moved (``channel``, ``tx_ref`` as
    AMK's payment-verify knows it, the payment it landed on)."""

    channel: str
    tx_ref: str
    payment_id: int

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.tx_ref}"
