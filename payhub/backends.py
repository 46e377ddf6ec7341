"""The one module that turns URLs into backends; drivers are imported only for the schemes chosen.

``sqlite:``/``postgresql:`` pick the store's dialect, a Redis URL picks the shared bus, cache and rate
limiter storage (none: the in-process ones); the notifier's URLs pick its channels.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Protocol

import httpx

from hub.adapters.store.sql import Dialect, SqlStore
from hub.constants import DATABASE_SCHEMES, url_scheme
from hub.errors import ConfigError
from hub.ports import Bus, Cache, NotificationChannel
from hub.secrets_policy import SANDBOX_PARTNER, SANDBOX_PARTNER_WEBHOOK_SECRET
from hub.settings import Settings

if TYPE_CHECKING:
    from hub.adapters.notify.sandbox import SandboxOutbox
    from hub.domain.notification import Channel


def is_postgres(url: str) -> bool:
    return DATABASE_SCHEMES.get(url_scheme(url)) == "postgres"


class OpenableDialect(Dialect, Protocol):
    async def connect(self) -> None: ...


def store_dialect(url: str, *, pool_min: int = 2, pool_max: int = 20) -> OpenableDialect:
    """``sqlite:///path`` (``sqlite:///:memory:``) or ``postgresql://…[?schema=NAME]``; not connected."""
    dialect = DATABASE_SCHEMES.get(url_scheme(url))
    if dialect == "sqlite":
        from hub.adapters.store.sqlite import SqliteDialect

        return SqliteDialect(url.removeprefix("sqlite:///") or ":memory:")
    if dialect == "postgres":
        from hub.adapters.store.postgres import PostgresDialect

        return PostgresDialect(url, min_size=pool_min, max_size=pool_max)
    raise ConfigError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")


def fanout_bus(redis_url: str) -> Bus:
    """Redis pub/sub when a URL is set (several processes), else in-process."""
    if redis_url:
        from hub.adapters.bus.redis import RedisBus

        return RedisBus(redis_url)
    from hub.adapters.bus.memory import MemoryBus

    return MemoryBus()


def shared_cache(redis_url: str) -> Cache:
    if redis_url:
        from hub.adapters.cache.redis import RedisCache

        return RedisCache(redis_url)
    from hub.adapters.cache.memory import MemoryCache

    return MemoryCache()


def limiter_storage(redis_url: str) -> str:
    """The rate limiter's storage URI (the ``limits`` library's): shared in Redis, else in memory."""
    return redis_url or "memory://"


@asynccontextmanager
async def open_store(
    url: str, *, migrate: bool = True, pool_min: int = 2, pool_max: int = 20
) -> AsyncIterator[SqlStore]:
    """A connected store (migrated unless ``migrate=False``), closed on exit."""
    dialect = store_dialect(url, pool_min=pool_min, pool_max=pool_max)
    await dialect.connect()
    store = SqlStore(dialect)
    try:
        if migrate:
            await store.migrate()
        yield store
    finally:
        await store.aclose()


def notification_channels(
    settings: Settings, outbox: SandboxOutbox, http: Callable[[], httpx.AsyncClient]
) -> dict[Channel, NotificationChannel]:
    """The notification channel backends the settings name: ``http(s)://`` a push provider or SMS gateway,
    ``smtp(s)://`` a mail server, partners in ``PAYHUB_PARTNER_WEBHOOKS``; ``sandbox:`` (or nothing, in
    sandbox mode) the recorder behind ``/sandbox/notifications``; nothing in production: no such channel.
    ``http()`` makes the HTTP client of one backend (closed with it)."""
    from hub.adapters.notify.sandbox import SandboxChannel
    from hub.adapters.notify.webhook import PartnerEndpoint
    from hub.domain.notification import Channel

    s = settings
    partners = {
        p.name: PartnerEndpoint(p.name, p.url, p.secret.get_secret_value(), p.events) for p in s.partner_webhooks
    }
    if not partners and s.sandbox:
        partners = {SANDBOX_PARTNER: PartnerEndpoint(SANDBOX_PARTNER, "sandbox:", SANDBOX_PARTNER_WEBHOOK_SECRET)}

    def sandbox(channel: Channel) -> NotificationChannel:
        return SandboxChannel(
            channel, outbox, sender=s.notify_email_from, sms_sender=s.notify_sms_sender, partners=partners
        )

    def chosen(url: str) -> str:
        """``sandbox``, ``real`` or ``off``."""
        if url.startswith("sandbox:") or (not url and s.sandbox):
            return "sandbox"
        return "real" if url else "off"

    out: dict[Channel, NotificationChannel] = {}
    if (how := chosen(s.notify_push_url)) != "off":
        from hub.adapters.notify.push import PushChannel

        out[Channel.PUSH] = (
            sandbox(Channel.PUSH)
            if how == "sandbox"
            else PushChannel(http(), s.notify_push_url, s.notify_push_token.get_secret_value())
        )
    if (how := chosen(s.notify_sms_url)) != "off":
        from hub.adapters.notify.sms import SmsChannel

        out[Channel.SMS] = (
            sandbox(Channel.SMS)
            if how == "sandbox"
            else SmsChannel(http(), s.notify_sms_url, s.notify_sms_api_key.get_secret_value(), s.notify_sms_sender)
        )
    if (how := chosen(s.notify_smtp_url)) != "off":
        from hub.adapters.notify.email import EmailChannel, SmtpConfig

        out[Channel.EMAIL] = (
            sandbox(Channel.EMAIL)
            if how == "sandbox"
            else EmailChannel(
                SmtpConfig.from_url(s.notify_smtp_url, timeout_s=s.notify_timeout_s),
                s.notify_email_from,
                s.notify_email_from_name,
            )
        )
    if partners:
        from hub.adapters.notify.webhook import WebhookChannel

        real = {name: p for name, p in partners.items() if not p.url.startswith("sandbox:")}
        out[Channel.WEBHOOK] = sandbox(Channel.WEBHOOK) if not real else WebhookChannel(http(), partners)
    return out
