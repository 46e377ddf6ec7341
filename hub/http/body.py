"""Reading request bodies with a size cap, and JSON that keeps decimals exact."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from hub.errors import PayloadTooLarge
from hub.json_codec import loads_object


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
    """The body as a JSON object; ``MalformedJson`` (400, field ``body``) otherwise. See ``hub.json_codec``."""
    return loads_object(raw, field="body")
