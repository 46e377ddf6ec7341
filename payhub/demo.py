"""The sandbox's demo data, restored on request: ``payhub reset`` (``make reset``) and ``payhub run --fresh-demo``.

Restoring drops every table PayHub's migrations created (``SqlStore.reset``), migrates again and seeds the
demo premiums: the database is as on a first ``make run`` (payment ids from 10^12 again), and nothing is
reinstalled. Sandbox mode only; a server still serving the same checkout is asked to stop first, since it
holds the database and caches premiums.
"""

from __future__ import annotations

import socket

import httpx

from hub.errors import ConfigError
from hub.settings import Settings
from integration.premiums import DEMO_PREMIUMS, PremiumService
from payhub.backends import open_store

# The README names these: what a restored sandbox offers.
DEMO_POLICIES = tuple(p.policy_number for p in DEMO_PREMIUMS)


async def restore_demo(settings: Settings) -> list[str]:
    """Drop PayHub's tables in ``settings.database_url``, migrate, seed the demo premiums; returns the tables
    dropped. Raises :class:`ConfigError` in production mode (nothing is touched)."""
    if not settings.sandbox:
        raise ConfigError("the demo data exists in sandbox mode only: nothing reset in production mode")
    async with open_store(settings.database_url, migrate=False) as store:
        dropped = await store.reset()
        await PremiumService(store).seed_demo()
    return dropped


def local_host(settings: Settings) -> str:
    """Where this machine reaches ``payhub run``: its host, or loopback for a wildcard bind."""
    return "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host


def payhub_answers(settings: Settings, port: int) -> bool:
    """Whether a PayHub process answers ``GET /healthz`` on ``port`` of this machine (``payhub run``)."""
    try:
        response = httpx.get(f"http://{local_host(settings)}:{port}/healthz", timeout=1.0)
        body = response.json()
    except (httpx.HTTPError, ValueError):
        return False
    return response.status_code == 200 and isinstance(body, dict) and body.get("data") == {"status": "alive"}


def port_free(settings: Settings, port: int) -> bool:
    """Whether ``payhub run`` could listen on ``port`` now (checked before a reset it would then not serve)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((settings.host, port))
        except OSError:
            return False
    return True
