"""The statements every SQL unit of work runs on: its connection and the dialect's lock suffix."""

from __future__ import annotations

from hub.adapters.store._conn import Conn

OUTBOX_CHANNEL = "payhub_outbox"


class Statements:
    """State shared by the statement groups a ``Tx`` is made of."""

    def __init__(self, conn: Conn, *, lock: bool, notify: bool = False) -> None:
        self._c = conn
        self._for_update = " FOR UPDATE" if lock else ""
        self._notify = notify  # PostgreSQL: wake outbox relays when this transaction commits
