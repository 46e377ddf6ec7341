"""A private redis-server on a free loopback port, restartable, for fault tests."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis.asyncio as redis

from tests.conftest import free_port

SHARED_URL = os.environ.get("PAYHUB_TEST_REDIS", "redis://127.0.0.1:6379/0")


async def require_shared_redis() -> str:
    client = redis.Redis.from_url(SHARED_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (OSError, redis.RedisError):
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis unreachable at {SHARED_URL} (CI=true: not skipping)")
        pytest.skip("Redis unreachable")
    finally:
        await client.aclose()
    return SHARED_URL


class PrivateRedis:
    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server not installed (CI=true: not skipping)")
            pytest.skip("redis-server not installed")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - starts at once, no waiting
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
            try:
                await client.ping()
                return
            except (OSError, redis.RedisError):
                if time.monotonic() > deadline:
                    raise RuntimeError("private redis did not start") from None
                await asyncio.sleep(0.05)
            finally:
                await client.aclose()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None
