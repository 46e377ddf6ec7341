"""The AsyncAPI 3.0 document of PayHub's streams: the SSE stream, the WebSocket protocol, the Kafka topics.

Payload schemas are the JSON Schemas of the models in :mod:`hub.apidoc.events`; the Kafka channels are
:class:`hub.topics.Topics` (names with the process's prefix, which events go where). Operations are
written from PayHub's side: it *sends* frames and Kafka messages and *receives* WebSocket requests.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from hub.apidoc import events as ev
from hub.topics import KHQR_GENERATED, PAYMENT_CONFIRMED, PAYMENT_STATUS, PAYMENT_SUCCESS, PAYMENT_VERIFIED, Topics

ASYNCAPI_VERSION = "3.0.0"
REF = "#/components/schemas/{model}"

_MODELS: tuple[type[BaseModel], ...] = (
    ev.PaymentStatusFrameData,
    ev.PaymentStatusMessage,
    ev.Subscribe,
    ev.Unsubscribe,
    ev.Ping,
    ev.Pong,
    ev.Subscribed,
    ev.Unsubscribed,
    ev.Completed,
    ev.WsError,
    ev.StatusEvent,
    ev.QrGeneratedEvent,
)

_STATUS_DATA = {
    "paymentId": 150001,
    "policyNumber": "P123456789",
    "method": "KHQR",
    "status": "CONFIRMED",
    "amount": 150.00,
    "currency": "USD",
    "transactionId": "AMK_KHQR_150001",
    "occurredAt": "2025-10-07T05:00:00.123456+00:00",
    "timestamp": "2025-10-07T05:00:00Z",
}
_SENT_AT = "2025-10-07T05:00:00.130000+00:00"

# name -> (model, summary, example payload); one AsyncAPI message each.
_WS_MESSAGES: dict[str, tuple[type[BaseModel], str, dict[str, Any]]] = {
    "subscribe": (ev.Subscribe, "Watch a payment", {"type": "subscribe", "paymentId": 150001, "token": "eyJ…"}),
    "unsubscribe": (ev.Unsubscribe, "Stop watching a payment", {"type": "unsubscribe", "paymentId": 150001}),
    "ping": (ev.Ping, "Keep-alive; answered with pong", {"type": "ping"}),
    "paymentStatus": (
        ev.PaymentStatusMessage,
        "A status event of a subscribed payment",
        {"type": "PAYMENT_STATUS", "id": 12, "data": {**_STATUS_DATA, "sentAt": _SENT_AT}},
    ),
    "subscribed": (ev.Subscribed, "The subscription is live", {"type": "SUBSCRIBED", "paymentId": 150001}),
    "unsubscribed": (ev.Unsubscribed, "The subscription ended", {"type": "UNSUBSCRIBED", "paymentId": 150001}),
    "completed": (
        ev.Completed,
        "Terminal status reached: no more frames for this payment",
        {"type": "COMPLETED", "paymentId": 150001},
    ),
    "pong": (ev.Pong, "Answer to ping", {"type": "pong"}),
    "error": (
        ev.WsError,
        "A refused message (the socket stays open)",
        {
            "type": "ERROR",
            "paymentId": 150001,
            "code": "FORBIDDEN",
            "message": "This token does not cover that payment",
            "details": None,
            "correlationId": "req-12345-67890",
            "timestamp": "2025-10-07T12:00:00Z",
        },
    ),
}
_CLIENT_MESSAGES = ("subscribe", "unsubscribe", "ping")


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def asyncapi_document(
    *,
    topics: Topics,
    host: str = "localhost:8000",
    kafka_host: str = "localhost:9092",
    version: str = "0.1.0",
) -> dict[str, Any]:
    """The document for a deployment reached at ``host`` (HTTP and WebSocket) and ``kafka_host``."""
    mapping, top = models_json_schema([(m, "serialization") for m in _MODELS], ref_template=REF)
    schemas = dict(sorted(top.get("$defs", {}).items()))
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    messages["sseStatus"] = {
        "name": "payment.status",
        "title": "SSE payment.status frame",
        "summary": "`id: <eventId>`, `event: payment.status`, `data: <this JSON>`",
        "description": "One frame per status event. `id` is the event id: resume with `Last-Event-ID` (or "
        "`?lastEventId=`). Comment heartbeats (`: heartbeat`) come at least every 15 s; after a terminal "
        "status (CONFIRMED, FAILED, EXPIRED) the stream ends, and a reconnect past it gets 204.",
        "contentType": "application/json",
        "payload": _ref("schemas", "PaymentStatusFrameData"),
        "examples": [{"name": "confirmed", "payload": {**_STATUS_DATA, "sentAt": _SENT_AT}}],
    }
    channels["paymentEvents"] = {
        "address": "/api/payments/{paymentId}/events",
        "title": "A payment's Server-Sent Events",
        "description": "GET with `Accept: text/event-stream`; token as `Authorization: Bearer` or `?token=` "
        "(the payment's subscribeToken, or an admin token). See the OpenAPI operation for statuses.",
        "servers": [{"$ref": "#/servers/http"}],
        "parameters": {"paymentId": {"description": "The payment id (the inquiry's or KHQR reply's paymentId)."}},
        "messages": {"paymentStatus": _ref("messages", "sseStatus")},
    }
    operations["sendPaymentStatusSse"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/paymentEvents"},
        "summary": "PayHub streams a payment's status events",
        "messages": [{"$ref": "#/channels/paymentEvents/messages/paymentStatus"}],
    }

    for name, (model, summary, example) in _WS_MESSAGES.items():
        messages[f"ws_{name}"] = {
            "name": name,
            "title": model.__name__,
            "summary": summary,
            "contentType": "application/json",
            "payload": mapping[(model, "serialization")],
            "examples": [{"name": name, "payload": example}],
        }
    channels["paymentsSocket"] = {
        "address": "/ws/payments",
        "title": "The payments WebSocket",
        "description": "JSON text frames both ways; several subscriptions per socket. Close codes: 1003 binary "
        "frame, 1008 no subscription in time, 1009 message too large, 1011 internal error.",
        "servers": [{"$ref": "#/servers/ws"}],
        "messages": {name: _ref("messages", f"ws_{name}") for name in _WS_MESSAGES},
        "bindings": {
            "ws": {
                "method": "GET",
                "query": {
                    "type": "object",
                    "properties": {"token": {"type": "string", "description": "Default token of every subscribe."}},
                },
            }
        },
    }
    operations["receiveSocketRequests"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/paymentsSocket"},
        "summary": "Clients subscribe, unsubscribe and ping",
        "messages": [{"$ref": f"#/channels/paymentsSocket/messages/{n}"} for n in _CLIENT_MESSAGES],
    }
    operations["sendSocketFrames"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/paymentsSocket"},
        "summary": "PayHub answers and streams subscribed payments",
        "messages": [
            {"$ref": f"#/channels/paymentsSocket/messages/{n}"} for n in _WS_MESSAGES if n not in _CLIENT_MESSAGES
        ],
    }

    _kafka(topics, mapping, messages, channels, operations)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "PayHub streams",
            "version": version,
            "description": "Live payment status for apps and browsers (SSE, WebSocket) and the event stream "
            "between PayHub's services (Kafka). The HTTP operations are in the OpenAPI document (/openapi.json).",
        },
        "defaultContentType": "application/json",
        "servers": {
            "http": {"host": host, "protocol": "http", "description": "PayHub's HTTP port (SSE)."},
            "ws": {"host": host, "protocol": "ws", "description": "PayHub's HTTP port (WebSocket upgrade)."},
            "kafka": {
                "host": kafka_host,
                "protocol": "kafka",
                "description": "PAYHUB_KAFKA_BOOTSTRAP (production topology; the embedded process uses an "
                "in-process stream with the same messages).",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


_KAFKA_KEY = {
    "key": {"type": "string", "pattern": "^[0-9]+$", "description": "The paymentId (one payment, one partition)."}
}
_TOPIC_NOTES = {
    PAYMENT_STATUS: ("statusEvent", "Every status event of every payment (the push feeder reads it)."),
    PAYMENT_CONFIRMED: (
        "statusEvent",
        "A bank's payment accepted: PROCESSING, or CONFIRMED if PROCESSING was skipped.",
    ),
    PAYMENT_VERIFIED: ("statusEvent", "AMK verified the payment: CONFIRMED."),
    PAYMENT_SUCCESS: ("statusEvent", "The premium is paid: CONFIRMED (the integration service settles it)."),
    KHQR_GENERATED: ("qrGeneratedEvent", "A KHQR session was opened for a payment."),
}
_DEAD_LETTERED = (PAYMENT_STATUS, PAYMENT_SUCCESS)  # topics whose consumers dead-letter poison messages


def _kafka(
    topics: Topics, mapping: dict[Any, Any], messages: dict[str, Any], channels: dict[str, Any], ops: dict[str, Any]
) -> None:
    messages["statusEvent"] = {
        "name": "payment.status",
        "title": "Status event",
        "summary": "A payment status event with its id (consumers drop duplicates by id)",
        "contentType": "application/json",
        "payload": mapping[(ev.StatusEvent, "serialization")],
        "bindings": {"kafka": _KAFKA_KEY},
        "examples": [
            {
                "name": "confirmed",
                "payload": {
                    "id": 12,
                    "paymentId": 150001,
                    "type": "payment.status",
                    "status": "CONFIRMED",
                    "occurredAt": _STATUS_DATA["occurredAt"],
                    "data": _STATUS_DATA,
                },
            }
        ],
    }
    messages["qrGeneratedEvent"] = {
        "name": "khqr.generated",
        "title": "KHQR generated",
        "contentType": "application/json",
        "payload": mapping[(ev.QrGeneratedEvent, "serialization")],
        "bindings": {"kafka": _KAFKA_KEY},
    }
    messages["deadLetter"] = {
        "name": "dead-letter",
        "title": "Dead letter",
        "summary": "A message its consumer could not process, copied unchanged (same key, value and headers)",
        "description": "Listed and replayed with `payhub dlq list|replay`.",
        "contentType": "application/octet-stream",
        "payload": {"description": "The original value, byte for byte (possibly what made it poison)."},
        "headers": {
            "type": "object",
            "properties": {
                name: {"type": "string", "description": text}
                for name, text in (
                    ("reason", "Why the consumer gave up on it."),
                    ("original-topic", "Where it was read."),
                    ("original-partition", "Its partition there."),
                    ("original-offset", "Its offset there."),
                )
            },
            "required": ["reason", "original-topic", "original-partition", "original-offset"],
        },
    }
    for base, (message, text) in _TOPIC_NOTES.items():
        name = topics.name(base)
        channel_id = _channel_id(base)
        channels[channel_id] = {
            "address": name,
            "title": name,
            "description": f"{text} Key = paymentId; value = the event JSON (hub.event_codec).",
            "servers": [{"$ref": "#/servers/kafka"}],
            "messages": {message: _ref("messages", message)},
            "bindings": {"kafka": {"topic": name}},
        }
        ops[f"publish_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"The outbox relay publishes to {name} (at least once, in order per payment)",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message}"}],
        }
    for base in _DEAD_LETTERED:
        name = topics.dead_letter(topics.name(base))
        channel_id = _channel_id(base) + "_dlq"
        channels[channel_id] = {
            "address": name,
            "title": name,
            "description": f"Dead letters of {topics.name(base)}.",
            "servers": [{"$ref": "#/servers/kafka"}],
            "messages": {"deadLetter": _ref("messages", "deadLetter")},
            "bindings": {"kafka": {"topic": name}},
        }
        ops[f"deadLetter_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"A consumer of {topics.name(base)} sets a poison message aside",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/deadLetter"}],
        }


def _channel_id(base: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in base.replace("-", ".").split(".") if w)
