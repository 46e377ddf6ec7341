"""``PayHubClient``: PayHub's HTTP API for app backends and partners, over ``httpx``.

    async with PayHubClient("https://payhub.example", token=customer_jwt) as payhub:
        qr = await payhub.khqr("P123456789")
        async for event in payhub.events(qr.payment_id, token=qr.subscribe_token):
            print(event.id, event.status)

Every call answers a typed value or raises :class:`PayHubApiError` (the envelope's code, message,
correlation id) or :class:`PayHubTransportError` (no answer). ``transport=`` replaces the wire
(``httpx.ASGITransport`` for an in-process app, ``httpx.MockTransport`` in tests).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx
from httpx_sse import SSEError, aconnect_sse

from payhub_client.errors import PayHubApiError, PayHubTransportError
from payhub_client.models import Khqr, PaymentEvent, PaymentState, Premium, QrSession, WebhookAnswer
from payhub_client.webhooks import encode_body, signature_headers

AMK_BANK_CODE = '{"id":"AMK","bank":"AMK"}'
HEARTBEAT_S = 15.0  # the server's SSE heartbeat period (README, "Push")
WEBHOOK_PATHS = {"bill": "/AMK/payments", "khqr": "/AMK/khqr"}


def backoff_delay(
    attempt: int,
    *,
    base_s: float = 1.0,
    max_s: float = 30.0,
    hint_s: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds before retry number ``attempt`` (0 = the first): uniform between the floor (the server's
    hint: SSE ``retry:``, ``Retry-After``; else ``base_s``) and a ceiling doubling per attempt up to
    ``max_s``. Never sooner than the server asked; jitter spreads clients that lost the same server.
    (The same rule as ``backoffDelay`` of clients/js/payhub.js.)"""
    floor = hint_s if hint_s and hint_s > 0 else min(base_s, max_s)
    ceiling: float = max(floor, min(max_s, max(floor, base_s) * 2.0 ** (max(0, attempt) + 1)))
    return floor + rand() * (ceiling - floor)


def _loads(content: bytes) -> Any:
    # Decimal, never float: an amount read here is the amount PayHub sent (hub/domain/money.py).
    return json.loads(content, parse_float=Decimal)


