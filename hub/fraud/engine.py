"""Fraud decisions: which rules fire on an attempt, and what follows.

Before money moves (``inquiry``, ``qr``): :meth:`FraudEngine.enforce` raises ``FraudDetected`` (403
FRAUD_DETECTED) when a ``block`` rule fires, after writing one review; a ``flag`` rule only writes the
review. After money moved (``webhook``): :meth:`FraudEngine.screen_money` never raises, and
:meth:`FraudEngine.flag_payment`, inside the webhook's own transaction, flags the payment and writes the
review; the notice is recorded and answered as usual.

Every decision is logged (logger ``payhub.fraud``, ``rule``, ``action``, ``surface``) and counted
(``payhub_fraud_decisions_total{rule,action,surface}``). Reviews have ``fraud:`` keys, one per incident:

* blocklist: ``fraud:blocklist:<entry id>:<UTC date>`` (a barred subject trying again the same day is
  the same incident);
* velocity: ``fraud:<rule>:<subject>:<value>:<n>``, ``n`` the rule's window counted from the epoch (a
  burst of retries is one incident; a subject over the limit for an hour makes at most one review per
  window length, two when the burst straddles a boundary);
* amount: ``fraud:<rule>:premium:<premium id>`` (the premium is the anomaly, however often it is asked for);
* webhook: ``fraud:webhook:<receipt key>`` (one per bank notice; its retries are answered from the receipt).

Order of evaluation: blocklist, amount, quote, then velocity; velocity windows are not counted for a
request another rule already blocked.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from hub.alerts import AlertKind, Alerts
from hub.domain.blocklist import BlockKind
from hub.domain.money import format_amount
from hub.domain.records import Payment
from hub.errors import FraudDetected
from hub.fraud.blocklist import Blocklist
from hub.fraud.rules import AmountRule, BlocklistRule, QuoteRule, Rules, Subject, VelocityRule
from hub.fraud.verdict import Attempt, Hit, Verdict
from hub.fraud.windows import Check, VelocityWindows, counted_value, subject_key
from hub.ports import Store, StoreTx

log = logging.getLogger("payhub.fraud")
REVIEW_KEY = "fraud:"
ENGINE_RULE = "engine"  # the metric's rule label when screening itself failed
# What a flagged payment's ``review_reason`` says. Deliberately plain: status events carry the reason to
# the payer's stream, and a suspected fraudster is not told which rule saw him; staff read the review.
PAYMENT_FLAG = "flagged for review by risk checks"
_KINDS: dict[Subject, BlockKind] = {
    "policy": BlockKind.POLICY,
    "customer": BlockKind.CUSTOMER,
    "ip": BlockKind.IP,
    "device": BlockKind.DEVICE,
}


class FraudEngine:
    """Applies ``rules`` (see ``hub.fraud.rules``) with the velocity ``windows`` and the ``blocklist``.

    ``count(rule, action, surface)`` is called once per rule that fires (the Prometheus counter);
    ``clock`` dates reviews and incidents and decides expiry.
    """

    def __init__(
        self,
        rules: Rules,
        windows: VelocityWindows,
        blocklist: Blocklist,
        store: Store,
        *,
        count: Callable[[str, str, str], None] = lambda rule, action, surface: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        alerts: Alerts | None = None,
    ) -> None:
        self._alerts = alerts if alerts is not None else Alerts()
        self.rules = rules
        self.windows = windows
        self.blocklist = blocklist
        self._store = store
        self._count = count
        self._clock = clock

    # --- before money moves ---------------------------------------------------------------------

    async def enforce(self, attempt: Attempt) -> Verdict:
        """Screen a request before money moves. A ``block`` hit: one review (per incident), then
        :class:`FraudDetected`; only ``flag`` hits: one review, and the request goes on."""
        verdict = await self.screen(attempt)
        if verdict.hits:
            self._decided(verdict, verdict.review_key)
            async with self._store.transaction() as tx:
                created = await tx.add_review(
                    verdict.review_key, verdict.reason(), attempt.payment_id, verdict.payload(), self._clock()
                )
            if created:
                self._alert(verdict)
        if verdict.blocked:
            raise FraudDetected(details="Held for verification: contact support quoting the correlationId")
        return verdict

    # --- after money moved ----------------------------------------------------------------------

    async def screen_money(self, attempt: Attempt, tx: StoreTx | None = None) -> Verdict:
        """Screen a bank's notice: never raises. When screening fails, the notice goes on unscreened,
        with the ALERT ``fraud_screening_failed`` and
        ``payhub_fraud_decisions_total{rule="engine",action="error"}``.

        ``tx``: the notice's own transaction, once its receipt is inserted (so only the first delivery of
        a notice is screened and counted, never a concurrent copy that turns out to be a replay); the
        rules then read the store through it, in a savepoint (``StoreTx.savepoint``) that a failure undoes
        alone."""
        try:
            if tx is None:
                return await self.screen(attempt)
            # In a savepoint: a rule's statement that fails must not abort the notice's own transaction
            # (PostgreSQL refuses every later statement of it), or the money would not be recorded.
            async with tx.savepoint():
                return await self.screen(attempt, tx)
        except Exception as exc:
            self._alerts.raise_(
                AlertKind.FRAUD_SCREENING_FAILED,
                log,
                surface=attempt.surface,
                paymentId=attempt.payment_id,
                error=type(exc).__name__,
            )
            self._count(ENGINE_RULE, "error", attempt.surface)
            return Verdict(attempt)

    async def flag_payment(self, tx: StoreTx, payment: Payment, verdict: Verdict, notice_key: str) -> Payment:
        """Inside the notice's transaction: flag ``payment`` (``review_reason`` gains :data:`PAYMENT_FLAG`)
        and write the notice's review (``fraud:webhook:<notice_key>``, once). Logs and counts once the
        transaction commits. Returns the payment as flagged (unchanged when nothing fired)."""
        if not verdict.hits:
            return payment
        now = self._clock()
        reason = verdict.reason()
        key = f"{REVIEW_KEY}webhook:{notice_key}"
        created = await tx.add_review(key, reason, payment.id, verdict.payload(), now)
        reasons = [r for r in (payment.review_reason, PAYMENT_FLAG) if r]
        flagged = replace(payment, review_reason="; ".join(dict.fromkeys(reasons)), updated_at=now)
        await tx.update_payment(flagged)

        def committed() -> None:
            self._decided(verdict, key)
            if created:
                self._alert(verdict)

        tx.after_commit(committed)
        return flagged

    # --- the rules ------------------------------------------------------------------------------

    async def screen(self, a: Attempt, tx: StoreTx | None = None) -> Verdict:
        """Which rules fire on ``a``; counts it in the velocity windows (see the module docstring).
        No review, log or metric: ``enforce`` and ``flag_payment`` record the decision. ``tx``: a unit of
        work the caller holds, read through instead of opening one (a store may run one at a time)."""
        hits: list[Hit] = []
        for rule in self.rules.for_surface(a.surface):
            if isinstance(rule, BlocklistRule):
                hits += await self._blocklist(rule, a, tx)
            elif isinstance(rule, AmountRule):
                hits += await self._amount(rule, a, tx)
            elif isinstance(rule, QuoteRule):
                hits += self._quote(rule, a)
        if a.counted and not any(h.blocks for h in hits):
            hits += await self._velocity(a)
        return Verdict(a, tuple(hits))

    async def _blocklist(self, rule: BlocklistRule, a: Attempt, tx: StoreTx | None) -> list[Hit]:
        candidates = [(_KINDS[s], v) for s in rule.subjects if (v := a.subject(s))]
        if "policy" in rule.subjects and a.query:
            candidates.append((BlockKind.POLICY, a.query.upper()))
        day = self._clock().astimezone(UTC).date().isoformat()
        return [
            Hit(
                rule.name,
                rule.kind,
                f"blocklist entry {e.id}: {e.reason}",
                f"{REVIEW_KEY}blocklist:{e.id}:{day}",
                rule.blocks_on(a.surface),
                e.kind.value,
                e.value,
            )
            for e in await self.blocklist.matching(candidates, tx)
        ]

    async def _amount(self, rule: AmountRule, a: Attempt, tx: StoreTx | None) -> list[Hit]:
        if a.amount is None or a.currency is None or not a.policy:
            return []
        if tx is not None:
            history = await tx.fraud.paid_amounts(a.policy, a.currency, rule.history)
        else:
            async with self._store.transaction() as own:
                history = await own.fraud.paid_amounts(a.policy, a.currency, rule.history)
        if len(history) < rule.min_history:
            return []
        usual = statistics.median(history)
        if not (a.amount > rule.factor * usual or a.amount * rule.factor < usual):
            return []
        detail = (
            f"amount {format_amount(a.amount, a.currency)} {a.currency.value} is outside {rule.factor}x the"
            f" median {format_amount(usual, a.currency)} of the policy's last {len(history)} payments"
        )
        incident = f"{REVIEW_KEY}{rule.name}:premium:{a.premium_id if a.premium_id is not None else a.policy}"
        return [Hit(rule.name, rule.kind, detail, incident, rule.blocks_on(a.surface), "policy", a.subject("policy"))]

    @staticmethod
    def _quote(rule: QuoteRule, a: Attempt) -> list[Hit]:
        if a.quoted is None or a.amount is None or a.currency is None:
            return []
        quoted, currency = a.quoted
        if quoted == a.amount and currency is a.currency:
            return []
        detail = (
            f"paid {format_amount(a.amount, a.currency)} {a.currency.value}; the attempt was opened for"
            f" {format_amount(quoted, currency)} {currency.value}"
        )
        incident = f"{REVIEW_KEY}{rule.name}:payment:{a.payment_id}"
        return [Hit(rule.name, rule.kind, detail, incident, False, "policy", a.subject("policy"))]

    async def _velocity(self, a: Attempt) -> list[Hit]:
        blocking: list[Check] = []
        flagging: list[Check] = []
        for rule in self.rules.for_surface(a.surface):
            if isinstance(rule, VelocityRule) and (value := a.subject(rule.subject)):
                counted = counted_value(rule.subject, value)  # an IPv6 client: its /64
                (blocking if rule.blocks_on(a.surface) else flagging).append(Check(rule, counted))
        fired = [(c, True) for c in await self.windows.admit(blocking)]
        fired += [(c, False) for c in await self.windows.count(flagging)]
        now = self._clock().timestamp()
        return [
            Hit(
                c.rule.name,
                c.rule.kind,
                f"more than {c.rule.limit} {a.surface} requests per {c.rule.window_s} s for this {c.rule.subject}",
                f"{REVIEW_KEY}{c.rule.name}:{c.rule.subject}:{subject_key(c.value)}:{int(now // c.rule.window_s)}",
                blocks,
                c.rule.subject,
                c.value,
            )
            for c, blocks in fired
        ]

    # --- records --------------------------------------------------------------------------------

    def _decided(self, verdict: Verdict, review_key: str) -> None:
        a = verdict.attempt
        for h in verdict.hits:
            self._count(h.rule, h.action, a.surface)
            log.warning(
                "fraud rule fired",
                extra={
                    "rule": h.rule,
                    "action": h.action,
                    "surface": a.surface,
                    "subject": h.subject,
                    "value": h.value,
                    "detail": h.detail,
                    "paymentId": a.payment_id,
                    "review": review_key,
                },
            )

    def _alert(self, verdict: Verdict) -> None:
        a = verdict.attempt
        self._alerts.raise_(
            AlertKind.FRAUD_REVIEW_OPENED,
            log,
            surface=a.surface,
            action="block" if verdict.blocked else "flag",
            rules=[h.rule for h in verdict.hits],
            policyNumber=a.policy,
            paymentId=a.payment_id,
        )
