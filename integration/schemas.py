"""The integration service's parameters and replies as documented models (OpenAPI)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from hub.apidoc.types import Amount, CurrencyCode, Id, Model
from integration.premiums import APPLICATION_NUMBER


class PremiumQuery(Model):
    query: str = Field(
        pattern=APPLICATION_NUMBER.pattern,
        description="Policy number or application number: 1-10 letters or digits.",
        examples=["P123456789"],
    )


class PremiumPath(Model):
    premium_id: int = Field(gt=0, le=2**63 - 1, description="The premium id.", examples=[150001])


class Contact(Model):
    phone: str | None
    email: str | None
    pushToken: str | None
    language: str | None = Field(description="km or en.")


class PremiumRecord(Model):
    """The spec's inquiry DTO plus the premium's settlement state (``hub.adapters.integration.premium_json``)."""

    id: Id
    policyNumber: str = Field(examples=["P123456789"])
    payer: str = Field(examples=["John Doe"])
    amount: Amount
    currency: CurrencyCode
    dueDate: date = Field(examples=["2025-11-15"])
    applicationNumber: str | None = Field(examples=["A000150001"])
    status: str = Field(pattern="^(DUE|PAID)$", examples=["DUE"])
    paidPaymentId: Id | None = Field(description="The payment that paid it, once PAID.")
    contact: Contact | None = Field(default=None, description="The payer's contact: to PayHub's services only.")
