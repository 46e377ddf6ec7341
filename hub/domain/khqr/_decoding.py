"""KHQR decoding with the acceptance rules of the official NBC SDK.

Source: npm ``bakong-khqr`` 1.0.20, ``BakongKHQR.verify`` (``src/index.js``) and
``decodeKHQRValidation`` (``src/controller/decodeValidation.js``) with the field classes of
``src/MerchantCode``.  What it accepts, we accept:

* fields in any order, the CRC last in either case; the tags it does not read are skipped
  (15 UnionPay, the other payment networks' 02-51, 55-57, 61 postal code, EMVCo's reserved
  65-79 and the unreserved templates 80-98), and so are unknown sub-tags inside the templates
  29/30, 62, 64 and 99;
* 00 of 1-2 characters; 01 absent (static) or ``11``/``12``; 52 of 1-4 digits; 53 ``116`` or
  ``840``; 58 of 1-3 characters; 59 1-25; 60 1-15; account id 1-32 with an ``@``; 29/30 sub-field
  01 0-32, 02 1-32; 62 sub-fields 01/02/03/07/08 of 1-25; 64: 00 of 1-2 (required with 01),
  01 1-25, 02 1-15; an empty template 62/64 is as good as none.
* a QR with an amount, or dynamic (01=12), has the template 99; a dynamic one also an amount and
  a 13-digit expiry no earlier than its creation.  Whether it has passed is for the caller.  In
  a static QR, 99 may carry a bank's own data.

Deliberate differences (each listed with its reason in tests/unit/test_khqr_sdk_differential.py):
duplicate tags, tags or lengths that are not two digits, truncated values, a length that splits
a character, lone surrogates, control characters, both 29 and 30, non-numeric amounts or amounts finer than the
currency's minor unit, and non-numeric timestamps in a dynamic QR are refused; tag 99 is
checked wherever it is.
"""

from __future__ import annotations

from hub.domain.khqr._amount import parse_amount
from hub.domain.khqr._tlv import KhqrError, checked_fields, is_digits, parse_tlv, to_dict, units
from hub.domain.khqr.payload import CURRENCY_CODES, AdditionalData, KhqrPayload, LanguageTemplate, MerchantAccount

_CURRENCY_BY_CODE = {code: name for name, code in CURRENCY_CODES.items()}
_ADDITIONAL_NAMES = {
    "01": "bill_number",
    "02": "mobile_number",
    "03": "store_label",
    "07": "terminal_label",
    "08": "purpose",
}
_TIMESTAMP_DIGITS = 13


def _sized(fields: dict[str, str], tag: str, label: str, max_len: int, min_len: int = 1) -> str | None:
    """The value of ``tag`` if present, checked to be ``min_len..max_len`` UTF-16 code units."""
    value = fields.get(tag)
    if value is not None and not min_len <= units(value) <= max_len:
        raise KhqrError(f"{label}: must be {min_len}..{max_len} characters, got {units(value)}")
    return value


def _required(fields: dict[str, str], tag: str, label: str, max_len: int) -> str:
    value = _sized(fields, tag, label, max_len)
    if value is None:
        raise KhqrError(f"{label}: missing")
    return value


def _subs(root: dict[str, str], tag: str) -> dict[str, str]:
    return to_dict(parse_tlv(root.get(tag, ""), tag), tag)


def _account(root: dict[str, str]) -> MerchantAccount:
    present = [tag for tag in ("29", "30") if tag in root]
    if len(present) != 1:
        found = "both" if present else "neither"
        raise KhqrError(f"29/30 merchant account: exactly one of tags 29 and 30 required, found {found}")
    tag = present[0]
    subs = _subs(root, tag)
    account_id = _required(subs, "00", f"{tag}.00 bakong_account_id", 32)
    if "@" not in account_id:
        raise KhqrError(f"{tag}.00 bakong_account_id: must contain '@'")
    return MerchantAccount(
        bakong_account_id=account_id,
        merchant_id=_sized(subs, "01", f"{tag}.01 merchant_id", 32, min_len=0),
        acquiring_bank=_sized(subs, "02", f"{tag}.02 acquiring_bank", 32),
        individual=tag == "29",
    )


