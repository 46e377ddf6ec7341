"""Webhook bodies from AMK, validated field by field (pydantic)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, field_validator, model_validator

from hub.apidoc.types import AmountIn, CurrencyIn, case_insensitive_words
from hub.domain.money import Currency, MoneyError, parse_amount, parse_currency, read_decimal
from hub.domain.timezones import BANGKOK, GMT7
from hub.errors import BadRequest


def _exact_number(value: Any) -> Decimal:
    # The one amount parser reads the value before pydantic can (pydantic's Decimal would take true as 1,
    # "1_000" as 1000); the currency's bounds follow in the model validator, once the currency is known.
    return read_decimal(value)


def _currency(value: Any) -> Currency:
    # The one currency parser, as for every other amount that enters PayHub ("usd", " USD" are USD).
    return parse_currency(value)


def _exact(amount: Decimal, currency: Currency, field: str) -> Decimal:
    try:
        return parse_amount(amount, currency, field=field)
    except MoneyError as exc:
        raise ValueError(f"{field}: {exc.reason}") from exc


# The JSON Schemas of the fields whose readers accept more than pydantic's default schema says
# (hub.apidoc: the OpenAPI document shows what the gateway really accepts).
PAID_DATE_SCHEMA = {
    "type": "string",
    "description": "yyyyMMddHHmmss in GMT+7, a real date and time (the same 14 digits as a JSON integer are "
    "read alike).",
    "pattern": r"^\s*[0-9]{4}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]\s*$",
    "examples": ["20251007120000"],
}
INVOICE_NUMBER_SCHEMA = {
    "description": "PayHub's payment id, or the bill id the inquiry returned: 1-18 digits (a JSON integer is "
    "read as its digits).",
    "anyOf": [
        {"type": "string", "pattern": r"^\s*[0-9]{1,18}\s*$"},
        {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
    ],
    "examples": ["150001"],
}
PAID_DATETIME_SCHEMA = {
    "type": "string",
    "description": "yyyy-MM-dd HH:mm:ss[.fraction][offset]; Asia/Bangkok when no offset is given.",
    "pattern": r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.,][0-9]{0,9})?"
    r"(\s*([Zz]|[+-][0-9]{2}(:?[0-9]{2})?))?\s*$",
    "examples": ["2025-10-07 12:00:00.123456"],
}


class BillPayment(BaseModel):
    """AmkPaymentConfirmationReqDto."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: int = Field(gt=0, le=2**63 - 1, strict=True, examples=[150001])
    policyNumber: str = Field(min_length=9, max_length=10, pattern=r"^[A-Za-z0-9]+$", examples=["P123456789"])
    amount: AmountIn = Field(gt=0, allow_inf_nan=False)
    currency: CurrencyIn
    bankTransactionId: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-.:]+$", examples=["AMK202510070001"]
    )
    payer: str = Field(min_length=1, max_length=100, examples=["John Doe"])
    paidDate: Annotated[datetime, WithJsonSchema(PAID_DATE_SCHEMA)]

    @field_validator("paidDate", mode="before")
    @classmethod
    def _paid_date(cls, value: Any) -> datetime:
        # The same 14 digits as a JSON integer, or with surrounding whitespace, are the same instant.
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            value = value.strip()
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]{14}", value):
            raise ValueError("must be yyyyMMddHHmmss (GMT+7)")
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=GMT7)

    _exact_amount = field_validator("amount", mode="before")(_exact_number)
    _read_currency = field_validator("currency", mode="before")(_currency)

    @model_validator(mode="after")
    def _decimals(self) -> BillPayment:
        self.amount = _exact(self.amount, self.currency, "amount")
        return self


