"""KHQR routes: ``GET /khqr`` (generate or reuse a QR) and ``GET /khqr/sessions/{id}`` (status, long-poll)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.auth import Authenticator, authenticate
from hub.errors import BadRequest
from hub.fraud.requester import requester
from hub.http.envelope import ok
from hub.ports import RateLimiter
from khqr.service import KhqrService, parse_bank_code

CUSTOMER_ROLES = ("customer", "admin", "service")


@dataclass
class KhqrDeps:
    service: KhqrService
    auth: Authenticator
    limiter: RateLimiter


def _number(request: Request, name: str, maximum: float | None = None) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not math.isfinite(value) or value < 0 or (maximum is not None and value > maximum):
        bound = f" up to {maximum:g}" if maximum is not None else ""
        raise BadRequest(details=[{"field": name, "message": f"a non-negative number{bound}"}])
    return value


def routes(d: KhqrDeps) -> list[BaseRoute]:
    async def generate(request: Request) -> Response:
        who = await authenticate(request, d.auth, *CUSTOMER_ROLES)
        asking = requester(request, who)  # validates X-Device-Id
        if who.role != "service":  # a PayHub service's own callers were limited where they came in
            await d.limiter.hit(user=who.sub, ip=request.client.host if request.client else "unknown")
        parse_bank_code(request.query_params.get("bankCode"))
        return ok(await d.service.generate(request.query_params.get("billNumber", ""), asking, who))

    async def session(request: Request) -> Response:
        """A QR session's status (``?wait=&after=``: long-poll): admin, service, the payment's subscribe token,
        or a customer its payment was offered to; another customer's session answers as an unknown one."""
        who = await authenticate(request, d.auth)
        wait = _number(request, "wait", 60) or 0.0
        after = _number(request, "after")
        session_id = request.path_params["session_id"]
        status = await d.service.session_status(session_id, who=who)
        if wait:
            status = await d.service.session_status(session_id, wait, None if after is None else int(after), who=who)
        return ok(status)

    return [
        Route("/khqr", generate, methods=["GET"]),
        Route("/khqr/sessions/{session_id:str}", session, methods=["GET"]),
    ]
