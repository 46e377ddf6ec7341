"""One builder per service: what that service needs, over the container's shared resources.

Each sets the attributes the service's routes and background work use, and registers its gauges.
An adapter handed to the container (``amk=``, ``amk_qr=``, ``integration=``, ``gateway=``) is used
instead of the one built from settings.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx

from backoffice.analytics.feed import AnalyticsFeed
from backoffice.lookups import Lookups
from backoffice.reviews import ReviewDesk
from gateway.inquiry import InquiryService
from gateway.reverify import ReVerifier
from gateway.webhooks import WebhookService
from hub.adapters.amk.client import AmkClient, AmkConfig
from hub.adapters.integration import IntegrationClient
from hub.fanout import Fanout
from hub.fraud.blocklist import Blocklist
from hub.fraud.engine import FraudEngine
from hub.fraud.rules import load_rules
from hub.fraud.windows import VelocityWindows
from hub.http.client_metrics import TimedTransport
from hub.ports import PremiumSource
from hub.resilience.breaker import CircuitBreaker
from hub.service.ledger import double_payments
from hub.service.review_kinds import open_reviews
from hub.settings import Settings
from integration.local import LocalPremiums
from integration.premiums import PremiumService
from integration.settlement import SettlementSweeper
from khqr.amk_qr import AmkQrClient
from khqr.expiry import ExpiryScheduler
from khqr.gateway_client import GatewayClient
from khqr.service import KhqrService
from notifier.catchup import EventLogCatchUp
from notifier.dispatcher import Dispatcher, RetryPolicy
from notifier.messages import Templates
from notifier.plan import Partner, PlanConfig, Planner
from notifier.reminders import ReminderScheduler
from notifier.service import Notifier
from payhub import reconciliation as reconciliation_wiring
from payhub.backends import notification_channels
from sandbox.simulate import Simulator
from sandbox.state import SandboxState
from sandbox.verify import InProcessVerify, VerifyBank

if TYPE_CHECKING:
    from payhub.bootstrap import Container

SANDBOX_PREFIX = "/sandbox/amk"  # where the sandbox bank serves AMK's APIs in this process

log = logging.getLogger("payhub.wiring")


def fanout(c: Container) -> None:
    """The streams open in this process (push SSE/WebSocket, KHQR long-poll), fed by the bus."""
    delivery = c.metrics.push_delivery_seconds
    c.push = push = Fanout(
        capacity=c.settings.push_buffer, on_written=lambda transport, s: delivery.labels(transport).observe(s)
    )
    c.bus.subscribe(push.on_event)
    on_reconnect = getattr(c.bus, "on_reconnect", None)
    if on_reconnect is not None:  # Redis pub/sub forgets the absent: read the log instead

        async def catch_up() -> None:
            offered = await push.catch_up(c.store)
            log.warning("push hub caught up from the event log", extra={"offered": offered})

        on_reconnect(catch_up)
    c.metrics.labelled_gauge(
        "payhub_push_subscribers",
        "Open payment streams in this process, by transport (sse, ws, longpoll)",
        ["transport"],
        lambda: {(t,): float(n) for t, n in push.subscribers_by_transport().items()},
    )
    c.metrics.gauge(
        "payhub_push_frames_delivered",
        "Status frames handed to subscribers (counter)",
        lambda: float(push.delivered),
    )


def limiter_gauges(c: Container) -> None:
    limiter = c.limiter
    c.metrics.gauge(
        "payhub_ratelimit_degraded",
        "1 while the shared rate-limit storage is down and limits are per process",
        lambda: 1.0 if limiter.degraded else 0.0,
    )
    c.metrics.gauge(
        "payhub_ratelimit_fallbacks",
        "Requests limited per process because the shared storage failed (counter)",
        lambda: float(limiter.fallbacks),
    )


def fraud(c: Container, windows: VelocityWindows) -> None:
    """The fraud rules of the gateway and KHQR services: one engine per process, its velocity windows
    where the rate-limit counters live (``windows``), the blocklist from the store."""
    s = c.settings
    c.blocklist = Blocklist(c.store, cache_s=s.fraud_blocklist_cache_s)
    decisions = c.metrics.fraud_decisions
    c.fraud = FraudEngine(
        load_rules(s.fraud_rules, s.fraud_rules_file),
        windows,
        c.blocklist,
        c.store,
        count=lambda rule, action, surface: decisions.labels(rule, action, surface).inc(),
        alerts=c.metrics.alerts,
    )
    c.metrics.gauge(
        "payhub_fraud_state_degraded",
        "1 while the shared velocity storage (Redis) is down and fraud windows are per process",
        lambda: 1.0 if windows.degraded else 0.0,
    )
    c.metrics.gauge(
        "payhub_fraud_state_fallbacks",
        "Fraud checks counted per process because the shared storage failed (counter)",
        lambda: float(windows.fallbacks),
    )


def integration(c: Container) -> None:
    c.premiums = PremiumService(c.store)
    c.settlement = settlement = SettlementSweeper(c.premiums, c.settings.settle_interval_s)
    on_reconnect = getattr(c.bus, "on_reconnect", None)
    if on_reconnect is not None:

        async def sweep() -> None:  # premiums confirmed while the bus was away
            try:
                await settlement.sweep()
            except Exception:
                log.exception("settlement after reconnect failed; the periodic sweep retries")

        on_reconnect(sweep)
    if not c.settings.kafka_bootstrap:  # with Kafka, the integration service's consumer settles premiums
        c.bus.subscribe(c.premiums.on_event)


def gateway(c: Container) -> None:
    """Inquiry (cache → breaker → integration service), webhooks, and the re-verifier of pending ones."""
    s = c.settings
    c.breaker = circuit_breaker(c, "integration")
    c.amk = amk = amk_client(c)
    c.inquiry = InquiryService(
        c.store,
        integration_client(c),
        c.cache,
        c.breaker,
        c.auth,
        c.publisher,
        ttl_s=s.premium_cache_ttl_s,
        subscribe_ttl_s=s.khqr_session_ttl_s + s.subscribe_grace_s,
        public_url=s.public_url,
        fraud=c.fraud,
        alerts=c.metrics.alerts,
    )
    committed = c.metrics.webhook_committed_seconds
    c.webhooks = WebhookService(
        c.store,
        amk,
        c.inquiry,
        c.publisher,
        merchant_id=s.amk_merchant_id,
        reverify_interval_s=s.reverify_interval_s,
        on_confirmed=c.inquiry.on_confirmed,
        fraud=c.fraud,
        alerts=c.metrics.alerts,
        on_committed=lambda kind, seconds: committed.labels(kind).observe(seconds),
    )
    c.reverifier = ReVerifier(
        c.store,
        amk,
        c.publisher,
        interval_s=s.reverify_interval_s,
        on_confirmed=c.inquiry.on_confirmed,
        support_contact=s.support_contact,
        alerts=c.metrics.alerts,
    )
    store = c.store

    async def double_payments_flagged() -> float:
        async with store.transaction() as tx:
            return float(await double_payments(tx))

    c.metrics.stored_counter(
        "payhub_double_payments_total", "Possible double payments flagged for review", double_payments_flagged
    )

    async def reviews_open() -> dict[tuple[str, ...], float]:
        return {(kind,): float(n) for kind, n in (await open_reviews(store)).items()}

    c.metrics.scraped_gauge(
        "payhub_reviews_open",
        "Reviews waiting for a person (OPEN or ESCALATED), by kind (hub/service/review_kinds.py)",
        reviews_open,
        ["kind"],
    )
    breaker_gauge(c, "payhub_integration_breaker_open", "integration", c.breaker)


def analytics(c: Container) -> None:
    """The analytics feed of the admin API's live streams, woken by every committed status event."""
    c.analytics = feed = AnalyticsFeed(c.store, min_interval_s=c.settings.analytics_stream_interval_s)
    c.bus.subscribe(feed.on_event)
    c.metrics.gauge(
        "payhub_analytics_streams", "Open analytics streams (GET /admin/analytics/stream)", lambda: float(feed.streams)
    )


