"""Who is asking, as the fraud rules see a request: token subject, client address and device."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from hub.auth import Principal
from hub.domain.blocklist import device_id

DEVICE_HEADER = "X-Device-Id"


@dataclass(frozen=True)
class Requester:
    """What the rules may key on. ``screened`` is False for PayHub's own services and for admins, whom the
    rules do not watch. A bank (role ``amk``) is held to the blocklist and amount rules only (``counted``
    False): its subject and address are the bank's, shared by every customer it serves, and counting its
    counter's inquiries would let anyone who floods a policy's window shut the bank's counter out too."""

    screened: bool
    customer: str | None = None
    ip: str | None = None
    device: str | None = None
    counted: bool = True


UNSCREENED = Requester(screened=False)


def requester(conn: HTTPConnection, who: Principal) -> Requester:
    """The requester of ``conn`` authenticated as ``who``. The optional ``X-Device-Id`` header is
    validated whoever sends it (``InvalidInput``, 400 BAD_REQUEST naming the header, unless 1-128 of
    ``A-Z a-z 0-9 . _ : -``). The client address is the one ``hub.http.access`` settled (trusted proxies,
    canonical form)."""
    device = device_id(conn.headers.get(DEVICE_HEADER))
    if who.role == "customer":
        return Requester(True, who.sub, conn.client.host if conn.client else None, device)
    if who.role == "amk":
        return Requester(True, counted=False)
    return UNSCREENED
