"""Redis pub/sub bus: fan-out of committed events to every process (push nodes, KHQR).

Same interface as the in-process bus. Pub/sub keeps nothing for a subscriber that is away, so
the reader resubscribes after a lost connection and then calls every ``on_reconnect`` callback:
push nodes catch up from the event log for what they missed (see ``Fanout.catch_up``), so a
subscriber sees no gap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import redis.asyncio as redis
from redis.exceptions import RedisError
from tenacity import wait_fixed

from hub.adapters.bus.handlers import Handlers
from hub.constants import BUS_CHANNEL
from hub.domain.records import PaymentEvent
from hub.errors import ServiceUnavailable
from hub.event_codec import event_from_json, event_json
from hub.json_codec import dumps, loads
from hub.resilience.retry import retry_logged

log = logging.getLogger("payhub.bus.redis")
CHANNEL = BUS_CHANNEL


class RedisBus(Handlers):
    def __init__(self, url: str, *, channel: str = CHANNEL, reconnect_s: float = 0.5) -> None:
        super().__init__(log)
        self._url = url
        self._channel = channel
        self._reconnect_s = reconnect_s
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=5)
        self._reconnect_callbacks: list[Callable[[], Awaitable[None]]] = []
        self.subscribed = asyncio.Event()
        self.reconnects = 0
        self._lost = False  # a subscription was lost (or never made): the next one is a reconnect

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Called after every re-subscription that followed a lost connection."""
        self._reconnect_callbacks.append(callback)

    async def publish(self, events: Sequence[PaymentEvent]) -> None:
        if not events:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.publish(self._channel, dumps(event_json(event)))
                await pipe.execute()
        except RedisError as exc:
            # Committed events are never lost: subscribers resume from the event log.
            raise ServiceUnavailable("Redis unavailable for fan-out", details=repr(exc)) from exc

    async def start(self) -> None:
        self._start_task(self._read_forever, "payhub-redis-bus")

    async def ping(self) -> None:
        """Return once Redis answers PING (readiness); raise ``ServiceUnavailable`` otherwise."""
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable("Redis unavailable", details=repr(exc)) from exc

    async def drain(self) -> None:
        """Nothing is queued in this process; delivery is Redis's."""

    async def aclose(self) -> None:
        await self._stop_task()
        await self._redis.aclose()

    async def _read_forever(self) -> None:
        """Subscribe and dispatch; a lost connection is re-subscribed every ``reconnect_s``."""
        await retry_logged(
            self._subscribe_and_read,
            wait=wait_fixed(self._reconnect_s),
            log=log,
            what="Redis bus subscription",
            retry_on=(RedisError, OSError),
        )

    async def _subscribe_and_read(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel)
            self.subscribed.set()
            if self._lost:
                self.reconnects += 1
                log.warning("re-subscribed to Redis; catching up from the event log")
                for callback in self._reconnect_callbacks:
                    await callback()
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    await self._dispatch(message["data"])
        except (RedisError, OSError) as exc:
            self.subscribed.clear()
            self._lost = True
            log.error("Redis bus connection lost", extra={"error": repr(exc)})
            raise
        finally:
            try:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            except (RedisError, OSError):
                pass

    async def _dispatch(self, raw: bytes | str) -> None:
        try:
            event = event_from_json(loads(raw))
        except (ValueError, KeyError, TypeError):
            log.error("undecodable bus message dropped", extra={"raw": str(raw)[:200]})
            return
        await self.deliver(event)
