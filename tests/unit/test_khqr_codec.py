"""Tests for the pure KHQR codec (hub.domain.khqr.codec): golden vectors, one test per rule, properties."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hub.domain.khqr.codec import (
    AdditionalData,
    KhqrError,
    KhqrPayload,
    LanguageTemplate,
    MerchantAccount,
    crc16_ccitt_false,
    decode,
    encode,
    validate,
)
from tests.unit.khqr_sdk_vectors import SDK_VECTORS

# ----------------------------------------------------------------------------------------------
# Independent reference helpers (deliberately not sharing code with the module under test).


def ref_crc(data: str) -> str:
    """Bitwise CRC-16/CCITT-FALSE over UTF-8: poly 0x1021, init 0xFFFF, no reflection, xorout 0."""
    crc = 0xFFFF
    for byte in data.encode("utf-8"):
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return f"{crc:04X}"


def units(text: str) -> int:
    """Length in UTF-16 code units (what the SDK's JavaScript ``length`` counts)."""
    return len(text.encode("utf-16-le")) // 2


def f(tag: str, value: str) -> str:
    """One TLV field: tag, 2-digit length in UTF-16 code units, value."""
    return f"{tag}{units(value):02d}{value}"


def sign(body: str) -> str:
    """Append the CRC field: '6304' plus the CRC of everything up to and including '6304'."""
    body += "6304"
    return body + ref_crc(body)


def split_root(text: str) -> list[tuple[str, str]]:
    data = text.encode("utf-16-le")
    fields = []
    pos = 0
    while pos < len(data):
        tag, length = data[pos : pos + 4].decode("utf-16-le"), int(data[pos + 4 : pos + 8].decode("utf-16-le"))
        fields.append((tag, data[pos + 8 : pos + 8 + 2 * length].decode("utf-16-le")))
        pos += 8 + 2 * length
    return fields


def test_khqr_error_is_value_error() -> None:
    assert issubclass(KhqrError, ValueError)


def test_crc_check_value() -> None:
    assert crc16_ccitt_false("123456789") == "29B1"
    assert ref_crc("123456789") == "29B1"
    assert crc16_ccitt_false("") == "FFFF"


# ----------------------------------------------------------------------------------------------
# Golden vectors, derived by hand from the field rules.

# Dynamic USD merchant QR (tag 30), encoding order 00 01 30 52 53 54 58 59 60 62 99 63:
#   00 02 "01"                                  -> 000201
#   01 02 "12" (dynamic)                        -> 010212
#   30 57 merchant account template:
#        00 19 "payhub_sandbox@amkb"            -> 0019payhub_sandbox@amkb  (23 chars)
#        01 15 "000000000000001"                -> 0115000000000000001      (19 chars)
#        02 11 "AMK Sandbox"                    -> 0211AMK Sandbox          (15 chars) = 57
#   52 04 "5999"                                -> 52045999
#   53 03 "840" (USD)                           -> 5303840
#   54 06 "150.00" (USD: always two decimals)   -> 5406150.00
#   58 02 "KH"                                  -> 5802KH
#   59 14 "PayHub Sandbox"                      -> 5914PayHub Sandbox
#   60 10 "Phnom Penh"                          -> 6010Phnom Penh
#   62 14 additional data: 01 10 "P123456789"   -> 62140110P123456789
#   99 34 timestamps:
#        00 13 "1700000000000"                  -> 00131700000000000        (17 chars)
#        01 13 "1700000900000"                  -> 01131700000900000        (17 chars) = 34
#   63 04 CRC over everything up to and including "6304"
DYNAMIC_USD_BODY = (
    "000201"
    "010212"
    "3057" "0019payhub_sandbox@amkb" "0115000000000000001" "0211AMK Sandbox"
    "52045999"
    "5303840"
    "5406150.00"
    "5802KH"
    "5914PayHub Sandbox"
    "6010Phnom Penh"
    "6214" "0110P123456789"
    "9934" "00131700000000000" "01131700000900000"
    "6304"
)  # fmt: skip
DYNAMIC_USD = KhqrPayload(
    account=MerchantAccount("payhub_sandbox@amkb", "000000000000001", "AMK Sandbox"),
    merchant_name="PayHub Sandbox",
    merchant_city="Phnom Penh",
    currency="USD",
    amount=Decimal("150.00"),
    dynamic=True,
    additional=AdditionalData(bill_number="P123456789"),
    created_ms=1_700_000_000_000,
    expires_ms=1_700_000_900_000,
)

# Static KHR individual QR (tag 29) with a Khmer language template (lengths count UTF-16 code
# units, which for Khmer are its code points):
#   00 02 "01"                                  -> 000201
#   01 02 "11" (static)                         -> 010211
#   29 37 individual account template:
#        00 17 "sandbox_user@devb"              -> 0017sandbox_user@devb    (21 chars)
#        02 12 "Sandbox Bank"                   -> 0212Sandbox Bank         (16 chars) = 37
#   52 04 "5411"                                -> 52045411
#   53 03 "116" (KHR)                           -> 5303116
#   54 05 "10000" (KHR: whole number)           -> 540510000
#   58 02 "KH"                                  -> 5802KH
#   59 08 "Sok Dara"                            -> 5908Sok Dara
#   60 09 "Siem Reap"                           -> 6009Siem Reap
#   64 28 language template:
#        00 02 "km"                             -> 0002km                   (6 chars)
#        01 08 "សុខ ដារា" (8 code points)        -> 0108សុខ ដារា             (12 chars)
#        02 06 "សៀមរាប" (6 code points)          -> 0206សៀមរាប               (10 chars) = 28
#   99 34 timestamps (an amount needs them, static or not: the SDK refuses 54 without 99)
#   63 04 CRC (over the UTF-8 bytes)
STATIC_KHR_BODY = (
    "000201"
    "010211"
    "2937" "0017sandbox_user@devb" "0212Sandbox Bank"
    "52045411"
    "5303116"
    "540510000"
    "5802KH"
    "5908Sok Dara"
    "6009Siem Reap"
    "6428" "0002km" "0108សុខ ដារា" "0206សៀមរាប"
    "9934" "00131700000000000" "01131700000900000"
    "6304"
)  # fmt: skip
STATIC_KHR = KhqrPayload(
    account=MerchantAccount("sandbox_user@devb", None, "Sandbox Bank", individual=True),
    merchant_name="Sok Dara",
    merchant_city="Siem Reap",
    currency="KHR",
    amount=Decimal("10000"),
    mcc="5411",
    language=LanguageTemplate("km", merchant_name="សុខ ដារា", merchant_city="សៀមរាប"),
    created_ms=1_700_000_000_000,
    expires_ms=1_700_000_900_000,
)


@pytest.mark.parametrize(
    ("payload", "body"),
    [(DYNAMIC_USD, DYNAMIC_USD_BODY), (STATIC_KHR, STATIC_KHR_BODY)],
    ids=["dynamic-usd-merchant", "static-khr-individual"],
)
def test_golden_vectors(payload: KhqrPayload, body: str) -> None:
    expected = body + ref_crc(body)
    assert encode(payload) == expected
    assert decode(expected) == payload


def test_golden_vector_literal_strings() -> None:
    # Pinned full strings, so a regression shared by both CRC implementations would still show.
    assert encode(DYNAMIC_USD) == (
        "00020101021230570019payhub_sandbox@amkb01150000000000000010211AMK Sandbox520459995303840"
        "5406150.005802KH5914PayHub Sandbox6010Phnom Penh62140110P123456789993400131700000000000"
        "011317000009000006304" + ref_crc(DYNAMIC_USD_BODY)
    )
    assert ref_crc(DYNAMIC_USD_BODY) == "B853"


@pytest.mark.parametrize(
    ("currency", "amount", "text"),
    [
        ("USD", Decimal("150"), "150.00"),
        ("USD", Decimal("150.00"), "150.00"),
        ("USD", Decimal("0.5"), "0.50"),
        ("USD", Decimal("1E+2"), "100.00"),
        ("USD", Decimal("1.500"), "1.50"),
        ("USD", Decimal("9999999999.99"), "9999999999.99"),
        ("KHR", Decimal("5000"), "5000"),
        ("KHR", Decimal("5000.00"), "5000"),
        ("KHR", Decimal("5E+3"), "5000"),
        ("KHR", Decimal("9999999999999"), "9999999999999"),
    ],
)
def test_canonical_amount_form(currency: str, amount: Decimal, text: str) -> None:
    payload = dataclasses.replace(STATIC_KHR, currency=currency, amount=amount)
    fields = dict(split_root(encode(payload)))
    assert fields["54"] == text
    decoded = decode(encode(payload)).amount
    assert decoded == amount
    assert str(decoded) == text


@pytest.mark.parametrize(
    ("currency_code", "text", "expected"),
    [("840", "150.5", "150.50"), ("840", "7", "7.00"), ("840", "0.01", "0.01"), ("116", "0007", "7")],
)
def test_decode_accepts_non_canonical_amounts(currency_code: str, text: str, expected: str) -> None:
    fields = [(t, currency_code if t == "53" else text if t == "54" else v) for t, v in BASE]
    amount = decode(sign("".join(f(t, v) for t, v in fields))).amount
    assert amount is not None
    assert str(amount) == expected


def test_empty_additional_data_is_omitted_and_normalised() -> None:
    payload = dataclasses.replace(DYNAMIC_USD, additional=AdditionalData())
    assert payload.additional is None
    assert "62" not in dict(split_root(encode(payload)))
    assert decode(encode(payload)) == payload


def test_maximum_lengths_are_accepted() -> None:
    payload = dataclasses.replace(
        DYNAMIC_USD,
        merchant_name="N" * 25,
        merchant_city="C" * 15,
        amount=Decimal("9999999999.99"),
        additional=AdditionalData(bill_number="B" * 25, purpose="P" * 25),
    )
    assert decode(encode(payload)) == payload


# ----------------------------------------------------------------------------------------------
# One test per rule: decoding crafted strings (with a correct CRC unless the CRC is the point).

ACCOUNT_30 = f("00", "payhub_sandbox@amkb") + f("01", "000000000000001") + f("02", "AMK Sandbox")
TIMESTAMPS = f("00", "1700000000000") + f("01", "1700000900000")
BASE: list[tuple[str, str]] = [
    ("00", "01"),
    ("01", "11"),
    ("30", ACCOUNT_30),
    ("52", "5999"),
    ("53", "840"),
    ("54", "1.50"),
    ("58", "KH"),
    ("59", "PayHub Sandbox"),
    ("60", "Phnom Penh"),
    ("99", TIMESTAMPS),
]


def raw(changes: dict[str, str | None] | None = None, extra: list[tuple[str, str]] | None = None) -> str:
    """BASE with tags replaced (None removes the tag) and extra fields appended, then signed."""
    changes = changes or {}
    fields = [(t, changes.get(t, v)) for t, v in BASE if changes.get(t, v) is not None]
    fields += [(t, v) for t, v in changes.items() if t not in dict(BASE) and v is not None]
    fields += extra or []
    return sign("".join(f(t, v) for t, v in fields if v is not None))


def test_base_fixture_is_valid() -> None:
    assert decode(raw()).amount == Decimal("1.50")
    assert decode(raw({"01": "12"})).created_ms == 1_700_000_000_000


VALID = raw()
DYNAMIC = {"01": "12"}
DECODE_ERRORS: list[tuple[str, str, str]] = [
    # CRC and framing
    ("wrong-crc", VALID[:-4] + ("0000" if VALID[-4:] != "0000" else "1111"), "63 crc: mismatch"),
    ("missing-crc", "".join(f(t, v) for t, v in BASE), "63 crc: missing"),
    ("missing-crc-empty", "", "63 crc: missing"),
    ("crc-not-last", VALID + f("62", f("01", "X")), "63 crc: must be the last field"),
    ("crc-bad-length", VALID[:-8] + "6303" + VALID[-3:], "63 crc: must be 4 hex digits"),
    ("crc-not-hex", sign("".join(f(t, v) for t, v in BASE))[:-4] + "12G4", "63 crc: must be 4 hex digits"),
    ("crc-twice", raw(extra=[("63", "ABCD")]), "duplicate tag 63"),
    ("bad-length-field", VALID.replace("5802KH", "58X2KH"), "tag 58: invalid length field 'X2'"),
    ("length-with-space", raw(extra=[("61", "x")]).replace("6101x", "61 1x"), "tag 61: invalid length field ' 1'"),
    ("bad-tag", VALID.replace("5802KH", "5A02KH"), "invalid tag '5A'"),
    ("truncated-value", VALID[:-2], "tag 63: truncated"),
    ("truncated-header", VALID + "63", "truncated field header"),
    ("truncated-nested", raw({"62": "0110P12345"}), "62: tag 01: truncated"),
    ("length-splits-emoji", raw({"62": "5001😀100"}), "62: tag 50: length 01 splits a character in two"),
    ("crc-only", sign(""), "00 payload format indicator: missing"),
    ("duplicate-tag", raw(extra=[("59", "Other")]), "duplicate tag 59"),
    ("duplicate-unknown-tag", raw(extra=[("61", "1"), ("80", "x"), ("61", "2")]), "duplicate tag 61"),
    # 00 payload format indicator and 01 point of initiation
    ("format-indicator-3-chars", raw({"00": "011"}), "00 payload format indicator: must be 1..2 characters, got 3"),
    ("format-indicator-missing", raw({"00": None}), "00 payload format indicator: missing"),
    ("bad-point-of-initiation", raw({"01": "13"}), "01 point of initiation: must be '11'"),
    ("empty-point-of-initiation", raw({"01": ""}), "01 point of initiation: must be '11'"),
    # 29/30 merchant account
    ("both-29-and-30", raw({"29": f("00", "a@b")}), "exactly one of tags 29 and 30 required, found both"),
    ("neither-29-nor-30", raw({"30": None}), "exactly one of tags 29 and 30 required, found neither"),
    ("account-id-without-at", raw({"30": ACCOUNT_30.replace("@", ".")}), "30.00 bakong_account_id: must contain '@'"),
    (
        "account-id-too-long",
        raw({"30": None, "29": f("00", "a@" + "b" * 31)}),
        "29.00 bakong_account_id: must be 1..32",
    ),
    ("account-id-missing", raw({"30": f("01", "1") + f("02", "B")}), "30.00 bakong_account_id: missing"),
    ("account-empty-template", raw({"30": ""}), "30.00 bakong_account_id: missing"),
    (
        "account-information-too-long",
        raw({"30": f("00", "a@b") + f("01", "1" * 33)}),
        "30.01 merchant_id: must be 0..32",
    ),
    ("acquiring-bank-empty", raw({"30": f("00", "a@b") + f("02", "")}), "30.02 acquiring_bank: must be 1..32"),
    # 52 merchant category code
    ("mcc-5-digits", raw({"52": "59990"}), "52 merchant category code: must be 1..4 characters"),
    ("mcc-not-digits", raw({"52": "59A9"}), "52 merchant category code: must be 1-4 digits"),
    ("mcc-negative", raw({"52": "-100"}), "52 merchant category code: must be 1-4 digits"),
    ("mcc-empty", raw({"52": ""}), "52 merchant category code: must be 1..4 characters, got 0"),
    # 53 currency and 54 amount
    ("unknown-currency", raw({"53": "978"}), "53 currency: unknown currency code '978'"),
    (
        "khr-amount-with-decimals",
        raw({"53": "116", "54": "100.5"}),
        "54 amount: KHR amounts are whole numbers",
    ),
    ("usd-3-decimals", raw({"54": "1.505"}), "54 amount: USD amounts are at most 2 decimals"),
    ("usd-11-integer-digits", raw({"54": "12345678901.5"}), "54 amount: USD amounts are at most 9999999999.99"),
    ("amount-zero", raw({"54": "0.00"}), "54 amount: must be greater than 0"),
    ("khr-amount-zero", raw({"53": "116", "54": "0"}), "54 amount: must be greater than 0"),
    ("amount-leading-dot", raw({"54": ".50"}), "54 amount: '.50' is not a decimal number"),
    ("amount-trailing-dot", raw({"54": "7."}), "54 amount: '7.' is not a decimal number"),
    ("amount-negative-exponent", raw({"54": "1E-2"}), "54 amount: must not contain '-'"),
    ("amount-14-chars", raw({"54": "12345678901.50"}), "54 amount: at most 13 characters"),
    ("khr-amount-14-chars", raw({"53": "116", "54": "12345678901234"}), "54 amount: at most 13 characters"),
    ("amount-negative", raw({"54": "-1.00"}), "54 amount: must not contain '-'"),
    ("amount-comma", raw({"54": "1,50"}), "54 amount: '1,50' is not a decimal number"),
    ("amount-dot-only", raw({"54": "."}), "54 amount: '.' is not a decimal number"),
    ("amount-empty", raw({"54": ""}), "54 amount: '' is not a decimal number"),
    ("amount-without-timestamps", raw({"99": None}), "99 timestamps: required for a dynamic QR or one with an amount"),
    ("dynamic-without-amount", raw({**DYNAMIC, "54": None}), "54 amount: required for a dynamic QR (01=12)"),
    ("dynamic-without-timestamps", raw({**DYNAMIC, "99": None}), "99 timestamps: required"),
    # 58 country, 59 name, 60 city
    ("country-4-chars", raw({"58": "KHMR"}), "58 country code: must be 1..3 characters, got 4"),
    ("missing-country", raw({"58": None}), "58 country code: missing"),
    ("name-too-long", raw({"59": "N" * 26}), "59 merchant_name: must be 1..25 characters, got 26"),
    ("name-empty", raw({"59": ""}), "59 merchant_name: must be 1..25 characters, got 0"),
    ("name-13-emoji", raw({"59": "😀" * 13}), "59 merchant_name: must be 1..25 characters, got 26"),
    ("city-too-long", raw({"60": "C" * 16}), "60 merchant_city: must be 1..15 characters, got 16"),
    ("city-missing", raw({"60": None}), "60 merchant_city: missing"),
    # 62 additional data
    ("empty-additional-field", raw({"62": "0100"}), "62.01 bill_number: must be 1..25 characters, got 0"),
    ("additional-field-too-long", raw({"62": f("08", "P" * 26)}), "62.08 purpose: must be 1..25"),
    ("additional-duplicate-sub-tag", raw({"62": f("01", "a") + f("01", "b")}), "62: duplicate tag 01"),
    # 64 language template
    ("language-3-chars", raw({"64": f("00", "kmr") + f("01", "Name")}), "64.00 language: must be 0..2 characters"),
    ("language-without-name", raw({"64": f("00", "km")}), "64.01 merchant_name: required with a language"),
    ("name-without-language", raw({"64": f("01", "Name")}), "64.00 language: required with an alternate"),
    ("name-with-empty-language", raw({"64": f("00", "") + f("01", "Name")}), "64.00 language: required with"),
    ("language-name-too-long", raw({"64": f("00", "km") + f("01", "N" * 26)}), "64.01 merchant_name"),
    ("language-city-too-long", raw({"64": f("00", "km") + f("01", "N") + f("02", "C" * 16)}), "64.02 merchant_city"),
    # 99 timestamps of a dynamic QR
    (
        "expiry-12-digits",
        raw({**DYNAMIC, "99": f("00", "1700000000000") + f("01", "170000090000")}),
        "99.01 expires_ms: a dynamic QR needs a 13-digit expiry timestamp",
    ),
    (
        "expiry-not-digits",
        raw({**DYNAMIC, "99": f("00", "1700000000000") + f("01", "17000009000x0")}),
        "99.01 expires_ms: must be digits in a dynamic QR",
    ),
    (
        "creation-not-digits",
        raw({**DYNAMIC, "99": f("00", "") + f("01", "1700000900000")}),
        "99.00 created_ms: must be digits in a dynamic QR",
    ),
    ("expiry-missing", raw({**DYNAMIC, "99": f("00", "1700000000000")}), "99.01 expires_ms: a dynamic QR needs"),
    (
        "expiry-before-creation",
        raw({**DYNAMIC, "99": f("00", "1700000900000") + f("01", "1700000000000")}),
        "99.01 expires_ms: expiry is before creation",
    ),
    # control characters
    ("control-char-nul", raw({"59": "Pay\x00Hub"}), "payload: control character '\\x00'"),
    ("control-char-newline", raw({"60": "Phnom\nPenh"}), "payload: control character '\\n'"),
    ("control-char-del", raw({"62": f("01", "P1\x7f")}), "payload: control character '\\x7f'"),
    ("control-char-c1", raw({"59": "Pay\x85Hub"}), "payload: control character '\\x85'"),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in DECODE_ERRORS], ids=[c[0] for c in DECODE_ERRORS])
