"""Analytics routes (admin bearer token): the figures, their live stream, and the dashboard page.

* ``GET /admin/analytics?from=&to=&window=`` — ``{"success": true, "data": {"analytics": {...}}}``, the
  spec's ``realTimeMetrics`` and ``businessMetrics`` of the range (``hub.domain.analytics`` defines every
  figure; ``query.py`` the range and its 400s). Computed fresh on each request.
* ``GET /admin/analytics/stream`` (same parameters) — Server-Sent Events: an ``analytics.snapshot``
  event whose ``data`` is that same document, first at once, then again when payment statuses commit,
  at most once per ``min_interval_s`` (bursts are coalesced into one snapshot) and at least once per
  ``refresh_s`` (a range ending now slides); a comment heartbeat after ``heartbeat_s`` of silence. If
  the figures cannot be computed (database down), an ``analytics.unavailable`` event carries the error
  object of the envelope and the stream tries again later. ``to`` absent: each snapshot ends at its now.
* ``/ops/analytics/`` — the dashboard page (static files); it holds no data and no token: it asks the
  operator for an admin token and sends it as ``Authorization: Bearer`` on both calls above.

Authentication comes before the parameters are read: a caller without an admin token learns nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from backoffice.analytics.feed import AnalyticsFeed
from backoffice.analytics.query import RangeQuery, parse_range
from backoffice.analytics.schemas import ANALYTICS_STREAM, Analytics, StaticPath
from backoffice.analytics.schemas import RangeQuery as RangeParams
from hub.apidoc.declare import Operation, Reply, roles
from hub.auth import Authenticator, authenticate
from hub.domain.analytics import report
from hub.errors import BadRequest, Forbidden, NotFound, PayHubError, ServiceUnavailable, Unauthorized
from hub.http.envelope import error_body, ok
from hub.json_codec import dumps

# no-transform: a compressing proxy would otherwise buffer the stream (as push/app.py says)
SSE_HEADERS = {"Cache-Control": "no-store, no-transform", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
SNAPSHOT_EVENT = "analytics.snapshot"
UNAVAILABLE_EVENT = "analytics.unavailable"


@dataclass(frozen=True)
class StreamTiming:
    """Seconds: least time between two snapshots of one stream, most time without one, most silence."""

    min_interval_s: float = 2.0
    refresh_s: float = 30.0
    heartbeat_s: float = 15.0


@dataclass
class AnalyticsDeps:
    auth: Authenticator
    feed: AnalyticsFeed
    timing: StreamTiming
    page_dir: Path | None = None


_ERRORS = (BadRequest, Unauthorized, Forbidden, ServiceUnavailable)

# The OpenAPI declarations of the routes below (hub.apidoc); tests fail when the two differ.
API = (
    Operation(
        "GET",
        "/admin/analytics",
        "Payment analytics of a time range (the spec's analytics document)",
        "operators",
        (Reply(model=Analytics),),
        security=roles("admin"),
        query=RangeParams,
        errors=_ERRORS,
    ),
    Operation(
        "GET",
        "/admin/analytics/stream",
        "The same document live, as Server-Sent Events",
        "operators",
        (Reply(schema=ANALYTICS_STREAM, media_type="text/event-stream", envelope=False),),
        description="Token as `Authorization: Bearer` only (never `?token=`: a URL ends up in logs and proxies); "
        "read it with `fetch` and a stream reader, as `/ops/analytics/` does (EventSource cannot send headers).",
        security=roles("admin"),
        query=RangeParams,
        errors=_ERRORS,
    ),
    Operation(
        "GET",
        "/ops/analytics/{path}",
        "The analytics dashboard page and its files (holds no data: it asks the API with the operator's token)",
        "operators",
        (
            Reply(
                schema={"type": "string"},
                media_type="text/html",
                also=("text/css", "text/javascript", "image/png", "image/svg+xml"),
                envelope=False,
                description="The file",
            ),
            Reply(307, "`/ops/analytics` is redirected to `/ops/analytics/`"),
        ),
        path_params=StaticPath,
        errors=(NotFound,),
    ),
)


def routes(d: AnalyticsDeps) -> list[BaseRoute]:
    async def analytics(request: Request) -> Response:
        await authenticate(request, d.auth, "admin", query=False)
        query = parse_range(request.query_params.multi_items())
        now = datetime.now(UTC)
        window = query.resolve(now)
        figures = await d.feed.figures(window)
        return ok(report(figures, window, now), headers={"Cache-Control": "no-store"})

    async def stream(request: Request) -> Response:
        await authenticate(request, d.auth, "admin", query=False)
        query = parse_range(request.query_params.multi_items())
        query.resolve(datetime.now(UTC))  # a range refused now is a 400, not an endless stream of errors
        return StreamingResponse(_sse(d.feed, query, d.timing), media_type="text/event-stream", headers=SSE_HEADERS)

    found: list[BaseRoute] = [
        Route("/admin/analytics", analytics, methods=["GET"]),
        Route("/admin/analytics/stream", stream, methods=["GET"]),
    ]
    if d.page_dir is not None and d.page_dir.is_dir():
        found.append(Mount("/ops/analytics", StaticFiles(directory=d.page_dir, html=True), name="ops-analytics"))
    return found


async def _sse(feed: AnalyticsFeed, query: RangeQuery, timing: StreamTiming) -> AsyncIterator[bytes]:
    """The frames of one stream (see the module docstring), until the client goes away."""
    feed.streams += 1
    try:
        yield b"retry: 3000\n\n"
        sent = 0
        while True:
            seen = feed.generation
            try:
                snap = await feed.snapshot(query)
            except PayHubError as exc:
                yield f"event: {UNAVAILABLE_EVENT}\ndata: {dumps(error_body(exc)['error'])}\n\n".encode()
            else:
                sent += 1
                body = dumps(report(snap.figures, snap.window, snap.at))
                yield f"id: {sent}\nevent: {SNAPSHOT_EVENT}\ndata: {body}\n\n".encode()
                seen = snap.generation
            last = time.monotonic()
            while True:  # until a status event or the refresh, with heartbeats in the silence
                remaining = timing.refresh_s - (time.monotonic() - last)
                if remaining <= 0 or await feed.wait_change(seen, min(timing.heartbeat_s, remaining)):
                    break
                if time.monotonic() - last < timing.refresh_s:
                    yield b": heartbeat\n\n"
            pause = timing.min_interval_s - (time.monotonic() - last)
            if pause > 0:  # coalesce: whatever commits meanwhile is in the next snapshot
                await asyncio.sleep(pause)
    finally:
        feed.streams -= 1
