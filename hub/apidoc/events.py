"""The payment events and stream messages as documented models (AsyncAPI): SSE frames, WebSocket
messages both ways, Kafka message values.

Writers: ``hub.service.ledger.status_data`` (a status event's ``data``), ``hub.fanout.Frame`` (``sentAt``,
the SSE and WebSocket frames), ``push.app`` (the other WebSocket messages), ``hub.event_codec.event_json``
(Kafka values), ``khqr.service`` (``khqr.generated``). Tests validate real frames and messages against the
AsyncAPI document built from these models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from hub.apidoc.types import Amount, CurrencyCode, Id, Method, Model, Status, Timestamp


class PaymentStatusData(Model):
    """A status event's ``data`` as stored and published to Kafka: the payment at that moment."""

    paymentId: Id
    policyNumber: str = Field(examples=["P123456789"])
    method: Method | None = Field(description="null until the customer chose (a QR shown or a bill paid).")
    status: Status
    amount: Amount
    currency: CurrencyCode
    transactionId: str | None = Field(description="Once the bank reported one.", examples=["AMK_KHQR_150001"])
    occurredAt: Timestamp
    timestamp: Timestamp | None = Field(
        default=None,
        description="When the status was recorded (spec: the event's `timestamp`); absent on older events.",
    )
    estimatedCompletion: Timestamp | None = Field(
        default=None,
        description="While PROCESSING: when AMK's verdict is next expected (hub.service.ledger.status_data).",
    )
    review: str | None = Field(default=None, description="Present when the payment is flagged for review.")
    closedBy: Id | None = Field(
        default=None, description="Present when another attempt paid the premium and closed this one."
    )


class PaymentStatusFrameData(PaymentStatusData):
    """A status event's ``data`` in an SSE or WebSocket frame: stamped with the moment it was written."""

    sentAt: Timestamp


class PaymentStatusMessage(Model):
    """WebSocket, server to client: one status event of a subscribed payment (resume from ``id``)."""

    type: Literal["PAYMENT_STATUS"]
    id: Id = Field(description="The event id: unique, increasing along the payment's stream.")
    data: PaymentStatusFrameData


class Subscribe(Model):
    """WebSocket, client to server: watch a payment (again: replaces that payment's subscription)."""

    type: Literal["subscribe"]
    paymentId: Id
    token: str | None = Field(
        default=None,
        description="The payment's subscribeToken (or an admin token); default: the socket's ?token=.",
    )
    lastEventId: int | str | None = Field(
        default=None,
        description="Resume after this event id (a non-negative integer, or its digits); omitted: the current "
        "status first.",
    )


class Unsubscribe(Model):
    """WebSocket, client to server: stop watching a payment."""

    type: Literal["unsubscribe"]
    paymentId: Id


class Ping(Model):
    """WebSocket, client to server: answered with ``pong``."""

    type: Literal["ping"]


class Pong(Model):
    type: Literal["pong"]


class Subscribed(Model):
    """WebSocket, server to client: the subscription is live; frames follow."""

    type: Literal["SUBSCRIBED"]
    paymentId: Id


class Unsubscribed(Model):
    type: Literal["UNSUBSCRIBED"]
    paymentId: int


class Completed(Model):
    """WebSocket, server to client: the payment reached a terminal status; no more frames for it."""

    type: Literal["COMPLETED"]
    paymentId: Id


class WsError(Model):
    """WebSocket, server to client: a refused message (the socket stays open); the HTTP error object."""

    type: Literal["ERROR"]
    paymentId: int | None = Field(default=None, description="The payment the refused subscription named.")
    code: str = Field(examples=["FORBIDDEN"])
    message: str
    details: JsonValue
    correlationId: str
    timestamp: Timestamp
    retryAfter: int | None = None
    transactionId: str | None = None
    supportContact: str | None = None


class QrGeneratedData(Model):
    """A ``khqr.generated`` event's ``data``: a QR session was opened for a payment."""

    sessionId: str
    paymentId: Id
    policyNumber: str
    amount: Amount
    currency: CurrencyCode
    expiresAt: Timestamp
    occurredAt: Timestamp


class StatusEvent(Model):
    """A Kafka message value: a status event with its id (consumers drop duplicates by id)."""

    id: Id
    paymentId: Id
    type: Literal["payment.status"]
    status: Status
    occurredAt: Timestamp
    data: PaymentStatusData


class QrGeneratedEvent(Model):
    """A Kafka message value on the KHQR topic."""

    id: Id
    paymentId: Id
    type: Literal["khqr.generated"]
    status: Status
    occurredAt: Timestamp
    data: QrGeneratedData
