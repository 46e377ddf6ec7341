"""The store port: the unit of work (``StoreTx``) and its factory (``Store``).

Implementations: ``hub/adapters/store/sql.py`` (SQLite, PostgreSQL) and
``hub/adapters/store/memory.py`` (in memory); ``tests/integration/test_store_contract*.py`` hold
all three to one contract.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from hub.domain.analytics import PaymentFigures
from hub.domain.blocklist import BlockEntry, BlockKind
from hub.domain.money import Currency
from hub.domain.notification import NewNotification, Notification, NotificationState, Preferences
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import KhqrSession, Payment, PaymentEvent, Premium, Receipt
from hub.ports.backoffice import AmkAnswerRows, LookupRows, ReviewRows
from hub.ports.reconciliation import ReconciliationRows


class KhqrSessionRows(Protocol):
    """KHQR sessions inside one unit of work. At most one PENDING session per premium."""

    async def get(self, session_id: str) -> KhqrSession | None: ...

    async def pending_for_premium(self, premium_id: int) -> KhqrSession | None:
        """The premium's PENDING session, locked for this unit of work where the store locks rows."""
        ...

    async def insert(self, s: KhqrSession) -> bool:
        """False when the premium already has a PENDING session (a concurrent request won)."""
        ...

    async def due(self, now: datetime, limit: int = 200) -> list[KhqrSession]:
        """PENDING sessions with ``expires_at <= now``, earliest first."""
        ...

    async def next_expiry(self) -> datetime | None: ...

    async def close(self, session_id: str, status: str, now: datetime, *, only_pending: bool = True) -> bool:
        """Set ``status``; with ``only_pending`` only a PENDING session moves, else any other status does.
        True when a row changed."""
        ...

    async def mark_paid(self, payment_id: int, now: datetime) -> int:
        """Every session of the payment not yet PAID becomes PAID; returns how many changed."""
        ...

    async def end_for_payment(self, payment_id: int, status: str, now: datetime) -> int:
        """``PAID``: every session of the payment not yet PAID; ``EXPIRED``: only the PENDING ones."""
        ...


class WatcherRows(Protocol):
    """The customers a payment was offered to (premium inquiry, ``GET /khqr``), by token subject: their own
    bearer token may watch it (``hub.service.watch``). One row per (payment, subject)."""

    async def add(self, payment_id: int, subject: str, now: datetime) -> bool:
        """Record that ``subject`` was offered the payment; False when it was already. The payment must exist."""
        ...

    async def watches(self, payment_id: int, subject: str) -> bool: ...


class OutboxRows(Protocol):
    """Events not yet relayed (``claim`` → publish → ``mark_published`` → commit, in one unit of work).

    ``claim`` returns events oldest first and, where several relays run, never an event of a
    payment whose earlier unpublished event another relay holds (``deferred`` counts those).
    """

    deferred: int

    async def claim(self, limit: int) -> list[PaymentEvent]: ...

    async def mark_published(self, ids: Sequence[int], now: datetime) -> None: ...

    async def had_processing(self, payment_id: int, before_id: int) -> bool:
        """Whether a PROCESSING status event of this payment precedes event ``before_id``."""
        ...

    async def unpublished_count(self) -> int: ...

    async def oldest_unpublished_at(self) -> datetime | None:
        """When the oldest event not yet relayed occurred (None when every event was relayed)."""
        ...


