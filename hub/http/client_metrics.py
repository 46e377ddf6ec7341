"""Latency and outcome of every call an HTTP client makes, per named endpoint (AMK's partner API).

``TimedTransport`` wraps the client's transport (a socket pool, or the in-process ASGI transport)
and observes one histogram sample per request attempt: the time until the answer's status and
headers arrived (AMK's answers are small), labelled with the request's ``endpoint`` and the
``outcome``. Callers name the endpoint per request, ``extensions={ENDPOINT: "payment-verify"}``;
a request without one counts as ``other``. Both label sets are bounded.

Outcomes: ``success`` (2xx/3xx), ``client_error`` (4xx), ``server_error`` (5xx), ``timeout`` (any
httpx timeout) and ``unreachable`` (any other transport failure: refused, reset, DNS).
"""

from __future__ import annotations

import time

import httpx
from prometheus_client import Histogram

ENDPOINT = "payhub.endpoint"  # the request extension naming the endpoint
OTHER = "other"


def outcome_of(status_code: int) -> str:
    if status_code >= 500:
        return "server_error"
    if status_code >= 400:
        return "client_error"
    return "success"


class TimedTransport(httpx.AsyncBaseTransport):
    """``inner`` with every request timed into ``histogram`` (labels ``endpoint``, ``outcome``)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, histogram: Histogram) -> None:
        self._inner = inner
        self._histogram = histogram

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        endpoint = str(request.extensions.get(ENDPOINT, OTHER))
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TimeoutException:
            self._histogram.labels(endpoint, "timeout").observe(time.perf_counter() - started)
            raise
        except httpx.TransportError:
            self._histogram.labels(endpoint, "unreachable").observe(time.perf_counter() - started)
            raise
        self._histogram.labels(endpoint, outcome_of(response.status_code)).observe(time.perf_counter() - started)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
