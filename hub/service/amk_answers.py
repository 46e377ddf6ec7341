"""Keeping what AMK's payment-verify answered, for the case file of a payment or a review.

Callers hold a unit of work (``hub.ports.StoreTx``) and record inside it: the webhook path in the
transaction that records the money, the re-verifier in the one that settles it. An answer is kept
as it came (verdict, amount, currency) or, when AMK refused to answer, as PayHub's error code for
the refusal with AMK's own code. Unreachability is not an answer and is not kept.
"""

from __future__ import annotations

from datetime import datetime

from hub.domain.records import Verification
from hub.domain.reviews import AmkAnswer
from hub.errors import AmkUnknownError
from hub.ports import StoreTx


async def remember_verdict(
    tx: StoreTx, payment_id: int | None, reference: str, source: str, verdict: Verification, now: datetime
) -> AmkAnswer:
    """AMK's verdict on ``reference`` (PAID, UNPAID, FAILED, NOT_FOUND), asked by ``source``."""
    return await tx.amk_answers.record(
        payment_id, reference, source, verdict.status, verdict.amount, verdict.currency, {"txId": verdict.tx_id}, now
    )


async def remember_refusal(
    tx: StoreTx, payment_id: int | None, reference: str, source: str, refusal: AmkUnknownError, now: datetime
) -> AmkAnswer:
    """AMK refused to verify ``reference`` (or answered something unreadable)."""
    detail = {"amkCode": refusal.amk_code, "message": refusal.message, "details": refusal.details}
    return await tx.amk_answers.record(payment_id, reference, source, refusal.code, None, None, detail, now)
