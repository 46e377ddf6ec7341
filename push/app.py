"""Push routes: SSE ``GET /api/payments/{paymentId}/events`` and WebSocket ``/ws/payments``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from hub.apidoc.declare import TOKEN_QUERY, Operation, Reply, roles
from hub.auth import Authenticator, Principal, authenticate, bearer
from hub.domain.records import Payment
from hub.errors import BadRequest, Forbidden, NotFound, PayHubError, ServiceUnavailable, Unauthorized, UpgradeRequired
from hub.fanout import Fanout
from hub.http.envelope import error_response, ws_error
from hub.http.path import path_id
from hub.json_codec import MalformedJson, dumps, loads
from hub.ports import Store
from hub.service.watch import covered_by_token, watched_payment
from hub.settings import Settings
from push.schemas import SSE_STREAM, EventsHeaders, EventsPath, EventsQuery
from push.sse import SseResponse
from push.stream import PaymentStream, open_stream

log = logging.getLogger("payhub.push")
# no-transform: a compressing proxy would otherwise buffer the stream until it ends (RFC 9111 §5.2.2.6).
SSE_HEADERS = {"Cache-Control": "no-store, no-transform", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
MAX_ID = 2**63 - 1  # ids are BIGINT: anything larger would fail in the database driver


@dataclass
class PushDeps:
    store: Store
    hub: Fanout
    auth: Authenticator
    heartbeat_s: float = 15.0
    limits: WsLimits = field(default_factory=lambda: WsLimits())
    retry: Retry = field(default_factory=lambda: Retry())


@dataclass(frozen=True)
class Retry:
    """The SSE reconnect delay a stream announces (``retry:``, ms): ``base_ms`` plus a random 0..``jitter_ms``
    drawn per stream, so that the clients of a restarting node do not all come back in the same second
    (``PAYHUB_PUSH_RETRY_MS``, ``PAYHUB_PUSH_RETRY_JITTER_MS``)."""

    base_ms: int = 1000
    jitter_ms: int = 5000

    @classmethod
    def of(cls, settings: Settings) -> Retry:
        return cls(settings.push_retry_ms, settings.push_retry_jitter_ms)

    def field(self) -> bytes:
        """One ``retry:`` field (and a blank line), its delay drawn in ``[base_ms, base_ms + jitter_ms]``."""
        return b"retry: %d\n\n" % (self.base_ms + random.randint(0, self.jitter_ms))


def _cursor(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    # isascii: str.isdigit() also accepts "²" and other digits that int() refuses or that no client sends
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > MAX_ID:
        raise BadRequest(details=[{"field": "lastEventId", "message": "must be a non-negative integer"}])
    return int(raw)


async def authorize(d: PushDeps, who: Principal, payment_id: int, cursor: int | None) -> Payment | None:
    """The payment's subscribe token, an admin, or a customer it was offered to (``hub.service.watch``).

    Returns the payment row as read (a fresh stream's first frame needs it), or None when no read was
    needed: a stream resumed (``cursor`` given) with a token that covers the payment by itself, of a
    payment the fan-out knows (``Fanout.latest``: it has a committed status event, so it exists).
    Raises Forbidden (403) or NotFound (404) as ``watched_payment`` does."""
    if cursor is not None and covered_by_token(who, payment_id) and d.hub.latest.get(payment_id) is not None:
        return None
    return await watched_payment(d.store, who, payment_id)


# The OpenAPI declarations of the routes below (hub.apidoc); tests fail when the two differ.
# The frames themselves are described by the AsyncAPI document (hub.apidoc.asyncapi).
API = (
    Operation(
        "GET",
        "/api/payments/{payment_id}/events",
        "A payment's status as Server-Sent Events (resumable)",
        "push",
        (
            Reply(
                200,
                "The event stream (see the AsyncAPI document for the frames)",
                schema=SSE_STREAM,
                media_type="text/event-stream",
                envelope=False,
                headers={"Cache-Control": "no-store, no-transform"},
            ),
            Reply(204, "The cursor is at or past a terminal status: nothing more will come (EventSource stops)."),
        ),
        description="Token: the payment's subscribeToken or an admin token, as `Authorization: Bearer` or "
        "`?token=`. Resume with the `Last-Event-ID` header or `?lastEventId=`.",
        security=(*roles("subscriber", "admin"), (TOKEN_QUERY,)),
        path_params=EventsPath,
        query=EventsQuery,
        headers=EventsHeaders,
        errors=(BadRequest, Unauthorized, Forbidden, NotFound, ServiceUnavailable),
    ),
    Operation(
        "GET",
        "/ws/payments",
        "WebSocket endpoint for payment status (upgrade request)",
        "push",
        (
            Reply(
                101,
                "Switching Protocols: the socket speaks the messages of the AsyncAPI document (subscribe, "
                "unsubscribe, ping; PAYMENT_STATUS, SUBSCRIBED, UNSUBSCRIBED, COMPLETED, pong, ERROR).",
            ),
        ),
        description="Open with a WebSocket upgrade (`Connection: Upgrade`, `Upgrade: websocket`); a plain "
        "HTTP request is answered 426 with `Upgrade: websocket`. Tokens go in each subscribe message (or "
        "`?token=` for the whole socket). Close codes: 1003 binary frame, 1008 no subscription in time, "
        "1009 message too large, 1011 internal error, 1012 service restart (the node is shutting down: "
        "reconnect after a randomized backoff and resubscribe with `lastEventId`).",
        errors=(UpgradeRequired,),
    ),
)


def routes(d: PushDeps) -> list[BaseRoute]:
    async def sse(request: Request) -> Response:
        who = await authenticate(request, d.auth)
        payment_id = path_id(request, "payment_id")
        # Both are read (a malformed one is refused even when the other is given); the header wins.
        header, query = _cursor(request.headers.get("last-event-id")), _cursor(request.query_params.get("lastEventId"))
        cursor = header if header is not None else query
        payment = await authorize(d, who, payment_id, cursor)
        stream = await open_stream(d.store, d.hub, payment_id, cursor, transport="sse", payment=payment)
        if stream is None:
            return Response(status_code=204, headers={"Cache-Control": "no-store"})
        return SseResponse(stream, d.heartbeat_s, d.retry.field(), headers=SSE_HEADERS)

    async def ws(websocket: WebSocket) -> None:
        await _WsSession(d, websocket).run()

    async def ws_over_http(request: Request) -> Response:
        response = error_response(UpgradeRequired())
        response.headers["Upgrade"] = "websocket"
        response.headers["Connection"] = "Upgrade"
        return response

    return [
        Route("/api/payments/{payment_id:str}/events", sse, methods=["GET"]),
        WebSocketRoute("/ws/payments", ws),
        Route("/ws/payments", ws_over_http, methods=["GET"]),
    ]


@dataclass(frozen=True)
class WsLimits:
    """Bounds of one WebSocket (issue 7 §4); the message size is bounded by the server (close 1009)."""

    subscribe_timeout_s: float = 10.0
    idle_timeout_s: float = 120.0
    max_subscriptions: int = 50

    @classmethod
    def of(cls, settings: Settings) -> WsLimits:
        return cls(settings.ws_subscribe_timeout_s, settings.ws_idle_timeout_s, settings.ws_max_subscriptions)


# Close codes of RFC 6455 §7.4.1
UNSUPPORTED_DATA = 1003
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011


class _WsSession:
    """One socket, any number of payment subscriptions, each fed by its own small task.

    Malformed messages get an ERROR frame (the HTTP error object, ``hub.http.envelope.ws_error``) and
    the socket stays open; a binary frame closes it with 1003, a socket with no subscription after
    ``subscribe_timeout_s`` (or none live and silent for ``idle_timeout_s``) with 1008, an unexpected
    failure with 1011. Every close carries a reason.
    """

    def __init__(self, d: PushDeps, websocket: WebSocket) -> None:
        self.d = d
        self.ws = websocket
        self.subs: dict[int, asyncio.Task[None]] = {}
        self.send_lock = asyncio.Lock()
        self.subscribed_once = False

    async def run(self) -> None:
        await self.ws.accept()
        default_token = bearer(self.ws)
        started = asyncio.get_running_loop().time()
        try:
            while True:
                limits = self.d.limits
                if self.subscribed_once:
                    wait = limits.idle_timeout_s
                else:
                    wait = limits.subscribe_timeout_s - (asyncio.get_running_loop().time() - started)
                try:
                    async with asyncio.timeout(max(wait, 0)):  # no task per wait, as wait_for would make
                        message = await self.ws.receive()
                except TimeoutError:
                    if not self.subscribed_once:
                        await self.close(POLICY_VIOLATION, f"no subscription within {limits.subscribe_timeout_s:g} s")
                        return
                    if self.subs:
                        continue
                    await self.close(POLICY_VIOLATION, f"no subscription for {limits.idle_timeout_s:g} s")
                    return
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    await self.close(UNSUPPORTED_DATA, "text frames carrying JSON only")
                    return
                await self.receive_text(text, default_token)
        except WebSocketDisconnect:
            pass
        except Exception:
            log.exception("websocket session failed")
            await self.close(INTERNAL_ERROR, "internal error")
        finally:
            for task in self.subs.values():
                task.cancel()
            for task in list(self.subs.values()):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def receive_text(self, text: str, default_token: str | None) -> None:
        try:
            message = loads(text, field="message")  # size and depth bounded by the codec
        except MalformedJson as exc:
            await self.send(ws_error(exc))
            return
        if not isinstance(message, dict):
            await self.send(ws_error(BadRequest("messages are JSON objects")))
            return
        await self.handle(message, default_token)

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            async with self.send_lock:
                await self.ws.close(code, reason)

    async def handle(self, message: dict[str, Any], default_token: str | None) -> None:
        kind = message.get("type")
        if kind == "ping":
            await self.send({"type": "pong"})
            return
        payment_id = message.get("paymentId")
        if kind not in ("subscribe", "unsubscribe") or not isinstance(payment_id, int) or isinstance(payment_id, bool):
            await self.send(ws_error(BadRequest("expected subscribe/unsubscribe with an integer paymentId, or ping")))
            return
        if kind == "unsubscribe":
            task = self.subs.pop(payment_id, None)
            if task is not None:
                task.cancel()
            await self.send({"type": "UNSUBSCRIBED", "paymentId": payment_id})
            return
        try:
            if payment_id not in self.subs and len(self.subs) >= self.d.limits.max_subscriptions:
                raise BadRequest(f"at most {self.d.limits.max_subscriptions} subscriptions per socket")
            token = message.get("token") or default_token
            if not token:
                raise Unauthorized("Missing token")
            who = await self.d.auth.verify(str(token))
            raw_cursor = message.get("lastEventId")
            cursor = _cursor(None if raw_cursor is None else str(raw_cursor))
            payment = await authorize(self.d, who, payment_id, cursor)
            if payment_id in self.subs:
                self.subs.pop(payment_id).cancel()
            stream = await open_stream(self.d.store, self.d.hub, payment_id, cursor, transport="ws", payment=payment)
        except PayHubError as exc:
            await self.send(ws_error(exc, paymentId=payment_id))
            return
        self.subscribed_once = True
        await self.send({"type": "SUBSCRIBED", "paymentId": payment_id})
        if stream is None:
            await self.send({"type": "COMPLETED", "paymentId": payment_id})
            return
        task = asyncio.create_task(self.forward(payment_id, stream))
        # A task cancelled before its first step never runs its body (nor ``forward``'s finally): an
        # unsubscribe or re-subscribe queued right behind this subscribe would leak the subscriber.
        task.add_done_callback(lambda _: stream.close())
        self.subs[payment_id] = task

    async def forward(self, payment_id: int, stream: PaymentStream) -> None:
        try:
            async for frame in stream.frames(None):  # no heartbeats: the server's pings keep a socket alive
                if frame is not None:
                    await self.send_text(frame.ws())
            await self.send({"type": "COMPLETED", "paymentId": payment_id})
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            stream.close()
            if self.subs.get(payment_id) is asyncio.current_task():
                del self.subs[payment_id]

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_text(dumps(message))

    async def send_text(self, text: str) -> None:
        async with self.send_lock:
            await self.ws.send_text(text)
