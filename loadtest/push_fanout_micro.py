"""Micro-benchmark of one event fanned out to N SSE streams inside one process, no sockets.

Serves N ``GET /events`` through PayHub's own middleware stack (correlation, client address, body
limits, Starlette's error and exception layers) and ``push.sse.SseResponse``; the ASGI ``send`` at
the bottom only notes the time of each frame. One status event is then offered to the fan-out and
the time until the last frame was "written" is reported: the server's own share of a fan-out, with
no client and no kernel. Run it under ``valgrind --tool=callgrind`` for repeatable instruction counts.

    .venv/bin/python loadtest/push_fanout_micro.py --subscribers 2000 [--uvloop] [--tracemalloc]

``--tracemalloc`` also reports the Python memory each open stream holds (``traced_bytes_per_subscriber``,
about 1 KiB of it the harness's own request: its scope, closures and event).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import tracemalloc
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.fanout import Fanout
from hub.http.access import CanonicalClientMiddleware
from hub.http.errors import EXCEPTION_HANDLERS
from hub.http.limits import BodyLimitMiddleware
from hub.http.middleware import CorrelationMiddleware
from push.stream import PaymentStream

try:
    from hub.http.direct import DirectRoutes
except ImportError:  # an older checkout: every request goes through the router
    DirectRoutes = None  # type: ignore[assignment,misc]
try:
    from push.sse import SseResponse
except ImportError:  # an older checkout (``--base``): StreamingResponse over an async generator
    SseResponse = None  # type: ignore[assignment,misc]

PAYMENT = 7


def event(event_id: int, status: PaymentStatus) -> PaymentEvent:
    now = datetime.now(UTC)
    data = {"paymentId": PAYMENT, "status": status.value, "occurredAt": now.isoformat(), "amount": "10.00"}
    return PaymentEvent(event_id, PAYMENT, PaymentEvent.STATUS, status, data, now)


async def run(n: int) -> dict[str, Any]:
    hub = Fanout()

    async def events(request: Request) -> Response:
        stream = PaymentStream(hub, hub.subscribe(PAYMENT), [], 1)
        if SseResponse is None:
            from starlette.responses import StreamingResponse

            from push.app import _sse_body  # type: ignore[attr-defined]

            body = _sse_body(stream, 15.0)
            return StreamingResponse(body, media_type="text/event-stream", headers={"Cache-Control": "no-store"})
        return SseResponse(stream, 15.0, b"retry: 1000\n\n", headers={"Cache-Control": "no-store"})

    # The app's stack (payhub/app.py): the stream route is run past the router where this checkout does so.
    direct = [Middleware(DirectRoutes, names=["events"], handlers=EXCEPTION_HANDLERS)] if DirectRoutes else []
    app = Starlette(
        routes=[Route("/events", events, name="events")],
        middleware=[
            Middleware(CorrelationMiddleware),
            Middleware(CanonicalClientMiddleware),
            Middleware(BodyLimitMiddleware, max_bytes=1 << 20, timeout_s=30),
            *direct,
        ],
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )
    written: list[float] = []
    all_started, all_written = asyncio.Event(), asyncio.Event()
    started = 0

    async def one() -> None:
        nonlocal started
        sent_request = False
        complete = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await complete.wait()  # ASGI: disconnect once the response is complete
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.body" and message["body"].startswith(b"id:"):
                written.append(time.perf_counter())
                if len(written) == n:
                    all_written.set()
            elif message["type"] == "http.response.start":
                started += 1
                if started == n:
                    all_started.set()
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                complete.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/events",
            "raw_path": b"/events",
            "query_string": b"",
            "headers": [(b"host", b"bench")],
            "client": ("127.0.0.1", 1234),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, receive, send)

    held_before = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
    tasks = [asyncio.create_task(one()) for _ in range(n)]
    await all_started.wait()
    await asyncio.sleep(0.05)
    held = (tracemalloc.get_traced_memory()[0] - held_before) if tracemalloc.is_tracing() else None
    t0 = time.perf_counter()
    await hub.on_event(event(2, PaymentStatus.CONFIRMED))
    await all_written.wait()
    last = written[-1] - t0
    await asyncio.gather(*tasks)
    report: dict[str, Any] = {
        "subscribers": n,
        "last_write_ms": round(last * 1000, 2),
        "per_subscriber_us": round(last / n * 1e6, 2),
    }
    if held is not None:
        report["traced_bytes_per_subscriber"] = round(held / n)
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--tracemalloc", action="store_true", help="report the memory each open stream holds")
    args = parser.parse_args()
    if args.tracemalloc:
        tracemalloc.start()
    if args.uvloop:
        import uvloop

        print(json.dumps(uvloop.run(run(args.subscribers))))
    else:
        print(json.dumps(asyncio.run(run(args.subscribers))))


if __name__ == "__main__":
    main()