def test_decode_rejects(text: str, message: str) -> None:
    with pytest.raises(KhqrError, match=re.escape(message)):
        decode(text)


# What the SDK's verify accepts and this decoder once refused (each failed before the change).
DECODE_ACCEPTS: list[tuple[str, str]] = [
    ("unknown-tag-61-postal-code", raw(extra=[("61", "12000")])),
    ("unionpay-tag-15", raw({"15": "9704360012345678"})),
    ("emvco-reserved-tags", raw(extra=[("02", "4111"), ("26", f("00", "x")), ("55", "01"), ("65", "r"), ("80", "u")])),
    ("empty-unknown-tag", raw(extra=[("61", "")])),
    ("format-indicator-not-first", sign(f("01", "11") + "".join(f(t, v) for t, v in BASE if t not in ("01",)))),
    ("format-indicator-02", raw({"00": "02"})),
    ("point-of-initiation-absent", raw({"01": None})),
    ("account-id-two-at", raw({"30": None, "29": f("00", "a@b@c")})),
    ("account-id-empty-local-part", raw({"30": None, "29": f("00", "@devb")})),
    ("merchant-without-merchant-id-and-bank", raw({"30": f("00", "a@b")})),
    ("merchant-id-empty", raw({"30": f("00", "a@b") + f("01", "") + f("02", "B")})),
    ("account-unknown-sub-tag", raw({"30": ACCOUNT_30 + f("03", "extra")})),
    ("mcc-3-digits", raw({"52": "599"})),
    ("khr-amount-zero-decimals", raw({"53": "116", "54": "100.0"})),
    ("usd-amount-with-3-zero-decimals", raw({"54": "1.500"})),
    ("amount-exponent", raw({"54": "1E+2"})),
    ("amount-with-spaces", raw({"54": " 150 "})),
    ("country-th", raw({"58": "TH"})),
    ("country-3-letters", raw({"58": "KHM"})),
    ("name-25-khmer", raw({"59": "ក" * 25})),
    ("name-12-emoji", raw({"59": "😀" * 12 + "x"})),
    ("zero-width-space", raw({"59": "Pay\u200bHub"})),
    ("zero-width-joiner-khmer", raw({"59": "ស្រី\u200dពៅ"})),
    ("line-separator", raw({"59": "Pay\u2028Hub"})),
    ("no-break-space", raw({"60": "Phnom\u00a0Penh"})),
    ("additional-empty-template", raw({"62": ""})),
    ("additional-unknown-sub-tag", raw({"62": f("05", "ref") + f("01", "P1")})),
    ("language-city-only", raw({"64": f("02", "ភ្នំពេញ")})),
    ("language-empty-template", raw({"64": ""})),
    ("language-1-char", raw({"64": f("00", "k") + f("01", "Name")})),
    ("static-timestamps-any-digits", raw({"99": f("00", "17") + f("01", "0170000000000")})),
    ("static-99-other-data", raw({"99": f("00", "39CA026411FDA") + f("68", "mmp")})),
    ("static-expiry-equals-creation", raw({"99": f("00", "1700000000000") + f("01", "1700000000000")})),
    ("dynamic-expiry-equals-creation", raw({**DYNAMIC, "99": f("00", "1700000000000") + f("01", "1700000000000")})),
    ("dynamic-expiry-leading-zeros", raw({**DYNAMIC, "99": f("00", "0001700000000000") + f("01", "01700000900000")})),
    ("dynamic-without-creation", raw({**DYNAMIC, "99": f("01", "1700000900000")})),
    (
        "lowercase-crc",
        next(t[:-4] + t[-4:].lower() for n in range(100) if re.search("[A-F]", (t := raw({"59": f"Shop {n}"}))[-4:])),
    ),
]


