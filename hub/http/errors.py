"""Exception handlers: every error becomes the envelope with the matching status."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from hub.domain.money import MoneyError
from hub.errors import BadRequest, MethodNotAllowed, NotFound, PayHubError, PayloadTooLarge, Unauthorized
from hub.http.envelope import error_response

log = logging.getLogger("payhub.http")

_BY_STATUS: dict[int, type[PayHubError]] = {
    400: BadRequest,
    401: Unauthorized,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
}


def support_contact(request: Request) -> str:
    """The support contact payment errors name (``PAYHUB_SUPPORT_CONTACT``, put in the app's state by the
    composition root); empty when none is configured."""
    return str(getattr(request.app.state, "support_contact", "") or "")


async def payhub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PayHubError)
    if exc.status_code == 500:  # a bug or a broken invariant (e.g. UniqueViolation): keep the traceback
        log.error("internal error", exc_info=exc, extra={"path": request.url.path})
    return error_response(exc, support_contact=support_contact(request))


async def money_error(request: Request, exc: Exception) -> Response:
    """An amount or currency refused by the one amount parser: 400 BAD_REQUEST naming the field."""
    assert isinstance(exc, MoneyError)
    return error_response(BadRequest("Invalid amount", details=[{"field": exc.field, "message": exc.reason}]))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = _BY_STATUS.get(exc.status_code, PayHubError)
    err = kind()
    if kind is PayHubError:
        err.status_code = exc.status_code
    if exc.status_code == 404:
        err.details = {"path": request.url.path}
    response = error_response(err)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    if exc.status_code == 405:
        # RFC 9110 requires ``Allow``; Starlette names only the first route matching the path, so
        # GET and POST /AMK/payments (two routes) would advertise GET alone.
        allowed = _allowed_methods(request)
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
    return response


def _allowed_methods(request: Request) -> list[str]:
    router = getattr(request.scope.get("app"), "router", None)
    # The app's own view of the path: under a mount (the /demo static files) the scope's root_path is the
    # mount's, and the app's routes would not match (the mount's "Allow: GET, HEAD" would be sent instead).
    scope = {**request.scope, "root_path": request.scope.get("app_root_path", "")}
    methods: list[str] = []
    for route in getattr(router, "routes", []):
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods += [m for m in getattr(route, "methods", None) or () if m not in methods]
    return methods


EXCEPTION_HANDLERS = {PayHubError: payhub_error, MoneyError: money_error, HTTPException: http_error}
