"""Routes run past the router (``hub.http.direct``): only where the router would run them, with the
same exception handling."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Route

from hub.errors import NotFound
from hub.http.direct import DirectRoutes
from hub.http.errors import EXCEPTION_HANDLERS
from payhub.app import create_app
from push.app import STREAM_ROUTES
from tests.conftest import make_settings


def scope_of(kind: str, path: str, method: str = "GET") -> dict[str, Any]:
    return {"type": kind, "path": path, "method": method, "root_path": "", "headers": [], "query_string": b""}


@pytest.mark.parametrize(
    ("kind", "path", "method"),
    [
        ("http", "/api/payments/1/events", "GET"),
        ("http", "/api/payments/1/events", "HEAD"),
        ("http", "/api/payments/abc/events", "GET"),
        ("http", "/api/payments/1/events", "POST"),
        ("http", "/ws/payments", "GET"),
        ("websocket", "/ws/payments", "GET"),
        ("http", "/api/payments/1/events/", "GET"),
    ],
)
def test_a_chosen_route_is_taken_only_where_the_router_takes_it(
    tmp_path: Any, kind: str, path: str, method: str
) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path}/x.db"), background=False)
    every: list[BaseRoute] = app.router.routes
    router_first = next((r for r in every if r.matches(scope_of(kind, path, method))[0] is Match.FULL), None)
    direct = DirectRoutes(app, names=STREAM_ROUTES, handlers=EXCEPTION_HANDLERS)
    chosen = direct.routes({"app": app})
    assert {getattr(r, "name", None) for r in chosen} == set(STREAM_ROUTES), "every stream route is in the app"
    direct_first = next((r for r in chosen if r.matches(scope_of(kind, path, method))[0] is Match.FULL), None)
    if direct_first is not None:
        assert direct_first is router_first


async def test_errors_are_answered_as_the_exception_layer_answers_them() -> None:
    async def failing(request: Request) -> Response:
        if request.path_params["what"] == "missing":
            raise NotFound("no such thing")
        return PlainTextResponse(request.path_params["what"])

    def app(direct: bool) -> Starlette:
        middleware = [Middleware(DirectRoutes, names=["it"], handlers=EXCEPTION_HANDLERS)] if direct else []
        routes = [Route("/x/{what}", failing, name="it")]
        return Starlette(routes=routes, middleware=middleware, exception_handlers=dict(EXCEPTION_HANDLERS))

    answers = []
    for direct in (False, True):
        transport = httpx.ASGITransport(app=app(direct))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answers.append(
                [
                    (r.status_code, r.text, r.headers.get("allow"))
                    for r in [
                        await http.get("/x/missing"),
                        await http.get("/x/here"),
                        await http.post("/x/here"),  # not a full match: the router answers 405
                    ]
                ]
            )
    assert answers[0] == answers[1]
    assert [status for status, _, _ in answers[1]] == [404, 200, 405]
