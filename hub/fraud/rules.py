"""The fraud rules as operators configure them: a JSON list, validated once at start-up.

``PAYHUB_FRAUD_RULES`` holds the list itself, or ``PAYHUB_FRAUD_RULES_FILE`` names a file holding it
(not both); neither set: :data:`DEFAULT_RULES`. ``[]`` turns every rule off. Each rule is an object
with a ``kind``, a unique ``name`` (it labels logs, reviews and ``payhub_fraud_decisions_total``), the
``surfaces`` it watches and an ``action``:

``velocity``  ``subject`` (``policy`` | ``customer`` | ``ip`` | ``device``), ``limit``, ``window_s``:
              at most ``limit`` requests of one subject in any moving window of ``window_s`` seconds
              (one exactly ``window_s`` old still counts); the next one fires the rule.
``amount``    ``factor`` (> 1), ``min_history``, ``history``: fires when the amount is more than
              ``factor`` times, or less than 1/``factor`` of, the median of the policy's last
              ``history`` confirmed payments in the same currency, once it has at least ``min_history``.
``quote``     (``webhook`` only) fires when a bank's notice pays an amount or currency other than the
              one the attempt was opened with, i.e. the inquiry's due amount (the premium changed since).
``blocklist`` ``subjects`` (default all four): fires when an active blocklist entry names one of them.

Surfaces: ``inquiry`` (``GET /AMK/payments``), ``qr`` (``GET /khqr``), ``webhook`` (``POST /AMK/payments``,
``POST /AMK/khqr``). ``action`` is ``block`` (403 FRAUD_DETECTED and a review) or ``flag`` (a review, the
request goes on). On ``webhook`` every rule flags, whatever its action: money that moved is never refused.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from hub.errors import ConfigError
from hub.json_codec import loads

Surface = Literal["inquiry", "qr", "webhook"]
Subject = Literal["policy", "customer", "ip", "device"]
Action = Literal["block", "flag"]
SURFACES: tuple[Surface, ...] = ("inquiry", "qr", "webhook")
SUBJECTS: tuple[Subject, ...] = ("policy", "customer", "ip", "device")
MAX_RULES = 64
# Rule names label a Prometheus metric: few, short and plain.
NAME = r"^[a-z0-9][a-z0-9_.-]{0,47}$"
DAY_S = 86_400


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME)
    surfaces: tuple[Surface, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_surfaces(self) -> _Rule:
        if len(set(self.surfaces)) != len(self.surfaces):
            raise ValueError(f"rule {self.name}: a surface is listed twice")
        return self

    def blocks_on(self, surface: Surface) -> bool:
        """Whether firing on ``surface`` stops the request (never on ``webhook``)."""
        action: Action = getattr(self, "action", "flag")
        return action == "block" and surface != "webhook"


class VelocityRule(_Rule):
    kind: Literal["velocity"]
    subject: Subject
    limit: int = Field(ge=1, le=1_000_000)
    window_s: int = Field(ge=1, le=31 * DAY_S)
    action: Action = "block"


class AmountRule(_Rule):
    kind: Literal["amount"]
    factor: Decimal = Field(gt=1, le=1000)
    min_history: int = Field(default=3, ge=1, le=100)
    history: int = Field(default=12, ge=1, le=100)
    action: Action = "flag"

    @model_validator(mode="after")
    def _history_holds_the_minimum(self) -> AmountRule:
        if self.history < self.min_history:
            raise ValueError(f"rule {self.name}: history must be at least min_history")
        return self


class QuoteRule(_Rule):
    kind: Literal["quote"]
    surfaces: tuple[Literal["webhook"], ...] = ("webhook",)
    action: Literal["flag"] = "flag"


class BlocklistRule(_Rule):
    kind: Literal["blocklist"]
    subjects: tuple[Subject, ...] = SUBJECTS
    action: Action = "block"


Rule = Annotated[VelocityRule | AmountRule | QuoteRule | BlocklistRule, Field(discriminator="kind")]
_RULES = TypeAdapter(list[Rule])


def _velocity(surface: Surface, subject: Subject, limit: int, window_s: int = 600) -> dict[str, Any]:
    return {
        "kind": "velocity",
        "name": f"{surface}-{subject}",
        "surfaces": [surface],
        "subject": subject,
        "limit": limit,
        "window_s": window_s,
    }


# The defaults (docs/operations.md "Fraud controls" explains each): generous enough that no customer
# paying normally meets them, tight enough that scripted abuse does.
DEFAULT_RULES: list[dict[str, Any]] = [
    {"kind": "blocklist", "name": "blocklist", "surfaces": ["inquiry", "qr", "webhook"]},
    _velocity("inquiry", "policy", 30),
    _velocity("inquiry", "customer", 60),
    _velocity("inquiry", "ip", 600),
    _velocity("inquiry", "device", 60),
    _velocity("qr", "policy", 20),
    _velocity("qr", "customer", 30),
    _velocity("qr", "ip", 300),
    _velocity("qr", "device", 30),
    _velocity("webhook", "policy", 5, DAY_S),
    {"kind": "amount", "name": "amount-outlier", "surfaces": ["inquiry", "qr", "webhook"], "factor": "5"},
    {"kind": "quote", "name": "quote-mismatch", "surfaces": ["webhook"]},
]


class Rules:
    """A validated rule set; ``for_surface`` gives the rules watching one surface, in configured order."""

    def __init__(self, rules: list[VelocityRule | AmountRule | QuoteRule | BlocklistRule]) -> None:
        names = [r.name for r in rules]
        if len(names) != len(set(names)):
            raise ValueError("rule names must be unique")
        if len(rules) > MAX_RULES:
            raise ValueError(f"at most {MAX_RULES} rules")
        self.rules = tuple(rules)

    def for_surface(self, surface: Surface) -> tuple[VelocityRule | AmountRule | QuoteRule | BlocklistRule, ...]:
        return tuple(r for r in self.rules if surface in r.surfaces)

    def names(self) -> list[str]:
        return [r.name for r in self.rules]


def parse_rules(data: Any) -> Rules:
    """A rule set from decoded JSON (a list of rule objects); ``ValueError`` naming what is wrong."""
    try:
        return Rules(_RULES.validate_python(data))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise ValueError(problems) from None


def load_rules(text: str = "", path: str = "") -> Rules:
    """The rule set the settings name (``PAYHUB_FRAUD_RULES`` JSON, or the file ``PAYHUB_FRAUD_RULES_FILE``);
    :data:`DEFAULT_RULES` when both are empty. Raises :class:`ConfigError` naming the variable."""
    if text and path:
        raise ConfigError("set PAYHUB_FRAUD_RULES or PAYHUB_FRAUD_RULES_FILE, not both")
    variable = "PAYHUB_FRAUD_RULES_FILE" if path else "PAYHUB_FRAUD_RULES"
    try:
        if path:
            text = Path(path).read_text(encoding="utf-8")
        return parse_rules(loads(text, field=variable) if text else DEFAULT_RULES)
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"{variable}: {exc}") from None
