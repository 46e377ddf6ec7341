"""The browser/Node status client (``clients/js/payhub.js``) and its types, served at ``/static/``.

Served by the push service (whose streams it reads) and by the processes that serve the demo page
(which imports it), at stable paths: ``/static/payhub.js`` and ``/static/payhub.d.ts``. The module is
public code without secrets, loaded cross-origin by the insurer's own pages (a module script needs
CORS), so any origin may read it; ``no-cache`` makes browsers revalidate it (ETag) after an upgrade.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

CLIENTS_JS = Path(__file__).resolve().parent.parent / "clients" / "js"
ASSETS = {
    "/static/payhub.js": ("payhub.js", "text/javascript; charset=utf-8"),
    "/static/payhub.d.ts": ("payhub.d.ts", "application/typescript; charset=utf-8"),
}
HEADERS = {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff"}


def client_routes(directory: Path = CLIENTS_JS) -> list[BaseRoute]:
    """A route per asset present in ``directory`` (none when the source tree is not there)."""
    routes: list[BaseRoute] = []
    for path, (name, media_type) in ASSETS.items():
        file = directory / name
        if file.is_file():
            routes.append(Route(path, _serve(file, media_type), methods=["GET", "HEAD"]))
    return routes


def _serve(file: Path, media_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return FileResponse(file, media_type=media_type, headers=HEADERS)

    return endpoint
