"""The little connection interface the shared SQL store is written against."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from hub.errors import UniqueViolation as UniqueViolation  # re-exported for the dialects

Row = Mapping[str, Any]


class Conn(Protocol):
    """One connection inside one transaction. SQL uses ``$1`` placeholders in both dialects."""

    async def execute(self, sql: str, *args: Any) -> None: ...

    async def fetch(self, sql: str, *args: Any) -> Sequence[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...
