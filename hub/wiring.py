"""The one module that knows URL schemes and builds every resource of a process.

``Container`` is an async context manager: it opens the store, bus, cache, limiter and HTTP
clients that the settings name, builds the services over them, runs their background tasks, and
closes everything in reverse order. Drivers are imported only for the schemes chosen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.inquiry import InquiryService
from gateway.reverify import ReVerifier
from gateway.webhooks import WebhookService
from hub.adapters.amk.client import AmkClient, AmkConfig
from hub.adapters.bus.memory import MemoryBus
from hub.adapters.cache.memory import MemoryCache
from hub.adapters.integration import IntegrationClient
from hub.adapters.store.sql import SqlStore
from hub.auth import authenticator
from hub.domain.records import PaymentEvent
from hub.logs import correlation_id
from hub.metrics import Metrics
from hub.ports import Bus, Cache, Publisher
from hub.resilience.breaker import CircuitBreaker
from hub.resilience.ratelimit import RateLimiter
from hub.service.ledger import double_payments
from hub.settings import Settings
from integration.premiums import PremiumService
from integration.settlement import SettlementSweeper
from khqr.amk_qr import AmkQrClient
from khqr.expiry import ExpiryScheduler
from khqr.gateway_client import GatewayClient
from khqr.service import KhqrService
from push.hub import PushHub
from sandbox.simulate import Simulator
from sandbox.state import SandboxState

log = logging.getLogger("payhub.wiring")


async def _pass_correlation_id(request: httpx.Request) -> None:
    """One id follows a request across services (gateway → integration, khqr → gateway, …)."""
    cid = correlation_id.get()
    if cid != "-" and "x-correlation-id" not in request.headers:
        request.headers["X-Correlation-ID"] = cid


class NullPublisher:
    """Production with Kafka: the outbox relay publishes committed events (woken by NOTIFY)."""

    async def publish(self, events: Sequence[PaymentEvent]) -> None:
        return None


SANDBOX_PREFIX = "/sandbox/amk"


@asynccontextmanager
async def open_store(
    url: str, *, migrate: bool = True, pool_min: int = 2, pool_max: int = 20
) -> AsyncIterator[SqlStore]:
    """``sqlite:///path`` (``sqlite:///:memory:``) or ``postgresql://…[?schema=NAME]``."""
    if url.startswith("sqlite:"):
        from hub.adapters.store.sqlite import SqliteDialect

        dialect: Any = SqliteDialect(url.removeprefix("sqlite:///") or ":memory:")
    elif url.startswith(("postgresql:", "postgres:")):
        from hub.adapters.store.postgres import PostgresDialect

        dialect = PostgresDialect(url, min_size=pool_min, max_size=pool_max)
    else:
        raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")
    await dialect.connect()
    store = SqlStore(dialect)
    try:
        if migrate:
            await store.migrate()
        yield store
    finally:
        await store.aclose()


class LateApp:
    """An ASGI app filled in after the clients that call it were built (in-process transport)."""

    app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "in-process app not attached yet"
        await self.app(scope, receive, send)


