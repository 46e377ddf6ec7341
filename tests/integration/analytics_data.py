"""Payment attempts written with chosen times, through the store port (for the analytics tests)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import Premium
from hub.ports import Store

_ids = itertools.count(7_000_001)


async def add_attempt(
    stores: Store | tuple[Store, ...],
    status: PaymentStatus,
    method: PaymentMethod | None,
    amount: str,
    currency: Currency,
    created: datetime,
    ended: datetime | None = None,
) -> None:
    """One attempt of a premium of its own (one payable attempt per premium): opened at ``created``,
    then moved to ``status`` at ``ended`` (default: ``created``), in each of ``stores`` alike."""
    premium = Premium(
        id=next(_ids),
        policy_number="A0000001",
        payer="Analytics",
        amount=Decimal(amount),
        currency=currency,
        due_date=date(2030, 1, 1),
    )
    for store in stores if isinstance(stores, tuple) else (stores,):
        async with store.transaction() as tx:
            await tx.upsert_premium(premium, created)
            opened = await tx.insert_open_payment(premium, method, created)
            assert opened is not None
            if status is not PaymentStatus.PENDING or ended is not None:
                tx_id = f"TX{premium.id}" if status is PaymentStatus.CONFIRMED else None
                await tx.update_payment(
                    replace(opened, status=status, transaction_id=tx_id, updated_at=ended or created)
                )
