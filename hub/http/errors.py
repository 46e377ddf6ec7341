"""Exception handlers: every error becomes the envelope with the matching status."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from hub.errors import BadRequest, MethodNotAllowed, NotFound, PayHubError, PayloadTooLarge, Unauthorized
from hub.http.envelope import error_response

_BY_STATUS: dict[int, type[PayHubError]] = {
    400: BadRequest,
    401: Unauthorized,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
}


async def payhub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PayHubError)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = _BY_STATUS.get(exc.status_code, PayHubError)
    err = kind()
    if kind is PayHubError:
        err.status_code = exc.status_code
    if exc.status_code == 404:
        err.details = {"path": request.url.path}
    return error_response(err)


EXCEPTION_HANDLERS = {PayHubError: payhub_error, HTTPException: http_error}
