"""How the sandbox bank reaches the gateway: over HTTP (:class:`HttpGateway`), or through this process's
own ASGI app (:class:`AsgiGateway`) when the gateway serves in the same process.

Both carry the same request (method, path, query, headers, body) through the gateway's whole stack:
middleware, access line, bearer token, AMK signature, route. :class:`AsgiGateway` only leaves out the
HTTP client's own machinery, which ``httpx.ASGITransport`` still ran for a call that never leaves the
process: URL building, a cookie jar read and written per response, an ``import trio`` attempted per
request (httpx 0.27's ``is_running_trio``), its INFO line. Profiles of ``simulate/pay``
(docs/perf/webhooks.md) put that machinery at about a sixth of a simulated payment.

Either answers ``(status, body)``; a failure to reach the gateway raises ``httpx.HTTPError`` (HTTP) or the
app's own exception (in process, as ``httpx.ASGITransport`` raised it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

from hub.logs import correlation_id
from hub.tracing import CORRELATION_HEADER, current_trace

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
AsgiApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class GatewayWire(Protocol):
    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b"", params: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """The gateway's answer to one request: its status and body."""
        ...


class HttpGateway:
    """Over an ``httpx.AsyncClient`` (its base URL, timeouts and hooks)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b"", params: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        response = await self._client.request(method, path, content=body or None, headers=headers, params=params)
        return response.status_code, response.content


class AsgiGateway:
    """Through ``app`` (this process's ASGI app), as a server hands it a request: one ``http`` scope from
    127.0.0.1 (the address ``httpx.ASGITransport`` gave), the body in one message, the answer collected.
    The current correlation id and trace go along, as ``payhub.bootstrap``'s client hook sends them."""

    CLIENT = ("127.0.0.1", 123)
    SERVER = ("payhub.local", 80)

    def __init__(self, app: AsgiApp) -> None:
        self._app = app

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b"", params: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        raw = [(b"host", b"payhub.local")]
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        cid = correlation_id.get()
        names = {k.lower() for k in headers}
        if cid != "-" and CORRELATION_HEADER not in names:
            raw.append((CORRELATION_HEADER.encode(), cid.encode("latin-1")))
        trace = current_trace.get()
        if trace is not None:
            raw += [(k.encode(), v.encode("latin-1")) for k, v in trace.headers().items() if k not in names]
        if body:
            raw.append((b"content-length", str(len(body)).encode()))
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "headers": raw,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": urlencode(params).encode() if params else b"",
            "server": self.SERVER,
            "client": self.CLIENT,
            "root_path": "",
        }
        status = 0
        parts: list[bytes] = []
        delivered = False
        complete = asyncio.Event()

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            # As httpx.ASGITransport: the client "disconnects" once it has the whole answer.
            await complete.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                if not message.get("more_body", False):
                    complete.set()

        await self._app(scope, receive, send)
        return status, b"".join(parts)
