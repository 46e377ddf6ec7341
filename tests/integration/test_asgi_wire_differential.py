"""``sandbox.wire.AsgiGateway`` (simulate/pay's webhooks handed to this process's app) answers exactly as
the same request over ``httpx`` to that app: status and body, for good notices, replays and every kind
of refusal (no token, bad signature, malformed JSON, empty body, wrong fields)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.wire import AsgiGateway
from tests.conftest import bank_paid, bill_body, signed, sqlite_process


def _comparable(status: int, content: bytes) -> tuple[int, Any]:
    try:
        body = json.loads(content)
    except ValueError:
        return status, content
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body["error"].pop("correlationId", None)  # one per request
    return status, body


async def test_the_asgi_wire_answers_as_http(tmp_path: Path) -> None:
    async with sqlite_process(tmp_path) as (c, client):
        assert c.app is not None
        wire = AsgiGateway(c.app)
        good = bill_body()
        bank_paid(c, good["bankTransactionId"])
        raw, headers = signed(c, good)
        no_token = {k: v for k, v in headers.items() if k != "Authorization"}
        bad_sig = {**headers, "X-AMK-Signature": "t=1,v1=00"}
        cases: list[tuple[bytes, dict[str, str]]] = [
            (raw, headers),  # the notice itself
            (raw, headers),  # its replay
            (raw, no_token),
            (raw, bad_sig),
            signed(c, b"{not json"),
            signed(c, b""),
            signed(c, {"unexpected": 1}),
            signed(c, b"[]"),
            signed(c, {**bill_body(), "amount": "-1"}),
        ]
        for body, hdrs in cases:
            over_http = await client.post("/AMK/payments", content=body, headers=hdrs)
            direct = await wire.request("POST", "/AMK/payments", hdrs, body)
            assert _comparable(*direct) == _comparable(over_http.status_code, over_http.content), body[:60]
