"""Notifications made up for tests of the store and the dispatcher."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.domain.notification import Channel, Content, Kind, Language, NewNotification, NotificationKey
from hub.ports import Store


def webhook_notification(i: int, at: datetime | None = None, partner: str = "acme") -> NewNotification:
    return NewNotification(
        key=NotificationKey(f"event:{i}", Channel.WEBHOOK, partner),
        kind=Kind.PAYMENT_SUCCESS,
        language=Language.EN,
        content=Content(text=f'{{"type":"payment.confirmed","data":{{"n":{i}}}}}', data={"type": "payment.confirmed"}),
        next_attempt_at=at or datetime.now(UTC),
        payment_id=None,
    )


async def enqueue_many(store: Store, n: int) -> list[str]:
    """``n`` webhook notifications due now; returns their message ids."""
    now = datetime.now(UTC)
    out = []
    async with store.transaction() as tx:
        for i in range(1, n + 1):
            note = webhook_notification(i, now)
            assert await tx.notifications.enqueue(note, now)
            out.append(note.message_id)
    return out
