"""Fetching AMK's settlement statement of a day over HTTP (``hub.ports.StatementSource``).

How AMK really delivers statements is not known (see ``statement_csv`` for the format assumption):
``PAYHUB_AMK_STATEMENT_URL`` is a URL template with ``{date}`` (``YYYY-MM-DD``), absolute or relative
to the AMK client's base URL. In sandbox mode it defaults to the sandbox bank's
``/statements/{date}.csv``. Without it, statements are only imported (``payhub reconcile --statement``).
"""

from __future__ import annotations

import logging
from datetime import date

import httpx

from hub.errors import AmkUnavailable, AmkUnknownError

log = logging.getLogger("payhub.amk")
MAX_BYTES = 64 * 1024 * 1024


class HttpStatementSource:
    """GET the statement file of a day; 404 means AMK has none (yet) for that day."""

    def __init__(self, http: httpx.AsyncClient, url_template: str) -> None:
        if "{date}" not in url_template:
            raise ValueError("the statement URL template needs {date}")
        self._http = http
        self._template = url_template

    def url(self, day: date) -> str:
        return self._template.replace("{date}", day.isoformat())

    async def fetch(self, day: date) -> bytes | None:
        """The file's bytes, None on 404; ``AmkUnavailable`` when unreachable, 5xx or 429, and
        ``AmkUnknownError`` for any other answer or a file larger than ``MAX_BYTES``."""
        url = self.url(day)
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code == 404:
                    return None
                if response.status_code >= 500 or response.status_code == 429:
                    raise AmkUnavailable(f"AMK statement answered {response.status_code}")
                if response.status_code != 200:
                    raise AmkUnknownError(
                        "AMK refused the statement request", details={"httpStatus": response.status_code, "url": url}
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_BYTES:
                        raise AmkUnknownError(f"AMK statement larger than {MAX_BYTES} bytes", details={"url": url})
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            log.warning("AMK statement unreachable", extra={"url": url, "error": repr(exc)})
            raise AmkUnavailable("AMK statement unreachable", details=repr(exc)) from exc
