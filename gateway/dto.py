"""Webhook bodies from AMK, validated field by field (pydantic)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hub.domain.money import Currency, MoneyError, parse_amount
from hub.domain.timezones import BANGKOK, GMT7
from hub.errors import BadRequest


def _amount(value: Decimal, currency: Currency | None) -> Decimal:
    if currency is None:
        return value
    try:
        return parse_amount(value, currency)
    except MoneyError as exc:
        raise ValueError(str(exc)) from exc


def _not_bool(value: Any) -> Any:
    # pydantic would read true as 1: an amount must be a number, never a boolean
    if isinstance(value, bool):
        raise ValueError("must be a number")
    return value


def _exact(amount: Decimal, currency: Currency, field: str) -> Decimal:
    try:
        return _amount(amount, currency)
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from exc


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

    _no_bool = field_validator("amount", mode="before")(_not_bool)

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

    _no_bool = field_validator("paid_amount", mode="before")(_not_bool)

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
