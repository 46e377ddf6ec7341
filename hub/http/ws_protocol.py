"""uvicorn's WebSocket protocol, bounded: flow control for a peer that reads nothing (issue 7 §4)."""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

from hub.http.connection_limits import ConnectionLimits

log = logging.getLogger("payhub.http.server")

if AutoWebSocketsProtocol is None:  # pragma: no cover - uvicorn[standard] brings websockets
    raise RuntimeError("no WebSocket implementation installed")


class BoundedWebSocketProtocol(AutoWebSocketsProtocol):  # type: ignore[misc, valid-type]
    """Stops reading from a peer that does not read what it is sent.

    The protocol answers each ping (and a close) by itself, with no flow control: a client sending
    pings and reading nothing grew the server's write buffer by what it sent (50 MB sent: +40 MiB
    in 9 s). While the write buffer is over its high-water mark nothing more is read, so the
    peer's own sends stall in TCP; one that reads nothing for ``ws_ping_timeout_s`` is aborted
    (no close frame could reach a peer that does not read).
    """

    limits: ClassVar[ConnectionLimits]
    peer: str | None = None
    _reads_held = False
    _stall_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.writable.is_set() and not self.transport.is_closing():
            self._reads_held = True
            self.transport.pause_reading()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall_timer is None and self.limits.stall_timeout_s > 0:
            self._stall_timer = self.loop.call_later(self.limits.stall_timeout_s, self._stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stop_stall_timer()
        if self._reads_held:
            self._reads_held = False
            if not self.read_paused and not self.transport.is_closing():  # uvicorn's own pause stays
                self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_stall_timer()
        self.limits.release(self.peer)
        self.peer = None
        super().connection_lost(exc)

    def _stop_stall_timer(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _stalled(self) -> None:
        self._stall_timer = None
        log.warning("websocket aborted: peer reads nothing", extra={"peer": self.peer})
        self.transport.abort()
