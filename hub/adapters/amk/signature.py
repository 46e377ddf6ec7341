"""AMK webhook signatures.

``X-AMK-Signature: v1=<hex HMAC-SHA512(secret, "<X-AMK-Timestamp>.<raw body bytes>")>``; several
``v1=`` entries may be sent, comma-separated, and any configured secret may match (key rotation).
Checked on the raw bytes before anything parses them, with constant-time comparison.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from hub.errors import Unauthorized

TIMESTAMP_HEADER = "x-amk-timestamp"
SIGNATURE_HEADER = "x-amk-signature"


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha512).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    return ",".join(f"v1={sign(s, timestamp, body)}" for s in secrets)


def verify(headers: Mapping[str, str], body: bytes, secrets: Sequence[str], *, now: float, tolerance_s: int) -> None:
    """Raise Unauthorized unless the body carries a fresh signature by one of ``secrets``."""
    raw_ts = headers.get(TIMESTAMP_HEADER)
    raw_sig = headers.get(SIGNATURE_HEADER)
    if not raw_ts or not raw_sig:
        raise Unauthorized("Missing webhook signature", details={"required": ["X-AMK-Timestamp", "X-AMK-Signature"]})
    raw_ts = raw_ts.strip()
    # ASCII digits, bounded: str.isdigit() also accepts "²" or Arabic-Indic digits, and int() refuses
    # over 4300 digits; either would surface as a 500 instead of a 401.
    if not (raw_ts.isascii() and raw_ts.isdigit() and len(raw_ts) <= 15):
        raise Unauthorized("Malformed X-AMK-Timestamp")
    skew = int(now) - int(raw_ts)
    if abs(skew) > tolerance_s:
        raise Unauthorized(
            "Webhook timestamp outside tolerance",
            details={"skewSeconds": skew, "toleranceSeconds": tolerance_s},
        )
    offered = [part.strip()[3:] for part in raw_sig.split(",") if part.strip().startswith("v1=")]
    if not offered:
        raise Unauthorized("Malformed X-AMK-Signature")
    expected = [sign(secret, raw_ts, body) for secret in secrets]
    matched = False
    # Compare every pair (no early exit) so timing says nothing about which entry matched.
    for candidate in offered:
        for exp in expected:
            matched |= hmac.compare_digest(candidate.lower().encode(), exp.encode())
    if not matched:
        raise Unauthorized("Invalid webhook signature")
