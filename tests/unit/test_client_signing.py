"""payhub_client's webhook signing against the gateway's own signer and verifier (differential).

The client imports nothing of PayHub's server (a partner installs it alone), so the HMAC formula
exists twice; these properties keep the two in step on generated bodies, secrets and times.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.adapters.amk import signature as gateway
from hub.errors import Unauthorized
from payhub_client import encode_body, sign, signature_headers

ROOT = Path(__file__).resolve().parents[2]
SERVER_PACKAGES = {"payhub", "hub", "gateway", "khqr", "push", "integration", "sandbox", "backoffice"}

secrets = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=80)
bodies = st.binary(max_size=2048)
timestamps = st.integers(min_value=0, max_value=10**11)


@given(secret=secrets, timestamp=timestamps, body=bodies)
def test_the_signature_is_the_gateways(secret: str, timestamp: int, body: bytes) -> None:
    assert sign(secret, timestamp, body) == gateway.sign(secret, timestamp, body)
    assert sign(secret, str(timestamp), body) == gateway.sign(secret, timestamp, body)


@given(keys=st.lists(secrets, min_size=1, max_size=3), body=bodies, timestamp=timestamps, skew=st.integers(-300, 300))
def test_the_gateway_accepts_what_the_client_signs(keys: list[str], body: bytes, timestamp: int, skew: int) -> None:
    headers = {k.lower(): v for k, v in signature_headers(body, keys, timestamp=timestamp).items()}
    assert headers["x-amk-signature"] == gateway.signature_header(keys, timestamp, body)
    for configured in (keys, [keys[-1]], ["another-secret", keys[0]]):  # any rotation entry matches
        gateway.verify(headers, body, configured, now=timestamp + skew, tolerance_s=300)


@given(key=secrets, body=bodies.filter(bool), timestamp=timestamps, flip=st.integers(min_value=0))
def test_the_gateway_refuses_a_changed_body_or_secret(key: str, body: bytes, timestamp: int, flip: int) -> None:
    headers = {k.lower(): v for k, v in signature_headers(body, key, timestamp=timestamp).items()}
    i = flip % len(body)
    tampered = body[:i] + bytes([body[i] ^ 1]) + body[i + 1 :]
    with pytest.raises(Unauthorized):
        gateway.verify(headers, tampered, [key], now=timestamp, tolerance_s=300)
    with pytest.raises(Unauthorized):
        gateway.verify(headers, body, [key + "x"], now=timestamp, tolerance_s=300)
    with pytest.raises(Unauthorized):  # outside the ±300 s tolerance
        gateway.verify(headers, body, [key], now=timestamp + 301, tolerance_s=300)


def test_signature_headers_default_to_now_and_need_a_secret() -> None:
    import time

    headers = signature_headers(b"{}", "s")
    assert abs(int(headers["X-AMK-Timestamp"]) - time.time()) <= 2
    with pytest.raises(ValueError):
        signature_headers(b"{}", [])


def test_encode_body_keeps_bytes_and_writes_exact_decimals() -> None:
    from decimal import Decimal

    assert encode_body(b' {"a": 1} ') == b' {"a": 1} '
    assert encode_body({"amount": Decimal("150.10"), "payer": "សុខ"}) == '{"amount":"150.10","payer":"សុខ"}'.encode()
    with pytest.raises(TypeError):
        encode_body({"when": object()})


def test_the_client_imports_nothing_of_the_server() -> None:
    """A partner installs payhub_client with httpx and httpx-sse only."""
    found = []
    for path in sorted((ROOT / "payhub_client").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in SERVER_PACKAGES]
    assert found == []