class PayHubClient:
    """One PayHub base URL and (optionally) a default bearer token; an async context manager.

    ``token``: the caller's token (a customer JWT for inquiries and QR codes); every call may pass
    another (``token=``, e.g. a payment's ``subscribeToken`` for its status). ``timeout``: seconds per
    request (long-polls and streams extend it by what they wait).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport, headers=dict(headers or {})
        )

    async def __aenter__(self) -> PayHubClient:
        await self._http.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.__aexit__(exc_type, exc, tb)

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ calls

    async def inquire(self, query: str, *, token: str | None = None) -> Premium:
        """``GET /AMK/payments?query=``: the premium due for a policy or application number (1–10
        letters or digits), with its payment's ``subscribeToken``. 404 RESOURCE_NOT_FOUND when none is due."""
        return Premium.of(await self._get("/AMK/payments", {"query": query}, token))

    async def khqr(self, bill_number: str, *, bank_code: str = AMK_BANK_CODE, token: str | None = None) -> Khqr:
        """``GET /khqr``: a KHQR for the premium (the same session while it is valid, a new one after)."""
        return Khqr.of(await self._get("/khqr", {"bankCode": bank_code, "billNumber": bill_number}, token))

    async def payment(self, payment_id: int, *, token: str | None = None) -> PaymentState:
        """``GET /api/payments/{id}``: its current status (its subscribeToken or an admin token)."""
        return PaymentState.of(await self._get(f"/api/payments/{int(payment_id)}", None, token))

    async def qr_session(
        self, session_id: str, *, wait_s: float | None = None, after: int | None = None, token: str | None = None
    ) -> QrSession:
        """``GET /khqr/sessions/{id}``; with ``wait_s`` (≤ 60) held until an event newer than ``after``."""
        params: dict[str, str] = {}
        if wait_s is not None:
            params["wait"] = f"{wait_s:g}"
        if after is not None:
            params["after"] = str(after)
        extra = wait_s or 0.0
        return QrSession.of(
            await self._get(f"/khqr/sessions/{quote(session_id, safe='')}", params, token, extra_timeout=extra)
        )

    async def events(
        self,
        payment_id: int,
        *,
        token: str | None = None,
        last_event_id: int | None = None,
        reconnect: bool = True,
        max_failures: int | None = None,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 30.0,
    ) -> AsyncIterator[PaymentEvent]:
        """The payment's status events (SSE ``GET /api/payments/{id}/events``), in order, until the
        terminal one (CONFIRMED, FAILED, EXPIRED), after which the iterator ends.

        Without ``last_event_id`` the first event is the current status; with it, every later event.
        A dropped stream is reopened with ``Last-Event-ID`` = the last id delivered, after
        :func:`backoff_delay` (honouring the server's ``retry:``), so nothing is missed or repeated;
        ``max_failures`` failures in a row (default: no limit) raise the last error. Errors no retry
        can fix (401, 403, 404, 400) raise :class:`PayHubApiError` at once. A stream the server ends
        without a terminal event (204 for a cursor at or past it) ends the iterator.
        """
        url = f"/api/payments/{int(payment_id)}/events"
        cursor = last_event_id
        failures = 0
        hint_s: float | None = None
        # The read timeout outlasts two heartbeats: a silent connection is a dead one.
        timeout = httpx.Timeout(self.timeout, read=HEARTBEAT_S * 2 + 5)
        while True:
            headers = self._auth(token)
            if cursor is not None:
                headers["Last-Event-ID"] = str(cursor)
            error: Exception
            try:
                async with aconnect_sse(self._http, "GET", url, headers=headers, timeout=timeout) as source:
                    response = source.response
                    if response.status_code == 204:
                        return
                    if response.status_code != 200:
                        await response.aread()
                        raise _api_error(response)
                    failures = 0
                    async for sse in source.aiter_sse():
                        if sse.retry is not None:
                            hint_s = sse.retry / 1000
                        if sse.event != "payment.status" or not sse.data:
                            continue
                        event = PaymentEvent(int(sse.id), PaymentState.of(_loads(sse.data.encode())))
                        if cursor is not None and event.id <= cursor:
                            continue  # delivered already
                        cursor = event.id
                        yield event
                        if event.terminal:
                            return
                error = PayHubTransportError("the event stream ended before a final status")
            except PayHubApiError as exc:
                if not exc.retriable:
                    raise
                hint_s = exc.retry_after or hint_s
                error = exc
            except (httpx.TransportError, SSEError) as exc:
                error = PayHubTransportError(f"event stream failed: {exc!r}")
                error.__cause__ = exc
            failures += 1
            if not reconnect or (max_failures is not None and failures >= max_failures):
                raise error
            await asyncio.sleep(backoff_delay(failures - 1, base_s=backoff_base_s, max_s=backoff_max_s, hint_s=hint_s))

    async def send_webhook(
        self,
        kind: Literal["bill", "khqr"],
        payload: bytes | Mapping[str, Any],
        *,
        secrets: str | list[str],
        token: str | None = None,
        timestamp: int | None = None,
    ) -> WebhookAnswer:
        """POST an AMK webhook (``/AMK/payments`` for ``bill``, ``/AMK/khqr``) signed with ``secrets``
        (:mod:`payhub_client.webhooks`), with ``token`` (role ``amk``) as bearer. Answers whatever the
        gateway answered, errors included: a test asserts on them."""
        body = encode_body(payload)
        headers = {**self._auth(token), **signature_headers(body, secrets, timestamp=timestamp)}
        headers["Content-Type"] = "application/json"
        try:
            response = await self._http.post(WEBHOOK_PATHS[kind], content=body, headers=headers)
        except httpx.TransportError as exc:
            raise PayHubTransportError(f"POST {WEBHOOK_PATHS[kind]}: {exc!r}") from exc
        try:
            answer = _loads(response.content)
        except ValueError:
            raise _api_error(response) from None
        return WebhookAnswer(response.status_code, answer if isinstance(answer, dict) else {})

    # ------------------------------------------------------------------ plumbing

    def _auth(self, token: str | None) -> dict[str, str]:
        chosen = token or self.token
        return {"Authorization": f"Bearer {chosen}"} if chosen else {}

    async def _get(
        self, path: str, params: Mapping[str, str] | None, token: str | None, *, extra_timeout: float = 0.0
    ) -> Any:
        try:
            response = await self._http.get(
                path,
                params=params,
                headers={"Accept": "application/json", **self._auth(token)},
                timeout=self.timeout + extra_timeout,
            )
        except httpx.TransportError as exc:
            raise PayHubTransportError(f"GET {path}: {exc!r}") from exc
        if response.status_code != 200:
            raise _api_error(response)
        try:
            body = _loads(response.content)
        except ValueError:
            raise _api_error(response) from None
        if not isinstance(body, dict) or body.get("success") is not True or not isinstance(body.get("data"), dict):
            raise _api_error(response)
        return body["data"]


def _api_error(response: httpx.Response) -> PayHubApiError:
    """The envelope's error, or a synthetic one for an answer that is not PayHub's envelope."""
    try:
        body = _loads(response.content)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {"code": f"HTTP_{response.status_code}", "message": response.text[:200] or response.reason_phrase}
    header = response.headers.get("retry-after", "")
    if "retryAfter" not in error and header.isdigit():
        error = {**error, "retryAfter": int(header)}
    return PayHubApiError(response.status_code, error)
