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

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

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


def routes(directory: Path = CONSOLE_DIR) -> list[BaseRoute]:
    """``/ops/`` (index.html) and each file of ``directory`` at ``/ops/<name>``; nothing when it is missing.

    One route per file, not a mount of the whole ``/ops/`` prefix: other pages live under it
    (``/ops/analytics/``, with its own routes), and ``/ops/analytics`` must still be redirected to them.
    """
    if not directory.is_dir():
        return []
    files = {p.name: p for p in sorted(directory.iterdir()) if p.is_file() and not p.name.startswith(".")}

    def serve(path: Path) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            return FileResponse(path, headers=SECURITY_HEADERS)

        return handle

    found: list[BaseRoute] = []
    if "index.html" in files:
        found.append(Route("/ops/", serve(files["index.html"]), methods=["GET", "HEAD"]))
    found += [Route(f"/ops/{name}", serve(path), methods=["GET", "HEAD"]) for name, path in files.items()]
    return found
