"""The one JSON codec of PayHub: every JSON text read or written goes through :func:`loads` / :func:`dumps`.

One set of options, so a number means the same thing everywhere (HTTP bodies, webhooks, partner answers,
stored rows, bus messages, cache entries, WebSocket frames, logs):

- Reading: a number with a fraction or an exponent becomes an exact ``decimal.Decimal`` (never a float);
  an integer stays ``int``; ``NaN``/``Infinity`` (not JSON, RFC 8259 §6) are refused. Input is bounded
  before parsing: at most :data:`MAX_BYTES` UTF-8 bytes and :data:`MAX_DEPTH` nested arrays/objects,
  so hostile input (5,000 ``[``) is a :class:`MalformedJson` instead of a ``RecursionError``; so is a
  number whose exponent is past :data:`MAX_EXPONENT` (``1e999999999999999999999``).
- Writing: compact (``","``, ``":"``), ASCII only; a ``Decimal`` is written as the exact number in plain
  notation, keeping its scale (``Decimal("150.00")`` -> ``150.00``, ``Decimal("6E+5")`` -> ``600000``), as the
  contract's amounts (``"amount": 150.00``); datetimes, dates and times in ISO 8601; enums by value;
  NaN/Infinity and any other type raise ``ValueError``/``TypeError``.

Built on simplejson, which reads and writes ``Decimal`` exactly; orjson and msgspec write a ``Decimal``
as a string or through a float, which would change the contract's ``150.00``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import simplejson

from hub.errors import MalformedJson

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_EXPONENT", "MalformedJson", "dumps", "dumps_bytes", "loads", "loads_object"]

MAX_DEPTH = 32
"""Deepest nesting of arrays/objects read; PayHub's own documents nest at most 4 deep."""
MAX_EXPONENT = 999_999_999_999_999_999
"""Largest exponent of a number read (``decimal``'s limit); a number past it is :class:`MalformedJson`."""
MAX_BYTES = 1024 * 1024
"""Largest JSON text read, in UTF-8 bytes; HTTP bodies have smaller limits of their own."""


# A string (possibly unterminated, so the scan never restarts inside one) or one bracket.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\Z)|[\[\]{}]', re.DOTALL)


def loads(data: bytes | str, *, field: str = "body") -> Any:
    """The value of the JSON text ``data`` (UTF-8 when bytes); :class:`MalformedJson` naming ``field`` if unreadable."""
    if isinstance(data, bytes | bytearray | memoryview):
        if len(data) > MAX_BYTES:
            raise MalformedJson(f"larger than {MAX_BYTES} bytes", field=field)
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJson(f"not UTF-8: {exc.reason} at byte {exc.start}", field=field) from exc
    else:
        text = data
        if len(text) > MAX_BYTES:  # characters: a lower bound of the UTF-8 size
            raise MalformedJson(f"larger than {MAX_BYTES} bytes", field=field)
    _check_depth(text, field)
    try:
        return simplejson.loads(text, parse_float=_decimal, allow_nan=False)
    except _OutOfRange as exc:
        raise MalformedJson(str(exc), field=field) from exc
    except (ValueError, RecursionError) as exc:  # JSONDecodeError; int literals past Python's digit limit
        raise MalformedJson(f"{type(exc).__name__}: {str(exc)[:200]}", field=field) from exc


def loads_object(data: bytes | str, *, field: str = "body") -> dict[str, Any]:
    """Like :func:`loads`, and the value must be a JSON object."""
    value = loads(data, field=field)
    if not isinstance(value, dict):
        raise MalformedJson(f"must be a JSON object, not {_kind(value)}", field=field)
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    """``value`` as compact JSON text (see the module docstring for how each type is written);
    with ``indent``, one member per line, for people to read."""
    separators = (",", ":") if indent is None else (",", ": ")
    return simplejson.dumps(
        value, separators=separators, indent=indent, use_decimal=False, allow_nan=False, default=_default
    )


def dumps_bytes(value: Any) -> bytes:
    """:func:`dumps` encoded as UTF-8 (ASCII, in fact)."""
    return dumps(value).encode("ascii")


class _OutOfRange(Exception):
    """Not a ValueError, so that simplejson passes it through unchanged."""


def _decimal(text: str) -> Decimal:
    # Exact (a Decimal made from text never rounds), but the exponent must fit decimal's range,
    # ±999999999999999999; JSON allows any (RFC 8259 §6), and past it Decimal raises InvalidOperation.
    try:
        return Decimal(text)
    except ArithmeticError as exc:
        shown = text if len(text) <= 24 else text[:24] + "…"
        raise _OutOfRange(f"number {shown} is out of range (exponent beyond ±{MAX_EXPONENT})") from exc


def _check_depth(text: str, field: str) -> None:
    # simplejson recurses once per level and would end in RecursionError; count first. Hand-written
    # because neither simplejson nor the stdlib parser offers a depth limit. Fast path: too few brackets.
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise MalformedJson(f"nested deeper than {MAX_DEPTH} levels", field=field)
        elif token in ("]", "}"):
            depth -= 1


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        # Plain notation keeps the scale (150.00); an absurd exponent stays short in E notation.
        text = f"{value:f}" if -64 <= value.adjusted() <= 64 else str(value)
        return simplejson.RawJSON(text)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number" if isinstance(value, int | Decimal) and not isinstance(value, bool) else "a boolean"
