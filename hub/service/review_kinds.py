"""The kinds of review (what a person must decide), told apart by the prefix of the review's key
(``hub.domain.reviews.review_kind``: the key's prefix before its first ``:``).

=================== ======================  =====================================================
kind                key prefix              written by
=================== ======================  =====================================================
``webhook``         ``webhook:``            gateway/webhooks.py: a bank notice held or refused
``reverify``        ``reverify:``           gateway/reverify.py: AMK refused a re-verification
``payment``         ``payment:``            hub/service/ledger.py: a payment flagged by its move
``double-payment``  ``double-payment:``     hub/service/ledger.py: a premium possibly paid twice
``reconcile``       ``reconcile:``          backoffice/reconcile: PayHub and AMK disagree
``fraud``           ``fraud:``              a fraud rule stopped a request or flagged money
=================== ======================  =====================================================

``open_reviews`` feeds the ``payhub_reviews_open{kind}`` gauge: reviews still waiting for a person
(state OPEN or ESCALATED), per kind; the label is the kind ``GET /admin/reviews?kind=`` filters by.
"""

from __future__ import annotations

from hub.domain.reviews import KNOWN_REVIEW_KINDS
from hub.ports import Store


async def open_reviews(store: Store) -> dict[str, int]:
    """Reviews OPEN or ESCALATED per kind (every kind PayHub raises present, 0 when none; a kind
    found in the table beside them too), in one unit of work."""
    async with store.transaction() as tx:
        counts = await tx.review_rows.unresolved_by_kind()
    waiting = dict.fromkeys(KNOWN_REVIEW_KINDS, 0)
    for (kind, _state), n in counts.items():
        waiting[kind] = waiting.get(kind, 0) + n
    return waiting
