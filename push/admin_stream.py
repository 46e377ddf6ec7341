"""The operations console's live feed: ``GET /admin/events/stream``, every payment's status events (SSE).

Admin bearer token (``Authorization`` header; never a query parameter, so no token reaches a URL or
an access log). Frames are the per-payment stream's (``id: <event id>``, ``event: payment.status``,
``data``: the contract's status data with ``paymentId``), from this process's fan-out (``hub.fanout``).

* Without ``Last-Event-ID``: live frames from the moment of connecting.
* With ``Last-Event-ID: N`` (what a browser's ``EventSource`` sends on reconnect; a ``lastEventId``
  query parameter is accepted too): first the status events with id > N from the event log (paged,
  oldest first), then live frames, without gap or repeat: the subscriber registers before the log is
  read, and a live frame already replayed is skipped by its id. A cursor far behind replays only the
  log's newest ``MAX_REPLAY`` events (the ids above ``last id - MAX_REPLAY``): a console away for a day
  reloads its list instead of streaming the whole day.

Event ids come from one database sequence, but two payments' transactions may commit out of id order;
so live frames are deduplicated by id (a bounded memory), never by "id <= last sent". A resume by
``Last-Event-ID`` can still miss an event committed out of order while the client was away: the
console reloads its list of recent payments (``GET /admin/payments``) after each reconnect.

The stream never ends by itself; heartbeats (SSE comments) every ``heartbeat_s``. A client too slow to
read loses the oldest non-terminal frames of its buffer (see ``Fanout.subscribe_all``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from hub.auth import Authenticator, authenticate
from hub.errors import BadRequest
from hub.fanout import Fanout, Frame
from hub.ports import Store

PAGE = 500
MAX_REPLAY = 2000  # a resume reads at most about this many of the log's newest events
REMEMBER = 10_000  # ids kept to drop a live frame already sent
MAX_ID = 2**63 - 1
SSE_HEADERS = {"Cache-Control": "no-store, no-transform", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


@dataclass
class AdminStreamDeps:
    store: Store
    hub: Fanout
    auth: Authenticator
    heartbeat_s: float = 15.0


def parse_cursor(raw: str | None) -> int | None:
    """``Last-Event-ID`` as an event id; None when absent; 400 BAD_REQUEST when not 0..2^63-1."""
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > MAX_ID:
        raise BadRequest(details=[{"field": "lastEventId", "message": "must be a non-negative integer"}])
    return int(raw)


class _Sent:
    """The ids of the frames sent lately (at most ``REMEMBER``)."""

    def __init__(self) -> None:
        self._ids: OrderedDict[int, None] = OrderedDict()

    def add(self, event_id: int) -> None:
        self._ids[event_id] = None
        if len(self._ids) > REMEMBER:
            self._ids.popitem(last=False)

    def __contains__(self, event_id: int) -> bool:
        return event_id in self._ids


async def all_events(
    store: Store, hub: Fanout, cursor: int | None, heartbeat_s: float, *, max_replay: int = MAX_REPLAY
) -> AsyncIterator[Frame | None]:
    """The log after ``cursor`` (if given), then live frames; ``None`` after ``heartbeat_s`` of silence.
    Subscribes to the fan-out before it reads the log (nothing committed meanwhile is missed) and
    unsubscribes when the iteration ends or is closed."""
    sent = _Sent()
    sub = hub.subscribe_all("sse")
    try:
        after = cursor
        if after is not None:
            async with store.transaction() as tx:
                after = max(after, await tx.notifications.last_event_id() - max_replay)
        while after is not None:
            async with store.transaction() as tx:
                events = await tx.notifications.status_events_after(after, PAGE)
            for event in events:
                sent.add(event.id)
                yield Frame.of(event)
            after = events[-1].id if len(events) == PAGE else None
        while True:
            live = await sub.next(heartbeat_s)
            if live is None:
                yield None
                continue
            if live.id in sent:
                continue
            sent.add(live.id)
            yield live
            hub.written(sub, live)
    finally:
        hub.unsubscribe(sub)


def routes(d: AdminStreamDeps) -> list[BaseRoute]:
    async def stream(request: Request) -> Response:
        await authenticate(request, d.auth, "admin", query=False)
        cursor = parse_cursor(request.headers.get("last-event-id") or request.query_params.get("lastEventId"))
        return StreamingResponse(
            _body(all_events(d.store, d.hub, cursor, d.heartbeat_s)),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )

    return [Route("/admin/events/stream", stream, methods=["GET"])]


async def _body(frames: AsyncIterator[Frame | None]) -> AsyncIterator[bytes]:
    yield b"retry: 2000\n\n"
    async for frame in frames:
        yield b": heartbeat\n\n" if frame is None else frame.sse()
