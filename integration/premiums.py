"""Premium use cases: lookup, CSV import (all or nothing), demo seed, settling paid premiums."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from hub.constants import PAYMENT_ID_FLOOR
from hub.domain.money import Currency, MoneyError, parse_amount, parse_currency
from hub.domain.notification import Contact, Language, is_email_address, parse_language
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent, Premium
from hub.errors import PremiumImportError
from hub.ports import Store

log = logging.getLogger("payhub.integration")

POLICY_NUMBER = re.compile(r"^[A-Za-z0-9]{9,10}$")
APPLICATION_NUMBER = re.compile(r"^[A-Za-z0-9]{1,10}$")
MAX_ID = 2**63 - 1  # BIGINT, the premiums table's id column
CSV_COLUMNS = ("id", "policy_number", "application_number", "payer", "amount", "currency", "due_date")
# Optional: how the payer is reached (notifications). A file may leave out any of these columns.
CONTACT_COLUMNS = ("payer_phone", "payer_email", "push_token", "language")
PHONE = re.compile(r"^\+?[0-9]{8,15}$")  # E.164: at most 15 digits; spaces, dots and dashes are dropped first
PUSH_TOKEN = re.compile(r"^[\x21-\x7e]{1,4096}$")  # printable ASCII, no spaces (FCM tokens are ~160 characters)

# id, policy number, payer, amount as written, currency, due date, application number
_DEMO_ROWS: tuple[tuple[int, str, str, str, Currency, date, str | None], ...] = (
    (150001, "P123456789", "John Doe", "150.00", Currency.USD, date(2026, 12, 15), None),
    (150002, "P987654321", "Sok Dara", "600000", Currency.KHR, date(2026, 12, 20), None),
    (150003, "P555000111", "Chan Sophea", "75.50", Currency.USD, date(2027, 1, 5), "A10000001"),
    (150004, "P444000222", "Lim Bopha", "250000", Currency.KHR, date(2027, 1, 10), None),
)
# Sandbox contacts (example.com addresses, sandbox push tokens): 150003's push token is one the sandbox
# push provider refuses, so its notices show the SMS fallback; 150004 has email only.
_DEMO_CONTACTS = {
    150001: Contact("+85512345678", "john.doe@example.com", "sandbox-device-john-doe", Language.EN),
    150002: Contact("+85598765432", "sok.dara@example.com", "sandbox-device-sok-dara", Language.KM),
    150003: Contact("+85511222333", None, "sandbox-unregistered-chan-sophea", Language.KM),
    150004: Contact(None, "lim.bopha@example.com", None, Language.KM),
}
DEMO_PREMIUMS = tuple(
    Premium(
        pid,
        policy,
        payer,
        parse_amount(amount, currency),
        currency,
        due,
        application_number=application,
        contact=_DEMO_CONTACTS[pid],
    )
    for pid, policy, payer, amount, currency, due, application in _DEMO_ROWS
)


def parse_premiums_csv(text: str) -> list[Premium]:
    """Validate every row; return them all, or raise PremiumImportError naming each bad row."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise PremiumImportError([f"row 1: missing column(s): {', '.join(missing)}"])
    out: list[Premium] = []
    errors: list[str] = []
    seen: dict[int, int] = {}
    rows: list[tuple[int, dict[str, str | None]]] = []
    try:
        for row in reader:
            rows.append((len(rows) + 2, row))
    except csv.Error as exc:  # a field past csv.field_size_limit(), a bad quote: the file cannot be read
        raise PremiumImportError([f"row {len(rows) + 2}: {exc}"]) from exc
    for number, row in rows:
        problems: list[str] = []
        premium = _row(row, problems)
        if premium is not None and premium.id in seen:
            problems.append(f"id: {premium.id} repeats row {seen[premium.id]}")
        if problems:
            errors += [f"row {number}: {p}" for p in problems]
        elif premium is not None:
            seen[premium.id] = number
            out.append(premium)
    if errors:
        raise PremiumImportError(errors)
    if not out:
        raise PremiumImportError(["the file has no data rows"])
    return out