class Container:
    """Everything one PayHub process needs, opened from settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.local = LateApp()
        self._stack = AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._serving: set[str] = set()

    def _client(self, base_url: str, local_path: str = "") -> httpx.AsyncClient:
        """An HTTP client to ``base_url``, or to this very process (under ``local_path``) when
        no URL is configured: the embedded process keeps the same code path, minus the sockets."""
        timeout = httpx.Timeout(self.settings.amk_timeout_s)
        hooks = {"request": [_pass_correlation_id]}
        if base_url:
            return httpx.AsyncClient(base_url=base_url, timeout=timeout, event_hooks=hooks)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.local),
            base_url=f"http://payhub.local{local_path}",
            timeout=timeout,
            event_hooks=hooks,
        )

    async def __aenter__(self) -> Container:
        s = self.settings
        stack = self._stack
        self.store = await stack.enter_async_context(
            open_store(s.database_url, pool_min=s.db_pool_min, pool_max=s.db_pool_max)
        )
        self.bus, self.cache, limiter_uri = self._fanout_and_cache()
        stack.push_async_callback(self.bus.aclose)
        stack.push_async_callback(self.cache.aclose)
        # With Kafka, committed events travel outbox → relay → Kafka → feeder → bus; without, the
        # committing process hands them to the bus itself.
        self.publisher: Publisher = NullPublisher() if s.kafka_bootstrap else self.bus
        self.limiter = RateLimiter(limiter_uri, user_per_min=s.rate_user_per_min, ip_per_min=s.rate_ip_per_min)
        stack.push_async_callback(self.limiter.aclose)
        self.auth = authenticator(s)
        self.breaker = self._breaker("integration")
        integration_http = self._client(s.integration_url)
        integration_http.headers["Authorization"] = f"Bearer {self.auth.issue_service('gateway', 10 * 365 * 86400)}"
        await stack.enter_async_context(integration_http)
        amk_http = await stack.enter_async_context(self._client(s.amk_base_url, SANDBOX_PREFIX))
        verify_url = s.amk_verify_url or "/amkpayway/v1/api/payment/payment-verify"
        self.amk = AmkClient(
            amk_http,
            AmkConfig(
                verify_url=verify_url,
                merchant_id=s.amk_merchant_id,
                store_id=s.amk_store_id,
                terminal_id=s.amk_terminal_id,
                secret_key=s.amk_secret_key.get_secret_value(),
                retry_attempts=s.amk_retry_attempts,
                retry_initial_s=s.amk_retry_initial_s,
                retry_max_s=s.amk_retry_max_s,
                retry_jitter=s.amk_retry_jitter,
            ),
        )
        self.premiums = PremiumService(self.store)
        self.settlement = SettlementSweeper(self.premiums, s.settle_interval_s)
        self.inquiry = InquiryService(
            self.store,
            IntegrationClient(integration_http),
            self.cache,
            self.breaker,
            self.auth,
            self.publisher,
            ttl_s=s.premium_cache_ttl_s,
            subscribe_ttl_s=s.khqr_session_ttl_s + s.subscribe_grace_s,
            public_url=s.public_url,
        )
        self.webhooks = WebhookService(
            self.store,
            self.amk,
            self.inquiry,
            self.publisher,
            merchant_id=s.amk_merchant_id,
            reverify_interval_s=s.reverify_interval_s,
            on_confirmed=self.inquiry.on_confirmed,
        )
        self.reverifier = ReVerifier(
            self.store,
            self.amk,
            self.publisher,
            interval_s=s.reverify_interval_s,
            on_confirmed=self.inquiry.on_confirmed,
        )
        self.sandbox_state = SandboxState()
        gateway_http = await stack.enter_async_context(self._client(s.gateway_url))
        self.simulator = Simulator(
            self.sandbox_state,
            gateway_http,
            self.auth,
            webhook_secret=s.amk_webhook_secrets[0].get_secret_value() if s.amk_webhook_secrets else "",
            merchant_id=s.amk_merchant_id,
        )
        if not s.kafka_bootstrap:  # with Kafka, the integration service's consumer settles premiums
            self.bus.subscribe(self.premiums.on_event)
        self.push = PushHub(capacity=s.push_buffer)
        self.bus.subscribe(self.push.on_event)

        khqr_gateway_http = self._client(s.gateway_url)
        khqr_gateway_http.headers["Authorization"] = f"Bearer {self.auth.issue_service('khqr', 10 * 365 * 86400)}"
        await stack.enter_async_context(khqr_gateway_http)
        self.qr_breaker = self._breaker("amk-qr")
        self.amk_qr = AmkQrClient(
            amk_http,
            username=s.amk_username,
            password=s.amk_password.get_secret_value(),
            breaker=self.qr_breaker,
            retry_attempts=s.amk_retry_attempts,
            retry_initial_s=s.amk_retry_initial_s,
            retry_max_s=s.amk_retry_max_s,
            retry_jitter=s.amk_retry_jitter,
        )
        self.expiry = ExpiryScheduler(self.store, self.publisher)
        self.khqr = KhqrService(
            self.store,
            GatewayClient(khqr_gateway_http),
            self.amk_qr,
            self.auth,
            self.publisher,
            self.push,
            self.expiry,
            merchant_id=s.amk_merchant_id,
            session_ttl_s=s.khqr_session_ttl_s,
            grace_s=s.subscribe_grace_s,
            public_url=s.public_url,
        )
        self.bus.subscribe(self.khqr.on_event)
        self.metrics = Metrics()
        self.amk.on_refusal = lambda e: self.metrics.amk_refusals.labels(e.code, e.amk_code).inc()
        self.metrics.stored_counter(
            "payhub_double_payments_total", "Possible double payments flagged for review", self._double_payments
        )
        self.metrics.gauge(
            "payhub_push_subscribers", "Open payment streams in this process", lambda: float(self.push.subscriber_count)
        )
        self.metrics.gauge(
            "payhub_push_frames_delivered",
            "Status frames handed to subscribers (counter)",
            lambda: float(self.push.delivered),
        )
        self.metrics.gauge(
            "payhub_integration_breaker_open",
            "1 while the integration breaker is not closed",
            lambda: 0.0 if self.breaker.state == "closed" else 1.0,
        )
        self.metrics.gauge(
            "payhub_amk_qr_breaker_open",
            "1 while the AMK QR breaker is not closed",
            lambda: 0.0 if self.qr_breaker.state == "closed" else 1.0,
        )
        self.metrics.gauge(
            "payhub_ratelimit_degraded",
            "1 while the shared rate-limit storage is down and limits are per process",
            lambda: 1.0 if self.limiter.degraded else 0.0,
        )
        self.metrics.gauge(
            "payhub_ratelimit_fallbacks",
            "Requests limited per process because the shared storage failed (counter)",
            lambda: float(self.limiter.fallbacks),
        )
        return self

    async def _double_payments(self) -> float:
        async with self.store.transaction() as tx:
            return float(await double_payments(tx))

    def _breaker(self, name: str) -> CircuitBreaker:
        """The spec's breaker: >50 % errors in 1 min opens it, 30 s open, 3 successes close it."""
        s = self.settings
        return CircuitBreaker(
            name,
            window_s=s.breaker_window_s,
            failure_ratio=s.breaker_failure_ratio,
            min_calls=s.breaker_min_calls,
            open_s=s.breaker_open_s,
            half_open_successes=s.breaker_half_open_successes,
        )

    def _fanout_and_cache(self) -> tuple[Bus, Cache, str]:
        """Redis when PAYHUB_REDIS_URL is set (several processes), else in-process."""
        url = self.settings.redis_url
        if url:
            from hub.adapters.bus.redis import RedisBus
            from hub.adapters.cache.redis import RedisCache

            bus = RedisBus(url)
            bus.on_reconnect(self._catch_up)  # pub/sub forgets the absent: read the log instead
            return bus, RedisCache(url), url
        return MemoryBus(), MemoryCache(), "memory://"

    async def _catch_up(self) -> None:
        offered = await self.push.catch_up(self.store)
        log.warning("push hub caught up from the event log", extra={"offered": offered})
        if "integration" in self._serving:  # premiums confirmed while the bus was away
            try:
                await self.settlement.sweep()
            except Exception:
                log.exception("settlement after reconnect failed; the periodic sweep retries")

    async def start(
        self, *, seed: bool | None = None, background: bool = True, services: Sequence[str] | None = None
    ) -> None:
        """Seed (sandbox), catch up, and start the background work of the services this process serves:
        the gateway re-verifies pending webhooks, the KHQR service expires QR sessions."""
        serving = set(services) if services is not None else {"gateway", "khqr", "integration"}
        self._serving = serving
        if "integration" in serving:
            if seed if seed is not None else (self.settings.sandbox and self.settings.seed_demo):
                await self.premiums.seed_demo()
            await self.settlement.sweep()  # confirmed before a restart
        await self.bus.start()
        if "khqr" in serving:
            await self.expiry.expire_due()  # expiries that fell due while this process was down
        if not background:
            return
        if "gateway" in serving:
            self._tasks.append(asyncio.create_task(self.reverifier.run_forever(), name="payhub-reverify"))
        if "khqr" in serving:
            self._tasks.append(asyncio.create_task(self.expiry.run_forever(), name="payhub-qr-expiry"))
        if "integration" in serving:
            self._tasks.append(asyncio.create_task(self.settlement.run_forever(), name="payhub-settlement"))

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self._stack.aclose()
