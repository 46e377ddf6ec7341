"""The push routes' parameters as documented models (OpenAPI); the frames are in ``hub.apidoc.events``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from hub.apidoc.types import Model

# A parameter that is absent or an id; written as a string schema (a query or header value is text,
# never JSON null).
CURSOR = Annotated[
    str | None,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([0-9]{1,19})?$",
            "description": "Resume after this event id (a non-negative 64-bit integer; empty: none): every later "
            "event, in order, then live.",
            "examples": ["12"],
        }
    ),
]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class EventsPath(Model):
    payment_id: int = Field(gt=0, le=2**63 - 1, description="The payment id.", examples=[150001])


class EventsQuery(Model):
    lastEventId: CURSOR = Field(default=None, json_schema_extra=_no_default)


class EventsHeaders(Model):
    last_event_id: CURSOR = Field(default=None, alias="Last-Event-ID", json_schema_extra=_no_default)


SSE_STREAM = {
    # One event of the stream (as schemathesis and OpenAPI 3.2's itemSchema read an event stream's schema).
    "type": "object",
    "description": "text/event-stream: `retry: 2000`, then one event per status change: `id: <eventId>`, "
    "`event: payment.status`, `data: <json>` (the AsyncAPI document's PaymentStatusFrameData), comment heartbeats "
    "(`: heartbeat`) at least every 15 s; the stream ends after a terminal status (CONFIRMED, FAILED, EXPIRED). "
    "Without a cursor the first event is the current status.",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "event": {"const": "payment.status"},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "retry": {"type": "integer"},
    },
    "examples": [
        {
            "id": "12",
            "event": "payment.status",
            "data": '{"paymentId":150001,"policyNumber":"P123456789","method":"KHQR","status":"CONFIRMED",'
            '"amount":150.00,"currency":"USD","transactionId":"AMK_KHQR_150001",'
            '"occurredAt":"2025-10-07T05:00:00.123456+00:00","timestamp":"2025-10-07T05:00:00Z","sentAt":"2025-10-07T05:00:00.130000+00:00"}',
        }
    ],
}
