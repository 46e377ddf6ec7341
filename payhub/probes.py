"""The operator endpoints every PayHub process serves: ``/healthz``, ``/readyz``, ``/metrics``.

HTTP services mount ``probe_routes`` beside their own routes (``payhub/app.py``). Worker processes
(relay, feeder, and any later one such as a notifier) serve the same routes from a small Starlette
app of their own, under uvicorn, on a port of their own: ``serving_probes``.

Why a Starlette app under uvicorn and not prometheus-client's ``start_http_server``: that server runs
in a thread of its own, so ``/readyz`` could not await the process's own asyncpg, Redis and Kafka
clients on its event loop (only open separate connections from another thread), it knows no
authentication (``/metrics`` is not anonymous here) and no allow-lists, and it would answer in
another format than the spec's envelope. The same routes, middleware and error handlers as the HTTP
services keep one behaviour: 200/503 envelopes, the correlation id, ``PAYHUB_METRICS_TOKEN``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.auth import Authenticator
from hub.errors import ConfigError
from hub.http.access import access_middleware, require_metrics_access
from hub.http.envelope import ok
from hub.http.errors import EXCEPTION_HANDLERS
from hub.http.middleware import CorrelationMiddleware
from hub.metrics import Metrics
from hub.readiness import Readiness
from hub.settings import Settings

log = logging.getLogger("payhub.probes")
METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def probe_routes(
    metrics: Metrics,
    readiness: Readiness,
    auth: Authenticator,
    metrics_token: str,
    *,
    ready_data: Callable[[], dict[str, Any]] | None = None,
) -> list[BaseRoute]:
    """``/healthz`` (alive: checks nothing), ``/readyz`` (every dependency of ``readiness``: 200 with
    ``checks``, else 503 SERVICE_UNAVAILABLE naming the failed ones), ``/metrics`` (Prometheus text,
    admin token or ``metrics_token``). ``ready_data`` adds fields to the 200 answer."""

    async def healthz(request: Request) -> Response:
        return ok({"status": "alive"})

    async def readyz(request: Request) -> Response:
        checks = await readiness.require()
        return ok({"status": "ready", **(ready_data() if ready_data else {}), "checks": checks})

    async def metrics_text(request: Request) -> Response:
        await require_metrics_access(request, auth, metrics_token)
        return Response(await metrics.render_async(), media_type=METRICS_MEDIA_TYPE)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_text, methods=["GET"]),
    ]


def probe_app(settings: Settings, metrics: Metrics, readiness: Readiness, *, process: str) -> Starlette:
    """The app of a worker process's port: the probe routes with the services' middleware and errors."""
    from hub.auth import authenticator

    routes = probe_routes(
        metrics,
        readiness,
        authenticator(settings),
        settings.metrics_token.get_secret_value(),
        ready_data=lambda: {"process": process},
    )
    return Starlette(
        routes=routes,
        middleware=[Middleware(CorrelationMiddleware), *access_middleware(settings)],
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )


@contextlib.asynccontextmanager
async def serving_probes(
    settings: Settings, metrics: Metrics, readiness: Readiness, *, process: str, port: int
) -> AsyncIterator[int]:
    """Serve ``probe_app`` on ``settings.host:port`` while the block runs; yields the port bound.

    Raises ConfigError when the port cannot be bound (taken, not allowed). uvicorn runs in this
    event loop, so ``/readyz`` awaits the same clients the worker uses. A SIGTERM or SIGINT stops
    this server first (uvicorn captures them while it serves), then reaches the process as usual.
    """
    import uvicorn

    app = probe_app(settings, metrics, readiness, process=process)
    # Bound here, not by uvicorn: a taken port is then an error we raise, where uvicorn would
    # sys.exit() inside its task (which asyncio re-raises out of the whole event loop).
    sock = _bind(settings.host, port, process)
    config = uvicorn.Config(app, lifespan="off", log_config=None, proxy_headers=False, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"payhub-{process}-probes")
    try:
        while not server.started:
            if task.done():
                task.result()
                raise ConfigError(f"{process}: the /metrics server stopped at start-up")
            await asyncio.sleep(0.01)
        bound: int = sock.getsockname()[1]
        log.info("probes listening", extra={"worker": process, "port": bound})
        yield bound
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        sock.close()


def _bind(host: str, port: int, process: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{process}: cannot serve /metrics on {host}:{port}", details=exc.strerror) from exc
    sock.set_inheritable(True)
    return sock