@pytest.mark.parametrize("text", [c[1] for c in DECODE_ACCEPTS], ids=[c[0] for c in DECODE_ACCEPTS])
def test_decode_accepts_what_the_sdk_accepts(text: str) -> None:
    decode(text)


ISSUE_7_ACLEDA = (
    "00020101021130470009khqr@aclb0111855124649170215ACLEDA Bank Plc5204599953038405802KH5907BUN MAO"
    "6010Phnom Penh6102126213020901050033164310002KM0107BUN MAO0210Phnom Penh6304E313"
)
ISSUE_7_LOWERCASE_CRC = "00020101021129190015john_smith@devb5204599953038405802KH5910John Smith6010Phnom Penh6304f714"


def test_issue_7_sdk_vector_with_postal_code_tag_61() -> None:
    payload = decode(ISSUE_7_ACLEDA)
    assert payload.account == MerchantAccount("khqr@aclb", "85512464917", "ACLEDA Bank Plc")
    assert (payload.merchant_name, payload.merchant_city, payload.currency) == ("BUN MAO", "Phnom Penh", "USD")
    assert payload.amount is None and not payload.dynamic
    assert payload.additional == AdditionalData(mobile_number="010500331")
    assert payload.language == LanguageTemplate("KM", "BUN MAO", "Phnom Penh")


