"""The payment-verify request hash: the one place that knows AMK's field order.

hash = hex(HMAC-SHA512(secret key as UTF-8, the values of VERIFY_FIELDS joined in this order
with no separator)). AMK's production order or separator may differ: change it here and nowhere
else; the sandbox checks requests with this same function.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

VERIFY_FIELDS = ("merchantId", "storeId", "terminalId", "txId", "timestamp")


def verify_hash(secret: str, fields: Mapping[str, str]) -> str:
    message = "".join(str(fields[name]) for name in VERIFY_FIELDS)
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha512).hexdigest()


def hash_matches(secret: str, fields: Mapping[str, str], offered: str) -> bool:
    return hmac.compare_digest(verify_hash(secret, fields).encode(), offered.strip().lower().encode())
