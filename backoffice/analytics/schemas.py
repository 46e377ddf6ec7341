"""The analytics API's parameters and replies as documented models (OpenAPI)."""

from __future__ import annotations

from pydantic import ConfigDict, Field, JsonValue

from hub.apidoc.types import Model


class RangeQuery(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(
        default=None, alias="from", description="ISO 8601 instant with a UTC offset (2026-11-30T00:00:00+07:00)."
    )
    to: str | None = Field(default=None, description="ISO 8601 instant with a UTC offset; absent: now.")
    window: int | None = Field(
        default=None, ge=1, description="Seconds before `to` when `from` is absent (default 86400)."
    )


class Analytics(Model):
    """The spec's analytics document: range, real-time metrics, rates, amounts by currency, methods."""

    analytics: JsonValue


class StaticPath(Model):
    path: str = Field(description="A file of the dashboard page (empty: index.html).", examples=["app.js"])


ANALYTICS_STREAM = {
    # One event of the stream (as schemathesis and OpenAPI 3.2's itemSchema read an event stream's schema).
    "type": "object",
    "description": "text/event-stream: `retry: 3000`, then `event: analytics.snapshot` events whose data is the "
    "GET /admin/analytics document (at most one per 2 s, at least one per 30 s), `event: analytics.unavailable` "
    "with the error object while the figures cannot be read, comment heartbeats.",
    "required": ["event", "data"],
    "properties": {
        "id": {"type": "string"},
        "event": {"enum": ["analytics.snapshot", "analytics.unavailable"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "retry": {"type": "integer"},
    },
}
