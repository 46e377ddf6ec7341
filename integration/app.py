"""Integration service HTTP API (called by the gateway; service or admin tokens only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.adapters.integration import premium_json
from hub.apidoc.declare import Operation, Reply, roles
from hub.auth import Authenticator, authenticate
from hub.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable, Unauthorized
from hub.http.envelope import ok
from hub.http.path import path_id
from integration.premiums import APPLICATION_NUMBER, PremiumService
from integration.schemas import PremiumPath, PremiumQuery, PremiumRecord

# The OpenAPI declarations of the routes below (hub.apidoc); tests fail when the two differ.
API = (
    Operation(
        "GET",
        "/integration/premiums",
        "The premium due for a policy or application number",
        "integration",
        (Reply(model=PremiumRecord),),
        security=roles("service", "admin"),
        query=PremiumQuery,
        errors=(BadRequest, Unauthorized, Forbidden, NotFound, ServiceUnavailable),
    ),
    Operation(
        "GET",
        "/integration/premiums/{premium_id}",
        "A premium by id (due or paid)",
        "integration",
        (Reply(model=PremiumRecord),),
        security=roles("service", "admin"),
        path_params=PremiumPath,
        errors=(Unauthorized, Forbidden, NotFound, ServiceUnavailable),
    ),
)


def routes(service: PremiumService, auth: Authenticator) -> list[BaseRoute]:
    async def due_premium(request: Request) -> Response:
        await authenticate(request, auth, "service", "admin", query=False)
        query = request.query_params.get("query", "")
        if not APPLICATION_NUMBER.match(query):
            raise BadRequest(details=[{"field": "query", "message": "1-10 letters or digits"}])
        premium = await service.due(query)
        if premium is None:
            raise NotFound(f"No premium due for {query}")
        return ok(premium_json(premium, contact=True))

    async def premium_by_id(request: Request) -> Response:
        await authenticate(request, auth, "service", "admin", query=False)
        premium_id = path_id(request, "premium_id")
        premium = await service.get(premium_id)
        if premium is None:
            raise NotFound(f"No premium {premium_id}")
        return ok(premium_json(premium, contact=True))

    return [
        Route("/integration/premiums", due_premium, methods=["GET"]),
        Route("/integration/premiums/{premium_id:str}", premium_by_id, methods=["GET"]),
    ]
