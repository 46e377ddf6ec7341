"""Builds the Starlette app of a process from the services it serves.

``payhub run`` serves them all on one port; ``payhub serve NAME`` one of them. Either way the
same routes, middleware and error handlers apply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import gateway.app
import integration.app
import khqr.app
import push.app
import sandbox.app
from hub.errors import PayHubError, ServiceUnavailable
from hub.http.envelope import ok
from hub.http.errors import EXCEPTION_HANDLERS
from hub.http.middleware import CorrelationMiddleware
from hub.wiring import Container

SERVICES = ("gateway", "khqr", "push", "integration", "sandbox")


def build_app(c: Container, services: Iterable[str] = SERVICES) -> Starlette:
    chosen = set(services)
    unknown = chosen - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown service(s): {', '.join(sorted(unknown))}")
    routes: list[BaseRoute] = [
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", _readyz(c), methods=["GET"]),
        Route("/", _index(c, chosen), methods=["GET"]),
    ]
    if "gateway" in chosen:
        routes += gateway.app.routes(
            gateway.app.GatewayDeps(
                store=c.store,
                auth=c.auth,
                inquiry=c.inquiry,
                webhooks=c.webhooks,
                limiter=c.limiter,
                webhook_secrets=c.settings.amk_webhook_secrets,
                tolerance_s=c.settings.webhook_tolerance_s,
                max_body_bytes=c.settings.max_body_bytes,
            )
        )
    if "khqr" in chosen:
        routes += khqr.app.routes(khqr.app.KhqrDeps(c.khqr, c.auth, c.limiter))
    if "push" in chosen:
        routes += push.app.routes(push.app.PushDeps(c.store, c.push, c.auth, c.settings.push_heartbeat_s))
    if "integration" in chosen:
        routes += integration.app.routes(c.premiums, c.auth)
    if "sandbox" in chosen and c.settings.sandbox:
        s = c.settings
        routes += sandbox.app.routes(
            sandbox.app.SandboxDeps(
                state=c.sandbox_state,
                simulator=c.simulator,
                username=s.amk_username,
                password=s.amk_password,
                merchant_id=s.amk_merchant_id,
                store_id=s.amk_store_id,
                terminal_id=s.amk_terminal_id,
                secret_key=s.amk_secret_key,
            )
        )
    app = Starlette(
        routes=routes,
        middleware=[Middleware(CorrelationMiddleware)],
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )
    c.local.app = app
    return app


async def _healthz(request: Request) -> Response:
    return ok({"status": "alive"})


def _readyz(c: Container) -> Callable[[Request], Awaitable[Response]]:
    async def readyz(request: Request) -> Response:
        try:
            await c.store.ping()
        except PayHubError as exc:
            raise ServiceUnavailable("database unreachable", details=exc.message) from exc
        return ok({"status": "ready", "database": c.store.dialect})

    return readyz


def _index(c: Container, chosen: set[str]) -> Callable[[Request], Awaitable[Response]]:
    async def index(request: Request) -> Response:
        return ok(
            {
                "service": "PayHub",
                "mode": c.settings.mode,
                "serving": sorted(chosen),
                "endpoints": {
                    "inquiry": "/AMK/payments?query=P123456789",
                    "billWebhook": "/AMK/payments",
                    "khqrWebhook": "/AMK/khqr",
                    "sandbox": "/sandbox/amk" if c.settings.sandbox else None,
                    "health": "/healthz",
                    "ready": "/readyz",
                },
            }
        )

    return index
