"""The decoded form of a KHQR payload (pure data; :mod:`hub.domain.khqr.codec` encodes and decodes it)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

CURRENCY_CODES: dict[str, str] = {"USD": "840", "KHR": "116"}  # tag 53, ISO 4217 numeric


@dataclass(frozen=True)
class MerchantAccount:
    """Tag 30 (merchant account) or, with ``individual=True``, tag 29 (individual account)."""

    bakong_account_id: str
    merchant_id: str | None = None  # 01: merchant id (tag 30) / account information (tag 29)
    acquiring_bank: str | None = None  # 02: required by the encoder for tag 30
    individual: bool = False


@dataclass(frozen=True)
class AdditionalData:
    """Tag 62 additional data template; every field is optional but never empty."""

    bill_number: str | None = None
    mobile_number: str | None = None
    store_label: str | None = None
    terminal_label: str | None = None
    purpose: str | None = None


@dataclass(frozen=True)
class LanguageTemplate:
    """Tag 64 merchant information in an alternate language.

    The encoder requires ``language`` (2 characters, ISO 639-1); a decoded template may lack it
    when it only carries the city (02), which the SDK accepts.
    """

    language: str | None
    merchant_name: str | None = None
    merchant_city: str | None = None


@dataclass(frozen=True)
class KhqrPayload:
    """A KHQR payload.  ``AdditionalData()`` with no field set is normalised to ``None``.

    Amounts are ``Decimal`` at the currency's exponent (see :mod:`hub.domain.khqr._amount`); timestamps are
    milliseconds since the epoch (tag 99).
    """

    account: MerchantAccount
    merchant_name: str
    merchant_city: str
    currency: str  # "USD" or "KHR"
    amount: Decimal | None = None
    dynamic: bool = False
    mcc: str = "5999"
    additional: AdditionalData | None = None
    language: LanguageTemplate | None = None
    created_ms: int | None = None
    expires_ms: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.additional, AdditionalData) and self.additional == AdditionalData():
            object.__setattr__(self, "additional", None)  # encodes to nothing, decodes to None