def test_issue_7_lowercase_crc() -> None:
    payload = decode(ISSUE_7_LOWERCASE_CRC)
    assert payload.account == MerchantAccount("john_smith@devb", individual=True)
    assert payload.merchant_name == "John Smith"
    assert decode(ISSUE_7_LOWERCASE_CRC[:-4] + "F714") == payload


def test_real_aba_static_qr_with_bank_data_in_tag_99() -> None:
    # From the SDK's decode tests: ABA's merchant QR (tags 02 and 04 for card schemes, 62.05,
    # and tag 99 carrying a hex reference, not timestamps).
    text = next(qr for source, name, qr, _ in SDK_VECTORS if name == "Decode Test 5")
    payload = decode(text)
    assert payload.account == MerchantAccount("abaakhppxxx@abaa", "316600770110242", "abaa")
    assert (payload.currency, payload.merchant_name, payload.created_ms) == ("USD", "USD OUTLET", None)


@pytest.mark.parametrize(
    ("text", "accepted"), [(qr, ok) for *_, qr, ok in SDK_VECTORS], ids=[f"{s}: {n}" for s, n, *_ in SDK_VECTORS]
)
def test_sdk_test_vectors(text: str, accepted: bool) -> None:
    if accepted:
        decode(text)
    else:
        with pytest.raises(KhqrError):
            decode(text)


