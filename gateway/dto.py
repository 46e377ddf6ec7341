"""Webhook bodies from AMK, validated field by field (pydantic)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hub.domain.money import Currency, MoneyError, parse_amount, read_decimal
from hub.domain.timezones import BANGKOK, GMT7
from hub.errors import BadRequest


def _exact_number(value: Any) -> Decimal:
    # The one amount parser reads the value before pydantic can (pydantic's Decimal would take true as 1,
    # "1_000" as 1000); the currency's bounds follow in the model validator, once the currency is known.
    return read_decimal(value)


def _exact(amount: Decimal, currency: Currency, field: str) -> Decimal:
    try:
        return parse_amount(amount, currency, field=field)
    except MoneyError as exc:
        raise ValueError(f"{field}: {exc.reason}") from exc


class BillPayment(BaseModel):
    """AmkPaymentConfirmationReqDto."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: int = Field(gt=0, le=2**63 - 1, strict=True)
    policyNumber: str = Field(min_length=9, max_length=10, pattern=r"^[A-Za-z0-9]+$")
    amount: Decimal = Field(gt=0, allow_inf_nan=False)
    currency: Currency
    bankTransactionId: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-.:]+$")
    payer: str = Field(min_length=1, max_length=100)
    paidDate: datetime

    @field_validator("paidDate", mode="before")
    @classmethod
    def _paid_date(cls, value: Any) -> datetime:
        if not isinstance(value, str) or not re.fullmatch(r"\d{14}", value):
            raise ValueError("must be yyyyMMddHHmmss (GMT+7)")
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=GMT7)

    _exact_amount = field_validator("amount", mode="before")(_exact_number)

    @model_validator(mode="after")
    def _decimals(self) -> BillPayment:
        self.amount = _exact(self.amount, self.currency, "amount")
        return self


class KhqrPayment(BaseModel):
    """AmkKhqrConfirmationReqDto."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    invoice_number: str = Field(min_length=1, max_length=18, pattern=r"^[0-9]+$")  # fits a 64-bit id
    status: Literal["SUCCESS", "FAILED"]
    merchant_number: str = Field(min_length=1, max_length=32)
    paid_amount: Decimal = Field(gt=0, allow_inf_nan=False)
    currency: Currency
    paid_datetime: datetime

    @field_validator("paid_datetime", mode="before")
    @classmethod
    def _paid_datetime(cls, value: Any) -> datetime:
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}", value):
            raise ValueError("must be yyyy-MM-dd HH:mm:ss.SSSSSS (Asia/Bangkok)")
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=BANGKOK)

    _exact_amount = field_validator("paid_amount", mode="before")(_exact_number)

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
