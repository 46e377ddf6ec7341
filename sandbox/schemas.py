"""The sandbox's requests and replies as documented models (OpenAPI).

The AMK-style endpoints answer as AMK does (no PayHub envelope): ``{"code", "message", "data"?}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, JsonValue, WithJsonSchema

from hub.apidoc.types import Amount, AmountIn, CurrencyCode, CurrencyIn, Model, case_insensitive_words


class AmkError(Model):
    """An AMK-style refusal."""

    code: str = Field(examples=["UNAUTHORIZED"])
    message: str = Field(examples=["Invalid username or password"])


class SignIn(Model):
    """AMK's sign-in (spec: AMK Integration Authentication); any other property is ignored."""

    model_config = ConfigDict(extra="ignore")

    username: str = Field(examples=["payhub-sandbox"])
    password: str = Field(examples=["sandbox-password"])


class SignedIn(Model):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(gt=0, description="Seconds.", examples=[3600])


class VerifyForm(Model):
    """AMK's payment-verify form (application/x-www-form-urlencoded); ``hash`` = hex HMAC-SHA512 of the
    secret key over merchantId, storeId, terminalId, txId and timestamp joined (hub.adapters.amk.hashing)."""

    model_config = ConfigDict(extra="ignore")

    merchantId: str = Field(examples=["000000000000001"])
    storeId: str = Field(examples=["000000000000002"])
    terminalId: str = Field(examples=["00000003"])
    txId: str = Field(examples=["150001"])
    timestamp: str = Field(pattern="^[0-9]+$", description="Unix milliseconds, within 5 minutes.")
    hash: str


class VerifiedTransaction(Model):
    txId: str
    status: str = Field(examples=["PAID"], description="PAID | UNPAID | FAILED (hub.domain.records.Verification).")
    amount: Amount
    currency: CurrencyCode


class Verified(Model):
    code: Literal["00"]
    message: str
    data: VerifiedTransaction


class QrRequest(Model):
    """What PayHub's KHQR service asks AMK's QR generator for (spec: generate KHQR)."""

    model_config = ConfigDict(extra="ignore")

    invoiceNumber: str = Field(examples=["150001"])
    billNumber: str = Field(examples=["P123456789"])
    amount: AmountIn
    currency: CurrencyIn
    expiresAt: int = Field(ge=10**12, lt=10**13, description="13-digit Unix milliseconds (KHQR tag 99).")


class QrData(Model):
    qrString: str
    expiresAt: int
    qrImage: str | None = Field(default=None, description="Base64 PNG, unless switched off with qrImages.")


class QrGenerated(Model):
    code: Literal["00"]
    message: str
    data: QrData


def _words(*words: str) -> dict[str, Any]:
    """Text that is one of ``words`` in any case, or empty (the default); or null."""
    pattern = case_insensitive_words(list(words)).replace(r"^\s*(", "^(").replace(r")\s*$", ")?$")
    return {"anyOf": [{"type": "string", "pattern": pattern}, {"type": "null"}], "examples": [words[0]]}


class SimulatePay(Model):
    """``simulate/pay``: which bill or payment the sandbox bank pays, and how (``paymentId`` or ``billNumber``)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "anyOf": [
                {"required": ["paymentId"], "properties": {"paymentId": {"type": "integer"}}},
                {"required": ["billNumber"], "properties": {"billNumber": {"type": "string", "minLength": 1}}},
            ]
        },
    )

    paymentId: int | None = Field(default=None, description="Pay this payment (KHQR by default).")
    billNumber: str | None = Field(
        default=None,
        pattern="^([A-Za-z0-9]{1,10})?$",
        description="Or pay the premium due on this bill (BILL by default).",
        examples=["P123456789"],
    )
    method: Annotated[str | None, WithJsonSchema(_words("KHQR", "BILL"))] = Field(
        default=None, description="KHQR or BILL, in any case; default KHQR for a paymentId, BILL for a billNumber."
    )
    outcome: Annotated[str | None, WithJsonSchema(_words("SUCCESS", "FAILED"))] = Field(
        default=None, description="SUCCESS (default) or FAILED (KHQR only)."
    )
    duplicates: int = Field(default=0, ge=0, le=50, description="More copies of the same webhook sent at once.")
    amount: AmountIn | None = Field(default=None, description="Pay this amount instead of the one due.")
    currency: Annotated[
        str | None,
        WithJsonSchema(
            {"anyOf": [{"type": "string", "pattern": r"^(\s*([Uu][Ss][Dd]|[Kk][Hh][Rr])\s*)?$"}, {"type": "null"}]}
        ),
    ] = Field(default=None, description="Pay in this currency instead (empty or null: the premium's).")


class WebhookAttempt(Model):
    status: int | None = Field(description="The gateway's HTTP status; null when no answer came.")
    response: JsonValue = Field(default=None, description="The gateway's answer.")
    error: str | None = Field(default=None, description="Why no answer came.")


class SentWebhook(Model):
    body: JsonValue = Field(description="The webhook body as signed and sent.")
    attempts: list[WebhookAttempt]


class Simulated(Model):
    method: Literal["KHQR", "BILL"]
    transactionId: str
    webhooks: list[SentWebhook]


class PaidTransaction(Model):
    model_config = ConfigDict(extra="ignore")

    txId: str | int = Field(
        description="The bank transaction id (a bill's bankTransactionId; a KHQR payment's payment id).",
        json_schema_extra={"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]},
    )
    amount: AmountIn
    currency: CurrencyIn


_SWITCH = {"type": "boolean"}


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # absent means "leave as it is"; null is refused


class StatementEdits(Model):
    """``drop`` transaction ids the bank forgets; ``add`` transactions only the bank has; ``alter`` amounts."""

    model_config = ConfigDict(extra="ignore")

    drop: list[str] | None = Field(default=None, description="Transaction ids.")
    add: list[dict[str, JsonValue]] | None = Field(
        default=None, description='{"txId", "channel": "BILL"|"KHQR", "amount", "currency", "paidAt"?, "billNumber"?}'
    )
    alter: list[dict[str, JsonValue]] | None = Field(default=None, description='{"txId", "amount"?, "currency"?}')


class Control(Model):
    """Switches for demos and fault tests; every property optional. Checked whole before anything changes."""

    model_config = ConfigDict(extra="ignore")

    verifyAvailable: Annotated[bool | None, WithJsonSchema(_SWITCH)] = Field(
        default=None, description="false: payment-verify answers 503.", json_schema_extra=_no_default
    )
    qrImages: Annotated[bool | None, WithJsonSchema(_SWITCH)] = Field(
        default=None, description="false: the QR generator returns no PNG.", json_schema_extra=_no_default
    )
    paidTransactions: list[PaidTransaction] | None = Field(
        default=None,
        description="Transactions the bank knows as PAID (so payment-verify confirms them): register a "
        "transaction here before sending a hand-made webhook for it.",
    )
    verifyDelayS: Annotated[float | None, WithJsonSchema({"type": "number", "minimum": 0, "maximum": 10})] = Field(
        default=None,
        description="Seconds payment-verify waits before answering (a slow bank).",
        json_schema_extra=_no_default,
    )
    statement: StatementEdits | None = Field(
        default=None, description="Make the bank's settlement statement disagree with PayHub (sandbox.statements)."
    )


class ControlState(Model):
    verifyAvailable: bool
    qrImages: bool
    signIns: int = Field(ge=0)
    verifyDelayS: float = Field(ge=0)
    statementEdits: int = Field(ge=0, description="Statement edits applied by this request.")


class StatementPath(Model):
    day: str = Field(
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="The settlement day.", examples=["2025-10-07"]
    )
