"""What the admin API and the CLI accept: review and payment filters, and the bodies of review
actions. Validated once here (pydantic), for both: bad input is a 400 BAD_REQUEST naming each
field (``details: [{"field", "message"}]``) and changes nothing.

Dates: ``from``/``to`` take a day (``2026-11-27``: the whole day in Asia/Phnom_Penh, where the
insurer works; ``to`` includes its day) or an instant with its offset (``2026-11-27T08:00:00+07:00``;
``to`` excludes it). An instant without an offset is read in Asia/Phnom_Penh too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hub.domain.lookups import PaymentQuery
from hub.domain.payment import PaymentStatus
from hub.domain.reviews import MAX_KIND_LENGTH, ReviewOutcome, ReviewQuery, ReviewState
from hub.errors import BadRequest

BUSINESS_TZ = ZoneInfo("Asia/Phnom_Penh")
MAX_ID = 2**63 - 1
MAX_LIMIT = 500
MAX_NOTE = 2000
MIN_YEAR, MAX_YEAR = 1970, 9000
_KIND = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MAX_KIND_LENGTH - 1}}}")
_POLICY = re.compile(r"[A-Za-z0-9-]{1,32}")
_TRANSACTION = re.compile(r"[\x21-\x7e]{1,100}")  # printable ASCII, no spaces


def _items(value: Any) -> list[str]:
    """Several values: a list (repeated query parameter) or one comma-separated string."""
    values = value if isinstance(value, list | tuple) else [value]
    return [part.strip() for v in values for part in str(v).split(",") if part.strip()]


def _upper_items(value: Any) -> list[str]:
    return [v.upper() for v in _items(value)]


def _outcome_text(value: Any) -> Any:
    # ``refund-required``, ``Refund Required`` and ``REFUND_REQUIRED`` all name one outcome.
    return re.sub(r"[\s-]+", "_", value.strip().lower()) if isinstance(value, str) else value


def _outcome_items(value: Any) -> list[Any]:
    return [_outcome_text(v) for v in _items(value)]


def _text(value: str, *, lines: bool = False) -> str:
    """Refuse what no database column should hold: control characters (line breaks and tabs allowed
    in notes) and lone surrogates (not UTF-8; PostgreSQL would refuse the text, SQLite garble it)."""
    allowed = "\n\t" if lines else ""
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed for ch in value):
        raise ValueError("control characters or unpaired surrogates are not allowed")
    return value


def _instant(value: date | datetime, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=BUSINESS_TZ)
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time(), tzinfo=BUSINESS_TZ)


def _policy(value: str) -> str:
    if not _POLICY.fullmatch(value):
        raise ValueError("1-32 letters, digits or '-'")
    return value


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Policy = Annotated[str, AfterValidator(_policy)]
"""A policy or application number: 1-32 letters, digits or '-' (matched in either letter case)."""
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]


class _Filter(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    created_from: date | datetime | None = Field(None, alias="from")
    created_to: date | datetime | None = Field(None, alias="to")
    limit: Limit = 100
    before: Id | None = None

    @field_validator("created_from", "created_to", mode="before")
    @classmethod
    def _day_or_instant(cls, value: Any) -> Any:
        # A bare day is a date, anything longer an ISO 8601 instant (pydantic would read "2026-11-27"
        # as midnight UTC and a number as a Unix time).
        parsed: date | None = None
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            parsed = date.fromisoformat(value.strip())
        elif isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ].+", value.strip()):
            parsed = datetime.fromisoformat(value.strip())
        elif isinstance(value, date):
            parsed = value
        if parsed is None:
            raise ValueError("a day YYYY-MM-DD or an ISO 8601 date-time")
        if not MIN_YEAR <= parsed.year <= MAX_YEAR:
            # far enough from datetime's own limits that a time zone or the day after cannot overflow
            raise ValueError(f"a year from {MIN_YEAR} to {MAX_YEAR}")
        return parsed

    @model_validator(mode="after")
    def _ordered(self) -> _Filter:
        start, end = self.window
        if start is not None and end is not None and start >= end:
            raise ValueError("to: must be after from")
        return self

    @property
    def window(self) -> tuple[datetime | None, datetime | None]:
        start = None if self.created_from is None else _instant(self.created_from, end=False)
        end = None if self.created_to is None else _instant(self.created_to, end=True)
        return start, end


class ReviewFilter(_Filter):
    """``GET /admin/reviews`` query: ``state``, ``kind``, ``outcome`` (each repeatable or
    comma-separated), ``from``, ``to`` (created), ``policy``, ``payment``, ``limit`` (1–500,
    default 100), ``before`` (a review id: the next page)."""

    state: Annotated[list[ReviewState], BeforeValidator(_upper_items)] = []
    kind: Annotated[list[str], BeforeValidator(_items)] = []
    outcome: Annotated[list[ReviewOutcome], BeforeValidator(_outcome_items)] = []
    policy: Policy | None = None
    payment: Id | None = None

    @field_validator("kind")
    @classmethod
    def _kinds(cls, kinds: list[str]) -> list[str]:
        for k in kinds:
            if not _KIND.fullmatch(k.lower()):
                raise ValueError(f"{k!r} is not a review kind (lower-case letters, digits, '-')")
        return [k.lower() for k in kinds]

    def query(self) -> ReviewQuery:
        start, end = self.window
        return ReviewQuery(
            states=tuple(dict.fromkeys(self.state)),
            kinds=tuple(dict.fromkeys(self.kind)),
            outcomes=tuple(dict.fromkeys(self.outcome)),
            created_from=start,
            created_to=end,
            policy_number=self.policy,
            payment_id=self.payment,
            before_id=self.before,
            limit=self.limit,
        )


class PaymentFilter(_Filter):
    """``GET /admin/payments`` query: ``transactionId`` (AMK's), ``policy`` (policy or application
    number), ``payer`` (start of the name), ``status`` (repeatable or comma-separated), ``from``,
    ``to`` (when the attempt was opened), ``limit``, ``before`` (a payment id: the next page)."""

    transaction_id: str | None = Field(None, alias="transactionId")
    policy: Policy | None = None
    payer: str | None = Field(None, min_length=1, max_length=100)
    status: Annotated[list[PaymentStatus], BeforeValidator(_upper_items)] = []

    @field_validator("payer")
    @classmethod
    def _payer(cls, value: str | None) -> str | None:
        return None if value is None else _text(value)

    @field_validator("transaction_id")
    @classmethod
    def _transaction(cls, value: str | None) -> str | None:
        if value is not None and not _TRANSACTION.fullmatch(value):
            raise ValueError("1-100 printable characters, no spaces")
        return value

    def query(self) -> PaymentQuery:
        start, end = self.window
        return PaymentQuery(
            transaction_id=self.transaction_id,
            policy=self.policy,
            payer=self.payer,
            created_from=start,
            created_to=end,
            statuses=tuple(dict.fromkeys(self.status)),
            before_id=self.before,
            limit=self.limit,
        )


Note = Annotated[str, Field(min_length=1, max_length=MAX_NOTE)]


class NoteBody(BaseModel):
    """``POST /admin/reviews/{id}/reopen`` and ``/escalate``: ``{"note": "why"}`` (1–2000 characters)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: Note

    @field_validator("note")
    @classmethod
    def _note(cls, value: str) -> str:
        return _text(value, lines=True)


