"""The SSE response of a payment stream, written as plain ASGI messages.

Why not Starlette's ``StreamingResponse``: it runs each response in an anyio task group with a
second task listening for the disconnect, and pulls every chunk through an async iterator chain;
with thousands of open streams that was the largest share of memory per subscriber and of the
work per frame. Here one task writes (the request's own), and one small task waits for the
disconnect and closes the subscriber (``Subscriber.close``), which wakes and ends the writer, so a
client that went away is unsubscribed at once (uvicorn's ``send`` to a closed connection returns
without error, so the writer alone would not notice before its next heartbeat, nor then).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hub.fanout import Subscriber
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
        watcher = asyncio.get_running_loop().create_task(_close_on_disconnect(receive, sub))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": self.retry, "more_body": True})
            async for frame in self.stream.frames(self.heartbeat_s):
                if frame is None:
                    await send({"type": "http.response.body", "body": HEARTBEAT, "more_body": True})
                else:
                    await send({"type": "http.response.body", "body": frame.sse(), "more_body": True})
            if not sub.closed:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            self.stream.close()


async def _close_on_disconnect(receive: Receive, sub: Subscriber) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    sub.close()
