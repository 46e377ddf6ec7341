"""Premium inquiry: cache (15 min) → circuit breaker → integration service → fraud rules; logged; opens the payment."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.adapters.integration import premium_from_json, premium_json
from hub.alerts import AlertKind, Alerts
from hub.auth import Authenticator, Principal
from hub.domain.records import Payment, Premium
from hub.errors import BadRequest, FraudDetected, NotFound, PayHubError, ServiceUnavailable
from hub.fraud.engine import FraudEngine
from hub.fraud.requester import Requester
from hub.fraud.verdict import Attempt
from hub.json_codec import dumps_bytes, loads_object
from hub.ports import Cache, PremiumSource, Publisher, Store
from hub.resilience.breaker import CircuitBreaker, CircuitOpen
from hub.service.ledger import open_payment
from hub.service.watch import offer

log = logging.getLogger("payhub.inquiry")
QUERY = re.compile(r"^[A-Za-z0-9]{1,10}$")
PREMIUM_KEY = "premium:"  # under the cache's own prefix (hub.constants.CACHE_PREFIX in Redis)


@dataclass
class InquiryService:
    store: Store
    integration: PremiumSource
    cache: Cache
    breaker: CircuitBreaker
    auth: Authenticator
    bus: Publisher
    ttl_s: int = 900
    subscribe_ttl_s: int = 1800 + 600
    public_url: str = ""
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    fraud: FraudEngine | None = None
    alerts: Alerts = field(default_factory=Alerts)

    async def inquire(
        self, query: str, who: Principal, client_ip: str, correlation_id: str, requester: Requester | None = None
    ) -> dict[str, Any]:
        """The premium due for ``query`` and its payment's stream access. ``requester`` (when screened) is
        held to the fraud rules once the premium is known, before any payment is opened: a ``block`` rule
        raises ``FraudDetected`` (403) and nothing is opened."""
        if not QUERY.match(query):
            raise BadRequest(details=[{"field": "query", "message": "required: 1-10 letters or digits"}])
        outcome = "error"
        try:
            premium = await self.due_premium(query)
            if self.fraud is not None and requester is not None and requester.screened:
                await self.fraud.enforce(
                    Attempt(
                        "inquiry",
                        policy=premium.policy_number,
                        query=query,
                        customer=requester.customer,
                        ip=requester.ip,
                        device=requester.device,
                        counted=requester.counted,
                        amount=premium.amount,
                        currency=premium.currency,
                        premium_id=premium.id,
                    )
                )
            async with self.store.transaction() as tx:
                paid_by = await tx.confirmed_payment_for(premium.id)
                if paid_by is None:
                    now = self.clock()
                    payment, events = await open_payment(tx, premium, None, now)
                    await offer(tx, payment.id, who, now)  # the customer's own token may watch it
            if paid_by is not None:
                # Confirmed here, not yet settled by the integration service: never offer it again.
                await self.forget(query)
                raise NotFound(f"No premium due for {query}", details={"paidBy": paid_by.id})
            await self.bus.publish(events)
            outcome = "found"
            return {**premium.inquiry_dto(), **self.stream_access(payment)}
        except NotFound:
            outcome = "not_found"
            raise
        except FraudDetected:
            outcome = "fraud_detected"
            raise
        finally:
            await self._log(query, who, client_ip, outcome, correlation_id)

    def stream_access(self, payment: Payment, valid_until: float | None = None) -> dict[str, Any]:
        expires = valid_until or time.time() + self.subscribe_ttl_s
        return {
            "paymentId": payment.id,
            "subscribeToken": self.auth.issue_subscribe(payment.id, expires),
            "eventsUrl": f"{self.public_url}/api/payments/{payment.id}/events",
        }

    async def due_premium(self, query: str) -> Premium:
        """Cached for ``ttl_s``; when the integration service fails, the cache answers or 503."""
        key = PREMIUM_KEY + query.upper()
        cached = await self.cache.get(key)
        if cached is not None:
            return premium_from_json(loads_object(cached))
        try:
            premium = await self._fetch(lambda: self.integration.due_premium(query))
        except (CircuitOpen, ServiceUnavailable) as exc:
            self.alerts.raise_(AlertKind.INTEGRATION_UNAVAILABLE, log, query=query, error=exc.message)
            raise ServiceUnavailable(
                "Integration service temporarily unavailable",
                details=exc.message,
                retry_after=exc.retry_after or self.breaker.retry_after() or 30,
            ) from exc
        await self.cache.set(key, dumps_bytes(premium_json(premium)), self.ttl_s)
        return premium

    async def premium(self, premium_id: int) -> Premium:
        """Any premium by id, through the circuit breaker (webhooks match against it)."""
        return await self._fetch(lambda: self.integration.premium(premium_id))

    async def forget(self, *queries: str | None) -> None:
        """Drop cached premiums (after a confirmation, so the premium is no longer offered)."""
        for query in filter(None, queries):
            await self.cache.delete(PREMIUM_KEY + query.upper())

    async def on_confirmed(self, payment: Payment) -> None:
        """Forget the policy's cached premium. An entry cached under its application number may
        outlive this, but every inquiry checks the premium has no confirmed payment before
        offering it (and then forgets that entry too), so a paid premium is never offered."""
        await self.forget(payment.policy_number)

    async def _fetch(self, call: Callable[[], Awaitable[Premium]]) -> Premium:
        return await self.breaker.call(call)

    async def _log(self, query: str, who: Principal, ip: str, outcome: str, cid: str) -> None:
        log.info("inquiry", extra={"query": query, "subject": who.sub, "clientIp": ip, "outcome": outcome})
        try:
            async with self.store.transaction() as tx:
                await tx.log_inquiry(query, who.sub, ip, outcome, cid, self.clock())
        except PayHubError:
            log.warning("inquiry log not written", extra={"query": query})
