"""The SSE response of a payment stream, written as plain ASGI messages.

Why not Starlette's ``StreamingResponse``: it runs each response in an anyio task group with a
second task listening for the disconnect, and pulls every chunk through an async iterator chain;
with thousands of open streams that was the largest share of memory per subscriber and of the
work per frame. Here the request's own task waits for the disconnect and closes the subscriber
(``Subscriber.close``), which wakes and ends the writer, so a client that went away is
unsubscribed at once (uvicorn's ``send`` to a closed connection returns without error, so the
writer alone would never notice); one small task writes the frames.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hub.http.middleware import body_send
from push.stream import PaymentStream

HEARTBEAT = b": heartbeat\n\n"


class SseResponse(Response):
    """``200 text/event-stream``: ``retry`` (an SSE ``retry:`` field), then the stream's frames, a
    heartbeat comment each time the process heartbeat timer fires; ends after a terminal status."""

    media_type = "text/event-stream"

    def __init__(self, stream: PaymentStream, heartbeat_s: float, retry: bytes, headers: Mapping[str, str]) -> None:
        # Not Response.__init__: there is no body to measure (no Content-Length on a stream).
        self.stream = stream
        self.heartbeat_s = heartbeat_s
        self.retry = retry
        self.status_code = 200
        self.background: BackgroundTask | None = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sub = self.stream.subscriber
        writer: asyncio.Task[None] | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            # The start went through every layer; the body skips their send wrappers (hub.http.middleware).
            send = body_send(scope, send)
            await send({"type": "http.response.body", "body": self.retry, "more_body": True})
            # The frames are written by a task of their own, started here, so that waking it for a frame
            # resumes three coroutines, not the dozen of the middleware stack this request task sits in.
            # (Should it fail, which only a bug can make it do, its error surfaces below when the
            # client leaves.)
            writer = asyncio.get_running_loop().create_task(self._write(send))
            # ASGI: receive() answers http.disconnect once the client left or the response is complete.
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            sub.close()  # the client left (or the stream ended): the writer wakes and stops
            if writer is not None:
                await writer
            self.stream.close()

    async def _write(self, send: Send) -> None:
        sub = self.stream.subscriber
        try:
            async for frame in self.stream.frames(self.heartbeat_s):
                body = HEARTBEAT if frame is None else frame.sse()
                await send({"type": "http.response.body", "body": body, "more_body": True})
            if not sub.closed:
                # The terminal frame is out. Ending the response (middleware, access log, task exit)
                # can wait one loop turn: the other subscribers of this fan-out get their frame first.
                await asyncio.sleep(0)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.stream.close()
