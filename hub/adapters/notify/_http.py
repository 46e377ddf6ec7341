"""One HTTP call to a notification provider, its answer turned into an outcome (shared by push, SMS and
partner webhooks): a 2xx is delivered; no answer, a timeout, 408, 429 and 5xx are ``ChannelUnavailable``
(retriable, with the provider's ``Retry-After`` in seconds when it sent one); other answers are
``NotificationRefused``, unless the caller names them retriable too."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from hub.errors import ChannelUnavailable, NotificationRefused

RETRIABLE_STATUSES = frozenset({408, 425, 429})
_SHOWN = 200  # characters of a provider's answer kept in the error (logs, the notification's last_error)


def retry_after_s(response: httpx.Response) -> int | None:
    """``Retry-After`` as whole seconds (the delta-seconds form, RFC 9110 §10.2.3); None otherwise."""
    value = response.headers.get("retry-after", "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 6 else None


async def post(
    http: httpx.AsyncClient,
    url: str,
    *,
    what: str,
    content: bytes,
    headers: Mapping[str, str],
    retriable: frozenset[int] = frozenset(),
) -> httpx.Response:
    """POST ``content``; the response when 2xx, else the error its status means (see the module doc)."""
    try:
        response = await http.post(url, content=content, headers=dict(headers))
    except httpx.HTTPError as exc:
        raise ChannelUnavailable(f"{what} unreachable", details=f"{type(exc).__name__}: {exc}") from exc
    if 200 <= response.status_code < 300:
        return response
    detail = f"HTTP {response.status_code}: {response.text[:_SHOWN]}"
    status = response.status_code
    if status >= 500 or status in RETRIABLE_STATUSES or status in retriable:
        raise ChannelUnavailable(f"{what} answered {status}", details=detail, retry_after=retry_after_s(response))
    raise NotificationRefused(f"{what} refused the message ({status})", details=detail)
