"""Direct dispatch of a few long-lived routes (the push streams), past the router and the exception layer.

Why: a stream's request task holds, for the stream's whole life, a coroutine frame (and the closures
and ``Request`` objects) of every layer it was called through, and each new stream is first matched
against every route of the app in turn. With thousands of streams open per process, and all of them
reconnecting at once after a restart (issue 13), Starlette's ``ExceptionMiddleware`` and ``Router``
were ~2 KiB of memory per open stream and a linear route scan per connect.

Same behaviour: this is the innermost middleware, so the request has passed every PayHub layer
(correlation id, span, access log, client address, proxy headers, allow-lists, body limits) exactly as
before. A chosen route is taken only on a full match (its path, and for HTTP its methods), and is run
as the router would run it (``route.app``: Starlette's ``request_response`` / ``websocket_session``,
which turn an exception into a response with the exception handlers found in the scope); those
handlers are the ones the app's ``ExceptionMiddleware`` uses (Starlette's defaults, then the app's).
A route is chosen only if the router would pick it first for every request it fully matches:
``tests/unit/test_direct_routes.py`` checks that for the app's chosen routes. Anything else goes on
to the router.
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection, Mapping
from typing import Any

from starlette.exceptions import HTTPException, WebSocketException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send


class DirectRoutes:
    """Runs the app's routes named in ``names`` (``Route``/``WebSocketRoute`` names) without the router.

    ``handlers``: the app's exception handlers (those its ``ExceptionMiddleware`` gets: all but
    ``500``/``Exception``). The routes are looked up in the app's router at the first request (they
    are added after the middleware is declared).
    """

    def __init__(self, app: ASGIApp, *, names: Collection[str], handlers: Mapping[Any, Any]) -> None:
        self.app = app
        self.names = frozenset(names)
        defaults = ExceptionMiddleware(app)  # Starlette's own defaults, as the exception layer has them
        exceptions: dict[Any, Any] = {
            HTTPException: defaults.http_exception,
            WebSocketException: defaults.websocket_exception,
        }
        statuses: dict[int, Any] = {}
        for key, handler in handlers.items():
            if isinstance(key, int):
                statuses[key] = handler
            else:
                exceptions[key] = handler
        self.handlers = (exceptions, statuses)
        self._routes: list[BaseRoute] | None = None

    def routes(self, scope: Scope) -> list[BaseRoute]:
        """The chosen routes of the app serving ``scope``, in the router's order."""
        if self._routes is None:
            every: list[BaseRoute] = scope["app"].router.routes
            self._routes = [r for r in every if isinstance(r, Route | WebSocketRoute) and r.name in self.names]
        return self._routes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: an open stream holds no frame of this layer either.
        if scope["type"] in ("http", "websocket") and "app" in scope:
            for route in self.routes(scope):
                match, child = route.matches(scope)
                if match is Match.FULL:
                    # What the exception layer and the router would have put in the scope.
                    scope["starlette.exception_handlers"] = self.handlers
                    scope.setdefault("router", scope["app"].router)
                    scope.update(child)
                    app: ASGIApp = route.app  # type: ignore[attr-defined]
                    return app(scope, receive, send)
        return self.app(scope, receive, send)
