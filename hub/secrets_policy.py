"""What a production secret must be, and the sandbox values it must never be (issue 7 §6).

The sandbox values are published in the README: they serve the sandbox mode only, and production mode
refuses any secret that holds one (see :func:`weak_secret`). :mod:`hub.settings` applies these rules.
"""

from __future__ import annotations

import unicodedata

# Sandbox-only values: documented in the README, never accepted in production.
SANDBOX_JWT_SECRET = "payhub-sandbox-jwt-secret-change-me"
SANDBOX_WEBHOOK_SECRET = "payhub-sandbox-webhook-secret"
SANDBOX_AMK_SECRET_KEY = "payhub-sandbox-amk-verify-key"
SANDBOX_AMK_USERNAME = "payhub-sandbox"
SANDBOX_AMK_PASSWORD = "sandbox-password"
SANDBOX_MERCHANT_ID = "000000000000001"
SANDBOX_STORE_ID = "000000000000002"
SANDBOX_TERMINAL_ID = "00000003"
SANDBOX_BAKONG_ACCOUNT = "payhub_sandbox@amkb"
SANDBOX_SUPPORT_CONTACT = "support@payhub.example"  # not a secret; RFC 2606 name: never a real inbox
# The partner whose Standard Webhooks the sandbox records (/sandbox/notifications), and its whsec_ secret
# (base64 of the 32 bytes "payhub-sandbox-partner-signing!!").
SANDBOX_PARTNER = "sandbox-partner"
SANDBOX_PARTNER_WEBHOOK_SECRET = "whsec_cGF5aHViLXNhbmRib3gtcGFydG5lci1zaWduaW5nISE="
SANDBOX_SECRETS = frozenset(
    {
        SANDBOX_JWT_SECRET,
        SANDBOX_WEBHOOK_SECRET,
        SANDBOX_AMK_SECRET_KEY,
        SANDBOX_AMK_PASSWORD,
        SANDBOX_AMK_USERNAME,
        SANDBOX_PARTNER_WEBHOOK_SECRET,
    }
)

# Production strength of a secret (issue 7 §6). PayHub's own keys are HMAC keys: at least 32 bytes
# (RFC 7518 §3.2: an HS256 key at least as long as the hash). AMK chooses its partner's password, so
# it gets NIST SP 800-63B's floor for memorized secrets (8 characters) instead of a key's length.
MIN_SECRET_BYTES = 32
MIN_SECRET_BYTES_BY_FIELD = {"amk_password": 8}
# Fewer distinct characters than this is a repeated or patterned value ("aaaa…", "abab…"), not a key.
MIN_DISTINCT_CHARS = 8


def weak_secret(variable: str, value: str) -> str | None:
    """Why ``value`` may not be the production value of ``variable`` (``PAYHUB_…``), or ``None``.

    One rule for every secret (issue 7 §6): a value holding a sandbox value (in any case, width, padding
    or punctuation, with anything before or after it: the sandbox values are published in the README),
    fewer bytes than the variable's minimum (:data:`MIN_SECRET_BYTES`, or :data:`MIN_SECRET_BYTES_BY_FIELD`),
    fewer than :data:`MIN_DISTINCT_CHARS` distinct characters, or one unit repeated (``abcdefghabcdefgh…``
    holds no more secret than its unit). The message names the variable, never the value.
    """
    field = variable.removeprefix("PAYHUB_").lower()
    minimum = MIN_SECRET_BYTES_BY_FIELD.get(field, MIN_SECRET_BYTES)
    spoken = fingerprint(value)
    if any(fingerprint(sandbox) in spoken for sandbox in SANDBOX_SECRETS):
        return f"{variable} is a sandbox secret: not accepted in production mode"
    if len(value.encode()) < minimum:
        return f"{variable} must be at least {minimum} bytes in production mode"
    if len(set(value)) < MIN_DISTINCT_CHARS:
        return f"{variable} is too predictable (fewer than {MIN_DISTINCT_CHARS} distinct characters)"
    if _repeats_a_unit(value):
        return f"{variable} is too predictable (one sequence of characters repeated)"
    return None


def fingerprint(value: str) -> str:
    """``value`` as a person would read it aloud: compatibility-normalized (NFKC: full-width letters are
    letters), case-folded, letters and digits only, so that a disguised sandbox value is recognised."""
    return "".join(c for c in unicodedata.normalize("NFKC", value).casefold() if c.isalnum())


def _repeats_a_unit(value: str) -> bool:
    """Whether ``value`` is a shorter unit written out at least twice (the last copy may be cut short)."""
    return any(value[period:] == value[:-period] for period in range(1, len(value) // 2 + 1))
