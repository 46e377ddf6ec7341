"""The spec's messages as Jinja2 templates (``notifier/templates/<language>/<kind>.<part>``), in Khmer and English.

Parts per kind (``payment_success``, ``payment_failed``, ``payment_reminder``): ``sms.txt`` (the SMS and
the push body; the spec's ``payment_success`` SMS reads "Payment of ${amount} ${currency} for policy
${policyNumber} successful. Ref: ${transactionId}"), ``subject.txt`` (the email subject and the push
title), ``email.txt`` and ``email.html`` (the two parts of the email: the spec's receipt and reminder).
Amounts are written by ``hub.domain.money.format_amount`` (USD "150.00", KHR "600000"); HTML parts
escape every value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from hub.domain.money import Currency, format_amount
from hub.domain.notification import Kind, Language

_METHOD_LABELS = {
    Language.EN: {"BILL": "Bill payment", "KHQR": "KHQR"},
    Language.KM: {"BILL": "ការបង់វិក្កយបត្រ", "KHQR": "KHQR"},
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    sms: str
    email_text: str
    email_html: str


class Templates:
    """The template files of the ``notifier`` package, loaded once; rendering raises on a missing value."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("notifier", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
            # The files ship with the package and do not change while it runs: no stat() of the file
            # per render (four per message) to see whether to reload it.
            auto_reload=False,
        )

    def render(self, kind: Kind, language: Language, values: Mapping[str, Any]) -> Rendered:
        def part(name: str) -> str:
            return self._env.get_template(f"{language.value}/{kind.value}.{name}").render(values).strip()

        return Rendered(part("subject.txt"), part("sms.txt"), part("email.txt") + "\n", part("email.html") + "\n")


def money_values(amount: Decimal, currency: Currency) -> dict[str, str]:
    return {"amount": format_amount(amount, currency), "currency": currency.value}


def payment_values(
    data: Mapping[str, Any], payer: str, occurred_at: datetime, language: Language, tz: tzinfo
) -> dict[str, Any]:
    """The values of a payment message, from the event's ``data`` (the contract's status data)."""
    currency = Currency(str(data["currency"]))
    method = str(data.get("method") or "")
    return {
        **money_values(Decimal(str(data["amount"])), currency),
        "payer": payer,
        "policy_number": str(data["policyNumber"]),
        "payment_id": int(data["paymentId"]),
        "transaction_id": str(data.get("transactionId") or "-"),
        "method": method,
        "method_label": _METHOD_LABELS[language].get(method, method or "-"),
        "occurred_at": occurred_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") + f" ({tz})",
    }


def reminder_values(payer: str, policy_number: str, amount: Decimal, currency: Currency, due: date) -> dict[str, Any]:
    return {
        **money_values(amount, currency),
        "payer": payer,
        "policy_number": policy_number,
        "due_date": due.isoformat(),
    }
