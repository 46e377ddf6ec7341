"""The reconciliation admin API's parameters and replies as documented models (OpenAPI)."""

from __future__ import annotations

from pydantic import ConfigDict, Field, JsonValue

from hub.apidoc.types import Id, Model, Timestamp

DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


class RunsQuery(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    date: str | None = Field(default=None, pattern=DAY, description="One day (YYYY-MM-DD).", examples=["2025-10-07"])
    from_: str | None = Field(default=None, alias="from", pattern=DAY, description="First day of a range.")
    to: str | None = Field(default=None, pattern=DAY, description="Last day of a range.")
    limit: int | None = Field(default=None, ge=1, le=1000, description="At most this many runs (default 100).")


class RunPath(Model):
    run_id: int = Field(gt=0, le=2**63 - 1, description="The run id.", examples=[1])


class RunQuery(Model):
    items: str | None = Field(default=None, description="`all`: every item instead of the mismatches only.")


class TriggerRun(Model):
    model_config = ConfigDict(extra="ignore")

    date: str = Field(
        pattern=DAY, description="The business day (Asia/Phnom_Penh), today or before.", examples=["2025-10-07"]
    )


class StatementRef(Model):
    source: str = Field(description="`fetched` (from AMK) or `file:<name>` (imported by an operator).")
    sha256: str | None


class RunView(Model):
    """The reconciliation of one day (one row per day: a rerun updates it)."""

    id: Id
    date: str = Field(pattern=DAY)
    status: str = Field(pattern="^(RUNNING|COMPLETED|FAILED)$")
    generation: int = Field(ge=0)
    trigger: str
    statement: StatementRef | None
    summary: JsonValue = Field(description="Counts by outcome.")
    error: str | None
    startedAt: Timestamp
    finishedAt: Timestamp | None
    updatedAt: Timestamp
    leaseOwner: str | None
    leaseUntil: Timestamp | None


class TriggeredRun(RunView):
    started: bool = Field(description="false: the day is already running (here or in another process).")


class ItemView(Model):
    """One transaction: PayHub's record, AMK's statement line and payment-verify answer, the outcome."""

    key: str
    channel: str
    txRef: str
    paymentId: Id | None
    outcome: str | None
    payhub: JsonValue
    statement: JsonValue
    verify: JsonValue
    detail: str
    reviewKey: str | None
    decidedAt: Timestamp | None
    alertedAt: Timestamp | None


class RunDetail(RunView):
    mismatches: list[ItemView] | None = Field(default=None, description="Without ?items=all.")
    items: list[ItemView] | None = Field(default=None, description="With ?items=all.")


class RunReport(RunView):
    items: list[ItemView]