def reconciliation(c: Container) -> None:
    """Reconciliation with AMK (``backoffice.reconcile``), served by the gateway process: its admin API,
    the daily run, and ``payhub_reconciliation_mismatches_total``."""
    source = reconciliation_wiring.statement_source(c.settings, amk_http(c))
    c.reconciler = reconciliation_wiring.reconciler(c.settings, c.store, amk_client(c), source, c.metrics.alerts)
    c.daily_reconciliation = reconciliation_wiring.daily(c.settings, c.reconciler)
    reconciliation_wiring.mismatch_metric(c.metrics, c.store)


def review_desk(c: Container) -> None:
    """The review queue and the look-ups (admin API of the gateway process); the gauge of what waits
    for a person, ``payhub_reviews_open{kind}``, is the gateway's (``hub/service/review_kinds.py``)."""
    c.review_desk = ReviewDesk(c.store)
    c.lookups = Lookups(c.store)


def khqr(c: Container) -> None:
    """QR generation over AMK's QR API, sessions and their expiry."""
    s = c.settings
    c.qr_breaker = circuit_breaker(c, "amk-qr")
    c.amk_qr = (
        c.adapters["amk_qr"]
        if "amk_qr" in c.adapters
        else AmkQrClient(
            amk_http(c),
            username=s.amk_username,
            password=s.amk_password.get_secret_value(),
            breaker=c.qr_breaker,
            retry_attempts=s.amk_retry_attempts,
            retry_initial_s=s.amk_retry_initial_s,
            retry_max_s=s.amk_retry_max_s,
            retry_jitter=s.amk_retry_jitter,
        )
    )
    c.expiry = ExpiryScheduler(c.store, c.publisher)
    gateway_client = (
        c.adapters["gateway"]
        if "gateway" in c.adapters
        else GatewayClient(c.http_client(s.gateway_url, service_token="khqr"))
    )
    c.khqr = KhqrService(
        c.store,
        gateway_client,
        c.amk_qr,
        c.auth,
        c.publisher,
        c.push,
        c.expiry,
        merchant_id=s.amk_merchant_id,
        session_ttl_s=s.khqr_session_ttl_s,
        grace_s=s.subscribe_grace_s,
        public_url=s.public_url,
        fraud=c.fraud,
        alerts=c.metrics.alerts,
    )
    c.bus.subscribe(c.khqr.on_event)
    breaker_gauge(c, "payhub_amk_qr_breaker_open", "AMK QR", c.qr_breaker)


