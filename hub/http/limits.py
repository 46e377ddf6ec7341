"""Request body bounds for every route: size and time, enforced while the body streams in (issue 7 §4).

Routes that read their body with ``hub.http.body.read_body`` apply their own (smaller or equal) cap;
this middleware makes sure no route, present or future, can be made to buffer more than
``max_body_bytes`` or to wait on a trickling upload for more than ``body_timeout_s``.
Header size and header time are bounded earlier, in the server protocol (``hub.http.server``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import PayloadTooLarge, RequestTimeout
from hub.http.envelope import error_response


class BodyLimitMiddleware:
    """Refuses with 413 a body over ``max_bytes`` and with 408 one not complete within ``timeout_s``.

    Both errors are raised from ``receive``, inside the route, so the app's exception handlers turn
    them into the envelope (with ``Connection: close``); a declared ``Content-Length`` over the cap is
    refused before the route runs.
    Once the body is complete, ``receive`` (waiting for a disconnect, as streaming responses do) is
    left untouched; a request without a body is passed on untouched.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: a request without a body (every GET, so every push stream) is passed on as it
        # is, and an open stream holds no frame or wrapper of this layer (issue 13: memory per subscriber).
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        # A body is coming (RFC 9112 §6.3): a length over 0, or chunked transfer coding. Without one the
        # server's first receive() is the empty, complete body: nothing to bound, nothing left unread.
        has_body = (declared.isdigit() and int(declared) > 0) or b"chunked" in headers.get(b"transfer-encoding", b"")
        if not has_body:
            return self.app(scope, receive, send)
        return self._bounded(scope, receive, send, declared)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, declared: bytes) -> None:
        if declared.isdigit() and int(declared) > self.max_bytes:
            refusal = error_response(PayloadTooLarge(details={"limitBytes": self.max_bytes}))
            refusal.headers["connection"] = "close"
            await refusal(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        size = 0
        complete = False
        refused = False

        async def bounded_receive() -> Message:
            nonlocal size, complete, refused
            if complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                refused = True
                raise RequestTimeout(f"Request body not received within {self.timeout_s:g} s") from None
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_bytes:
                    refused = True
                    raise PayloadTooLarge(details={"limitBytes": self.max_bytes})
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        async def closing_send(message: Message) -> None:
            # The rest of a refused body is never read: close the connection after the answer instead
            # of draining bytes a hostile client may trickle forever. (A client still sending then
            # may see a TCP reset instead of the answer; bounded resources come first.) The same holds
            # for any answer given before the app read the whole body (405, 401 before a webhook reads
            # its body): the server closes that connection (hub.http.http_protocol), so the answer says
            # so, or a keep-alive client would send its next request into the closed connection.
            if message["type"] == "http.response.start" and (refused or not complete):
                message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        await self.app(scope, bounded_receive, closing_send)
