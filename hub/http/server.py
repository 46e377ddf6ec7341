"""uvicorn options and connection-level bounds for every PayHub server (issue 7 §4).

What uvicorn offers is used as is: ``ws_max_size`` (a bigger WebSocket message is refused with close
code 1009, RFC 6455 §7.4.1), ``ws_ping_interval``/``ws_ping_timeout`` (a dead peer is dropped) and
``timeout_keep_alive`` (an idle keep-alive connection is closed). Three bounds it does not offer are
added here, on a subclass of its httptools protocol, because they must act before the ASGI app sees
anything (the app only runs once the headers are complete):

- a deadline for the request line and headers (uvicorn has none: a client that connects and sends
  nothing, or one byte a second, holds a socket forever; that is the slowloris attack);
- a size cap on the request line and headers (httptools buffers a header value of any size; uvicorn's
  ``h11_max_incomplete_event_size`` applies to the slower h11 parser only);
- a cap on the connections open at once from one peer address (WebSockets included), so one client
  cannot take every file descriptor.

Refusals are answered with the contract's error envelope and ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

from hub.errors import HeadersTooLarge, PayHubError, RateLimitExceeded, RequestTimeout
from hub.http.envelope import error_body
from hub.json_codec import dumps_bytes
from hub.settings import Settings

log = logging.getLogger("payhub.http.server")

_REASONS = {408: b"Request Timeout", 429: b"Too Many Requests", 431: b"Request Header Fields Too Large"}


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` that bound every connection by ``settings``."""
    http, ws = protocol_classes(settings)
    return {
        "http": http,
        "ws": ws,
        "ws_max_size": settings.ws_max_message_bytes,
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_timeout_s,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
    }


def protocol_classes(settings: Settings) -> tuple[type[asyncio.Protocol], type[asyncio.Protocol]]:
    """An HTTP and a WebSocket protocol class sharing one count of open connections per peer address.

    Built per server (not at import time) so each server has its own counts and settings.
    """
    if AutoWebSocketsProtocol is None:  # pragma: no cover - uvicorn[standard] brings websockets
        raise RuntimeError("no WebSocket implementation installed")
    open_by_peer: Counter[str] = Counter()
    header_timeout_s = settings.header_timeout_s
    max_header_bytes = settings.max_header_bytes
    max_per_peer = settings.max_connections_per_ip

    def release(peer: str | None) -> None:
        if peer is None:
            return
        open_by_peer[peer] -= 1
        if open_by_peer[peer] <= 0:
            del open_by_peer[peer]

    class BoundedHttpProtocol(HttpToolsProtocol):
        _peer: str | None = None
        _header_timer: asyncio.TimerHandle | None = None
        _header_bytes = 0  # bytes received while the headers are incomplete (bounds buffering)
        _parsed_bytes = 0  # request line and headers of the current request, as parsed
        _in_headers = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            peer = self.client[0] if self.client else None
            if peer is not None and max_per_peer > 0 and open_by_peer[peer] >= max_per_peer:
                log.warning("connection refused: too many from one address", extra={"peer": peer})
                self._refuse(RateLimitExceeded(f"At most {max_per_peer} connections per client address", retry_after=1))
                return
            if peer is not None:
                open_by_peer[peer] += 1
                self._peer = peer
            self._await_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            release(self._peer)
            self._peer = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if not self._in_headers and (self.cycle is None or self.cycle.response_complete):
                self._await_headers()  # the first byte of the next request on a keep-alive connection
            if self._in_headers:
                self._header_bytes += len(data)
            super().data_received(data)
            # Checked after parsing: a chunk that completes the headers may carry the body as well.
            if self._in_headers and self._header_bytes > max_header_bytes and not self.transport.is_closing():
                log.warning("request refused: headers too large", extra={"peer": self._peer})
                self._refuse(HeadersTooLarge(details={"limitBytes": max_header_bytes}))

        def on_message_begin(self) -> None:
            self._parsed_bytes = 0
            super().on_message_begin()

        def on_url(self, url: bytes) -> None:
            self._parsed_bytes += len(url)
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._parsed_bytes += len(name) + len(value) + 4  # ": " and CRLF
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._stop_header_timer()
            if self._parsed_bytes > max_header_bytes:
                # Headers that arrived complete in one read: refuse here, then stop the parser
                # (uvicorn turns the exception into send_400_response, which stays silent below).
                log.warning("request refused: headers too large", extra={"peer": self._peer})
                self._refuse(HeadersTooLarge(details={"limitBytes": max_header_bytes}))
                raise _Refused
            super().on_headers_complete()

        def send_400_response(self, msg: str) -> None:
            if not self.transport.is_closing():  # not after our own refusal
                super().send_400_response(msg)

        def handle_websocket_upgrade(self) -> None:
            self._stop_header_timer()
            super().handle_websocket_upgrade()
            # The socket now belongs to the WebSocket protocol, which releases the peer's count.
            protocol = self.transport.get_protocol()
            if isinstance(protocol, BoundedWebSocketProtocol):
                protocol.peer, self._peer = self._peer, None

        def _await_headers(self) -> None:
            self._in_headers = True
            self._header_bytes = 0
            if self._header_timer is None and header_timeout_s > 0:
                self._header_timer = self.loop.call_later(header_timeout_s, self._headers_late)

        def _stop_header_timer(self) -> None:
            self._in_headers = False
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            if self._in_headers and not self.transport.is_closing():
                log.warning("request refused: headers not received in time", extra={"peer": self._peer})
                self._refuse(RequestTimeout(f"Request headers not received within {header_timeout_s:g} s"))

        def _refuse(self, err: PayHubError) -> None:
            self._stop_header_timer()
            self.transport.write(raw_error_response(err))
            self.transport.close()

    class BoundedWebSocketProtocol(AutoWebSocketsProtocol):  # type: ignore[misc, valid-type]
        peer: str | None = None

        def connection_lost(self, exc: Exception | None) -> None:
            release(self.peer)
            self.peer = None
            super().connection_lost(exc)

    return BoundedHttpProtocol, BoundedWebSocketProtocol


class _Refused(Exception):
    """Stops the request parser after a refusal was sent."""


def raw_error_response(err: PayHubError) -> bytes:
    """A complete HTTP/1.1 response carrying the error envelope, for refusals before the ASGI app."""
    cid = f"req-{uuid.uuid4().hex[:20]}"
    body = dumps_bytes(error_body(err, cid))
    reason = _REASONS.get(err.status_code, b"Error")
    lines = [
        b"HTTP/1.1 %d %s" % (err.status_code, reason),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
        b"x-correlation-id: " + cid.encode(),
    ]
    if err.retry_after is not None:
        lines.append(b"retry-after: %d" % err.retry_after)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
