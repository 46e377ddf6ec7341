"""Pure encoder/decoder for Bakong KHQR payloads (EMVCo merchant-presented QR, TLV format).

Conventions (all enforced by :func:`validate`, which both :func:`encode` and :func:`decode` use):

* Encoding field order is fixed: ``00, 01, 29|30, 52, 53, [54], 58, 59, 60, [62], [64], [99], 63``
  (the timestamps template 99 directly before the CRC, as in published bakong-khqr examples).  Decoding
  requires ``00`` first and ``63`` last and accepts the other fields in any order.
* Amount (54), canonical form: plain decimal, no exponent, no sign.  KHR is a whole number
  (``Decimal("5000")`` -> ``"5000"``); USD always has exactly two decimals (``Decimal("150")`` and
  ``Decimal("150.00")`` -> ``"150.00"``; ``Decimal("0.5")`` -> ``"0.50"``).  The 13-character limit
  applies to that form, so USD amounts are at most 9999999999.99 and KHR at most 9999999999999.
  Decoding accepts 0-2 decimals for USD and returns the Decimal quantized to the canonical
  exponent (``"150.5"`` -> ``Decimal("150.50")``), which compares equal to the encoded value.
* Lengths count characters (``len(str)``); values must be printable (``str.isprintable``); the CRC
  is CRC-16/CCITT-FALSE over the UTF-8 bytes of everything up to and including ``"6304"``.
* Decoding is strict: unknown tags, duplicate tags and empty templates are rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Context, Decimal

from hub.domain.khqr._tlv import (
    KhqrError,
    checked_fields,
    crc16_ccitt_false,
    is_digits,
    optional_sub_fields,
    required,
    sub_fields,
    template,
    tlv,
    to_dict,
)
from hub.domain.money import read_decimal

__all__ = [
    "CURRENCY_CODES",
    "AdditionalData",
    "KhqrError",
    "KhqrPayload",
    "LanguageTemplate",
    "MerchantAccount",
    "crc16_ccitt_false",
    "decode",
    "encode",
    "validate",
]

CURRENCY_CODES: dict[str, str] = {"USD": "840", "KHR": "116"}
_CURRENCY_BY_CODE = {code: name for name, code in CURRENCY_CODES.items()}
_DECIMAL_PLACES = {"USD": 2, "KHR": 0}
_MAX_AMOUNT_CHARS = 13
_TS_MIN, _TS_MAX = 10**12, 10**13 - 1  # 13-digit millisecond timestamps
_DECIMAL_CTX = Context(prec=40)
_AMOUNT_RE = re.compile(r"[0-9]+(?:\.([0-9]+))?")
_ADDITIONAL_FIELDS = (
    ("01", "bill_number"),
    ("02", "mobile_number"),
    ("03", "store_label"),
    ("07", "terminal_label"),
    ("08", "purpose"),
)
_ROOT_TAGS = ("00", "01", "29", "30", "52", "53", "54", "58", "59", "60", "62", "64", "99")


@dataclass(frozen=True)
class MerchantAccount:
    """Tag 30 (merchant account) or, with ``individual=True``, tag 29 (individual account)."""

    bakong_account_id: str
    merchant_id: str | None = None  # 01: merchant id (required for tag 30) / account information (29)
    acquiring_bank: str | None = None  # 02: required for tag 30
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
    """Tag 64 merchant information in an alternate language."""

    language: str
    merchant_name: str | None = None
    merchant_city: str | None = None


@dataclass(frozen=True)
class KhqrPayload:
    """A KHQR payload.  ``AdditionalData()`` with no field set is normalised to ``None``."""

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


# ----------------------------------------------------------------------------------------------
# Validation (single source of truth): builds the root fields in canonical order or raises.


def _text(value: object, field: str, max_len: int, min_len: int = 1) -> str:
    if not isinstance(value, str):
        raise KhqrError(f"{field}: must be a string")
    if not min_len <= len(value) <= max_len:
        raise KhqrError(f"{field}: must be {min_len}..{max_len} characters, got {len(value)}")
    for ch in value:
        if not ch.isprintable():
            raise KhqrError(f"{field}: non-printable character {ch!r}")
    return value


def _account(account: object) -> tuple[str, str]:
    if not isinstance(account, MerchantAccount) or not isinstance(account.individual, bool):
        raise KhqrError("29/30 account: must be a MerchantAccount with a bool 'individual'")
    tag = "29" if account.individual else "30"
    account_id = _text(account.bakong_account_id, f"{tag}.00 bakong_account_id", 32)
    local, _, domain = account_id.partition("@")
    if account_id.count("@") != 1 or not local or not domain:
        raise KhqrError(f"{tag}.00 bakong_account_id: must contain exactly one '@' between non-empty parts")
    subs = [("00", account_id)]
    for sub, name in (("01", "merchant_id"), ("02", "acquiring_bank")):
        value = getattr(account, name)
        if value is not None:
            subs.append((sub, _text(value, f"{tag}.{sub} {name}", 32)))
        elif not account.individual:
            raise KhqrError(f"30.{sub} {name}: required for a merchant account (tag 30)")
    return tag, template(tag, subs)


def _amount(amount: object, currency: str, dynamic: bool) -> str | None:
    if amount is None:
        if dynamic:
            raise KhqrError("54 amount: required for a dynamic QR (01=12)")
        return None
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise KhqrError("54 amount: must be a finite decimal.Decimal (never float)")
    if amount <= 0:
        raise KhqrError("54 amount: must be greater than 0")
    if amount.adjusted() >= _MAX_AMOUNT_CHARS:
        raise KhqrError(f"54 amount: at most {_MAX_AMOUNT_CHARS} characters")
    places = _DECIMAL_PLACES[currency]
    canonical = amount.quantize(Decimal(1).scaleb(-places), context=_DECIMAL_CTX)
    if canonical != amount:
        rule = "KHR amounts must be whole numbers" if places == 0 else f"at most {places} decimal places"
        raise KhqrError(f"54 amount: {rule} for {currency}, got {amount}")
    text = f"{canonical:f}"
    if len(text) > _MAX_AMOUNT_CHARS:
        raise KhqrError(f"54 amount: at most {_MAX_AMOUNT_CHARS} characters, got {text!r}")
    return text


def _additional(data: object) -> str | None:
    if data is None:
        return None
    if not isinstance(data, AdditionalData):
        raise KhqrError("62 additional data: must be an AdditionalData")
    subs = [
        (sub, _text(getattr(data, name), f"62.{sub} {name}", 25))
        for sub, name in _ADDITIONAL_FIELDS
        if getattr(data, name) is not None
    ]
    return template("62", subs) if subs else None


def _language(lang: object) -> str | None:
    if lang is None:
        return None
    if not isinstance(lang, LanguageTemplate):
        raise KhqrError("64 language template: must be a LanguageTemplate")
    subs = [("00", _text(lang.language, "64.00 language", 2, min_len=2))]
    if lang.merchant_name is not None:
        subs.append(("01", _text(lang.merchant_name, "64.01 merchant_name", 25)))
    if lang.merchant_city is not None:
        subs.append(("02", _text(lang.merchant_city, "64.02 merchant_city", 15)))
    return template("64", subs)


def _timestamp(value: object, field: str) -> int:
    if value is None:
        raise KhqrError(f"{field}: missing (creation and expiry timestamps go together)")
    if isinstance(value, bool) or not isinstance(value, int) or not _TS_MIN <= value <= _TS_MAX:
        raise KhqrError(f"{field}: must be a 13-digit millisecond timestamp, got {value!r}")
    return value


def _timestamps(created: object, expires: object, dynamic: bool) -> str | None:
    if created is None and expires is None:
        if dynamic:
            raise KhqrError("99 timestamps: required for a dynamic QR (01=12)")
        return None
    created_ms = _timestamp(created, "99.00 created_ms")
    expires_ms = _timestamp(expires, "99.01 expires_ms")
    if expires_ms <= created_ms:
        raise KhqrError("99.01 expires_ms: expiry must be after creation (99.00)")
    return template("99", [("00", str(created_ms)), ("01", str(expires_ms))])


def _fields(payload: KhqrPayload) -> list[tuple[str, str]]:
    if not isinstance(payload, KhqrPayload):
        raise KhqrError("payload: must be a KhqrPayload")
    if not isinstance(payload.dynamic, bool):
        raise KhqrError("01 point of initiation: 'dynamic' must be a bool")
    if not isinstance(payload.mcc, str) or not is_digits(payload.mcc, 4):
        raise KhqrError(f"52 merchant category code: must be 4 digits, got {payload.mcc!r}")
    if not isinstance(payload.currency, str) or payload.currency not in CURRENCY_CODES:
        raise KhqrError(f"53 currency: unknown currency {payload.currency!r} (use 'USD' or 'KHR')")
    optional = [
        ("54", _amount(payload.amount, payload.currency, payload.dynamic)),
        ("58", "KH"),
        ("59", _text(payload.merchant_name, "59 merchant_name", 25)),
        ("60", _text(payload.merchant_city, "60 merchant_city", 15)),
        ("62", _additional(payload.additional)),
        ("64", _language(payload.language)),
        ("99", _timestamps(payload.created_ms, payload.expires_ms, payload.dynamic)),
    ]
    head = [("00", "01"), ("01", "12" if payload.dynamic else "11"), _account(payload.account)]
    head += [("52", payload.mcc), ("53", CURRENCY_CODES[payload.currency])]
    return head + [(tag, value) for tag, value in optional if value is not None]


def validate(payload: KhqrPayload) -> None:
    """Raise :class:`KhqrError` unless ``payload`` satisfies every KHQR rule (and fits the TLV)."""
    _fields(payload)


def encode(payload: KhqrPayload) -> str:
    """Encode ``payload`` as a KHQR string (fixed field order, CRC last); raises KhqrError."""
    body = "".join(tlv(tag, value) for tag, value in _fields(payload)) + "6304"
    return body + crc16_ccitt_false(body)


# ----------------------------------------------------------------------------------------------
# Decoding: wire-format checks here, value rules in _fields() via validate().


def _decode_account(root: dict[str, str]) -> MerchantAccount:
    present = [tag for tag in ("29", "30") if tag in root]
    if len(present) != 1:
        found = "both" if present else "neither"
        raise KhqrError(f"29/30 merchant account: exactly one of tags 29 and 30 required, found {found}")
    tag = present[0]
    subs = sub_fields(root[tag], tag, ("00", "01", "02"))
    return MerchantAccount(
        bakong_account_id=required(subs, "00", f"{tag}.00 bakong_account_id"),
        merchant_id=subs.get("01"),
        acquiring_bank=subs.get("02"),
        individual=tag == "29",
    )


def _decode_amount(text: str | None, currency: str) -> Decimal | None:
    if text is None:
        return None
    if len(text) > _MAX_AMOUNT_CHARS:
        raise KhqrError(f"54 amount: at most {_MAX_AMOUNT_CHARS} characters, got {len(text)}")
    match = _AMOUNT_RE.fullmatch(text)
    if match is None:
        raise KhqrError(f"54 amount: not a plain decimal number: {text!r}")
    places = _DECIMAL_PLACES[currency]
    if places == 0 and match.group(1) is not None:
        raise KhqrError(f"54 amount: KHR amounts must be whole numbers (no decimal point), got {text!r}")
    if match.group(1) is not None and len(match.group(1)) > places:
        raise KhqrError(f"54 amount: at most {places} decimal places for {currency}, got {text!r}")
    # Read exactly by PayHub's one amount reader; value rules (> 0, 13 characters) follow in validate(),
    # and agree with hub.domain.money.parse_amount (tests/unit/test_amounts.py checks both).
    exact = read_decimal(text, field="54 amount")
    return exact.quantize(Decimal(1).scaleb(-places), context=_DECIMAL_CTX)


def _decode_timestamp(subs: dict[str, str] | None, sub: str, name: str) -> int | None:
    if subs is None or sub not in subs:
        return None
    if not is_digits(subs[sub], 13):
        raise KhqrError(f"99.{sub} {name}: must be 13 digits, got {subs[sub]!r}")
    return int(subs[sub])


def decode(text: str) -> KhqrPayload:
    """Parse and fully validate a KHQR string (structure, every field rule and the CRC)."""
    fields = checked_fields(text)
    if not fields or fields[0][0] != "00":
        raise KhqrError("00 payload format indicator: must be the first field")
    root = to_dict(fields, "payload", _ROOT_TAGS)
    if root["00"] != "01":
        raise KhqrError(f"00 payload format indicator: must be '01', got {root['00']!r}")
    initiation = required(root, "01", "01 point of initiation")
    if initiation not in ("11", "12"):
        raise KhqrError(f"01 point of initiation: must be '11' (static) or '12' (dynamic), got {initiation!r}")
    currency_code = required(root, "53", "53 currency")
    if currency_code not in _CURRENCY_BY_CODE:
        raise KhqrError(f"53 currency: unknown currency code {currency_code!r} (840 USD, 116 KHR)")
    currency = _CURRENCY_BY_CODE[currency_code]
    if required(root, "58", "58 country code") != "KH":
        raise KhqrError(f"58 country code: must be 'KH', got {root['58']!r}")
    additional = optional_sub_fields(root, "62", tuple(sub for sub, _ in _ADDITIONAL_FIELDS))
    language = optional_sub_fields(root, "64", ("00", "01", "02"))
    stamps = optional_sub_fields(root, "99", ("00", "01"))
    payload = KhqrPayload(
        account=_decode_account(root),
        merchant_name=required(root, "59", "59 merchant_name"),
        merchant_city=required(root, "60", "60 merchant_city"),
        currency=currency,
        amount=_decode_amount(root.get("54"), currency),
        dynamic=initiation == "12",
        mcc=required(root, "52", "52 merchant category code"),
        additional=None
        if additional is None
        else AdditionalData(**{name: additional.get(sub) for sub, name in _ADDITIONAL_FIELDS}),
        language=None
        if language is None
        else LanguageTemplate(
            language=required(language, "00", "64.00 language"),
            merchant_name=language.get("01"),
            merchant_city=language.get("02"),
        ),
        created_ms=_decode_timestamp(stamps, "00", "created_ms"),
        expires_ms=_decode_timestamp(stamps, "01", "expires_ms"),
    )
    validate(payload)
    return payload
