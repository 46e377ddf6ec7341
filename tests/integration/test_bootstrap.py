"""The composition root: each process builds only what it serves; adapters can be handed in."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.adapters.bus.memory import MemoryBus
from hub.adapters.cache.memory import MemoryCache
from hub.errors import ConfigError, ServiceUnavailable
from payhub.app import container_of, create_app
from payhub.bootstrap import Container, open_store
from tests.conftest import make_settings, process, running
from tests.integration.test_production_surface import production

AMK_PIECES = ("amk_qr", "inquiry", "webhooks", "reverifier", "sandbox_state", "simulator", "khqr", "premiums")


def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/p.db"


async def test_a_push_node_builds_no_amk_client_reverifier_or_sandbox(tmp_path: Path) -> None:
    c = Container(make_settings(db(tmp_path)), services=["push"])  # no app: it must call nothing over HTTP
    assert not any(hasattr(c, name) for name in AMK_PIECES)
    assert not hasattr(c, "limiter") and not hasattr(c, "cache")
    assert "amk_http" not in c.adapters and "amk" not in c.adapters
    async with c:
        await c.start()
        assert c.push.subscriber_count == 0
        assert await c.store.payment(1) is None


async def test_a_gateway_builds_the_gateway_and_not_the_others(tmp_path: Path) -> None:
    c = container_of(create_app(make_settings(db(tmp_path)), services=["gateway"]))
    assert all(hasattr(c, name) for name in ("inquiry", "webhooks", "reverifier", "limiter"))
    assert not any(hasattr(c, name) for name in ("khqr", "amk_qr", "push", "sandbox_state", "premiums"))


async def test_production_builds_no_sandbox_even_when_asked(tmp_path: Path) -> None:
    async with running(production(tmp_path), services=["sandbox", "push"]) as c:
        assert not hasattr(c, "sandbox_state") and not hasattr(c, "simulator")


async def test_handed_in_adapters_are_used_and_left_open(tmp_path: Path) -> None:
    bus, cache = MemoryBus(), MemoryCache()
    async with open_store(db(tmp_path)) as store:
        async with running(make_settings("sqlite:///unused-by-this-test"), store=store, bus=bus, cache=cache) as c:
            assert (c.store, c.bus, c.cache, c.publisher) == (store, bus, cache, bus)
            assert (await c.premiums.get(150001)) is not None  # seeded into the store handed in
        assert await store.payment(1) is None  # still open: the caller closes what it passed
    await bus.aclose()
    await cache.aclose()


def test_unknown_services_and_url_schemes_fail_before_any_io(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown service"):
        Container(make_settings(db(tmp_path)), services=["gateway", "billing"])
    settings = make_settings(db(tmp_path))
    with pytest.raises(ConfigError, match="unsupported database URL scheme: mysql"):
        Container(settings.model_copy(update={"database_url": "mysql://x"}))
    assert not (tmp_path / "p.db").exists()


def test_a_service_called_in_process_needs_the_app(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no URL configured"):
        Container(make_settings(db(tmp_path)), services=["gateway"])  # integration client, AMK: no app


async def test_a_failed_start_up_closes_what_was_built() -> None:
    c = process(make_settings("postgresql://127.0.0.1:1/unreachable"))
    with pytest.raises(ServiceUnavailable, match="database unreachable"):
        async with c:
            pass
    assert c.adapters["amk_http"].is_closed
