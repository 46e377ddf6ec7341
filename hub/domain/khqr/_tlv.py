"""Low-level helpers for the KHQR codec: the error type, CRC-16 and EMVCo TLV framing.

Pure functions, standard library only.  A TLV field is ``TT LL value``: a 2-digit tag, a 2-digit
length and the value, where the length counts *characters* (``len(str)``), so a value holds at
most 99 characters.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_VALUE_LEN = 99
_DIGITS = frozenset("0123456789")


class KhqrError(ValueError):
    """Invalid KHQR payload or field; the message names the field/tag and the rule broken."""


def is_digits(text: str, length: int | None = None) -> bool:
    """True if ``text`` is non-empty, made of ASCII digits only, and has ``length`` chars if given."""
    if length is not None and len(text) != length:
        return False
    return bool(text) and all(ch in _DIGITS for ch in text)


def _make_crc_table() -> tuple[int, ...]:
    table: list[int] = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc16_ccitt_false(data: str) -> str:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0) of ``data``.

    The checksum is computed over the UTF-8 bytes of ``data`` (identical to the characters for
    ASCII) and returned as 4 uppercase hex digits.
    """
    try:
        raw = data.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise KhqrError("63 crc: data is not encodable as UTF-8") from exc
    crc = 0xFFFF
    for byte in raw:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ byte) & 0xFF]
    return f"{crc:04X}"


def tlv(tag: str, value: str, label: str | None = None) -> str:
    """Frame one field; refuses (never truncates) values longer than the length field allows."""
    if len(value) > MAX_VALUE_LEN:
        raise KhqrError(f"{label or tag}: value is {len(value)} characters, a TLV value holds at most {MAX_VALUE_LEN}")
    return f"{tag}{len(value):02d}{value}"


def template(tag: str, fields: Iterable[tuple[str, str]]) -> str:
    """Build the value of a nested template ``tag`` from its sub-fields (checked to fit in 99 chars)."""
    value = "".join(tlv(sub, sub_value, f"{tag}.{sub}") for sub, sub_value in fields)
    if len(value) > MAX_VALUE_LEN:
        raise KhqrError(f"{tag}: template is {len(value)} characters, a TLV value holds at most {MAX_VALUE_LEN}")
    return value


def parse_tlv(text: str, where: str) -> list[tuple[str, str]]:
    """Split ``text`` into ``(tag, value)`` pairs, in order; ``where`` prefixes error messages."""
    fields: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        header = text[pos : pos + 4]
        if len(header) < 4:
            raise KhqrError(f"{where}: truncated field header {header!r} at position {pos}")
        tag, length = header[:2], header[2:]
        if not is_digits(tag, 2):
            raise KhqrError(f"{where}: invalid tag {tag!r} at position {pos} (must be 2 digits)")
        if not is_digits(length, 2):
            raise KhqrError(f"{where}: tag {tag}: invalid length field {length!r} (must be 2 digits)")
        start = pos + 4
        end = start + int(length)
        if end > len(text):
            raise KhqrError(
                f"{where}: tag {tag}: truncated, declares {int(length)} characters but only {len(text) - start} remain"
            )
        fields.append((tag, text[start:end]))
        pos = end
    return fields


def to_dict(fields: list[tuple[str, str]], where: str, allowed: Iterable[str]) -> dict[str, str]:
    """Index parsed fields by tag, rejecting duplicate and unsupported tags."""
    allowed_tags = frozenset(allowed)
    result: dict[str, str] = {}
    for tag, value in fields:
        if tag not in allowed_tags:
            raise KhqrError(f"{where}: unsupported tag {tag}")
        if tag in result:
            raise KhqrError(f"{where}: duplicate tag {tag}")
        result[tag] = value
    return result


def required(fields: dict[str, str], tag: str, label: str) -> str:
    """The value of a mandatory ``tag``; ``label`` names the field in the error message."""
    if tag not in fields:
        raise KhqrError(f"{label}: missing")
    return fields[tag]


def sub_fields(value: str, tag: str, allowed: Iterable[str]) -> dict[str, str]:
    """Parse the value of nested template ``tag`` (must not be empty) into its sub-fields."""
    if not value:
        raise KhqrError(f"{tag}: empty template")
    return to_dict(parse_tlv(value, tag), tag, allowed)


def optional_sub_fields(root: dict[str, str], tag: str, allowed: Iterable[str]) -> dict[str, str] | None:
    """Like :func:`sub_fields` for an optional template; ``None`` when ``tag`` is absent."""
    return None if tag not in root else sub_fields(root[tag], tag, allowed)


def checked_fields(text: str) -> list[tuple[str, str]]:
    """Split a whole payload into root fields after checking characters, framing and the CRC.

    The CRC field 63 must be the last field, and its value must be the CRC of everything before
    it, including ``"6304"``.  Returns the root fields without the CRC field.
    """
    if not isinstance(text, str):
        raise KhqrError("payload: must be a str")
    for pos, ch in enumerate(text):
        if not ch.isprintable():
            raise KhqrError(f"payload: non-printable character {ch!r} at position {pos}")
    fields = parse_tlv(text, "payload")
    if all(tag != "63" for tag, _ in fields):
        raise KhqrError("63 crc: missing")
    tag, crc = fields[-1]
    if tag != "63":
        raise KhqrError("63 crc: must be the last field")
    if len(crc) != 4:
        raise KhqrError(f"63 crc: length must be 04, got {len(crc):02d}")
    expected = crc16_ccitt_false(text[:-4])
    if crc != expected:
        raise KhqrError(f"63 crc: mismatch, payload says {crc!r}, computed {expected!r}")
    return fields[:-1]
