"""Field types and the error envelope shared by the documented models.

Each type keeps the validation of the code that reads or writes the value and states the JSON
PayHub really sends: an amount is a JSON number with the currency's decimals (``hub.domain.money``,
written exactly by ``hub.json_codec``), never a string; an id is a positive 64-bit integer.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, WithJsonSchema

from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus

MAX_ID = 2**63 - 1

Amount = Annotated[
    Decimal,
    WithJsonSchema(
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Exact decimal amount: 2 decimals for USD, whole riel for KHR.",
            "examples": [150.00],
        }
    ),
]
"""An amount as PayHub writes it: a JSON number at the currency's scale (USD 150.00, KHR 600000)."""

AmountIn = Annotated[
    Decimal,
    WithJsonSchema(
        {
            "description": "A JSON number (or its text), exact, positive, with at most the currency's decimals "
            "(2 for USD, 0 for KHR); read by the one amount parser (hub.domain.money).",
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?\s*$", "maxLength": 64},
            ],
            "examples": [150.00],
        }
    ),
]
"""An amount as PayHub reads it from a partner: the number, or the same number as text."""

CurrencyCode = Annotated[Currency, Field(description="ISO 4217 alphabetic code.", examples=["USD"])]

CURRENCY_IN_PATTERN = r"^\s*([Uu][Ss][Dd]|[Kk][Hh][Rr])\s*$"
CurrencyIn = Annotated[
    Currency,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": CURRENCY_IN_PATTERN,
            "description": "USD or KHR (read in any case, surrounding spaces ignored).",
            "examples": ["USD"],
        }
    ),
]

Id = Annotated[int, Field(gt=0, le=MAX_ID, description="A positive 64-bit integer id.", examples=[150001])]
Status = Annotated[PaymentStatus, Field(description="The payment's status (hub.domain.payment).")]
Method = Annotated[PaymentMethod, Field(description="How the customer pays: a KHQR code or a bill payment.")]
Timestamp = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 / RFC 3339 date and time with its offset.",
            "examples": ["2025-10-07T12:00:00+07:00"],
        }
    ),
]


class Model(BaseModel):
    """Base of the documented models: unknown properties are refused (``additionalProperties: false``)."""

    model_config = ConfigDict(extra="forbid")


class ErrorObject(Model):
    """The error object of the contract's envelope (``hub.http.envelope.error_body``)."""

    code: str = Field(description="The spec's error code (hub.errors); one of those the operation lists.")
    message: str = Field(description="Safe to show to the caller.", examples=["Resource not found"])
    details: JsonValue = Field(description="What exactly was refused: field errors, ids, limits; or null.")
    correlationId: str = Field(description="Also in the X-Correlation-ID header.", examples=["req-12345-67890"])
    timestamp: Timestamp
    retryAfter: int | None = Field(
        default=None, ge=0, description="Seconds to wait before retrying (also the Retry-After header)."
    )
    transactionId: str | None = Field(
        default=None, description="The bank transaction the error is about, when one is known (spec)."
    )
    supportContact: str | None = Field(
        default=None, description="Whom the payer contacts, on payment errors (spec; PAYHUB_SUPPORT_CONTACT)."
    )


class ErrorEnvelope(Model):
    """``{"success": false, "error": {…}}``: every refusal PayHub answers."""

    success: Literal[False]
    error: ErrorObject


def error_example(code: str, message: str, details: Any = None, retry_after: int | None = None) -> dict[str, Any]:
    """An example envelope for ``code`` (the spec's example values: correlation id, timestamp)."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "details": details,
        "correlationId": "req-12345-67890",
        "timestamp": "2025-10-07T12:00:00Z",
    }
    if retry_after is not None:
        error["retryAfter"] = retry_after
    return {"success": False, "error": error}


def case_insensitive_words(words: list[str]) -> str:
    """An ECMA-262 pattern (JSON Schema's regex dialect has no ``(?i)``) for any of ``words`` in any case,
    with surrounding spaces, and a space or hyphen (or several) where a word has ``_``."""

    def word(w: str) -> str:
        return "".join(r"[\s\-]+" if c == "_" else f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in w)

    return r"^\s*(" + "|".join(word(w) for w in words) + r")\s*$"
