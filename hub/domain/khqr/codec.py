"""Pure encoder/decoder for Bakong KHQR payloads (EMVCo merchant-presented QR, TLV format).

Two sets of rules, on purpose:

* :func:`encode` (and :func:`validate`) write canonical output only, in the fixed order
  ``00, 01, 29|30, 52, 53, [54], 58, 59, 60, [62], [64], [99], 63`` with an uppercase CRC, and
  only what the official NBC SDK (npm ``bakong-khqr`` 1.0.20, ``BakongKHQR.verify``) accepts:
  an amount needs the timestamps template 99, a dynamic QR (01=12) needs both.
* :func:`decode` accepts what that SDK's ``verify`` accepts (any field order, unknown tags,
  lowercase CRC, ...) and refuses what it refuses, except a short list of deliberate
  differences (duplicate tags, malformed lengths, non-numeric amounts, ...), see
  :mod:`hub.domain.khqr._decoding`.  Expiry is not judged here: PayHub compares it with its own clock.

Lengths count UTF-16 code units as the SDK does (characters, for ASCII and Khmer); the CRC is
CRC-16/CCITT-FALSE over the UTF-8 bytes of everything up to and including ``"6304"``.
"""

from __future__ import annotations

from hub.domain.khqr._amount import format_amount
from hub.domain.khqr._decoding import decode
from hub.domain.khqr._tlv import KhqrError, check_text, crc16_ccitt_false, is_digits, template, tlv, units
from hub.domain.khqr.payload import CURRENCY_CODES, AdditionalData, KhqrPayload, LanguageTemplate, MerchantAccount

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

_TS_MIN, _TS_MAX = 10**12, 10**13 - 1  # 13-digit millisecond timestamps
_ADDITIONAL_FIELDS = (
    ("01", "bill_number"),
    ("02", "mobile_number"),
    ("03", "store_label"),
    ("07", "terminal_label"),
    ("08", "purpose"),
)


def _text(value: object, field: str, max_len: int, min_len: int = 1) -> str:
    if not isinstance(value, str):
        raise KhqrError(f"{field}: must be a string")
    if not min_len <= units(value) <= max_len:
        raise KhqrError(f"{field}: must be {min_len}..{max_len} characters, got {units(value)}")
    check_text(value, field)
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
    return format_amount(amount, currency)


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
    # The SDK refuses a language preference without the alternate merchant name.
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


def _timestamps(created: object, expires: object, dynamic: bool, amount: object) -> str | None:
    if created is None and expires is None:
        if dynamic:
            raise KhqrError("99 timestamps: required for a dynamic QR (01=12)")
        if amount is not None:
            raise KhqrError("99 timestamps: required when the QR carries an amount (54), as the SDK requires")
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
        ("99", _timestamps(payload.created_ms, payload.expires_ms, payload.dynamic, payload.amount)),
    ]
    head = [("00", "01"), ("01", "12" if payload.dynamic else "11"), _account(payload.account)]
    head += [("52", payload.mcc), ("53", CURRENCY_CODES[payload.currency])]
    return head + [(tag, value) for tag, value in optional if value is not None]


def validate(payload: KhqrPayload) -> None:
    """Raise :class:`KhqrError` unless :func:`encode` can write ``payload`` canonically."""
    _fields(payload)


def encode(payload: KhqrPayload) -> str:
    """Encode ``payload`` as a KHQR string (fixed field order, uppercase CRC last); raises KhqrError."""
    body = "".join(tlv(tag, value) for tag, value in _fields(payload)) + "6304"
    return body + crc16_ccitt_false(body)