class KhqrStatus(StrEnum):
    """What a KHQR webhook reports, reduced to what PayHub does with it."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


# The spec names SUCCESS and FAILED, and its flow has a "Payment Failed/Timeout Webhook": every
# word a bank uses for "no money moved" is a failure. Compared after upper-casing and turning
# spaces and hyphens into underscores.
_SUCCESS_WORDS = frozenset({"SUCCESS", "SUCCESSFUL", "SUCCEEDED", "PAID", "COMPLETED"})
_FAILURE_WORDS = frozenset(
    {
        "FAILED",
        "FAIL",
        "FAILURE",
        "TIMEOUT",
        "TIMED_OUT",
        "EXPIRED",
        "CANCELLED",
        "CANCELED",
        "DECLINED",
        "REJECTED",
    }
)


KHQR_STATUS_SCHEMA = {
    "type": "string",
    "description": "SUCCESS or FAILED; also read, in any case, with spaces or hyphens for underscores: "
    + ", ".join(sorted((_SUCCESS_WORDS | _FAILURE_WORDS) - {"SUCCESS", "FAILED"})),
    "pattern": case_insensitive_words(sorted(_SUCCESS_WORDS | _FAILURE_WORDS)),
    "examples": ["SUCCESS"],
}


def parse_khqr_status(value: Any) -> KhqrStatus:
    """The one reader of a KHQR webhook's ``status``: any case, success or failure words.

    Raises ValueError (400 naming ``status``) only for a word that says neither.
    """
    if not isinstance(value, str):
        raise ValueError("must be a string (SUCCESS, FAILED, TIMEOUT, EXPIRED, CANCELLED, ...)")
    word = re.sub(r"[\s\-]+", "_", value.strip()).upper()
    if word in _SUCCESS_WORDS:
        return KhqrStatus.SUCCESS
    if word in _FAILURE_WORDS:
        return KhqrStatus.FAILED
    raise ValueError(f"unknown status {value[:40]!r}: expected SUCCESS, or FAILED, TIMEOUT, EXPIRED, CANCELLED")


# yyyy-MM-dd HH:mm:ss with 0-9 fraction digits, "T" or a space between date and time, and an
# optional ISO-8601 offset (Z, +07:00, +0700, +07). The spec writes exactly 6 digits, Asia/Bangkok.
_PAID_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{0,9}))?"
    r"(?:\s*(Z|[+-]\d{2}(?::?\d{2})?))?",
    re.IGNORECASE,
)


def parse_paid_datetime(value: Any) -> datetime:
    """The one reader of a KHQR ``paid_datetime``; returns an aware datetime.

    Without an offset the time is Asia/Bangkok (spec AmkKhqrConfirmationReqDto). Fractions of
    more than 6 digits are truncated to microseconds (Python's resolution), never rounded up.
    Raises ValueError (400 naming ``paid_datetime``) for text that is not such a date and time.
    """
    match = _PAID_DATETIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError("must be yyyy-MM-dd HH:mm:ss[.fraction][offset] (Asia/Bangkok when no offset)")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int((match.group(7) or "").ljust(6, "0")[:6])
    tz: Any = BANGKOK
    if match.group(8):
        tz = _offset(match.group(8))
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as exc:
        raise ValueError(f"not a real date and time: {exc}") from exc


def _offset(text: str) -> timezone:
    if text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"offset {text!r} out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _invoice_text(value: Any) -> Any:
    """A JSON integer ``invoice_number`` is read as its decimal text (the spec writes a string; a
    bank sending the number means the same id). Anything else goes to the field's own checks,
    which refuse booleans, fractions, signs and exponents (400 naming ``invoice_number``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class KhqrPayment(BaseModel):
    """AmkKhqrConfirmationReqDto."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    invoice_number: Annotated[str, WithJsonSchema(INVOICE_NUMBER_SCHEMA)] = Field(
        min_length=1,
        max_length=18,
        pattern=r"^[0-9]+$",  # fits a 64-bit id
    )
    status: Annotated[KhqrStatus, WithJsonSchema(KHQR_STATUS_SCHEMA)]
    merchant_number: str = Field(min_length=1, max_length=32, examples=["000000000000001"])
    paid_amount: AmountIn = Field(gt=0, allow_inf_nan=False)
    currency: CurrencyIn
    paid_datetime: Annotated[datetime, WithJsonSchema(PAID_DATETIME_SCHEMA)]

    _status = field_validator("status", mode="before")(parse_khqr_status)
    _invoice_number = field_validator("invoice_number", mode="before")(_invoice_text)
    _paid_datetime = field_validator("paid_datetime", mode="before")(parse_paid_datetime)

    _exact_amount = field_validator("paid_amount", mode="before")(_exact_number)
    _read_currency = field_validator("currency", mode="before")(_currency)

    @model_validator(mode="after")
    def _decimals(self) -> KhqrPayment:
        self.paid_amount = _exact(self.paid_amount, self.currency, "paid_amount")
        return self


def parse(model: type[BillPayment] | type[KhqrPayment], data: dict[str, Any]) -> Any:
    """Validate, turning pydantic's errors into BAD_REQUEST with one entry per field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = []
        for e in exc.errors(include_url=False):
            field = ".".join(str(p) for p in e["loc"]) or _field_from(e["msg"])
            details.append({"field": field, "message": e["msg"].removeprefix("Value error, ")})
        raise BadRequest("Invalid webhook body", details=details) from exc


def _field_from(message: str) -> str:
    # model-level errors name their field first ("amount: …")
    text = message.removeprefix("Value error, ")
    return text.split(":", 1)[0] if ":" in text else "body"