def _row(row: dict[str, str | None], problems: list[str]) -> Premium | None:
    def cell(name: str) -> str:
        return (row.get(name) or "").strip()

    pid = cell("id")
    # ASCII digits only (str.isdigit() takes "²", which int() refuses, and other scripts' digits), at most
    # the store's BIGINT: a larger id crashed the import instead of naming the row.
    if not (pid.isascii() and pid.isdigit() and len(pid) <= 19 and 0 < int(pid) <= MAX_ID):
        shown = pid if len(pid) <= 24 else pid[:24] + "…"
        problems.append(f"id: {shown!r} is not an integer from 1 to {MAX_ID}")
    elif int(pid) >= PAYMENT_ID_FLOOR:
        problems.append(f"id: {pid} is not below {PAYMENT_ID_FLOOR} (payment ids start there)")
    policy = cell("policy_number")
    if not POLICY_NUMBER.match(policy):
        problems.append(f"policy_number: {policy!r} must be 9-10 letters or digits")
    application = cell("application_number") or None
    if application and not APPLICATION_NUMBER.match(application):
        problems.append(f"application_number: {application!r} must be 1-10 letters or digits")
    payer = cell("payer")
    if not payer or len(payer) > 100:
        problems.append("payer: required, at most 100 characters")
    currency: Currency | None = None
    try:
        currency = parse_currency(cell("currency"))
    except MoneyError as exc:
        problems.append(f"currency: {exc}")
    amount = None
    if currency is not None:
        try:
            amount = parse_amount(cell("amount"), currency)
        except MoneyError as exc:
            problems.append(f"amount: {exc}")
    due = None
    try:
        due = date.fromisoformat(cell("due_date"))
    except ValueError:
        problems.append(f"due_date: {cell('due_date')!r} is not a date (YYYY-MM-DD)")
    contact = _contact(cell, problems)
    if problems or currency is None or amount is None or due is None:
        return None
    return Premium(int(pid), policy, payer, amount, currency, due, application_number=application, contact=contact)


def _contact(cell: Callable[[str], str], problems: list[str]) -> Contact:
    """The optional contact columns of a row (empty cells and absent columns are no contact)."""
    phone = re.sub(r"[\s.()-]", "", cell("payer_phone")) or None
    if phone and not PHONE.match(phone):
        problems.append(f"payer_phone: {cell('payer_phone')[:24]!r} is not a phone number (E.164, e.g. +85512345678)")
    email = cell("payer_email") or None
    if email and not is_email_address(email):
        problems.append(f"payer_email: {email[:40]!r} is not an email address")
    token = cell("push_token") or None
    if token and not PUSH_TOKEN.match(token):
        problems.append("push_token: printable characters without spaces, at most 4096")
    language = None
    try:
        language = parse_language(cell("language"))
    except ValueError as exc:
        problems.append(f"language: {exc}")
    return Contact(phone, email, token, language)


@dataclass
class PremiumService:
    store: Store
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def due(self, query: str) -> Premium | None:
        async with self.store.transaction() as tx:
            return await tx.find_due_premium(query)

    async def get(self, premium_id: int) -> Premium | None:
        async with self.store.transaction() as tx:
            return await tx.premium(premium_id)

    async def import_premiums(self, premiums: Iterable[Premium]) -> int:
        """All or nothing: one transaction for the whole file.

        Raises PremiumImportError when an id is not below ``PAYMENT_ID_FLOOR``: bill ids and payment
        ids share a KHQR webhook's ``invoice_number`` and must never be the same number.
        """
        premiums = list(premiums)
        too_large = [f"id: {p.id} is not below {PAYMENT_ID_FLOOR}" for p in premiums if p.id >= PAYMENT_ID_FLOOR]
        if too_large:
            raise PremiumImportError(too_large)
        now = self.clock()
        count = 0
        async with self.store.transaction() as tx:
            for premium in premiums:
                await tx.upsert_premium(premium, now)
                count += 1
        return count

    async def seed_demo(self) -> None:
        """Demo policies, inserted only when absent (a restart never un-pays a premium)."""
        now = self.clock()
        async with self.store.transaction() as tx:
            for premium in DEMO_PREMIUMS:
                await tx.upsert_premium(premium, now, overwrite=False)

    async def on_event(self, event: PaymentEvent) -> None:
        """Bus handler: a CONFIRMED payment marks its premium paid (idempotent)."""
        if event.type != PaymentEvent.STATUS or event.status is not PaymentStatus.CONFIRMED:
            return
        async with self.store.transaction() as tx:
            payment = await tx.payment(event.payment_id)
            if payment is not None and await tx.mark_premium_paid(payment.premium_id, payment.id, self.clock()):
                log.info("premium paid", extra={"premiumId": payment.premium_id, "paymentId": payment.id})

    async def settle_unsettled(self, batch: int = 500) -> int:
        """Confirmed payments whose premium is still due, settled from the committed state
        (after a restart, a bus reconnect, or periodically); returns how many were settled."""
        settled = 0
        while True:
            async with self.store.transaction() as tx:
                rows = await tx.unsettled_confirmed(limit=batch)
                for payment_id, premium_id in rows:
                    settled += await tx.mark_premium_paid(premium_id, payment_id, self.clock())
            if len(rows) < batch:
                return settled
