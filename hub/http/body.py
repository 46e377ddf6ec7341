"""Reading request bodies with a size cap, and JSON that keeps decimals exact."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import simplejson as json
from starlette.requests import Request

from hub.errors import BadRequest, PayloadTooLarge


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 past ``limit`` bytes (checked while streaming, not after)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(details={"limitBytes": limit})
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(details={"limitBytes": limit})
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"), parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nesting too deep
        raise BadRequest("Malformed JSON body", details=[{"field": "body", "message": str(exc)}]) from exc
    if not isinstance(value, dict):
        raise BadRequest("JSON body must be an object", details=[{"field": "body", "message": "not an object"}])
    return value