class NotificationRows(Protocol):
    """The notifier's tables inside one unit of work: notifications (one row per key: occasion, channel,
    recipient), customers' preferences, the notifier's cursors over the event log."""

    async def enqueue(self, n: NewNotification, now: datetime) -> bool:
        """Insert ``n`` PENDING unless its key exists (then nothing changes); True when inserted."""
        ...

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Notification]:
        """Open notifications (PENDING, FAILED) due at ``now``, earliest due first. Each is given one more
        attempt and is due again at ``lease_until``: if its sender dies before recording the outcome, the
        row is claimed again then. Rows another unit of work has claimed and not yet committed are
        skipped where the store locks rows (``FOR UPDATE SKIP LOCKED``)."""
        ...

    async def get(self, notification_id: int) -> Notification | None: ...

    async def finish(
        self,
        notification_id: int,
        state: NotificationState,
        now: datetime,
        *,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        attempts_delta: int = 0,
        claimed: int | None = None,
    ) -> bool:
        """Record an outcome: ``state``, ``last_error`` (kept when None), ``next_attempt_at``, ``sent_at``
        when SENT; ``attempts_delta`` corrects the attempt count (-1: the claim sent nothing).

        ``claimed``: the attempt count the sender's claim gave the row. Then the outcome is recorded only
        while the row is open (PENDING, FAILED) and still that claim's, or the outcome is SENT: a sender
        whose lease ended (the row was claimed again) cannot turn the next sender's SENT into FAILED, so
        nothing is sent again. Returns whether the outcome was recorded."""
        ...

    async def for_payment(self, payment_id: int) -> list[Notification]:
        """The payment's notifications, oldest first."""
        ...

    async def listing(self, states: Sequence[NotificationState], limit: int = 100) -> list[Notification]:
        """Notifications in any of ``states``, newest first."""
        ...

    async def revive(self, ids: Sequence[int] | None, now: datetime) -> list[int]:
        """DEAD notifications (all of them, or those of ``ids``) PENDING again, due now, attempts from 0;
        returns the ids revived."""
        ...

    async def count_by_state(self) -> dict[str, int]: ...

    async def preferences(self, policy_number: str) -> Preferences | None: ...

    async def set_preferences(self, p: Preferences, now: datetime) -> None: ...

    async def cursor(self, name: str) -> int | None:
        """The event id the reader ``name`` has handled up to (None: it never ran)."""
        ...

    async def set_cursor(self, name: str, event_id: int, now: datetime) -> None: ...

    async def outcome_events_after(self, after_id: int, limit: int = 500) -> list[PaymentEvent]:
        """Status events CONFIRMED or FAILED with id > ``after_id``, of every payment, by id."""
        ...

    async def status_events_after(self, after_id: int, limit: int = 500) -> list[PaymentEvent]:
        """Status events of every payment with id > ``after_id``, by id (the console's live feed resumes
        from here with ``Last-Event-ID``)."""
        ...

    async def last_event_id(self) -> int:
        """The largest id of the event log (0 when empty)."""
        ...

    async def due_premiums(self, first: date, last: date, after_id: int = 0, limit: int = 500) -> list[Premium]:
        """DUE premiums whose due date lies in [first, last] with id > ``after_id``, by id."""


class FraudRows(Protocol):
    """The fraud controls' rows inside one unit of work: the blocklist and a policy's paid amounts.

    Blocklist entries are never deleted: removing one stamps ``removed_at``/``removed_by`` (the
    audit trail); whether an entry applies is decided by :meth:`BlockEntry.active_at` at read time.
    """

    async def add_block(
        self,
        kind: BlockKind,
        value: str,
        reason: str,
        added_by: str,
        now: datetime,
        expires_at: datetime | None = None,
    ) -> BlockEntry:
        """Insert an entry (``value`` already canonical); returns it with its id."""
        ...

    async def block(self, entry_id: int) -> BlockEntry | None: ...

    async def blocks(self, now: datetime, *, include_inactive: bool = False, limit: int = 1000) -> list[BlockEntry]:
        """Entries active at ``now`` (with ``include_inactive``: every entry), newest first."""
        ...

    async def remove_block(self, entry_id: int, removed_by: str, now: datetime) -> BlockEntry | None:
        """Withdraw an entry not yet removed; None when there is no such entry or it was removed already.
        An expired entry may still be removed (its record then says who withdrew it)."""
        ...

    async def paid_amounts(self, policy_number: str, currency: Currency, limit: int) -> list[Decimal]:
        """Amounts of the policy's CONFIRMED payments in ``currency``, newest first (at most ``limit``);
        ``policy_number`` as the premium names it (payments copy it from their premium)."""
        ...


