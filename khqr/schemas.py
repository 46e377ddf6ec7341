"""The KHQR service's parameters and replies as documented models (OpenAPI)."""

from __future__ import annotations

from pydantic import Field, JsonValue

from hub.apidoc.types import Amount, CurrencyCode, Id, Model, Status, Timestamp
from khqr.service import BANK_CODE, BILL_NUMBER, MAX_WAIT_S

BANK_CODE_SCHEMA: dict[str, JsonValue] = {
    "type": "object",
    "required": ["id", "bank"],
    "properties": {
        "id": {"type": "string", "pattern": BANK_CODE.pattern, "examples": ["AMK"]},
        "bank": {"type": "string", "pattern": BANK_CODE.pattern, "examples": ["AMK"]},
    },
    "examples": [{"id": "AMK", "bank": "AMK"}],
}


class KhqrQuery(Model):
    bankCode: str = Field(
        description='The spec\'s bankCode object as JSON text: {"id":"AMK","bank":"AMK"} (AMK is the only bank: '
        "any other is 404 BANK_NOT_FOUND).",
        json_schema_extra={"contentMediaType": "application/json", "contentSchema": BANK_CODE_SCHEMA},
    )
    billNumber: str = Field(
        pattern=BILL_NUMBER.pattern,
        description="Policy or application number: 1-10 letters or digits.",
        examples=["P123456789"],
    )


class KhqrCode(Model):
    """The spec's GenerateKhqrResDto, plus the raw KHQR, its session and how to watch the payment."""

    paymentId: Id
    policyId: str = Field(examples=["P123456789"])
    customerName: str = Field(examples=["John Doe"])
    amount: Amount
    currency: CurrencyCode
    qrCode: str = Field(description="The QR as a base64 PNG image.", examples=["iVBORw0KGgoAAAANSUhEUgAAA..."])
    qrString: str = Field(
        description="The raw KHQR payload (EMVCo TLV, merchant tag 30, tag 99 timestamps, CRC-16 in tag 63)."
    )
    sessionId: str = Field(examples=["5f0c6c1de5c94a8e9b1f0d7f3c2a1b90"])
    expiresAt: Timestamp
    subscribeToken: str = Field(description="Bearer token for this payment's event stream only (JWT).")
    eventsUrl: str = Field(examples=["/api/payments/150001/events"])
    wsUrl: str = Field(examples=["/ws/payments"])


class SessionPath(Model):
    session_id: str = Field(description="The sessionId of a KHQR reply.", examples=["5f0c6c1de5c94a8e9b1f0d7f3c2a1b90"])


class SessionQuery(Model):
    wait: float | None = Field(
        default=None,
        ge=0,
        le=60,
        description=f"Long-poll: hold the request up to this many seconds (at most {MAX_WAIT_S:g} are waited) "
        "until something newer than `after` happens, the QR expires, or the session is no longer PENDING.",
    )
    after: float | None = Field(
        default=None, ge=0, description="The lastEventId the caller already has (default: the current one)."
    )


class SessionStatus(Model):
    """A QR session: PENDING until paid, EXPIRED at ``expiresAt`` (or when its payment ended unpaid)."""

    sessionId: str
    paymentId: Id
    status: str = Field(pattern="^(PENDING|PAID|EXPIRED)$", examples=["PENDING"])
    paymentStatus: Status | None
    amount: Amount
    currency: CurrencyCode
    expiresAt: Timestamp
    lastEventId: int = Field(ge=0, description="Id of the payment's last status event (0: none).")
