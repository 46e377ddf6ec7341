"""The operators' blocklist: add, list and withdraw entries, and match requests against it (the hot path).

Matching reads a per-process copy of the active entries, refreshed at most every ``cache_s`` seconds
(``PAYHUB_FRAUD_BLOCKLIST_CACHE_S``, 5 s by default; 0 reads the table on every request). An entry added
or removed through this process applies at once (the copy is dropped); through another process, within
``cache_s``. Expiry needs no refresh: every match asks each entry whether it is active *now*.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.domain.blocklist import MAX_ACTOR, MAX_REASON, BlockEntry, BlockKind, canonical_value
from hub.errors import BadRequest, InvalidInput, NotFound
from hub.ports import Store, StoreTx

# Active entries a process keeps for matching. Far above any real list; past it the newest are kept.
MAX_CACHED = 100_000


@dataclass(frozen=True)
class NewEntry:
    """A validated request to add an entry (``value`` canonical)."""

    kind: BlockKind
    value: str
    reason: str
    expires_at: datetime | None


def parse_new_entry(data: dict[str, Any], now: datetime) -> NewEntry:
    """``{"kind", "value", "reason", "expiresAt"?}`` as the admin API and the CLI take it.

    ``kind``: policy | customer | ip | device; ``value``: see ``hub.domain.blocklist.canonical_value``;
    ``reason``: 1-500 characters, not blank; ``expiresAt``: ISO 8601 with a time zone, after ``now``
    (absent or null: until removed). Raises :class:`BadRequest` listing every bad field.
    """
    problems: list[dict[str, str]] = []
    unknown = sorted(set(data) - {"kind", "value", "reason", "expiresAt"})
    if unknown:
        problems.append({"field": unknown[0], "message": "unknown field"})
    kind: BlockKind | None = None
    try:
        kind = BlockKind(str(data.get("kind")))
    except ValueError:
        problems.append({"field": "kind", "message": "one of policy, customer, ip, device"})
    value = ""
    if kind is not None:
        try:
            value = canonical_value(kind, data.get("value"))
        except InvalidInput as exc:
            problems += exc.details
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON or not reason.isprintable():
        problems.append({"field": "reason", "message": f"required: 1-{MAX_REASON} printable characters"})
    expires = _expiry(data.get("expiresAt"), now, problems)
    if problems or kind is None or not isinstance(reason, str):
        raise BadRequest(details=problems)
    return NewEntry(kind, value, reason.strip(), expires)


def _expiry(raw: Any, now: datetime, problems: list[dict[str, str]]) -> datetime | None:
    if raw is None:
        return None
    try:
        if not isinstance(raw, str) or len(raw) > 64:
            raise ValueError
        expires = datetime.fromisoformat(raw)
    except ValueError:
        problems.append({"field": "expiresAt", "message": "an ISO 8601 date-time with a time zone"})
        return None
    if expires.tzinfo is None:
        problems.append({"field": "expiresAt", "message": "needs a time zone (Z or +07:00)"})
        return None
    if expires <= now:
        problems.append({"field": "expiresAt", "message": "must be in the future"})
        return None
    try:
        return expires.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-05:00 is in the year 10000 in UTC
        problems.append({"field": "expiresAt", "message": "must be before 9999-12-31T23:59:59Z"})
        return None


class Blocklist:
    """The blocklist over the store, with the per-process copy matching reads (see the module docstring)."""

    def __init__(
        self, store: Store, *, cache_s: float = 5.0, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._store = store
        self._cache_s = cache_s
        self._clock = clock
        self._cached: list[BlockEntry] | None = None
        self._loaded_at: datetime | None = None

    def now(self) -> datetime:
        """The time expiry is decided by (this blocklist's clock)."""
        return self._clock()

    async def entry(self, entry_id: int) -> BlockEntry | None:
        """One entry, whatever its state."""
        async with self._store.transaction() as tx:
            return await tx.fraud.block(entry_id)

    async def add(self, entry: NewEntry, added_by: str) -> BlockEntry:
        if not added_by or len(added_by) > MAX_ACTOR:
            raise BadRequest(details=[{"field": "addedBy", "message": f"1-{MAX_ACTOR} characters"}])
        async with self._store.transaction() as tx:
            added = await tx.fraud.add_block(
                entry.kind, entry.value, entry.reason, added_by, self._clock(), entry.expires_at
            )
        self.invalidate()
        return added

    async def remove(self, entry_id: int, removed_by: str) -> BlockEntry:
        """Withdraw an entry; :class:`NotFound` when there is none or it was withdrawn already."""
        async with self._store.transaction() as tx:
            removed = await tx.fraud.remove_block(entry_id, removed_by[:MAX_ACTOR], self._clock())
        if removed is None:
            raise NotFound(f"No blocklist entry {entry_id} to remove")
        self.invalidate()
        return removed

    async def entries(self, *, include_inactive: bool = False, limit: int = 1000) -> list[BlockEntry]:
        """Newest first: the active entries, or (``include_inactive``) every entry ever added."""
        async with self._store.transaction() as tx:
            return await tx.fraud.blocks(self._clock(), include_inactive=include_inactive, limit=limit)

    def invalidate(self) -> None:
        """Drop this process's copy: the next match reads the table."""
        self._cached = None

    async def matching(
        self, candidates: Iterable[tuple[BlockKind, str]], tx: StoreTx | None = None
    ) -> list[BlockEntry]:
        """The entries active now that bar one of ``candidates`` (kind, canonical value), oldest first.
        ``tx``: a unit of work the caller holds, through which a stale copy is reloaded."""
        wanted = [(k, v) for k, v in candidates if v]
        if not wanted:
            return []
        now = self._clock()
        entries = await self._active(now, tx)
        return [e for e in reversed(entries) if e.active_at(now) and any(e.matches(k, v) for k, v in wanted)]

    async def _active(self, now: datetime, tx: StoreTx | None) -> list[BlockEntry]:
        fresh = (
            self._cached is not None
            and self._loaded_at is not None
            and 0 <= (now - self._loaded_at).total_seconds() < self._cache_s
        )
        if fresh and self._cached is not None:
            return self._cached
        if tx is not None:
            entries = await tx.fraud.blocks(now, limit=MAX_CACHED)
        else:
            async with self._store.transaction() as own:
                entries = await own.fraud.blocks(now, limit=MAX_CACHED)
        self._cached, self._loaded_at = entries, now
        return entries
