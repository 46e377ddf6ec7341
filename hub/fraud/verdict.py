"""What the fraud rules saw: the attempt they judged (``Attempt``), each rule that fired (``Hit``) and the
verdict (``Verdict``) with its review. Pure data; ``hub.fraud.engine`` makes them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from hub.domain.money import Currency
from hub.fraud.rules import Subject, Surface


@dataclass(frozen=True)
class Attempt:
    """One request or notice as the rules see it. Absent subjects are None: rules keyed on them skip it.

    ``policy`` is the premium's policy number, ``query`` what was asked for (a policy or application
    number; matched against policy blocks too). ``quoted``: for a bank notice, the amount and currency
    its attempt was opened with (the inquiry's due amount)."""

    surface: Surface
    policy: str | None = None
    query: str | None = None
    customer: str | None = None
    ip: str | None = None
    device: str | None = None
    amount: Decimal | None = None
    currency: Currency | None = None
    premium_id: int | None = None
    payment_id: int | None = None
    quoted: tuple[Decimal, Currency] | None = None
    counted: bool = True  # False: not held to velocity rules (a bank's counter)

    def subject(self, subject: Subject) -> str | None:
        if subject == "policy":
            return self.policy.upper() if self.policy else None
        value: str | None = getattr(self, subject)
        return value

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None and k not in ("quoted", "counted")}
        if self.currency is not None:
            data["currency"] = self.currency.value
        if self.quoted is not None:
            data["quoted"] = {"amount": self.quoted[0], "currency": self.quoted[1].value}
        return data


@dataclass(frozen=True)
class Hit:
    """One rule that fired: what it saw (``detail``), the incident it belongs to, whether it stops the request."""

    rule: str
    kind: str
    detail: str
    incident: str
    blocks: bool
    subject: str | None = None
    value: str | None = None

    @property
    def action(self) -> str:
        return "block" if self.blocks else "flag"


@dataclass(frozen=True)
class Verdict:
    attempt: Attempt
    hits: tuple[Hit, ...] = ()

    @property
    def blocked(self) -> bool:
        return any(h.blocks for h in self.hits)

    @property
    def review_key(self) -> str:
        """The incident's review key: the first blocking rule's, else the first rule's."""
        first = next((h for h in self.hits if h.blocks), self.hits[0])
        return first.incident

    def reason(self) -> str:
        what = "stopped" if self.blocked else "flagged"
        return f"fraud: {self.attempt.surface} {what} by {', '.join(h.rule for h in self.hits)}"

    def payload(self) -> dict[str, Any]:
        return {
            "surface": self.attempt.surface,
            "action": "block" if self.blocked else "flag",
            "attempt": self.attempt.to_json(),
            "rules": [
                {"rule": h.rule, "kind": h.kind, "action": h.action, "subject": h.subject, "detail": h.detail}
                for h in self.hits
            ],
        }
