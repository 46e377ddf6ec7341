"""The operations console's page at ``/ops/``: static files (``web-ops/console/``), served by the gateway.

How the page authenticates (see docs/operations.md "Operations console"): the files themselves hold no
data and no secret, so they are served to anyone who may reach ``/ops/`` (in production mode the
``PAYHUB_ADMIN_ALLOWED_IPS`` allow-list applies to ``/ops/`` as to ``/admin/``). The page asks for an
admin bearer token, keeps it in the tab's ``sessionStorage`` and sends it in the ``Authorization``
header of every ``/admin/…`` call; no cookie exists (so no CSRF), and no token is ever put in a URL
(the live feed is read with ``fetch``, not ``EventSource``, which cannot send headers), so none
reaches an access log, a proxy or a ``Referer``.

Every response carries a strict Content-Security-Policy (scripts, styles and connections from this
origin only; no inline script; no framing), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy:
no-referrer`` and ``Cache-Control: no-store``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "web-ops" / "console"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every HTTP response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, sending)


def routes(directory: Path = CONSOLE_DIR) -> list[BaseRoute]:
    """``/ops/`` (index.html) and its files; nothing when ``directory`` is missing."""
    if not directory.is_dir():
        return []
    return [Mount("/ops", SecurityHeaders(StaticFiles(directory=directory, html=True)), name="ops")]
