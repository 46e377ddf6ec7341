"""A streaming response's body skips the send wrappers inside the correlation layer
(``hub.http.middleware.body_send``); its start message still goes through every layer."""

from __future__ import annotations

from typing import Any

from starlette.types import Receive, Scope, Send

from hub.http.limits import BodyLimitMiddleware
from hub.http.middleware import CorrelationMiddleware, body_send

SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "GET",
    "path": "/events",
    "headers": [(b"x-correlation-id", b"cid-1")],
    "client": ("127.0.0.1", 1),
}


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def seen_by(layer: str, seen: list[tuple[str, str]]) -> type:
    class Watching:
        """A layer that notes every message its send wrapper sees."""

        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            async def noting(message: Any) -> None:
                seen.append((layer, message["type"]))
                await send(message)

            await self.app(scope, receive, noting)

    return Watching


async def test_the_body_reaches_the_correlation_layers_send_and_the_start_every_layer() -> None:
    seen: list[tuple[str, str]] = []
    out: list[dict[str, Any]] = []

    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        send = body_send(scope, send)
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def server(message: Any) -> None:
        out.append(message)

    inner = seen_by("inner", seen)(BodyLimitMiddleware(streaming, max_bytes=10, timeout_s=5))
    await seen_by("outer", seen)(CorrelationMiddleware(inner))(dict(SCOPE), receive, server)
    assert seen == [
        ("inner", "http.response.start"),
        ("outer", "http.response.start"),
        ("outer", "http.response.body"),  # the body skipped the inner layers' wrappers only
        ("outer", "http.response.body"),
    ]
    assert (b"x-correlation-id", b"cid-1") in out[0]["headers"]  # the start was seen by the correlation layer
    assert [m.get("body") for m in out[1:]] == [b"a", b""]


async def test_without_the_correlation_layer_the_body_uses_the_send_given() -> None:
    async def send(message: Any) -> None: ...

    assert body_send({"type": "http"}, send) is send