def test_decode_rejects_non_str() -> None:
    with pytest.raises(KhqrError, match="payload: must be a str"):
        decode(VALID.encode())  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# One test per rule: encoding invalid payloads (encode validates first and never truncates).


def acct(account_id: str = "a@b", merchant_id: str | None = "1", bank: str | None = "B") -> MerchantAccount:
    return MerchantAccount(account_id, merchant_id, bank)


ENCODE_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown-currency", {"currency": "EUR"}, "53 currency: unknown currency 'EUR'"),
    ("lowercase-currency", {"currency": "usd"}, "53 currency: unknown currency 'usd'"),
    (
        "khr-amount-with-decimals",
        {"currency": "KHR", "amount": Decimal("100.5")},
        "KHR amounts must be whole",
    ),
    ("usd-3-decimals", {"amount": Decimal("1.005")}, "54 amount: at most 2 decimal places for USD"),
    ("usd-tiny", {"amount": Decimal("1E-30")}, "54 amount: at most 2 decimal places for USD"),
    ("usd-amount-14-chars", {"amount": Decimal("10000000000")}, "54 amount: at most 13 characters"),
    (
        "khr-amount-14-chars",
        {"currency": "KHR", "amount": Decimal(10**13)},
        "54 amount: at most 13 characters",
    ),
    ("huge-amount", {"amount": Decimal("1E+40")}, "54 amount: at most 13 characters"),
    ("amount-zero", {"amount": Decimal("0")}, "54 amount: must be greater than 0"),
    ("amount-negative-zero", {"amount": Decimal("-0.00")}, "54 amount: must be greater than 0"),
    ("amount-negative", {"amount": Decimal("-1")}, "54 amount: must be greater than 0"),
    ("amount-float", {"amount": 1.5}, "54 amount: must be a finite decimal.Decimal"),
    ("amount-int", {"amount": 2}, "54 amount: must be a finite decimal.Decimal"),
    ("amount-nan", {"amount": Decimal("NaN")}, "54 amount: must be a finite decimal.Decimal"),
    ("amount-infinity", {"amount": Decimal("Infinity")}, "54 amount: must be a finite decimal.Decimal"),
    ("dynamic-without-amount", {"amount": None}, "54 amount: required for a dynamic QR"),
    ("name-too-long", {"merchant_name": "N" * 26}, "59 merchant_name: must be 1..25 characters, got 26"),
    ("name-empty", {"merchant_name": ""}, "59 merchant_name: must be 1..25 characters, got 0"),
    ("city-too-long", {"merchant_city": "C" * 16}, "60 merchant_city: must be 1..15 characters, got 16"),
    ("city-empty", {"merchant_city": ""}, "60 merchant_city: must be 1..15 characters, got 0"),
    ("empty-additional-field", {"additional": AdditionalData(store_label="")}, "62.03 store_label: must be"),
    (
        "additional-field-too-long",
        {"additional": AdditionalData(terminal_label="T" * 26)},
        "62.07 terminal_label: must be 1..25 characters, got 26",
    ),
    (
        "additional-template-over-99",
        {"additional": AdditionalData(*["x" * 25] * 5)},
        "62: template is 145 characters",
    ),
    ("dynamic-without-timestamps", {"created_ms": None, "expires_ms": None}, "99 timestamps: required"),
    (
        "static-amount-without-timestamps",
        {"dynamic": False, "created_ms": None, "expires_ms": None},
        "99 timestamps: required when the QR carries an amount",
    ),
    ("name-26-units-of-emoji", {"merchant_name": "😀" * 13}, "59 merchant_name: must be 1..25 characters, got 26"),
    ("timestamp-12-digits", {"created_ms": 10**12 - 1}, "99.00 created_ms: must be a 13-digit"),
    ("timestamp-14-digits", {"expires_ms": 10**13}, "99.01 expires_ms: must be a 13-digit"),
    ("timestamp-bool", {"created_ms": True}, "99.00 created_ms: must be a 13-digit"),
    ("timestamp-str", {"created_ms": "1700000000000"}, "99.00 created_ms: must be a 13-digit"),
    ("timestamp-only-creation", {"expires_ms": None}, "99.01 expires_ms: missing"),
    ("expiry-before-creation", {"expires_ms": 1_699_999_999_999}, "99.01 expires_ms: expiry must be after"),
    ("expiry-equals-creation", {"expires_ms": 1_700_000_000_000}, "99.01 expires_ms: expiry must be after"),
    ("account-id-without-at", {"account": acct("payhub.amkb")}, "30.00 bakong_account_id: must contain"),
    ("account-id-two-at", {"account": acct("a@b@c")}, "30.00 bakong_account_id: must contain exactly one"),
    ("account-id-empty-local", {"account": acct("@amkb")}, "30.00 bakong_account_id: must contain"),
    ("account-id-33-chars", {"account": acct("a@" + "b" * 31)}, "30.00 bakong_account_id: must be 1..32"),
    ("merchant-id-missing", {"account": acct(merchant_id=None)}, "30.01 merchant_id: required"),
    ("acquiring-bank-missing", {"account": acct(bank=None)}, "30.02 acquiring_bank: required"),
    ("acquiring-bank-33-chars", {"account": acct(bank="B" * 33)}, "30.02 acquiring_bank: must be 1..32"),
    ("merchant-id-empty", {"account": acct(merchant_id="")}, "30.01 merchant_id: must be 1..32"),
    (
        "account-template-over-99",
        {"account": acct("a@" + "b" * 30, "1" * 32, "B" * 32)},
        "30: template is 108 characters",
    ),
    (
        "individual-not-bool",
        {"account": MerchantAccount("a@b", individual=1)},  # type: ignore[arg-type]
        "29/30 account: must be a MerchantAccount",
    ),
    ("mcc-3-digits", {"mcc": "599"}, "52 merchant category code: must be 4 digits"),
    ("mcc-not-digits", {"mcc": "59a9"}, "52 merchant category code: must be 4 digits"),
    ("mcc-unicode-digits", {"mcc": "५९९९"}, "52 merchant category code: must be 4 digits"),
    ("dynamic-not-bool", {"dynamic": 1}, "01 point of initiation: 'dynamic' must be a bool"),
    ("language-3-chars", {"language": LanguageTemplate("kmr")}, "64.00 language: must be 2..2 characters"),
    (
        "language-name-too-long",
        {"language": LanguageTemplate("km", merchant_name="ក" * 26)},
        "64.01 merchant_name: must be 1..25 characters, got 26",
    ),
    (
        "language-without-name",
        {"language": LanguageTemplate("km", merchant_city="ភ្នំពេញ")},
        "64.01 merchant_name: must be a string",
    ),
    (
        "language-city-too-long",
        {"language": LanguageTemplate("km", merchant_name="ក", merchant_city="ក" * 16)},
        "64.02 merchant_city: must be 1..15 characters, got 16",
    ),
    ("control-char-name", {"merchant_name": "Pay\x00Hub"}, "59 merchant_name: control character"),
    ("control-char-city", {"merchant_city": "Phnom\tPenh"}, "60 merchant_city: control character"),
    (
        "control-char-bill",
        {"additional": AdditionalData(bill_number="P1\r\n")},
        "62.01 bill_number: control character",
    ),
    ("control-char-account", {"account": acct("a@b\x1b")}, "30.00 bakong_account_id: control character"),
    ("name-not-str", {"merchant_name": 42}, "59 merchant_name: must be a string"),
]


