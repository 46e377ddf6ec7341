"""Who may watch a payment (read its status, stream it, long-poll its QR session): one rule for the gateway,
push and KHQR routes.

* ``admin``: every payment.
* A subscribe token (``subscribeToken`` of the inquiry or ``GET /khqr``): its own payment; any other is
  ``403 FORBIDDEN``, as the contract has always answered.
* A ``customer`` token: the payments the premium inquiry or ``GET /khqr`` offered to its subject
  (``payment_watchers``, recorded by :func:`offer`): the spec's SSE example sends the app's own JWT. Any
  other payment — another customer's, or none at all — gets the very answer an unknown payment gets
  (``404 RESOURCE_NOT_FOUND``, same message), so a customer learns nothing of payments that are not theirs.
* Roles the caller lists in ``also`` (PayHub's own ``service`` role on the status read): every payment.

Anything else (``amk``) is ``403 FORBIDDEN``.
"""

from __future__ import annotations

from datetime import datetime

from hub.auth import Principal
from hub.domain.records import Payment
from hub.errors import Forbidden, NotFound
from hub.ports import Store, StoreTx

MAX_ID = 2**63 - 1  # ids are BIGINT


def not_found(payment_id: int) -> NotFound:
    """The one answer for a payment that does not exist or is not the customer's."""
    return NotFound(f"No payment {payment_id}")


async def offer(tx: StoreTx, payment_id: int, who: Principal, now: datetime) -> None:
    """Inside the unit of work that offers ``payment_id`` to ``who``: remember a customer as its watcher
    (idempotent). Other roles are not recorded: admins watch everything, services act for a customer."""
    if who.role == "customer" and who.sub:
        await tx.watchers.add(payment_id, who.sub, now)


async def may_watch(tx: StoreTx, who: Principal, payment_id: int, *, also: tuple[str, ...] = ()) -> bool:
    """Whether ``who`` may watch ``payment_id`` (which the caller still has to find): ``Forbidden`` for a
    token that may never watch it, False for a customer it was not offered to."""
    if who.role == "customer":
        return bool(who.sub) and 0 < payment_id <= MAX_ID and await tx.watchers.watches(payment_id, who.sub)
    if not (who.may_watch(payment_id) or who.role in also):
        raise Forbidden("This token does not cover that payment")
    return True


def covered_by_token(who: Principal, payment_id: int) -> bool:
    """Whether ``who``'s token alone admits ``payment_id`` (an admin, or the payment's own subscribe token):
    no store read is needed to decide. False says nothing: ``may_watch`` decides the rest."""
    return 0 < payment_id <= MAX_ID and who.role != "customer" and who.may_watch(payment_id)


async def watched_payment(store: Store, who: Principal, payment_id: int, *, also: tuple[str, ...] = ()) -> Payment:
    """The payment ``who`` may watch. Raises ``Forbidden`` (403) for a token that covers other payments only,
    ``NotFound`` (404) for an unknown payment and, alike, for a customer's request for one not offered to it."""
    async with store.transaction() as tx:
        allowed = await may_watch(tx, who, payment_id, also=also)
        payment = await tx.payment(payment_id) if allowed and 0 < payment_id <= MAX_ID else None
    if payment is None:
        raise not_found(payment_id)
    return payment
