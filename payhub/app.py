"""The ASGI app of a PayHub process: ``create_app`` builds it, its lifespan opens and closes the container.

``uvicorn --factory payhub.app:create_app`` serves the embedded process (every service, settings
from ``PAYHUB_*``); ``payhub run`` and ``payhub serve NAME`` use the same factory. Whatever is
served, the same routes, middleware and error handlers apply.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

import backoffice.analytics.app
import backoffice.blocklist
import backoffice.console
import backoffice.reconcile.routes
import backoffice.review_api
import gateway.app
import integration.app
import khqr.app
import notifier.app
import push.admin_stream
import push.app
import sandbox.app
from hub.errors import PayHubError
from hub.http.access import access_middleware
from hub.http.direct import DirectRoutes
from hub.http.envelope import ok
from hub.http.errors import EXCEPTION_HANDLERS
from hub.http.limits import BodyLimitMiddleware
from hub.http.middleware import CorrelationMiddleware
from hub.settings import Settings
from hub.tracing import Tracer
from payhub.api_docs import docs_routes
from payhub.bootstrap import SERVICES, Container
from payhub.client_assets import client_routes
from payhub.probes import probe_routes
from payhub.tracing_setup import tracer_for
from payhub.workers import integration_consumer, notifier_consumer

log = logging.getLogger("payhub.app")


def create_app(
    settings: Settings | None = None,
    *,
    services: Iterable[str] = SERVICES,
    background: bool = True,
    **adapters: object,
) -> Starlette:
    """The app serving ``services`` (all by default), with settings from the environment if not given.

    Builds the container (no I/O yet: a bad URL or service name raises ConfigError here); the
    lifespan opens it, starts its background work (unless ``background=False``: tests drive it),
    and closes it at shutdown. ``adapters`` replace the ones the settings name (see ``Container``).
    """
    settings = settings or Settings.from_env()
    chosen = tuple(services)
    given = adapters.pop("tracer", None)  # tests hand in a tracer that exports to memory
    tracer = given if isinstance(given, Tracer) else tracer_for(settings, chosen[0] if len(chosen) == 1 else "embedded")
    app = Starlette(
        middleware=[
            Middleware(CorrelationMiddleware, tracer=tracer),
            *access_middleware(settings),
            Middleware(
                BodyLimitMiddleware, max_bytes=settings.max_request_body_bytes, timeout_s=settings.body_timeout_s
            ),
            # innermost: the push streams skip the router and the exception layer, keeping what they do
            Middleware(DirectRoutes, names=push.app.STREAM_ROUTES, handlers=EXCEPTION_HANDLERS),
        ],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=_lifespan,
    )
    container = Container(settings, services=chosen, app=app, tracer=tracer, **adapters)  # type: ignore[arg-type]
    # Routes are added before the app is returned: the container's in-process clients need the app.
    app.router.routes.extend(build_routes(container, chosen))
    app.state.container = container
    app.state.background = background
    app.state.support_contact = settings.support_contact  # payment errors name it (hub.http.errors)
    return app


def container_of(app: Starlette) -> Container:
    container: Container = app.state.container
    return container


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    container = container_of(app)
    background = app.state.background
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(container.tracer.shutdown)  # export the last spans (OpenTelemetry), last of all
        try:
            await stack.enter_async_context(container)
            await container.start(background=background)
            if background and "integration" in container.services:
                await stack.enter_async_context(
                    integration_consumer(
                        container.settings,
                        container.premiums,
                        container.metrics,
                        container.readiness,
                        container.tracer,
                    )
                )
            if background and "notifier" in container.services:
                await stack.enter_async_context(
                    notifier_consumer(
                        container.settings,
                        container.notifier,
                        container.metrics,
                        container.readiness,
                        container.tracer,
                    )
                )
        except PayHubError as exc:
            log.error("start-up failed", extra={"error": exc.message, "details": exc.details})
            raise
        if getattr(app.state, "freeze_gc", False):
            # Everything start-up made (modules, routes, the container) lives as long as the process: moved to
            # the collector's permanent generation (gc.freeze, Python docs) a full collection no longer walks
            # it. With thousands of subscribers open those collections were the servers' p99 pauses
            # (docs/performance.md). Only for a served process: tests build many apps in one interpreter.
            gc.freeze()
        yield


def build_routes(c: Container, services: Iterable[str] = SERVICES) -> list[BaseRoute]:
    chosen = set(services)
    routes: list[BaseRoute] = [
        *probe_routes(
            c.metrics,
            c.readiness,
            c.auth,
            c.settings.metrics_token.get_secret_value(),
            ready_data=lambda: {"database": c.store.dialect},
        ),
        Route("/", _index(c, chosen), methods=["GET"]),
        *docs_routes(c.settings),
    ]
    if "gateway" in chosen:
        routes += gateway.app.routes(
            gateway.app.GatewayDeps(
                store=c.store,
                auth=c.auth,
                inquiry=c.inquiry,
                webhooks=c.webhooks,
                limiter=c.limiter,
                webhook_secrets=tuple(x.get_secret_value() for x in c.settings.amk_webhook_secrets),
                tolerance_s=c.settings.webhook_tolerance_s,
                max_body_bytes=c.settings.max_body_bytes,
                metrics=c.metrics,
            )
        )
        routes += _analytics_routes(c)
        routes += backoffice.blocklist.routes(backoffice.blocklist.BlocklistDeps(c.blocklist, c.auth))
        routes += backoffice.reconcile.routes.routes(
            backoffice.reconcile.routes.ReconciliationDeps(c.reconciler, c.daily_reconciliation, c.auth)
        )
        routes += backoffice.review_api.routes(backoffice.review_api.BackofficeDeps(c.auth, c.review_desk, c.lookups))
        routes += backoffice.console.routes()
    if "khqr" in chosen:
        routes += khqr.app.routes(khqr.app.KhqrDeps(c.khqr, c.auth, c.limiter))
    if "push" in chosen:
        routes += push.app.routes(
            push.app.PushDeps(
                c.store,
                c.push,
                c.auth,
                c.settings.push_heartbeat_s,
                push.app.WsLimits.of(c.settings),
                push.app.Retry.of(c.settings),
            )
        )
        routes += push.admin_stream.routes(
            push.admin_stream.AdminStreamDeps(c.store, c.push, c.auth, c.settings.push_heartbeat_s)
        )
    if "integration" in chosen:
        routes += integration.app.routes(c.premiums, c.auth)
    if "sandbox" in chosen and c.settings.sandbox:
        s = c.settings
        routes += sandbox.app.routes(
            sandbox.app.SandboxDeps(
                state=c.sandbox_state,
                simulator=c.simulator,
                username=s.amk_username,
                password=s.amk_password.get_secret_value(),
                merchant_id=s.amk_merchant_id,
                store_id=s.amk_store_id,
                terminal_id=s.amk_terminal_id,
                secret_key=s.amk_secret_key.get_secret_value(),
            )
        )
    if "notifier" in chosen:
        routes += notifier.app.routes(
            notifier.app.NotifierDeps(
                c.store, c.auth, c.notify_outbox if c.settings.sandbox else None, wake=c.dispatcher.wake
            )
        )
    if "khqr" in chosen or "gateway" in chosen:
        routes += _demo_routes(c)
    if chosen & {"push", "khqr", "gateway"}:  # the stream service and the demo page's hosts
        routes += client_routes()
    return routes


DEMO_DIR = Path(__file__).resolve().parent.parent / "web-demo"
OPS_ANALYTICS_DIR = Path(__file__).resolve().parent.parent / "web-ops" / "analytics"


def _analytics_routes(c: Container) -> list[BaseRoute]:
    """``/admin/analytics``, its stream, and the dashboard page ``/ops/analytics/`` (served with the gateway)."""
    s = c.settings
    timing = backoffice.analytics.app.StreamTiming(
        s.analytics_stream_interval_s, s.analytics_refresh_s, s.analytics_heartbeat_s
    )
    return backoffice.analytics.app.routes(
        backoffice.analytics.app.AnalyticsDeps(c.auth, c.analytics, timing, OPS_ANALYTICS_DIR)
    )


def _demo_routes(c: Container) -> list[BaseRoute]:
    """The checkout demo at /demo/. Its token helper exists only in sandbox mode: in production the
    page gets its customer token from the insurer's own login, never from PayHub."""
    routes: list[BaseRoute] = []
    if c.settings.sandbox:

        async def demo_token(request: Request) -> Response:
            sub = f"demo-{secrets.token_hex(4)}"
            return ok({"token": c.auth.issue(sub, "customer", 3600), "sub": sub, "sandbox": True})

        routes.append(Route("/demo/api/token", demo_token, methods=["POST"]))

    async def demo_config(request: Request) -> Response:
        return ok({"sandbox": c.settings.sandbox, "sessionTtlSeconds": c.settings.khqr_session_ttl_s})

    routes.append(Route("/demo/api/config", demo_config, methods=["GET"]))
    directory = Path(c.settings.demo_dir) if c.settings.demo_dir else DEMO_DIR
    if directory.is_dir():
        routes.append(FallbackMount("/demo", StaticFiles(directory=directory, html=True), name="demo"))
    return routes


class FallbackMount(Mount):
    """A mount that serves only what no route claims: its full matches count as partial ones, so the
    router prefers a route with the same path (``POST /demo/api/token`` answers ``GET`` with 405 and
    ``Allow: POST``, instead of the static files' 404)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        return (Match.PARTIAL if match is Match.FULL else match), child


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
                    "notifications": "/sandbox/notifications" if c.settings.sandbox else None,
                    "demo": "/demo/",
                    "console": "/ops/" if "gateway" in chosen else None,
                    "analytics": "/admin/analytics",
                    "analyticsDashboard": "/ops/analytics/",
                    "khqr": "/khqr?bankCode={...}&billNumber=P123456789",
                    "events": "/api/payments/{paymentId}/events",
                    "websocket": "/ws/payments",
                    "health": "/healthz",
                    "ready": "/readyz",
                    "openapi": "/openapi.json",
                    "asyncapi": "/asyncapi.json",
                    "docs": "/docs",
                },
            }
        )

    return index