@pytest.mark.parametrize(("changes", "message"), [c[1:] for c in ENCODE_ERRORS], ids=[c[0] for c in ENCODE_ERRORS])
def test_encode_rejects(changes: dict[str, Any], message: str) -> None:
    payload = dataclasses.replace(DYNAMIC_USD, **changes)
    with pytest.raises(KhqrError, match=re.escape(message)):
        encode(payload)
    with pytest.raises(KhqrError, match=re.escape(message)):
        validate(payload)


def test_encode_rejects_non_payload() -> None:
    with pytest.raises(KhqrError, match="payload: must be a KhqrPayload"):
        encode("000201")  # type: ignore[arg-type]


def test_static_qr_without_amount_or_timestamps_is_valid() -> None:
    payload = dataclasses.replace(STATIC_KHR, amount=None)
    assert "54" not in dict(split_root(encode(payload)))
    assert decode(encode(payload)) == payload


# ----------------------------------------------------------------------------------------------
# Properties.

# Any character but controls (Cc) and surrogates: Khmer (often), zero-width ones, emoji (two units).
KHMER = st.characters(min_codepoint=0x1780, max_codepoint=0x17FF)
PRINTABLE = st.characters(exclude_categories=("Cc", "Cs")) | KHMER | st.sampled_from(["\u200b", "😀"])


