"""The sse-starlette baseline: plain Starlette, a room per id, one SSE stream per subscriber.

    python -m loadtest.peers.sse_peer --port 8100

* ``GET /rooms/{room}/events`` — an ``EventSourceResponse`` fed by the subscriber's own queue;
  ``Last-Event-ID`` resumes from the room's memory; sse-starlette's ping comment every 15 s (its default).
* ``POST /publish {"room": id}`` — one event to every subscriber of the room → ``{"id", "subscribers"}``.
* ``GET /healthz``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from loadtest.peers.common import HEARTBEAT_S, Rooms, room_of, serve

rooms = Rooms()
members: dict[int, set[asyncio.Queue[dict[str, Any]]]] = {}


def _sse(event: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(event["id"]), "event": "payment.status", "data": json.dumps(event, separators=(",", ":"))}


async def events(request: Request) -> EventSourceResponse:
    room = int(request.path_params["room"])
    raw = request.headers.get("last-event-id")
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    members.setdefault(room, set()).add(queue)  # subscribed before the head is sent, like PayHub
    missed = rooms.after(room, int(raw) if raw else None)

    async def stream() -> AsyncIterator[dict[str, Any]]:
        try:
            for event in missed:
                yield _sse(event)
            last = missed[-1]["id"] if missed else 0
            while True:
                event = await queue.get()
                if event["id"] > last:
                    yield _sse(event)
        finally:
            members[room].discard(queue)
            if not members[room]:
                del members[room]

    return EventSourceResponse(stream(), ping=HEARTBEAT_S)


async def publish(request: Request) -> JSONResponse:
    room = await room_of(request)
    event = rooms.event(room)
    queues = members.get(room, ())
    for queue in queues:
        queue.put_nowait(event)
    return JSONResponse({"id": event["id"], "subscribers": len(queues)})


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/rooms/{room:int}/events", events),
        Route("/publish", publish, methods=["POST"]),
        Route("/healthz", healthz),
    ]
)

if __name__ == "__main__":
    serve(app, __doc__ or "")