class ResolveBody(NoteBody):
    """``POST /admin/reviews/{id}/resolve``: ``{"outcome": "accepted" | "refund_required" |
    "dismissed", "note": "why"}``."""

    outcome: Annotated[ReviewOutcome, BeforeValidator(_outcome_text)]


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Mapping[str, Any], what: str) -> M:
    """``model`` from ``data``, or BadRequest naming each bad field (``what`` names the input)."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        details = []
        for e in exc.errors(include_url=False):
            message = e["msg"].removeprefix("Value error, ")
            field = ".".join(str(p) for p in e["loc"] if not isinstance(p, int))
            if not field and ":" in message:  # a model-level rule names its field first
                field, message = (part.strip() for part in message.split(":", 1))
            if e["type"] == "extra_forbidden":
                message = "unknown field" if what == "body" else "unknown parameter"
            details.append({"field": field or what, "message": message})
        raise BadRequest(f"Invalid {what}", details=details) from exc


def query_dict(items: Sequence[tuple[str, str]], multi: Sequence[str]) -> dict[str, Any]:
    """Query parameters as the filters take them: those in ``multi`` as lists (repeatable), any
    other given twice refused by its model as a list where one value is expected."""
    out: dict[str, Any] = {}
    for key, value in items:
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = [value] if key in multi else value
    return out
