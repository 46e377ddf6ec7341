"""The blocklist admin API's parameters and replies as documented models (OpenAPI)."""

from __future__ import annotations

from pydantic import Field

from hub.apidoc.types import Id, Model, Timestamp
from hub.domain.blocklist import MAX_REASON, BlockKind


class ListQuery(Model):
    all: str | None = Field(
        default=None,
        pattern="^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)$",
        description="true: every entry ever added (expired and removed ones too).",
    )
    limit: int | None = Field(default=None, ge=1, le=1000, description="At most this many (default 1000).")


class EntryPath(Model):
    entry_id: int = Field(gt=0, le=2**63 - 1, description="The entry id.", examples=[1])


class NewEntry(Model):
    """What to bar: a policy, a customer (token subject), an IP address or network, a device."""

    kind: BlockKind
    value: str = Field(
        description="In the kind's form (hub.domain.blocklist.canonical_value).", examples=["P123456789"]
    )
    reason: str = Field(min_length=1, max_length=MAX_REASON, examples=["chargeback fraud ring"])
    expiresAt: str | None = Field(
        default=None, description="ISO 8601 with a time zone, in the future; absent or null: until removed."
    )


class Entry(Model):
    id: Id
    kind: BlockKind
    value: str
    reason: str
    addedBy: str
    createdAt: Timestamp
    expiresAt: Timestamp | None
    removedAt: Timestamp | None
    removedBy: str | None
    active: bool
