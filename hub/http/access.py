"""Who may reach what, decided before any route runs: trusted proxies, IP allow-lists, /metrics access.

* ``PAYHUB_TRUSTED_PROXIES`` (CIDRs, default none): only a request whose socket peer is one of these may
  name its client in ``X-Forwarded-For`` / ``X-Forwarded-Proto`` (uvicorn's ``ProxyHeadersMiddleware``
  does the parsing); otherwise the socket peer is the client, for rate limits, logs and allow-lists.
  Peer and client are compared in canonical form: ``::ffff:10.20.3.4`` is the IPv4 client ``10.20.3.4``.
* ``PAYHUB_WEBHOOK_ALLOWED_IPS`` and ``PAYHUB_ADMIN_ALLOWED_IPS`` (CIDRs, default none = anyone): AMK's
  webhooks and the operator endpoints answer ``403 FORBIDDEN`` (spec envelope) to any other client.
  The spec asks for "IP whitelisting for sensitive operations"; the lists apply in production mode only,
  since the sandbox bank calls the gateway from inside the process.
* ``/metrics`` needs an admin bearer token or ``PAYHUB_METRICS_TOKEN`` (what Prometheus sends as
  ``authorization: credentials``), in the ``Authorization`` header only: a token in a URL ends up in
  access logs and proxies.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Iterable

from starlette.middleware import Middleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from hub.auth import Authenticator, authenticate, bearer
from hub.errors import Forbidden
from hub.http.client_address import canonical_ip as canonical_ip  # re-exported: its home was here
from hub.http.envelope import error_response
from hub.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# (method or None for any, path prefix) of the operations each list guards.
WEBHOOK_ROUTES = (("POST", "/AMK/payments"), ("POST", "/AMK/khqr"))
ADMIN_ROUTES = ((None, "/admin/"), (None, "/metrics"), (None, "/ops/"))


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (or single addresses) as networks; entries were validated with the settings."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def access_middleware(settings: Settings) -> list[Middleware]:
    """The proxy-header rewrite (when proxies are trusted), then the allow-lists (production only)."""
    chosen: list[Middleware] = [Middleware(CanonicalClientMiddleware)]
    if settings.trusted_proxies:
        chosen.append(Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies)))
        chosen.append(Middleware(CanonicalClientMiddleware))  # the client the proxies named
    if not settings.sandbox and (settings.webhook_allowed_ips or settings.admin_allowed_ips):
        chosen.append(
            Middleware(AllowListMiddleware, webhooks=settings.webhook_allowed_ips, admin=settings.admin_allowed_ips)
        )
    return chosen


class CanonicalClientMiddleware:
    """Writes the client address in its canonical form (:func:`canonical_ip`), so that trusted proxies,
    allow-lists, rate-limit keys and logs see one IPv4 client as one address however it was written."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: it hands back the inner app's awaitable, so an open stream holds no frame of
        # this layer (issue 13: memory per idle subscriber).
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client:
            host = canonical_ip(client[0])
            if host != client[0]:
                scope["client"] = (host, client[1])
        return self.app(scope, receive, send)


class AllowListMiddleware:
    """Refuses webhook / admin requests from clients outside their allow-list (403, spec envelope).

    An empty list allows everyone. Runs inside the proxy-header rewrite, so the client is the one the
    trusted proxies named. A client address that is not an IP address (a Unix socket) is refused.
    """

    def __init__(self, app: ASGIApp, *, webhooks: Iterable[str] = (), admin: Iterable[str] = ()) -> None:
        self.app = app
        self._rules = [(WEBHOOK_ROUTES, networks(webhooks), "webhooks"), (ADMIN_ROUTES, networks(admin), "admin")]

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine, as CanonicalClientMiddleware: an admitted request holds no frame of this layer.
        if scope["type"] == "http":
            for routes, allowed, what in self._rules:
                if allowed and _matches(routes, scope) and not _inside(scope, allowed):
                    response = error_response(Forbidden(f"This client address may not call the {what} endpoints"))
                    return response(scope, receive, send)
        return self.app(scope, receive, send)


def _matches(routes: tuple[tuple[str | None, str], ...], scope: Scope) -> bool:
    path: str = scope.get("path", "")
    method: str = scope.get("method", "")
    return any((m is None or m == method) and (path == p.rstrip("/") or path.startswith(p)) for m, p in routes)


def _inside(scope: Scope, allowed: tuple[Network, ...]) -> bool:
    client = scope.get("client")
    try:
        address = ipaddress.ip_address(client[0]) if client else None
    except ValueError:
        return False
    return address is not None and any(address in network for network in allowed)


async def require_metrics_access(conn: HTTPConnection, auth: Authenticator, metrics_token: str) -> None:
    """Admit a scraper holding ``PAYHUB_METRICS_TOKEN`` or an admin token, as ``Authorization: Bearer`` (never
    ``?token=``); raise 401/403 otherwise."""
    token = bearer(conn, query=False)
    if metrics_token and token is not None and hmac.compare_digest(token.encode(), metrics_token.encode()):
        return
    await authenticate(conn, auth, "admin", query=False)
