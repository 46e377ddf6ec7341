"""uvicorn options and connection-level bounds for every PayHub server (issue 7 §4).

What uvicorn offers is used as is: ``ws_max_size`` (a bigger WebSocket message is refused with close
code 1009, RFC 6455 §7.4.1), ``ws_ping_interval``/``ws_ping_timeout`` (a dead peer is dropped) and
``timeout_keep_alive`` (an idle keep-alive connection is closed). Three bounds it does not offer are
added on a subclass of its httptools protocol (``hub.http.http_protocol``), because they must act
before the ASGI app sees anything (the app only runs once the headers are complete):

- a deadline for the request line and headers (uvicorn has none: a client that connects and sends
  nothing, or one byte a second, holds a socket forever; that is the slowloris attack);
- a size cap on the request line and headers (httptools buffers a header value of any size; uvicorn's
  ``h11_max_incomplete_event_size`` applies to the slower h11 parser only);
- a cap on the connections open at once from one peer address (WebSockets included), so one client
  cannot take every file descriptor.

Refusals are answered with the contract's error envelope and ``Connection: close``. The WebSocket
protocol (``hub.http.ws_protocol``) stops reading from a peer that reads nothing; both share one
``ConnectionLimits`` per server (``hub.http.connection_limits``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from hub.http.connection_limits import ConnectionLimits
from hub.http.http_protocol import BoundedHttpProtocol
from hub.http.ws_protocol import BoundedWebSocketProtocol
from hub.settings import Settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` that bound every connection by ``settings``."""
    http, ws = protocol_classes(settings)
    return {
        "http": http,
        "ws": ws,
        "ws_max_size": settings.ws_max_message_bytes,
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_timeout_s,
        "ws_per_message_deflate": settings.ws_per_message_deflate,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
    }


def protocol_classes(settings: Settings) -> tuple[type[asyncio.Protocol], type[asyncio.Protocol]]:
    """An HTTP and a WebSocket protocol class sharing one count of open connections per peer address.

    Built per server (not at import time) so each server has its own counts and settings.
    """
    limits = ConnectionLimits.from_settings(settings)
    http: type[asyncio.Protocol] = type("BoundedHttpProtocol", (BoundedHttpProtocol,), {"limits": limits})
    ws: type[asyncio.Protocol] = type("BoundedWebSocketProtocol", (BoundedWebSocketProtocol,), {"limits": limits})
    return http, ws
