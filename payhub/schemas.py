"""The replies of the composition root's own routes (health, index, demo helpers) as documented models."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.apidoc.types import Model


class Alive(Model):
    status: Literal["alive"]


class Ready(Model):
    status: Literal["ready"]
    database: str | None = Field(default=None, description="The store's dialect (web processes).", examples=["sqlite"])
    checks: dict[str, str] = Field(
        description="Each dependency of the process and its state.", examples=[{"database": "ok"}]
    )


class Endpoints(Model):
    inquiry: str
    billWebhook: str
    khqrWebhook: str
    sandbox: str | None
    notifications: str | None
    console: str | None
    analytics: str
    analyticsDashboard: str
    demo: str
    khqr: str
    events: str
    websocket: str
    health: str
    ready: str
    openapi: str
    asyncapi: str
    docs: str


class Index(Model):
    service: Literal["PayHub"]
    mode: Literal["sandbox", "production"]
    serving: list[str] = Field(examples=[["gateway", "integration", "khqr", "push", "sandbox"]])
    endpoints: Endpoints


class DemoToken(Model):
    token: str = Field(description="A customer JWT for an anonymous demo user (one hour).")
    sub: str = Field(examples=["demo-1a2b3c4d"])
    sandbox: Literal[True]


class DemoConfig(Model):
    sandbox: bool
    sessionTtlSeconds: int = Field(ge=0, examples=[1800])


class StaticPath(Model):
    path: str = Field(description="A file of the demo page (empty: index.html).", examples=["app.js"])
