"""``/openapi.json``, ``/asyncapi.json`` and ``/docs``: the documents of what this process serves.

Each process documents its own routes: ``payhub run`` all of them, ``payhub serve gateway`` the
gateway's. The declarations come from every service's ``API`` (next to its routes) and, for the routes
of the composition root, from :data:`API` below. The documents are built once, at the first request,
from the app's routes (``hub.apidoc.openapi.UndeclaredRoute`` if one has no declaration: a test keeps
that from shipping).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

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
from hub.apidoc.asyncapi import asyncapi_document
from hub.apidoc.declare import METRICS, Operation, Reply, roles
from hub.apidoc.openapi import openapi_document
from hub.apidoc.page import render_page
from hub.errors import Forbidden, NotFound, ServiceUnavailable, Unauthorized
from hub.http.envelope import JSONResponse
from hub.settings import Settings
from hub.topics import Topics
from payhub.client_assets import API as CLIENT_ASSETS
from payhub.schemas import Alive, DemoConfig, DemoToken, Index, Ready, StaticPath

DESCRIPTION = (
    "PayHub: premium inquiry, AMK's bill-payment and KHQR webhooks, KHQR codes, and live payment status "
    "(SSE and WebSocket frames are in the AsyncAPI document, /asyncapi.json).\n\n"
    'Every JSON answer is the envelope `{"success": true, "data": …}` or `{"success": false, "error": {"code", '
    '"message", "details", "correlationId", "timestamp", "retryAfter"?}}` with the spec\'s error codes, and '
    "carries X-Correlation-ID. Sandbox mode (the default of `payhub run`) serves `/sandbox/amk`, AMK's side: "
    "`POST /sandbox/amk/simulate/pay` pays like the bank; hand-made webhooks need their transaction "
    "registered first with `POST /sandbox/amk/control` (`paidTransactions`). Tokens for trying it out: "
    "`.venv/bin/payhub token --sub demo --role customer` (or amk, admin)."
)

_TEXT = {"type": "string"}
# The documents' own media types (OpenAPI Initiative, AsyncAPI Initiative): they are standard documents, not
# answers of the API, so they carry no envelope (which every application/json answer has).
OPENAPI_MEDIA = "application/vnd.oai.openapi+json"
ASYNCAPI_MEDIA = "application/vnd.aai.asyncapi+json"
_JSON_DOCUMENT = {"type": "object", "description": "The JSON document."}

API = (
    Operation("GET", "/healthz", "Liveness: the process answers", "operators", (Reply(model=Alive),)),
    Operation(
        "GET",
        "/readyz",
        "Readiness: the database answers",
        "operators",
        (Reply(model=Ready),),
        errors=(ServiceUnavailable,),
    ),
    Operation(
        "GET",
        "/metrics",
        "Prometheus metrics (text exposition format 0.0.4)",
        "operators",
        (Reply(schema=_TEXT, media_type="text/plain", envelope=False),),
        security=(*roles("admin"), (METRICS,)),
        errors=(Unauthorized, Forbidden, ServiceUnavailable),
    ),
    Operation("GET", "/", "What this process serves, and where", "docs", (Reply(model=Index),)),
    Operation(
        "GET",
        "/openapi.json",
        "This OpenAPI 3.1 document (the routes this process serves)",
        "docs",
        (Reply(schema=_JSON_DOCUMENT, media_type=OPENAPI_MEDIA, envelope=False),),
    ),
    Operation(
        "GET",
        "/asyncapi.json",
        "The AsyncAPI 3.0 document of the SSE stream, the WebSocket protocol and the Kafka topics",
        "docs",
        (Reply(schema=_JSON_DOCUMENT, media_type=ASYNCAPI_MEDIA, envelope=False),),
    ),
    Operation(
        "GET",
        "/docs",
        "Both documents as one readable page",
        "docs",
        (Reply(schema=_TEXT, media_type="text/html", envelope=False),),
    ),
    Operation(
        "POST",
        "/demo/api/token",
        "A customer token for the demo page (sandbox mode only)",
        "demo",
        (Reply(model=DemoToken),),
    ),
    Operation("GET", "/demo/api/config", "The demo page's settings", "demo", (Reply(model=DemoConfig),)),
    Operation(
        "GET",
        "/demo/{path}",
        "The checkout demo page and its files",
        "demo",
        (
            Reply(
                schema=_TEXT,
                media_type="text/html",
                also=("text/css", "text/javascript", "image/png", "image/svg+xml"),
                envelope=False,
                description="The file",
            ),
            Reply(307, "`/demo` is redirected to `/demo/`"),
        ),
        path_params=StaticPath,
        errors=(NotFound,),
    ),
)


def operations() -> tuple[Operation, ...]:
    """Every declaration: this module's and every service's (what any process may serve)."""
    return (
        *API,
        *gateway.app.API,
        *khqr.app.API,
        *push.app.API,
        *integration.app.API,
        *sandbox.app.API,
        *backoffice.reconcile.routes.API,
        *backoffice.blocklist.API,
        *notifier.app.API,
        *backoffice.review_api.API,
        *backoffice.analytics.app.API,
        *backoffice.console.api(),
        *push.admin_stream.API,
        *CLIENT_ASSETS,
    )


def _version() -> str:
    try:
        return importlib.metadata.version("payhub")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was not installed
        return "0.0.0"


class Documents:
    """The documents of one app, built at the first request (the routes are complete by then)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._openapi: dict[str, Any] | None = None
        self._asyncapi: dict[str, dict[str, Any]] = {}

    def openapi(self, routes: list[BaseRoute]) -> dict[str, Any]:
        if self._openapi is None:
            self._openapi = openapi_document(
                routes,
                operations(),
                version=_version(),
                description=DESCRIPTION,
                server_url=self._settings.public_url or "/",
            )
        return self._openapi

    def asyncapi(self, host: str) -> dict[str, Any]:
        if self._settings.public_url:
            host = self._settings.public_url.split("://", 1)[-1].rstrip("/")
        if host not in self._asyncapi:
            self._asyncapi = {
                host: asyncapi_document(
                    topics=Topics(self._settings.kafka_topic_prefix),
                    host=host,
                    kafka_host=self._settings.kafka_bootstrap.split(",")[0] or "localhost:9092",
                    version=_version(),
                )
            }  # one entry: the Host header is the caller's to choose
        return self._asyncapi[host]


def docs_routes(settings: Settings) -> list[BaseRoute]:
    documents = Documents(settings)

    def handler(render: Callable[[Request], Response]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return render(request)

        return endpoint

    def openapi(request: Request) -> Response:
        return JSONResponse(documents.openapi(request.app.router.routes), media_type=OPENAPI_MEDIA)

    def asyncapi(request: Request) -> Response:
        return JSONResponse(documents.asyncapi(_host(request)), media_type=ASYNCAPI_MEDIA)

    def page(request: Request) -> Response:
        html = render_page(documents.openapi(request.app.router.routes), documents.asyncapi(_host(request)))
        return HTMLResponse(html, headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})

    return [
        Route("/openapi.json", handler(openapi), methods=["GET"]),
        Route("/asyncapi.json", handler(asyncapi), methods=["GET"]),
        Route("/docs", handler(page), methods=["GET"]),
    ]


def _host(request: Request) -> str:
    host = request.headers.get("host", "")
    # The Host header is the caller's: keep it only when it looks like a host[:port].
    if host and len(host) <= 255 and all(c.isalnum() or c in ".-:[]" for c in host):
        return host
    return "localhost:8000"
