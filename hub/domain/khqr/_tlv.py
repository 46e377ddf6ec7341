"""Low-level helpers for the KHQR codec: the error type, text rules, CRC-16 and EMVCo TLV framing.

Pure functions, standard library only.  A TLV field is ``TT LL value``: a 2-digit tag, a 2-digit
length and the value.  The length counts UTF-16 code units, as the official NBC SDK does
(``bakong-khqr`` 1.0.20 slices JavaScript strings, whose ``length`` is in UTF-16 code units):
one per character for ASCII and Khmer (both in the Basic Multilingual Plane), two for a
character outside it such as an emoji.  A value therefore holds at most 99 code units.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable

from hub.errors import KhqrError as KhqrError  # re-exported: its home was here

MAX_VALUE_LEN = 99
_DIGITS = frozenset("0123456789")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_CONTROL_OR_SURROGATE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def is_digits(text: str, length: int | None = None) -> bool:
    """True if ``text`` is non-empty, made of ASCII digits only, and has ``length`` chars if given."""
    if length is not None and len(text) != length:
        return False
    return bool(text) and all(ch in _DIGITS for ch in text)


def units(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (JavaScript's ``String.length``)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def check_text(text: str, where: str) -> None:
    """Refuse control characters (Unicode category Cc: U+0000-001F, U+007F-009F) and lone
    surrogates; everything else is text.  Khmer often carries zero-width spaces and joiners
    (category Cf), so those pass.
    """
    bad = _CONTROL_OR_SURROGATE.search(text)
    if bad is not None:
        kind = "lone surrogate" if bad.group() >= "\ud800" else "control character"
        raise KhqrError(f"{where}: {kind} {bad.group()!r} at position {bad.start()}")


def crc16_ccitt_false(data: str) -> str:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0) of ``data``.

    The checksum is computed over the UTF-8 bytes of ``data`` (as the SDK's ``crc16`` does with
    ``Buffer.from``) and returned as 4 uppercase hex digits.  ``binascii.crc_hqx`` is exactly this
    CRC when started at 0xFFFF.
    """
    try:
        raw = data.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise KhqrError("63 crc: data is not encodable as UTF-8") from exc
    return f"{binascii.crc_hqx(raw, 0xFFFF):04X}"


def tlv(tag: str, value: str, label: str | None = None) -> str:
    """Frame one field; refuses (never truncates) values longer than the length field allows."""
    size = units(value)
    if size > MAX_VALUE_LEN:
        raise KhqrError(f"{label or tag}: value is {size} characters, a TLV value holds at most {MAX_VALUE_LEN}")
    return f"{tag}{size:02d}{value}"


def template(tag: str, fields: Iterable[tuple[str, str]]) -> str:
    """Build the value of a nested template ``tag`` from its sub-fields (checked to fit in 99 units)."""
    value = "".join(tlv(sub, sub_value, f"{tag}.{sub}") for sub, sub_value in fields)
    if units(value) > MAX_VALUE_LEN:
        raise KhqrError(f"{tag}: template is {units(value)} characters, a TLV value holds at most {MAX_VALUE_LEN}")
    return value


def parse_tlv(text: str, where: str) -> list[tuple[str, str]]:
    """Split ``text`` into ``(tag, value)`` pairs, in order; ``where`` prefixes error messages.

    Tags and lengths must be two ASCII digits and every value must fit in what remains (the SDK
    reads ``parseInt`` lengths and silently shortens truncated values; we refuse both).
    """
    data = text.encode("utf-16-le", "surrogatepass")
    fields: list[tuple[str, str]] = []
    pos, end_of_text = 0, len(data) // 2
    while pos < end_of_text:
        header = data[2 * pos : 2 * pos + 8].decode("utf-16-le", "replace")
        if len(header) < 4:
            raise KhqrError(f"{where}: truncated field header {header!r} at position {pos}")
        tag, length = header[:2], header[2:]
        if not is_digits(tag, 2):
            raise KhqrError(f"{where}: invalid tag {tag!r} at position {pos} (must be 2 digits)")
        if not is_digits(length, 2):
            raise KhqrError(f"{where}: tag {tag}: invalid length field {length!r} (must be 2 digits)")
        start = pos + 4
        end = start + int(length)
        if end > end_of_text:
            left = end_of_text - start
            raise KhqrError(f"{where}: tag {tag}: truncated, declares {int(length)} characters but only {left} remain")
        try:
            fields.append((tag, data[2 * start : 2 * end].decode("utf-16-le")))
        except UnicodeDecodeError as exc:
            raise KhqrError(f"{where}: tag {tag}: length {length} splits a character in two") from exc
        pos = end
    return fields


def to_dict(fields: list[tuple[str, str]], where: str) -> dict[str, str]:
    """Index parsed fields by tag, refusing duplicates (the SDK lets the last one win)."""
    result: dict[str, str] = {}
    for tag, value in fields:
        if tag in result:
            raise KhqrError(f"{where}: duplicate tag {tag}")
        result[tag] = value
    return result


def checked_fields(text: str) -> dict[str, str]:
    """Split a whole payload into its root fields after checking characters, framing and the CRC.

    The CRC field 63 must be the last field, 4 hex digits in either case (the SDK compares it
    case-insensitively), equal to the CRC of everything before it, ``"6304"`` included.  Returns
    the root fields by tag, without the CRC field.
    """
    if not isinstance(text, str):
        raise KhqrError("payload: must be a str")
    check_text(text, "payload")
    fields = parse_tlv(text, "payload")
    root = to_dict(fields, "payload")
    crc = root.pop("63", None)
    if crc is None:
        raise KhqrError("63 crc: missing")
    if fields[-1][0] != "63":
        raise KhqrError("63 crc: must be the last field")
    if units(crc) != 4 or not _HEX4.fullmatch(crc):
        raise KhqrError(f"63 crc: must be 4 hex digits, got {crc!r}")
    expected = crc16_ccitt_false(text[:-4])
    if crc.upper() != expected:
        raise KhqrError(f"63 crc: mismatch, payload says {crc!r}, computed {expected!r}")
    return root
