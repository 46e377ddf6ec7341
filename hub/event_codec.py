"""A payment event as a stream message value (Kafka, Redis pub/sub): JSON with the event id.

Consumers drop duplicates by id; ``event_from_json(event_json(e)) == e``.
"""

from __future__ import annotations

from typing import Any

from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent


def event_json(event: PaymentEvent) -> dict[str, Any]:
    """The message value: the event with its id (consumers drop duplicates by id)."""
    return {
        "id": event.id,
        "paymentId": event.payment_id,
        "type": event.type,
        "status": event.status.value,
        "occurredAt": event.occurred_at.isoformat(),
        "data": event.data,
    }


def event_from_json(value: dict[str, Any]) -> PaymentEvent:
    """Inverse of ``event_json``; raises KeyError/ValueError on a malformed message."""
    from datetime import datetime

    return PaymentEvent(
        id=int(value["id"]),
        payment_id=int(value["paymentId"]),
        type=str(value["type"]),
        status=PaymentStatus(value["status"]),
        data=dict(value["data"]),
        occurred_at=datetime.fromisoformat(value["occurredAt"]),
    )
