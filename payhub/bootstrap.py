"""Builds one PayHub process from settings (``payhub.backends`` turns its URLs into backends).

``Container(settings, services=...)`` builds, without any I/O, the objects the chosen services
need and nothing else (a push node builds no AMK client, re-verifier or sandbox). ``async with``
opens what they use (database pool, HTTP clients) and closes everything in reverse order;
``start()`` seeds, catches up and runs the background work under one task group. Any adapter can
be handed in instead of the one the settings name (``store=``, ``bus=``, ``amk=``, …), as in
cosmicpython's ``bootstrap``: the container then uses it and leaves its closing to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import httpx
from starlette.types import ASGIApp

from backoffice.analytics.feed import AnalyticsFeed
from backoffice.lookups import Lookups
from backoffice.reconcile.runner import Reconciler
from backoffice.reconcile.schedule import DailyReconciliation
from backoffice.reviews import ReviewDesk
from gateway.inquiry import InquiryService
from gateway.reverify import ReVerifier
from gateway.webhooks import WebhookService
from hub.adapters.notify.sandbox import SandboxOutbox
from hub.adapters.store.sql import SqlStore
from hub.auth import authenticator
from hub.background import running
from hub.domain.records import PaymentEvent
from hub.errors import ConfigError
from hub.fanout import Fanout
from hub.fraud.blocklist import Blocklist
from hub.fraud.engine import FraudEngine
from hub.fraud.windows import VelocityWindows
from hub.logs import correlation_id
from hub.metrics import Metrics
from hub.ports import AmkQrGenerator, AmkVerifier, Bus, Cache, Publisher, Store
from hub.readiness import Readiness
from hub.resilience.breaker import CircuitBreaker
from hub.resilience.ratelimit import RateLimiter
from hub.settings import Settings
from hub.tracing import TRACEPARENT, Tracer, current_trace
from integration.premiums import PremiumService
from integration.settlement import SettlementSweeper
from khqr.expiry import ExpiryScheduler
from khqr.service import KhqrService
from notifier.catchup import EventLogCatchUp
from notifier.dispatcher import Dispatcher
from notifier.reminders import ReminderScheduler
from notifier.service import Notifier
from payhub import builders as build
from payhub.backends import (
    OpenableDialect,
    fanout_bus,
    is_postgres,
    limiter_storage,
    open_store,
    shared_cache,
    store_dialect,
)
from push.warm import warm_latest
from sandbox.simulate import Simulator
from sandbox.state import SandboxState

log = logging.getLogger("payhub.wiring")

# ``open_store`` and ``is_postgres`` are imported from here by tests and tools that build a store.
__all__ = ["SERVICES", "Container", "is_postgres", "open_store"]

SERVICES = ("gateway", "khqr", "push", "integration", "sandbox", "notifier")
SERVICE_TOKEN_TTL_S = 10 * 365 * 86400


# --- the container ---------------------------------------------------------------------------


async def _pass_correlation_id(request: httpx.Request) -> None:
    """One id follows a request across services (gateway → integration, khqr → gateway, …), and so
    does its trace: W3C ``traceparent`` (+ ``tracestate``) naming the current span as the parent."""
    cid = correlation_id.get()
    if cid != "-" and "x-correlation-id" not in request.headers:
        request.headers["X-Correlation-ID"] = cid
    trace = current_trace.get()
    if trace is not None and TRACEPARENT not in request.headers:
        request.headers.update(trace.headers())


class NullPublisher:
    """Production with Kafka: the outbox relay publishes committed events (woken by NOTIFY)."""

    async def publish(self, events: Sequence[PaymentEvent]) -> None:
        return None


class Container:
    """Everything one PayHub process needs for ``services``, built from settings.

    ``app`` is the ASGI app this process serves: with no URL configured for a service it calls
    (``PAYHUB_INTEGRATION_URL``, ``PAYHUB_GATEWAY_URL``, ``PAYHUB_AMK_BASE_URL`` in sandbox mode),
    the HTTP client goes to ``app`` in-process — the same code path, minus the sockets.
    Attributes of a service that is not served are absent (``AttributeError``).
    Raises ConfigError for unknown services, unsupported URLs, or a missing in-process app.
    """

    limiter: RateLimiter  # gateway and KHQR only
    cache: Cache  # gateway only
    # Set by the builders of the services served (payhub/builders.py).
    fraud: FraudEngine  # gateway and KHQR only
    blocklist: Blocklist  # gateway and KHQR only
    push: Fanout
    premiums: PremiumService
    settlement: SettlementSweeper
    breaker: CircuitBreaker
    amk: AmkVerifier
    inquiry: InquiryService
    webhooks: WebhookService
    reverifier: ReVerifier
    qr_breaker: CircuitBreaker
    amk_qr: AmkQrGenerator
    expiry: ExpiryScheduler
    khqr: KhqrService
    sandbox_state: SandboxState
    simulator: Simulator
    analytics: AnalyticsFeed  # gateway process (the back office's admin API)
    notifier: Notifier
    dispatcher: Dispatcher
    reminders: ReminderScheduler
    notify_catchup: EventLogCatchUp
    notify_outbox: SandboxOutbox
    reconciler: Reconciler  # gateway: reconciliation with AMK (backoffice)
    daily_reconciliation: DailyReconciliation
    review_desk: ReviewDesk  # gateway only, as the admin API
    lookups: Lookups

    def __init__(
        self,
        settings: Settings,
        *,
        services: Sequence[str] = SERVICES,
        app: ASGIApp | None = None,
        store: Store | None = None,
        bus: Bus | None = None,
        cache: Cache | None = None,
        limiter: RateLimiter | None = None,
        tracer: Tracer | None = None,
        **adapters: Any,
    ) -> None:
        unknown = set(services) - set(SERVICES)
        if unknown:
            raise ConfigError(f"unknown service(s): {', '.join(sorted(unknown))}")
        self.settings = s = settings
        self.services = frozenset(services)
        self.app = app
        self.adapters = adapters  # amk=, amk_qr=, integration=, gateway=, fraud_windows=: see payhub/builders.py
        self._stack = AsyncExitStack()
        self._http: list[httpx.AsyncClient] = []
        self._owned: list[Any] = []  # adapters built here, closed by this container
        self._dialect: OpenableDialect | None = None
        self._own_store: SqlStore | None = None  # built here from the URL: opened and closed here
        if store is None:
            self._dialect = store_dialect(s.database_url, pool_min=s.db_pool_min, pool_max=s.db_pool_max)
            self._own_store = store = SqlStore(self._dialect)
        self.store: Store = store
        # ``is None``, not ``or``: an empty in-memory cache or bus may be falsy.
        self.bus: Bus = bus if bus is not None else _own(self._owned, fanout_bus(s.redis_url))
        if cache is not None:
            self.cache = cache
        elif "gateway" in self.services:  # premiums seen by inquiries
            self.cache = _own(self._owned, shared_cache(s.redis_url))
        # With Kafka, committed events travel outbox → relay → Kafka → feeder → bus; without, the
        # committing process hands them to the bus itself.
        self.publisher: Publisher = NullPublisher() if s.kafka_bootstrap else self.bus
        self.auth = authenticator(s)
        self.metrics = Metrics()
        self.tracer = tracer if tracer is not None else Tracer()  # spans of requests, relay batches, consumers
        # /readyz: each dependency this process uses (Kafka is added by the consumer that uses it).
        self.readiness = Readiness(s.readiness_timeout_s)
        self.readiness.add("database", lambda: self.store.ping())
        redis_ping = getattr(self.bus, "ping", None)
        if s.redis_url and redis_ping is not None:
            self.readiness.add("redis", redis_ping)
        if limiter is not None:
            self.limiter = limiter
        elif self.services & {"gateway", "khqr"}:
            self.limiter = _own(
                self._owned,
                RateLimiter(
                    limiter_storage(s.redis_url),
                    user_per_min=s.rate_user_per_min,
                    ip_per_min=s.rate_ip_per_min,
                    alerts=self.metrics.alerts,
                ),
            )
        if hasattr(self, "limiter"):
            build.limiter_gauges(self)
        if self.services & {"gateway", "khqr"}:  # fraud windows live where the rate-limit counters do
            windows: VelocityWindows | None = adapters.get("fraud_windows")
            if windows is None:
                windows = _own(self._owned, VelocityWindows(limiter_storage(s.redis_url), alerts=self.metrics.alerts))
            build.fraud(self, windows)
        if "integration" in self.services:
            build.integration(self)
        if self.services & {"push", "khqr"}:
            build.fanout(self)
        if "gateway" in self.services:
            build.gateway(self)
            build.analytics(self)
            build.reconciliation(self)
            build.review_desk(self)
        if "khqr" in self.services:
            build.khqr(self)
        if "sandbox" in self.services and s.sandbox:
            build.sandbox(self)
        if "notifier" in self.services:
            build.notifier(self)

    # --- used by the per-service builders (payhub/builders.py) ----------------------------

    def own(self, resource: Any) -> Any:
        """Close ``resource`` (``aclose()``) with this container."""
        return _own(self._owned, resource)

    def http_client(
        self,
        base_url: str,
        local_path: str = "",
        *,
        service_token: str | None = None,
        wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
    ) -> httpx.AsyncClient:
        """An HTTP client to ``base_url``, or to this process's own app (under ``local_path``).
        ``wrap`` wraps its transport (e.g. ``hub.http.client_metrics.TimedTransport``)."""
        timeout = httpx.Timeout(self.settings.amk_timeout_s)
        hooks = {"request": [_pass_correlation_id]}
        if base_url:
            transport = wrap(httpx.AsyncHTTPTransport()) if wrap else None
            client = httpx.AsyncClient(base_url=base_url, timeout=timeout, event_hooks=hooks, transport=transport)
        elif self.app is not None:
            local: httpx.AsyncBaseTransport = httpx.ASGITransport(app=self.app)
            client = httpx.AsyncClient(
                transport=wrap(local) if wrap else local,
                base_url=f"http://payhub.local{local_path}",
                timeout=timeout,
                event_hooks=hooks,
            )
        else:
            raise ConfigError(f"no URL configured for {local_path or 'a service'} and no in-process app to call")
        if service_token is not None:
            token = self.auth.issue_service(service_token, SERVICE_TOKEN_TTL_S)
            client.headers["Authorization"] = f"Bearer {token}"
        self._http.append(client)
        return client

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Container:
        """Connect and migrate the store; on exit (or failure) close all in reverse, the store last."""
        stack = self._stack
        try:
            if self._dialect is not None and self._own_store is not None:
                await self._dialect.connect()
                stack.push_async_callback(self._own_store.aclose)
        except BaseException:
            await self._close_built()
            raise
        stack.push_async_callback(self._close_built)
        try:
            if self._own_store is not None:
                await self._own_store.migrate()
        except BaseException:
            await stack.aclose()
            raise
        return self

    async def _close_built(self) -> None:
        for client in reversed(self._http):
            await client.aclose()
        for resource in reversed(self._owned):
            await resource.aclose()

    async def start(self, *, seed: bool | None = None, background: bool = True) -> None:
        """Seed (sandbox), catch up, start the bus and the background work of the services served:
        the gateway re-verifies pending webhooks and reconciles past days with AMK, the KHQR service
        expires QR sessions, the integration service sweeps confirmed payments into settled premiums,
        the notifier sends what is due, schedules reminders and (without Kafka) catches up from the log."""
        s = self.settings
        if "integration" in self.services:
            if seed if seed is not None else (s.sandbox and s.seed_demo):
                await self.premiums.seed_demo()
            await self.settlement.sweep()  # confirmed before a restart
        await self.bus.start()
        if "push" in self.services:  # after the bus: see push.warm for why the order matters
            await warm_latest(self.store, self.push, s.push_warm_payments, self.bus)
        if "khqr" in self.services:
            await self.expiry.expire_due()  # expiries that fell due while this process was down
        if "notifier" in self.services and not s.kafka_bootstrap:
            await self.notify_catchup.start()  # without Kafka the event log is the safety net of the bus
        if "gateway" in self.services:  # runs an operator started stop before the clients they use close
            self._stack.push_async_callback(self.daily_reconciliation.aclose)
        if not background:
            return
        jobs = []
        if "gateway" in self.services:
            jobs.append(self.reverifier.run_forever())
            if s.reconcile_daily:
                jobs.append(self.daily_reconciliation.run_forever())
        if "khqr" in self.services:
            jobs.append(self.expiry.run_forever())
        if "integration" in self.services:
            jobs.append(self.settlement.run_forever())
        if "notifier" in self.services:
            jobs += [self.dispatcher.run_forever(), self.reminders.run_forever()]
            if not s.kafka_bootstrap:
                jobs.append(self.notify_catchup.run_forever())
        await self._stack.enter_async_context(running(*jobs))

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()


def _own(owned: list[Any], resource: Any) -> Any:
    owned.append(resource)
    return resource