def _additional(root: dict[str, str]) -> AdditionalData | None:
    subs = _subs(root, "62")
    values = {name: _sized(subs, sub, f"62.{sub} {name}", 25) for sub, name in _ADDITIONAL_NAMES.items()}
    return AdditionalData(**values)  # all None -> normalised to None by KhqrPayload


def _language(root: dict[str, str]) -> LanguageTemplate | None:
    subs = _subs(root, "64")
    language = _sized(subs, "00", "64.00 language", 2, min_len=0)
    name = _sized(subs, "01", "64.01 merchant_name", 25)
    city = _sized(subs, "02", "64.02 merchant_city", 15)
    if name is None and language:
        raise KhqrError("64.01 merchant_name: required with a language preference (64.00)")
    if name is not None and not language:
        raise KhqrError("64.00 language: required with an alternate merchant name (64.01)")
    if name is None and city is None:
        return None
    return LanguageTemplate(language=language or None, merchant_name=name, merchant_city=city)


def _timestamps(root: dict[str, str], dynamic: bool) -> tuple[int | None, int | None]:
    """Tag 99 of a dynamic QR: 13-digit expiry, creation (if any) digits and not later.

    In a static QR the SDK does not look into tag 99, and banks use it for other data (ABA puts
    a hex reference in 99.00), so there a value that is not digits is simply not a timestamp.
    """
    subs = _subs(root, "99")
    stamps: list[int | None] = []
    for sub, name in (("00", "created_ms"), ("01", "expires_ms")):
        text = subs.get(sub)
        if dynamic and text is not None and not is_digits(text):
            raise KhqrError(f"99.{sub} {name}: must be digits in a dynamic QR, got {text!r}")
        stamps.append(int(text) if text is not None and is_digits(text) else None)
    created, expires = stamps
    if dynamic:
        if expires is None or len(str(expires)) != _TIMESTAMP_DIGITS:
            raise KhqrError("99.01 expires_ms: a dynamic QR needs a 13-digit expiry timestamp")
        if created is not None and expires < created:
            raise KhqrError("99.01 expires_ms: expiry is before creation (99.00)")
    return created, expires


def decode(text: str) -> KhqrPayload:
    """Parse a KHQR string and check it as the SDK's ``verify`` does (see the module docstring).

    Returns the payload's fields (unknown tags dropped); raises :class:`KhqrError` naming the
    field and the rule broken.
    """
    root = checked_fields(text)
    _required(root, "00", "00 payload format indicator", 2)
    initiation = root.get("01")
    if initiation is not None and initiation not in ("11", "12"):
        raise KhqrError(f"01 point of initiation: must be '11' (static) or '12' (dynamic), got {initiation!r}")
    dynamic = initiation == "12"
    account = _account(root)
    mcc = _required(root, "52", "52 merchant category code", 4)
    if not is_digits(mcc):
        raise KhqrError(f"52 merchant category code: must be 1-4 digits, got {mcc!r}")
    currency_code = _required(root, "53", "53 currency", 3)
    if currency_code not in _CURRENCY_BY_CODE:
        raise KhqrError(f"53 currency: unknown currency code {currency_code!r} (840 USD, 116 KHR)")
    currency = _CURRENCY_BY_CODE[currency_code]
    amount_text = root.get("54")
    if dynamic and amount_text is None:
        raise KhqrError("54 amount: required for a dynamic QR (01=12)")
    if (dynamic or amount_text is not None) and "99" not in root:
        raise KhqrError("99 timestamps: required for a dynamic QR or one with an amount (54)")
    _required(root, "58", "58 country code", 3)
    created, expires = _timestamps(root, dynamic)
    return KhqrPayload(
        account=account,
        merchant_name=_required(root, "59", "59 merchant_name", 25),
        merchant_city=_required(root, "60", "60 merchant_city", 15),
        currency=currency,
        amount=None if amount_text is None else parse_amount(amount_text, currency),
        dynamic=dynamic,
        mcc=mcc,
        additional=_additional(root),
        language=_language(root),
        created_ms=created,
        expires_ms=expires,
    )
