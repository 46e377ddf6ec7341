"""What support staff look payments up by (issue 9, "Look-ups"). Pure data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.domain.payment import PaymentStatus
from hub.domain.records import Receipt


def policy_spellings(policy: str) -> tuple[str, ...]:
    """The spellings a policy (or application) number filter matches, each once: as given and upper-cased.
    Policy numbers are stored upper-case (``P123456789``); the filter ignores letter case that way, in
    every store (the one place that rule is written)."""
    return tuple(dict.fromkeys((policy, policy.upper())))


@dataclass(frozen=True)
class PaymentQuery:
    """Filters of a payment search (all optional, combined with AND), newest first.

    - ``transaction_id``: AMK's transaction id, as the payment records it (a bill's
      ``bankTransactionId``, a KHQR payment's ``AMK_KHQR_<id>``) or as a bill webhook for the
      payment carried it (a second bank transaction on one attempt is found too);
    - ``policy``: a policy number or an application number (letter case ignored);
    - ``payer``: the start of the payer's name (``john`` finds "John Doe"; ASCII letter case ignored);
    - ``created_from`` inclusive, ``created_to`` exclusive: when the attempt was opened;
    - ``before_id``: the keyset cursor (payments with a smaller id); ``limit`` rows at most.
    """

    transaction_id: str | None = None
    policy: str | None = None
    payer: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    statuses: tuple[PaymentStatus, ...] = ()
    before_id: int | None = None
    limit: int = 100

    @property
    def policy_names(self) -> tuple[str, ...]:
        """What ``policy`` matches (:func:`policy_spellings`); empty without a policy filter."""
        return () if self.policy is None else policy_spellings(self.policy)


@dataclass(frozen=True)
class StoredReceipt:
    """A webhook receipt with its times: the bank's body (``receipt.payload``) and PayHub's answer."""

    receipt: Receipt
    created_at: datetime
    updated_at: datetime
