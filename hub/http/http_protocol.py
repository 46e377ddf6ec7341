"""uvicorn's httptools protocol, bounded before the ASGI app sees anything (issue 7 §4).

See ``hub.http.server`` for the bounds and why uvicorn's own options do not cover them. Refusals are
answered with the contract's error envelope and ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hub.errors import BadRequest, HeadersTooLarge, PayHubError, RateLimitExceeded, RequestTimeout
from hub.http.connection_limits import ConnectionLimits
from hub.http.envelope import error_body
from hub.http.ws_protocol import BoundedWebSocketProtocol
from hub.json_codec import dumps_bytes

log = logging.getLogger("payhub.http.server")

_FEED_SLICE = 1024  # bytes parsed at a time; see BoundedHttpProtocol.data_received
_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
}


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the header deadline and size cap, the per-peer connection cap
    and the slow-read deadline of ``limits`` (set on the subclass ``hub.http.server`` builds)."""

    limits: ClassVar[ConnectionLimits]
    _peer: str | None = None  # the client key its connection is counted by (an IPv6 client: its /64)
    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes = 0  # bytes received while the headers are incomplete (bounds buffering)
    _parsed_bytes = 0  # request line and headers of the current request, as parsed
    _in_headers = False
    _message_done = False  # the current request is parsed to its end (body included)
    _held = b""  # bytes of the next request(s), read while a response is in flight, not yet parsed
    _send_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else None
        if address is not None:
            self._peer = self.limits.admit(address)  # the client key: an IPv6 client is its /64
            if self._peer is None:
                limits = self.limits
                log.warning("connection refused: too many from one address", extra={"peer": address})
                refusal = RateLimitExceeded(
                    f"At most {limits.max_per_peer} connections per client address", retry_after=1
                )
                self._refuse(refusal)
                return
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        self._stop_send_timer()
        self._held = b""
        self.limits.release(self._peer)
        self._peer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._held:  # keep the order: earlier bytes are still waiting for their turn
            self._held += data
            self.flow.pause_reading()
            return
        # Fed in slices, so that parsing stops at the end of a request while its response is
        # in flight: uvicorn parses a whole read at once and queues every pipelined request in
        # it (18 bytes each, ~2 KiB of state each), and resumes reading after each response, so
        # a client pipelining without pause grew the queue without bound (2 MB sent: +120 MiB).
        for start in range(0, len(data), _FEED_SLICE):
            if self.parser is None or self.transport.is_closing() or self.transport.get_protocol() is not self:
                return  # refused, closed, or upgraded to a WebSocket (later bytes are dropped, as uvicorn does)
            if self.pipeline or (self._message_done and self._response_in_flight()):
                # HTTP/1.1 pipelining: later requests wait, unparsed, until the responses before
                # them are complete; TCP flow control holds the rest on the client's side.
                self._held = data[start:]
                self.flow.pause_reading()
                return
            self._feed(data[start : start + _FEED_SLICE])

    def _feed(self, data: bytes) -> None:
        if not self._in_headers and (self.cycle is None or self.cycle.response_complete):
            self._await_headers()  # any byte after a response, even one that starts no request
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        # Checked after parsing: a chunk that completes the headers may carry the body as well.
        if self._in_headers and self._header_bytes > self.limits.max_header_bytes and not self.transport.is_closing():
            log.warning("request refused: headers too large", extra={"peer": self._peer})
            self._refuse(HeadersTooLarge(details={"limitBytes": self.limits.max_header_bytes}))

    def _feed_held(self) -> None:
        held, self._held = self._held, b""
        if held and not self.transport.is_closing():
            self.flow.resume_reading()
            self.data_received(held)

    def on_message_begin(self) -> None:
        if not self._in_headers:
            self._await_headers()  # the first byte of the next request on a keep-alive connection
        self._parsed_bytes = 0
        self._message_done = False
        super().on_message_begin()

    def on_message_complete(self) -> None:
        self._message_done = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # With nothing queued, self.cycle is the request just answered.
        body_unread = not self.pipeline and self.cycle is not None and self.cycle.more_body
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if body_unread:
            # Answered before the request body ended (a refusal before reading it): close rather
            # than read a body of any length and duration that nobody will use (RFC 9112 §9.6).
            self.transport.close()
            return
        if self._held:
            self.flow.pause_reading()
            self.loop.call_soon(self._feed_held)  # not from inside the response's send()

    def pause_writing(self) -> None:
        # Slow read: a client that reads nothing left the app waiting in uvicorn's drain with no
        # deadline, holding its connection for good. Abort it once it has read nothing for this long.
        super().pause_writing()
        if self._send_timer is None and self.limits.send_timeout_s > 0:
            self._send_timer = self.loop.call_later(self.limits.send_timeout_s, self._send_late)

    def resume_writing(self) -> None:
        self._stop_send_timer()
        super().resume_writing()

    def _stop_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_late(self) -> None:
        self._send_timer = None
        log.warning("connection aborted: client reads nothing", extra={"peer": self._peer})
        self.transport.abort()  # no answer can reach a client that does not read

    def on_url(self, url: bytes) -> None:
        self._parsed_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_bytes += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        if self._parsed_bytes > self.limits.max_header_bytes:
            # Headers that arrived complete in one read: refuse here, then stop the parser
            # (uvicorn turns the exception into send_400_response, which stays silent below).
            log.warning("request refused: headers too large", extra={"peer": self._peer})
            self._refuse(HeadersTooLarge(details={"limitBytes": self.limits.max_header_bytes}))
            raise _Refused
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # What the HTTP parser refuses (duplicate Content-Length, Content-Length with chunked, bad
        # chunk sizes, obsolete line folding...) gets the contract's envelope, not uvicorn's text.
        if not self.transport.is_closing():  # not after our own refusal
            self._refuse(BadRequest("Malformed HTTP request (RFC 9112)"))

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
        if self._header_timer is None and self.limits.header_timeout_s > 0:
            self._header_timer = self.loop.call_later(self.limits.header_timeout_s, self._headers_late)

    def _stop_header_timer(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._response_in_flight():
            # A pipelined request waits for the response before it: its clock runs after that one.
            self._header_timer = self.loop.call_later(self.limits.header_timeout_s, self._headers_late)
            return
        if self._in_headers and not self.transport.is_closing():
            log.warning("request refused: headers not received in time", extra={"peer": self._peer})
            self._refuse(RequestTimeout(f"Request headers not received within {self.limits.header_timeout_s:g} s"))

    def _response_in_flight(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _refuse(self, err: PayHubError) -> None:
        self._stop_header_timer()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started or self.pipeline:
                self.transport.close()  # an answer now would be written into the middle of another one
                return
            # A request whose body is refused mid-way: its app sees a disconnect, its writes are dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.write(raw_error_response(err))
        self.transport.close()


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
