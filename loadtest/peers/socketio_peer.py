"""The python-socketio peer: an ASGI Socket.IO server under uvicorn, a room per id.

    python -m loadtest.peers.socketio_peer --port 8101

* Socket.IO on ``/socket.io/`` (the WebSocket transport is what the swarm uses). A client emits
  ``subscribe {"room": id, "lastEventId": n|null}``; the server enters it into the room, replays the
  room's kept events newer than ``lastEventId``, then emits ``subscribed``. Events are emitted as
  ``status``. Engine.IO pings every 15 s (PayHub's heartbeat; the library's default is 25 s).
* ``POST /publish {"room": id}`` — ``sio.emit("status", event, room=id)`` → ``{"id"}``.
* ``GET /healthz``.
"""

from __future__ import annotations

from typing import Any

import socketio  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from loadtest.peers.common import HEARTBEAT_S, Rooms, room_of, serve

rooms = Rooms()
sio = socketio.AsyncServer(async_mode="asgi", ping_interval=HEARTBEAT_S, cors_allowed_origins=[])


@sio.on("subscribe")  # type: ignore[untyped-decorator]
async def subscribe(sid: str, data: dict[str, Any]) -> None:
    room = int(data["room"])
    cursor = data.get("lastEventId")
    await sio.enter_room(sid, str(room))
    for event in rooms.after(room, None if cursor is None else int(cursor)):
        await sio.emit("status", event, to=sid)
    await sio.emit("subscribed", {"room": room}, to=sid)


async def publish(request: Request) -> JSONResponse:
    room = await room_of(request)
    event = rooms.event(room)
    await sio.emit("status", event, room=str(room))
    return JSONResponse({"id": event["id"]})


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


http = Starlette(routes=[Route("/publish", publish, methods=["POST"]), Route("/healthz", healthz)])
app = socketio.ASGIApp(sio, other_asgi_app=http)

if __name__ == "__main__":
    serve(app, __doc__ or "")
