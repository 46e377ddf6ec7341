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
# The scope key under which this layer leaves the ``send`` it was given, for a streaming response's body
# (see ``body_send``).
BODY_SEND = "payhub.body_send"


def body_send(scope: Scope, send: Send) -> Send:
    """The ``send`` a streaming response may write its body with once its start message went out through
    ``send``: the one the correlation layer was given, skipping the ``send`` wrappers of every layer
    inside it; ``send`` itself outside this middleware.

    Why: each layer's wrapper costs an ``await`` per frame, for every subscriber of a fan-out (issue 13).
    Sound because every layer between this one and a route looks at the start message only (this layer:
    status and correlation header; ``BodyLimitMiddleware``: ``Connection: close``; Starlette's exception
    layers: whether the response started); a layer that needs the body messages too must remove
    ``BODY_SEND`` from the scope it passes on.
    """
    direct: Send | None = scope.get(BODY_SEND)
    return direct if direct is not None else send


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
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, cid.encode())]
            await send(message)

        scope[BODY_SEND] = send  # the body of a streaming response may skip the wrappers inside (body_send)
        # One coroutine for the span, the call and the access log (not a helper awaited from here): every
        # open stream holds this layer's frames for its whole life (issue 13: memory per subscriber).
        try:
            with self.tracer.span(method, kind="server", parent=parent, attributes=attributes):
                try:
                    await self.app(scope, receive, send_with_id)
                except ClientDisconnect:
                    # The client hung up before its body ended: nobody is left to answer, and it is no
                    # server error. 499 in the access log, as nginx writes it.
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
        finally:
            correlation_id.reset(token)


def _values(scope: Scope, name: str) -> list[str]:
    key = name.encode()
    return [value.decode("latin-1") for header, value in scope["headers"] if header == key]


def _internal(exc: Exception) -> PayHubError:
    return exc if isinstance(exc, PayHubError) else PayHubError("Internal error")
