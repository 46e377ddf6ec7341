"""``sentAt`` says when a frame was written, though the event is serialized once per process."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.fanout import Frame


def test_each_write_is_stamped_when_it_happens() -> None:
    event = PaymentEvent(
        5,
        9,
        PaymentEvent.STATUS,
        PaymentStatus.CONFIRMED,
        {"paymentId": 9, "status": "CONFIRMED"},
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    frame = Frame.of(event)
    first = json.loads(frame.ws())["data"]
    time.sleep(0.01)
    later = json.loads(frame.sse().decode().split("data: ", 1)[1])
    assert first["paymentId"] == later["paymentId"] == 9
    assert datetime.fromisoformat(later["sentAt"]) > datetime.fromisoformat(first["sentAt"])


def test_an_empty_payload_still_gets_valid_json() -> None:
    event = PaymentEvent(1, 1, PaymentEvent.STATUS, PaymentStatus.PENDING, {}, datetime(2026, 1, 1, tzinfo=UTC))
    assert set(json.loads(Frame.of(event).json)) == {"sentAt"}
