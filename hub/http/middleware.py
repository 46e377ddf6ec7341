"""Outermost ASGI middleware: correlation id in and out, the request's trace span, access log, a last-resort 500.

The request runs as a server span of ``tracer`` (``hub.tracing``): the child of a valid incoming
W3C ``traceparent``, else the root of a new trace; its ids are in every log line of the request.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses (SSE) and WebSockets pass untouched.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import PayHubError
from hub.http.envelope import error_response
from hub.logs import correlation_id
from hub.tracing import TRACEPARENT, TRACESTATE, Tracer, from_headers

log = logging.getLogger("payhub.http")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
HEADER = b"x-correlation-id"


class CorrelationMiddleware:
    def __init__(self, app: ASGIApp, *, tracer: Tracer | None = None) -> None:
        self.app = app
        self.tracer = tracer if tracer is not None else Tracer()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(HEADER, b"").decode("latin-1")
        cid = incoming if _VALID_ID.match(incoming) else f"req-{uuid.uuid4().hex[:20]}"
        token = correlation_id.set(cid)
        scope.setdefault("state", {})["correlation_id"] = cid
        parent = from_headers(_values(scope, TRACEPARENT), _values(scope, TRACESTATE))
        method = scope.get("method", "WEBSOCKET")
        attributes = {"http.request.method": method, "url.path": scope.get("path", ""), "payhub.correlation_id": cid}
        try:
            with self.tracer.span(method, kind="server", parent=parent, attributes=attributes):
                await self._traced(scope, receive, send, cid)
        finally:
            correlation_id.reset(token)

    async def _traced(self, scope: Scope, receive: Receive, send: Send, cid: str) -> None:
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, cid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client hung up before its body ended: nobody is left to answer, and it is no server
            # error. 499 in the access log, as nginx writes it.
            status = status or 499
        except Exception as exc:
            log.exception("unhandled error", extra={"path": scope.get("path")})
            if scope["type"] == "http" and status == 0:
                response = error_response(_internal(exc), cid)
                await response(scope, receive, send_with_id)
        finally:
            if scope["type"] == "http":
                log.info(
                    "request",
                    extra={
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )


def _values(scope: Scope, name: str) -> list[str]:
    key = name.encode()
    return [value.decode("latin-1") for header, value in scope["headers"] if header == key]


def _internal(exc: Exception) -> PayHubError:
    return exc if isinstance(exc, PayHubError) else PayHubError("Internal error")
