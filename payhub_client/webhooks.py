"""Signing AMK's webhooks the way PayHub's gateway verifies them, for tests and partners' sandboxes.

``X-AMK-Timestamp: <unix seconds>`` and ``X-AMK-Signature: v1=<hex HMAC-SHA512(secret, "<timestamp>.<raw
body bytes>")>``, several ``v1=`` entries comma-separated during a key rotation (README, "Gateway";
the gateway's verifier is ``hub/adapters/amk/signature.py``). The signature covers the exact bytes
sent: sign the body you post, never a re-serialization of it.

This package imports nothing of PayHub's server (a partner installs the client alone), so the
formula is written here once more; ``tests/unit/test_client_signing.py`` checks it against the
gateway's signer and verifier on generated bodies, secrets and times.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

TIMESTAMP_HEADER = "X-AMK-Timestamp"
SIGNATURE_HEADER = "X-AMK-Signature"


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """Hex HMAC-SHA512 of ``b"<timestamp>." + body`` with ``secret`` (UTF-8)."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha512).hexdigest()


def signature_headers(body: bytes, secrets: str | Sequence[str], *, timestamp: int | None = None) -> dict[str, str]:
    """The two headers for ``body``: one ``v1=`` entry per secret; ``timestamp`` defaults to now.

    The gateway accepts a timestamp within ±300 s of its clock.
    """
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    if not keys:
        raise ValueError("at least one secret is needed")
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: ",".join(f"v1={sign(key, ts, body)}" for key in keys),
    }


def encode_body(payload: bytes | Mapping[str, Any]) -> bytes:
    """The bytes to post: ``bytes`` as given; a mapping as compact UTF-8 JSON (``Decimal`` amounts
    as JSON strings of their exact digits, which the gateway reads like numbers)."""
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode("utf-8")


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
