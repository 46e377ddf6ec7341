"""Look-ups support staff need (issue 9): payments by AMK transaction id, policy or application
number, payer or date range; one payment's case file; a premium's whole history of attempts.
Read-only; admins only (the admin API and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backoffice.casefile import event_json, payment_file, payment_json, premium_json, receipt_json
from hub.domain.lookups import PaymentQuery
from hub.errors import NotFound
from hub.ports import Store


@dataclass
class Lookups:
    store: Store

    async def payments(self, query: PaymentQuery) -> list[dict[str, Any]]:
        """Matching payments, newest first, as ``backoffice.casefile.payment_json``."""
        async with self.store.transaction() as tx:
            found = await tx.lookups.payments(query)
        return [payment_json(p, premium) for p, premium in found]

    async def payment(self, payment_id: int) -> dict[str, Any]:
        """One payment's case file (``backoffice.casefile.payment_file``). Raises NotFound."""
        async with self.store.transaction() as tx:
            if await tx.payment(payment_id) is None:
                raise NotFound(f"No payment {payment_id}")
            return await payment_file(tx, payment_id)

    async def attempts(self, premium_id: int) -> dict[str, Any]:
        """A premium's whole history of attempts: ``{premium, attempts, reviews, amkAnswers}``;
        each attempt is ``payment_json`` plus its ``events`` (every type) and ``receipts``, oldest
        first. ``premium`` is None if only its attempts are known here. Raises NotFound when
        neither the premium nor any attempt of it is."""
        async with self.store.transaction() as tx:
            premium = await tx.premium(premium_id)
            attempts = await tx.payments_for(premium_id)
            if premium is None and not attempts:
                raise NotFound(f"No premium {premium_id}")
            out = []
            for a in attempts:
                events = await tx.lookups.events_of(a.id)
                receipts = await tx.lookups.receipts_of(a.id)
                out.append(
                    {
                        **payment_json(a, premium),
                        "events": [event_json(e) for e in events],
                        "receipts": [receipt_json(r) for r in receipts],
                    }
                )
            ids = [a.id for a in attempts]
            reviews = await tx.review_rows.of_payments(ids)
            answers = await tx.amk_answers.of(ids)
        return {
            "premium": premium_json(premium) if premium else None,
            "attempts": out,
            "reviews": [r.as_json() for r in reviews],
            "amkAnswers": [a.as_json() for a in answers],
        }
