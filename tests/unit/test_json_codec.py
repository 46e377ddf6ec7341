"""The one JSON codec (hub.json_codec): exact Decimals both ways, the contract's number form, bounded input."""

from __future__ import annotations

import json as stdlib_json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.domain.money import Currency
from hub.errors import BadRequest
from hub.json_codec import MAX_BYTES, MAX_DEPTH, MalformedJson, dumps, dumps_bytes, loads, loads_object

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STRUCTURES = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("150.00"), "150.00"),  # the contract's amounts keep their scale (never 150.0 or "150.00")
        (Decimal("600000"), "600000"),
        (Decimal("6E+5"), "600000"),  # plain notation
        (Decimal("0.0000001"), "0.0000001"),
        (Decimal("-0.50"), "-0.50"),
        (Decimal("1E+400"), "1E+400"),  # absurd exponents stay short (still a JSON number)
        ({"amount": Decimal("150.00"), "currency": Currency.USD}, '{"amount":150.00,"currency":"USD"}'),
        (datetime(2026, 11, 30, 12, 0, tzinfo=UTC), '"2026-11-30T12:00:00+00:00"'),
        ("ស្វាគមន៍", '"\\u179f\\u17d2\\u179c\\u17b6\\u1782\\u1798\\u1793\\u17cd"'),
    ],
)
def test_dumps_number_and_type_forms(value: Any, text: str) -> None:
    assert dumps(value) == text
    assert dumps_bytes(value) == text.encode()


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), float("nan"), float("inf")])
def test_dumps_refuses_non_numbers(value: Any) -> None:
    with pytest.raises(ValueError):
        dumps({"amount": value})


def test_dumps_refuses_unknown_types() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})


def test_loads_reads_exact_decimals_and_ints() -> None:
    value = loads(b'{"amount": 150.00, "big": 1e309, "id": 150001, "small": 0.1}')
    assert value == {"amount": Decimal("150.00"), "big": Decimal("1E+309"), "id": 150001, "small": Decimal("0.1")}
    assert str(value["amount"]) == "150.00" and isinstance(value["id"], int)


@pytest.mark.parametrize(
    "raw",
    [b"[NaN]", b"[Infinity]", b"[-Infinity]", b"\xff", b"", b"{", b"1" * 5000, b"[" * 5000, b'{"a":' * 5000],
)
def test_loads_refuses_with_malformed_json(raw: bytes) -> None:
    with pytest.raises(MalformedJson) as caught:
        loads(raw, field="bankCode")
    error = caught.value
    assert isinstance(error, BadRequest) and isinstance(error, ValueError)
    assert (error.status_code, error.code) == (400, "BAD_REQUEST")
    assert error.details == [{"field": "bankCode", "message": error.reason}]


@pytest.mark.parametrize(
    "raw", [b'{"amount": 1e999999999999999999999}', b"[1E-999999999999999999999]", b"-0e99999999999999999999999"]
)
def test_number_beyond_the_decimal_range_is_malformed_json(raw: bytes) -> None:
    # JSON allows any exponent (RFC 8259 6); ``decimal`` holds exponents up to 999999999999999999.
    # Before, decimal.InvalidOperation (an ArithmeticError) escaped: a 500 on every JSON path.
    with pytest.raises(MalformedJson, match="out of range") as caught:
        loads(raw, field="body")
    assert caught.value.details == [{"field": "body", "message": caught.value.reason}]


def test_depth_limit_is_exact() -> None:
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(MalformedJson, match="nested deeper"):
        loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    # brackets inside strings do not count, escaped quotes do not end a string
    assert loads('["' + "[" * 5000 + '\\"[["]') == ["[" * 5000 + '"[[']


def test_size_limit() -> None:
    with pytest.raises(MalformedJson, match="larger than"):
        loads(b" " * (MAX_BYTES + 1))


def test_loads_object_requires_an_object() -> None:
    assert loads_object('{"a": 1}') == {"a": 1}
    for raw in ("[]", '"x"', "null", "150", "true"):
        with pytest.raises(MalformedJson, match="must be a JSON object"):
            loads_object(raw)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=["Cs"])),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@STRUCTURES
@given(json_values)
def test_roundtrip_is_exact(value: Any) -> None:
    again = loads(dumps(value))
    assert again == value
    assert dumps(again) == dumps(value)  # Decimals keep their exact digits and scale


@STRUCTURES
@given(json_values, st.integers(0, MAX_DEPTH + 3))
def test_depth_bound_matches_the_real_nesting(value: Any, wrap: int) -> None:
    for _ in range(wrap):
        value = [value] if wrap % 2 else {"k[{": value}
    text = dumps(value)
    if _depth(value) <= MAX_DEPTH:
        assert loads(text) == value
    else:
        with pytest.raises(MalformedJson, match="nested deeper"):
            loads(text)


@FAST
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_parse_or_raise_malformed_json_only(raw: bytes) -> None:
    try:
        loads(raw)
    except MalformedJson:
        pass


@FAST
@given(st.integers(1, 6000), st.sampled_from(["[", "{", '{"a":', "[[{"]))
def test_any_nesting_parses_or_raises_malformed_json_only(n: int, opener: str) -> None:
    try:
        loads(opener * n)
    except MalformedJson:
        pass


@STRUCTURES
@given(json_values)
def test_reads_what_the_standard_library_reads(value: Any) -> None:
    # differential: the stdlib parser, with Decimal for fractions, agrees on every text we write
    text = dumps(value)
    assert loads(text) == stdlib_json.loads(text, parse_float=Decimal)
