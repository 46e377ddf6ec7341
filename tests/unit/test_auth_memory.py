"""Verified tokens are remembered (hub.auth.Authenticator.verify): checked once, never past their expiry."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest

import hub.auth
from hub.auth import Authenticator, Principal
from hub.errors import Unauthorized

SECRET = "unit-test-secret-0123456789abcdef"


def authenticator() -> Authenticator:
    return Authenticator(secret=SECRET, subscribe_secret=SECRET + "-subscribe")


def counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = jwt.decode

    def decode(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", decode)
    return calls


async def test_a_token_is_checked_once_then_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = authenticator()
    token = auth.issue("bank", "amk", 3600)
    decodes = counting_decodes(monkeypatch)
    first = await auth.verify(token)
    checked = len(decodes)
    assert checked > 0
    for _ in range(5):
        assert await auth.verify(token) == first == Principal("bank", "amk")
    assert len(decodes) == checked


async def test_a_remembered_token_is_refused_once_expired() -> None:
    auth = authenticator()
    exp = int(time.time()) + 1
    token = jwt.encode({"sub": "bank", "role": "amk", "exp": exp}, SECRET, algorithm="HS256")
    assert (await auth.verify(token)).role == "amk"
    await asyncio.sleep(max(0.0, exp - time.time()) + 0.05)
    with pytest.raises(Unauthorized):
        await auth.verify(token)


async def test_a_refused_token_is_never_remembered() -> None:
    auth = authenticator()
    forged = jwt.encode(
        {"sub": "x", "role": "admin", "exp": int(time.time()) + 60}, "another-secret-0123456789abcdef0123456789"
    )
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await auth.verify(forged)


async def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub.auth, "VERIFIED_CACHE_SIZE", 3)
    auth = authenticator()
    tokens = [auth.issue(f"user{i}", "customer", 3600) for i in range(5)]
    for token in tokens:
        await auth.verify(token)
    decodes = counting_decodes(monkeypatch)
    await auth.verify(tokens[-1])  # among the last three: remembered
    assert decodes == []
    await auth.verify(tokens[0])  # dropped: checked again
    assert decodes != []