def texts(min_size: int, max_size: int, alphabet: st.SearchStrategy[str] = PRINTABLE) -> st.SearchStrategy[str]:
    """``min_size..max_size`` UTF-16 code units."""
    return st.text(alphabet, min_size=min_size, max_size=max_size).filter(lambda s: min_size <= units(s) <= max_size)


def optional(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.none() | strategy


NO_AT = PRINTABLE.filter(lambda ch: ch != "@")
ACCOUNT_IDS = st.builds(lambda local, domain: f"{local}@{domain}", texts(1, 16, NO_AT), texts(1, 15, NO_AT))


def fits(*values: str | None) -> bool:
    return sum(4 + units(v) for v in values if v is not None) <= 99


@st.composite
def payloads(draw: st.DrawFn) -> KhqrPayload:
    individual = draw(st.booleans())
    account_id = draw(ACCOUNT_IDS)
    merchant_id = draw(optional(texts(1, 32)) if individual else texts(1, 32))
    bank = draw(optional(texts(1, 32)) if individual else texts(1, 32))
    assume(fits(account_id, merchant_id, bank))
    currency = draw(st.sampled_from(["USD", "KHR"]))
    if currency == "USD":
        amounts = st.decimals(Decimal("0.01"), Decimal("9999999999.99"), places=2)
    else:
        amounts = st.integers(1, 10**13 - 1).map(Decimal)
    amounts = amounts | amounts.map(Decimal.normalize)  # exponent variants compare equal
    dynamic = draw(st.booleans())
    amount = draw(amounts if dynamic else st.none() | amounts)
    created = expires = None
    if dynamic or amount is not None or draw(st.booleans()):
        created = draw(st.integers(10**12, 10**13 - 2))
        expires = draw(st.integers(created + 1, 10**13 - 1))
    extra = [draw(optional(texts(1, 25))) for _ in range(5)]
    assume(fits(*extra))
    additional = AdditionalData(*extra) if any(v is not None for v in extra) else None
    language = draw(st.none() | st.builds(LanguageTemplate, texts(2, 2), texts(1, 25), optional(texts(1, 15))))
    return KhqrPayload(
        account=MerchantAccount(account_id, merchant_id, bank, individual),
        merchant_name=draw(texts(1, 25)),
        merchant_city=draw(texts(1, 15)),
        currency=currency,
        amount=amount,
        dynamic=dynamic,
        mcc=draw(st.text("0123456789", min_size=4, max_size=4)),
        additional=additional if additional is not None else draw(st.sampled_from([None, AdditionalData()])),
        language=language,
        created_ms=created,
        expires_ms=expires,
    )


# Payload generation is slow-ish on a loaded machine (many text fields); the budget stays at 100.
PAYLOAD_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@given(st.text())
def test_crc_matches_bitwise_reference(data: str) -> None:
    assert crc16_ccitt_false(data) == ref_crc(data)


@PAYLOAD_SETTINGS
@given(payloads())
def test_roundtrip(payload: KhqrPayload) -> None:
    text = encode(payload)
    decoded = decode(text)
    assert decoded == payload
    assert encode(decoded) == text
    fields = split_root(text)
    assert fields[0] == ("00", "01")
    assert fields[-1] == ("63", ref_crc(text[:-4]))


@PAYLOAD_SETTINGS
@given(payloads(), st.data())
def test_decode_accepts_middle_fields_in_any_order(payload: KhqrPayload, data: st.DataObject) -> None:
    fields = split_root(encode(payload))
    middle = data.draw(st.permutations(fields[1:-1]))
    assert decode(sign("".join(f(t, v) for t, v in [fields[0], *middle]))) == payload


PRINTABLE_ASCII = [chr(c) for c in range(0x20, 0x7F)]


def same(text: str, pos: int, replacement: str) -> bool:
    """True if putting ``replacement`` at ``pos`` leaves the QR as it is (the CRC's case is free)."""
    if pos >= len(text) - 4:
        return replacement.upper() == text[pos].upper()
    return replacement == text[pos]


@PAYLOAD_SETTINGS
@given(payloads(), st.data())
def test_single_character_change_is_rejected(payload: KhqrPayload, data: st.DataObject) -> None:
    # ASCII-for-ASCII substitution changes exactly one byte of the UTF-8 encoding: an error burst of
    # at most 8 bits, which CRC-16/CCITT always detects, so rejection here is guaranteed (not just
    # probable). Non-ASCII substitutions change the byte length; see the exhaustive test below.
    text = encode(payload)
    pos = data.draw(st.sampled_from([i for i, ch in enumerate(text) if ch.isascii()]))
    replacement = data.draw(st.sampled_from([ch for ch in PRINTABLE_ASCII if not same(text, pos, ch)]))
    with pytest.raises(KhqrError):
        decode(text[:pos] + replacement + text[pos + 1 :])


@pytest.mark.parametrize("payload", [DYNAMIC_USD, STATIC_KHR], ids=["dynamic-usd", "static-khr"])
def test_every_single_character_change_of_golden_vectors_is_rejected(payload: KhqrPayload) -> None:
    text = encode(payload)
    replacements = [*PRINTABLE_ASCII, "ក", "é", "€", "😀"]
    for pos in range(len(text)):
        for replacement in replacements:
            if same(text, pos, replacement):
                continue
            with pytest.raises(KhqrError):
                decode(text[:pos] + replacement + text[pos + 1 :])


def test_encoding_field_order_is_fixed() -> None:
    payload = dataclasses.replace(
        DYNAMIC_USD, language=LanguageTemplate("km", merchant_name="ក"), account=acct(), mcc="5411"
    )
    tags = [tag for tag, _ in split_root(encode(payload))]
    assert tags == ["00", "01", "30", "52", "53", "54", "58", "59", "60", "62", "64", "99", "63"]
