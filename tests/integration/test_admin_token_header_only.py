"""Operator (admin), service and /metrics routes take their token from the ``Authorization`` header only.

A token in a URL ends up in access logs, proxies and ``Referer`` headers; only the subscriber routes
that declare the ``tokenQuery`` scheme (EventSource cannot set headers) read ``?token=``. Every
operation of the OpenAPI document whose security admits nothing but admin, service or metrics tokens
is sent a valid admin token as ``?token=`` and must answer the contract's 401 envelope; the same token
in the header gets past authentication (so the 401 is the query's, not the token's).
"""

from __future__ import annotations

import re

import httpx

from hub.apidoc.declare import ADMIN, METRICS, SERVICE, TOKEN_QUERY, Operation
from payhub.api_docs import operations
from payhub.bootstrap import Container
from tests.conftest import LiveServer, token

HEADER_ONLY = frozenset({ADMIN, SERVICE, METRICS})


def header_only(op: Operation) -> bool:
    """Every way in is an admin, service or metrics token (none a customer's, a subscriber's, or ``?token=``)."""
    schemes = {name for alternative in op.security for name in alternative}
    return bool(schemes) and schemes <= HEADER_ONLY and TOKEN_QUERY not in schemes


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


OPERATIONS = [op for op in operations() if header_only(op)]


def test_the_operator_routes_are_all_covered() -> None:
    """The selection is not empty by mistake: one route of each family is in it."""
    families = {"/admin/reviews", "/admin/blocklist", "/admin/analytics/stream", "/admin/events/stream", "/metrics"}
    families |= {"/admin/notifications", "/admin/reconciliation/runs", "/integration/premiums"}
    assert families <= {op.path for op in OPERATIONS}


async def test_an_admin_token_in_the_query_is_refused_everywhere(container: Container, live: LiveServer) -> None:
    admin = token(container, "admin", "ops-query")
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as http:
        for op in OPERATIONS:
            path = concrete(op.path)
            r = await http.request(op.method, path, params={"token": admin})
            assert r.status_code == 401, (op.method, op.path, r.status_code, r.text)
            body = r.json()
            assert body["success"] is False, (op.path, body)
            error = body["error"]
            assert error["code"] == "UNAUTHORIZED", (op.path, error)
            assert error["message"] == "Missing bearer token", (op.path, error)
            assert error["correlationId"] == r.headers["x-correlation-id"] and error["timestamp"], (op.path, error)

            # The same token in the header is let in (whatever the route then answers: 200, 400, 404, a stream).
            async with http.stream(op.method, path, headers={"Authorization": f"Bearer {admin}"}) as ok:
                assert ok.status_code not in (401, 403), (op.method, op.path, ok.status_code, await ok.aread())
