"""The kinds of review (what a person must decide), told apart by the prefix of the review's key.

Every ``add_review`` key starts with one of these prefixes (see where each is written):

=================  ======================  =====================================================
kind               key prefix              written by
=================  ======================  =====================================================
``webhook``        ``webhook:``            gateway/webhooks.py: a bank notice held or refused
``reverify``       ``reverify:``           gateway/reverify.py: AMK refused a re-verification
``payment``        ``payment:``            hub/service/ledger.py: a payment flagged by its move
``double_payment`` ``double-payment:``     hub/service/ledger.py: a premium possibly paid twice
=================  ======================  =====================================================

``open_reviews`` feeds the ``payhub_reviews_open{kind}`` gauge. Reviews have no state yet, so
every review counts as open; when they get one, this is the one function to change.
"""

from __future__ import annotations

from hub.ports import Store
from hub.service.ledger import DOUBLE_PAYMENT_KEY

REVIEW_KINDS: dict[str, str] = {
    "webhook": "webhook:",
    "reverify": "reverify:",
    "payment": "payment:",
    "double_payment": DOUBLE_PAYMENT_KEY,
}


async def open_reviews(store: Store) -> dict[str, int]:
    """Open reviews per kind (every kind present, 0 when none), in one unit of work."""
    async with store.transaction() as tx:
        return {kind: await tx.count_reviews(prefix) for kind, prefix in REVIEW_KINDS.items()}