def sandbox(c: Container) -> None:
    """The sandbox bank (sandbox mode only): AMK's APIs, and a simulator that posts signed webhooks."""
    s = c.settings
    c.sandbox_state = SandboxState()
    c.simulator = Simulator(
        c.sandbox_state,
        c.http_client(s.gateway_url),
        c.auth,
        webhook_secret=s.amk_webhook_secrets[0].get_secret_value() if s.amk_webhook_secrets else "",
        merchant_id=s.amk_merchant_id,
    )


def amk_client(c: Container) -> AmkClient:
    """AMK's payment-verify client (one per process, shared by the gateway's services)."""
    if "amk" not in c.adapters:
        wire = sandbox_verify(c)  # asked first: amk_http() registers the HTTP client as an adapter
        client = AmkClient(amk_http(c), amk_config(c.settings), alerts=c.metrics.alerts, wire=wire)
        client.on_refusal = lambda e: c.metrics.amk_refusals.labels(e.code, e.amk_code).inc()
        c.adapters["amk"] = client
    amk: AmkClient = c.adapters["amk"]
    return amk


def sandbox_verify(c: Container) -> InProcessVerify | None:
    """Payment-verify straight to the sandbox bank of this process (``sandbox.verify``), when the AMK
    client would otherwise call this process's own app over HTTP; None when AMK is elsewhere."""
    s = c.settings
    if s.amk_base_url or s.amk_verify_url or "amk_http" in c.adapters or not s.sandbox or "sandbox" not in c.services:
        return None

    def bank() -> VerifyBank:
        return VerifyBank(
            c.sandbox_state,
            s.amk_merchant_id,
            s.amk_store_id,
            s.amk_terminal_id,
            s.amk_secret_key.get_secret_value(),
        )

    return InProcessVerify(bank, c.metrics.amk_request_seconds)


def circuit_breaker(c: Container, name: str) -> CircuitBreaker:
    """The spec's breaker: >50 % errors in 1 min opens it, 30 s open, 3 successes close it."""
    s = c.settings
    return CircuitBreaker(
        name,
        window_s=s.breaker_window_s,
        failure_ratio=s.breaker_failure_ratio,
        min_calls=s.breaker_min_calls,
        open_s=s.breaker_open_s,
        half_open_successes=s.breaker_half_open_successes,
    )


def breaker_gauge(c: Container, metric: str, what: str, breaker: CircuitBreaker) -> None:
    """Export ``metric``: 1 while ``breaker`` (guarding ``what``) is not closed, else 0."""
    c.metrics.gauge(
        metric, f"1 while the {what} breaker is not closed", lambda: 0.0 if breaker.state == "closed" else 1.0
    )


def amk_config(s: Settings) -> AmkConfig:
    """Payment-verify settings: the sandbox bank's path unless ``PAYHUB_AMK_VERIFY_URL`` is set."""
    return AmkConfig(
        verify_url=s.amk_verify_url or "/amkpayway/v1/api/payment/payment-verify",
        merchant_id=s.amk_merchant_id,
        store_id=s.amk_store_id,
        terminal_id=s.amk_terminal_id,
        secret_key=s.amk_secret_key.get_secret_value(),
        retry_attempts=s.amk_retry_attempts,
        retry_initial_s=s.amk_retry_initial_s,
        retry_max_s=s.amk_retry_max_s,
        retry_jitter=s.amk_retry_jitter,
    )