class StoreTx(Protocol):
    """Everything done inside one unit of work; it commits together or not at all.

    Conflicts a unique rule refuses raise ``hub.errors.UniqueViolation`` (and roll the unit back).
    Reads with ``lock=True`` hold the row until the unit ends where the store locks rows; stores
    that serialize whole units (SQLite, the in-memory fake) need no row locks.
    """

    @property
    def khqr_sessions(self) -> KhqrSessionRows: ...

    @property
    def outbox(self) -> OutboxRows: ...

    @property
    def watchers(self) -> WatcherRows: ...

    @property
    def notifications(self) -> NotificationRows: ...

    @property
    def fraud(self) -> FraudRows: ...

    @property
    def reconciliation(self) -> ReconciliationRows:
        """Reconciliation runs, items and statements (``backoffice.reconcile``)."""
        ...

    @property
    def review_rows(self) -> ReviewRows: ...

    @property
    def lookups(self) -> LookupRows: ...

    @property
    def amk_answers(self) -> AmkAnswerRows: ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this unit has committed (never after a rollback); in order, and one
        that raises is logged without stopping the others."""
        ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A part of this unit of work that may fail alone: when the block raises, what its statements did
        is undone and the unit goes on (PostgreSQL would otherwise refuse every later statement of a
        transaction in which one failed). The exception propagates. For reads that must not cost the
        unit its writes (fraud screening inside a webhook's transaction: ``FraudEngine.screen_money``)."""
        ...

    # premiums (integration service)
    async def upsert_premium(self, p: Premium, now: datetime, *, overwrite: bool = True) -> None:
        """Insert or update (``overwrite=False``: insert only). A PAID premium stays PAID."""
        ...

    async def premium(self, premium_id: int) -> Premium | None: ...

    async def find_due_premium(self, query: str) -> Premium | None:
        """The earliest DUE premium (by due date, then id) of a policy or application number."""
        ...

    async def mark_premium_paid(self, premium_id: int, payment_id: int, now: datetime) -> bool:
        """Idempotent: True only for the call that moved DUE to PAID."""
        ...

    async def unsettled_confirmed(self, limit: int = 500) -> list[tuple[int, int]]:
        """(payment id, premium id) of CONFIRMED payments whose premium is still DUE, by payment id."""
        ...

    # payments (a premium's attempts)
    async def lock_premium(self, premium_id: int) -> None:
        """Serialize everything done to the attempts of one premium until the unit ends. Every
        ``lock=True`` read of a payment takes it first (premium, then payment: one lock order)."""
        ...

    async def payment(self, payment_id: int, *, lock: bool = False) -> Payment | None: ...

    async def open_payment_for(self, premium_id: int, *, lock: bool = False) -> Payment | None:
        """The premium's newest PENDING or PROCESSING attempt."""
        ...

    async def pending_payments_for(self, premium_id: int, *, excluding: int) -> list[Payment]:
        """The premium's PENDING attempts other than ``excluding``, by id (locked where rows lock)."""
        ...

    async def latest_payment_for(self, premium_id: int) -> Payment | None: ...

    async def payments_for(self, premium_id: int) -> list[Payment]:
        """Every attempt of the premium, by id."""
        ...

    async def confirmed_payment_for(self, premium_id: int, *, excluding: int | None = None) -> Payment | None:
        """The premium's first CONFIRMED attempt other than ``excluding``."""
        ...

    async def end_qr_sessions(self, payment_id: int, status: str, now: datetime) -> int:
        """End an attempt's KHQR sessions: ``PAID`` every one not yet PAID, ``EXPIRED`` only the
        PENDING ones. Returns how many changed."""
        ...

    async def insert_open_payment(
        self, premium: Premium, method: PaymentMethod | None, now: datetime
    ) -> Payment | None:
        """Insert a PENDING payment; None when the premium already has a PENDING one."""
        ...

    async def update_payment(self, p: Payment) -> None:
        """Write method, status, transaction id, review reason and ``updated_at``. Raises
        ``UniqueViolation`` when another CONFIRMED payment has the same transaction id, or another
        attempt of the premium is PENDING too."""
        ...

    # the append-only event log; ids increase in commit order along each payment's stream
    async def append_event(
        self, payment_id: int, type_: str, status: PaymentStatus, data: dict[str, Any], at: datetime
    ) -> PaymentEvent: ...

    async def events_after(
        self,
        payment_id: int,
        after_id: int,
        *,
        types: Sequence[str] = (PaymentEvent.STATUS,),
        limit: int = 500,
    ) -> list[PaymentEvent]:
        """Events of one payment with id > after_id, oldest first."""
        ...

    async def status_events_of(self, payment_ids: Sequence[int], after_id: int) -> list[PaymentEvent]:
        """Status events of several payments with id > after_id, oldest first."""
        ...

    async def last_status_event(self, payment_id: int) -> PaymentEvent | None: ...

    async def recent_status_events(self, limit: int) -> list[PaymentEvent]:
        """The newest status event of each of the ``limit`` payments whose status changed last (at most
        one event per payment), oldest first; ``[]`` for ``limit <= 0``. Bounded by ``limit``: a push
        node warms its memory of the newest status per payment with it at start-up (``push.warm``)."""
        ...

    async def events_of_type(self, payment_id: int, type_: str) -> list[PaymentEvent]: ...

    # webhook receipts (idempotency)
    async def receipt(self, key: str) -> Receipt | None: ...

    async def insert_receipt(self, r: Receipt, now: datetime) -> bool:
        """False when the key exists already (a concurrent duplicate won); the first answer is kept."""
        ...

    async def update_receipt(self, r: Receipt, now: datetime) -> None: ...

    async def due_verifications(self, now: datetime, limit: int = 50) -> list[Receipt]:
        """VERIFY_PENDING receipts with ``next_attempt_at <= now``, earliest first."""
        ...

    async def lock_receipt(self, key: str) -> Receipt | None: ...

    # reviews and the inquiry log
    async def add_review(
        self, key: str, reason: str, payment_id: int | None, payload: dict[str, Any], now: datetime
    ) -> bool:
        """Flag something for a person. Idempotent per key: False when the key exists.

        The review starts OPEN, its kind is the key's prefix (``hub.domain.reviews.review_kind``),
        its policy that of its payment (else the payload's ``policyNumber``), and its history
        starts with an ``open`` row by ``payhub`` whose note is ``reason``."""
        ...

    async def reviews(self, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first, as ``Review.as_json``: ``{id, key, kind, reason, state, outcome, paymentId,
        policyNumber, payload, createdAt, updatedAt}``."""
        ...

    async def count_reviews(self, key_prefix: str) -> int:
        """Reviews whose key starts with ``key_prefix`` (exactly, case included)."""
        ...

    async def log_inquiry(
        self, query: str, subject: str, client_ip: str, outcome: str, correlation_id: str, now: datetime
    ) -> None: ...

    async def count(self, table: str) -> int:
        """Rows of a table (``premiums``, ``payments``, ``payment_events``, ``webhook_receipts``,
        ``reviews``, ``review_events``, ``amk_answers``, ``inquiries``, ``khqr_sessions``, ``blocklist``),
        for operators and tests."""
        ...


class Store(Protocol):
    """The unit-of-work factory. Every write happens inside ``transaction()``."""

    @property
    def dialect(self) -> str:
        """``sqlite``, ``postgres`` or ``memory``."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[StoreTx]:
        """One atomic unit of work: committed when the block ends, rolled back when it raises."""
        ...

    async def migrate(self) -> list[str]:
        """Apply pending migrations; returns the names applied. Safe to run concurrently."""
        ...

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...

    # convenience reads, each its own short unit of work
    async def payment(self, payment_id: int) -> Payment | None: ...

    async def events_after(self, payment_id: int, after_id: int, limit: int = 500) -> list[PaymentEvent]: ...

    async def receipt(self, key: str) -> Receipt | None: ...

    # analytics (operators): read-only, its own unit of work
    async def payment_figures(self, start: datetime, end: datetime) -> PaymentFigures:
        """The analytics figures of the attempts placed in ``[start, end)`` (timezone-aware instants);
        ``hub.domain.analytics`` defines each figure and the placing rule. Exact: integers and ``Decimal``
        sums per currency. SQL stores read it with the index of migration 0009."""
        ...
