"""What both peers share: per-room history for resume, the event shape, the command line.

The peers do PayHub's push-layer job with nothing but their library: a room per payment id, a
subscriber per connection, ``POST /publish {"room": id}`` sends one event to every subscriber of
that room (a room of one subscriber is "an event to one subscriber"). The event looks like
PayHub's status data (``paymentId, status, occurredAt``) with an integer ``id`` that increases
along the room, and each room keeps its last ``HISTORY`` events in memory so that a subscriber
reconnecting with a last event id gets what it missed (PayHub's resume; PayHub reads its event
log, the peers only their memory, which a restart empties).
"""

from __future__ import annotations

import argparse
import itertools
from collections import deque
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.requests import Request

HISTORY = 16  # PayHub's PAYHUB_PUSH_BUFFER default
HEARTBEAT_S = 15  # PayHub's heartbeat (PAYHUB_PUSH_HEARTBEAT_S) and sse-starlette's default ping


class Rooms:
    """Event ids and the recent history of each room."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.history: dict[int, deque[dict[str, Any]]] = {}

    def event(self, room: int) -> dict[str, Any]:
        """A new CONFIRMED event for ``room``, stamped now (``occurredAt``, ISO 8601 UTC) and kept."""
        event = {
            "id": next(self._ids),
            "paymentId": room,
            "status": "CONFIRMED",
            "occurredAt": datetime.now(UTC).isoformat(),
        }
        self.history.setdefault(room, deque(maxlen=HISTORY)).append(event)
        return event

    def after(self, room: int, cursor: int | None) -> list[dict[str, Any]]:
        """The kept events of ``room`` newer than ``cursor`` (none without a cursor), oldest first."""
        if cursor is None:
            return []
        return [e for e in self.history.get(room, ()) if e["id"] > cursor]


async def room_of(request: Request) -> int:
    body = await request.json()
    return int(body["room"])


def serve(app: Any, description: str) -> None:
    """``--port N``: uvicorn with its defaults (uvloop, httptools, websockets when installed), as PayHub."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