def amk_http(c: Container) -> httpx.AsyncClient:
    """HTTP to AMK (payment-verify and the QR API), or to the sandbox bank of this process."""
    if "amk_http" not in c.adapters:
        timed = c.metrics.amk_request_seconds
        c.adapters["amk_http"] = c.http_client(
            c.settings.amk_base_url, SANDBOX_PREFIX, wrap=lambda transport: TimedTransport(transport, timed)
        )
    client: httpx.AsyncClient = c.adapters["amk_http"]
    return client


def integration_client(c: Container) -> PremiumSource:
    """The integration service's premiums: at ``PAYHUB_INTEGRATION_URL`` over HTTP, else this process's
    own :class:`PremiumService` called directly (``integration.local``: no HTTP hop inside one process)."""
    if "integration" not in c.adapters:
        if not c.settings.integration_url and "integration" in c.services:
            c.adapters["integration"] = LocalPremiums(c.premiums)
        else:
            http = c.http_client(c.settings.integration_url, service_token="gateway")
            c.adapters["integration"] = IntegrationClient(http)
    client: PremiumSource = c.adapters["integration"]
    return client


def notifier(c: Container) -> None:
    """Notifications (issue 10): intake from committed events, the dispatcher, reminders, catch-up."""
    from tenacity import wait_none

    from hub.adapters.notify.sandbox import SandboxOutbox
    from hub.domain.notification import Channel, Language
    from hub.resilience.retry import wait_backoff, wait_jitter, wait_sequence

    s = c.settings
    c.notify_outbox = outbox = SandboxOutbox()

    def http() -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=httpx.Timeout(s.notify_timeout_s))

    channels = (
        c.adapters["notify_channels"] if "notify_channels" in c.adapters else notification_channels(s, outbox, http)
    )
    for channel in channels.values():
        c.own(channel)
    config = PlanConfig(
        channels=frozenset(channels),
        default_language=Language(s.notify_default_language),
        hours=s.notify_window,
        tz=s.notify_zone,
        reminder_days=s.notify_reminder_days,
        partners=tuple(Partner(p.name, p.events) for p in s.partner_webhooks)
        or ((Partner("sandbox-partner", ("payment.confirmed", "payment.failed")),) if s.sandbox else ()),
    )
    planner = Planner(config, Templates())
    backoff = wait_backoff(s.notify_retry_initial_s, s.notify_retry_max_s, 0.2)
    schedule = s.notify_webhook_schedule_s
    policies = {
        Channel.PUSH: RetryPolicy(s.notify_push_attempts, backoff),
        Channel.SMS: RetryPolicy(s.notify_retry_attempts, backoff),
        Channel.EMAIL: RetryPolicy(s.notify_retry_attempts, backoff),
        # Standard Webhooks: the schedule's delays, ±10 % jitter as it advises; one attempt more than delays.
        Channel.WEBHOOK: RetryPolicy(
            len(schedule) + 1, wait_jitter(wait_sequence(schedule), 0.1) if schedule else wait_none()
        ),
    }
    clock = c.adapters.get("clock") or (lambda: datetime.now(UTC))
    c.notifier = Notifier(c.store, planner, clock=clock)
    c.dispatcher = dispatcher = Dispatcher(
        c.store,
        channels,
        planner,
        policies,
        hours=config.hours,
        tz=config.tz,
        clock=clock,
        metrics=c.metrics,
        lease_s=s.notify_lease_s,
        poll_s=s.notify_poll_s,
    )
    c.notifier.wake = dispatcher.wake
    c.reminders = ReminderScheduler(
        c.store,
        planner,
        hours=config.hours,
        tz=config.tz,
        days_before=s.notify_reminder_days,
        interval_s=s.notify_reminder_scan_s,
        clock=clock,
        wake=dispatcher.wake,
    )
    c.notify_catchup = EventLogCatchUp(c.notifier, interval_s=s.notify_catchup_interval_s)
    if not s.kafka_bootstrap:  # with Kafka, the consumer group payhub.notifier hands events over
        c.bus.subscribe(c.notifier.handle)
    store = c.store

    async def in_state() -> dict[tuple[str, ...], float]:
        async with store.transaction() as tx:
            counts = await tx.notifications.count_by_state()
        return {(state,): float(counts[state]) for state in ("PENDING", "FAILED", "DEAD")}

    c.metrics.scraped_gauge(
        "payhub_notifications_queued",
        "Notifications not sent, by state: PENDING (due or in flight), FAILED (waiting for a retry), DEAD (given up)",
        in_state,
        labels=("state",),
    )
