"""Settings read from ``PAYHUB_*`` environment variables, validated once at start-up.

Sandbox defaults exist only in sandbox mode (``PAYHUB_MODE=sandbox``, the default); production mode
refuses to start while a secret is missing. Whatever the environment sets wins over a default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from hub.errors import ConfigError

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


@dataclass(frozen=True, kw_only=True)
class Settings:
    mode: str = "sandbox"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    log_level: str = "INFO"
    database_url: str = "sqlite:///var/payhub.db"
    db_pool_min: int = 2
    db_pool_max: int = 20
    redis_url: str = ""
    kafka_bootstrap: str = ""
    kafka_topic_prefix: str = "dev."
    kafka_idempotence: bool = True
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_ms: int = 3_000
    jwt_secret: str = ""
    jwt_jwks_url: str = ""
    subscribe_secret: str = ""
    amk_webhook_secrets: tuple[str, ...] = ()
    webhook_tolerance_s: int = 300
    max_body_bytes: int = 64 * 1024
    amk_base_url: str = ""
    amk_verify_url: str = ""
    amk_merchant_id: str = ""
    amk_store_id: str = ""
    amk_terminal_id: str = ""
    amk_secret_key: str = ""
    amk_username: str = ""
    amk_password: str = ""
    amk_timeout_s: float = 5.0
    amk_retry_attempts: int = 3
    amk_retry_initial_s: float = 1.0
    amk_retry_max_s: float = 10.0
    amk_retry_jitter: float = 0.1
    reverify_interval_s: float = 30.0
    integration_url: str = ""
    gateway_url: str = ""
    premium_cache_ttl_s: int = 900
    rate_user_per_min: int = 100
    rate_ip_per_min: int = 1000
    breaker_window_s: float = 60.0
    breaker_failure_ratio: float = 0.5
    breaker_min_calls: int = 4
    breaker_open_s: float = 30.0
    breaker_half_open_successes: int = 3
    khqr_session_ttl_s: int = 1800
    subscribe_grace_s: int = 600
    push_heartbeat_s: float = 15.0
    shutdown_grace_s: int = 5
    push_buffer: int = 16
    # Bounds on hostile or broken clients (issue 7 §4), applied before authentication.
    # Header line + headers of one request, bytes (refused with 431 above).
    max_header_bytes: int = 16 * 1024
    # Seconds from connect (or from the first byte of the next keep-alive request) to complete headers (else 408).
    header_timeout_s: float = 10.0
    # Largest request body of any route, bytes (else 413); webhooks are capped lower, by max_body_bytes.
    max_request_body_bytes: int = 4 * 1024 * 1024
    # Seconds a request body may take to arrive in full (else 408).
    body_timeout_s: float = 30.0
    # Seconds an idle keep-alive connection stays open (uvicorn timeout_keep_alive).
    keep_alive_timeout_s: int = 5
    # Connections open at once from one peer address, WebSockets included; 0 = no cap. Behind a proxy
    # the peer is the proxy: set it above the proxy's connection pool or to 0 and cap at the proxy.
    max_connections_per_ip: int = 256
    # Largest WebSocket message accepted, bytes (bigger: close 1009).
    ws_max_message_bytes: int = 64 * 1024
    # Seconds a new WebSocket has to subscribe to a payment (else close 1008).
    ws_subscribe_timeout_s: float = 10.0
    # Seconds a WebSocket with no live subscription and no message stays open (else close 1008).
    ws_idle_timeout_s: float = 120.0
    # Live subscriptions per WebSocket.
    ws_max_subscriptions: int = 50
    # WebSocket ping period and the wait for its pong before the peer counts as gone, seconds.
    ws_ping_interval_s: float = 15.0
    ws_ping_timeout_s: float = 20.0
    # Window in which repeats of one warning/error log line are collapsed into a count, seconds (0 = off).
    log_repeat_window_s: float = 10.0
    seed_demo: bool = True
    demo_dir: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def sandbox(self) -> bool:
        return self.mode == "sandbox"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read, apply sandbox defaults, validate. Raises ConfigError listing every problem."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(_env_name(f.name))
            if raw is None:
                continue
            try:
                values[f.name] = _parse(f.type, raw.strip())
            except ValueError as exc:
                problems.append(f"{_env_name(f.name)}: {exc}")
        values.update(overrides)
        if problems:
            raise ConfigError("invalid settings", details=problems)
        settings = cls(**values)
        if settings.sandbox:
            settings = settings._with_sandbox_defaults()
        settings.validate()
        return settings

    def _with_sandbox_defaults(self) -> Settings:
        defaults = {
            "jwt_secret": SANDBOX_JWT_SECRET,
            "amk_webhook_secrets": (SANDBOX_WEBHOOK_SECRET,),
            "amk_secret_key": SANDBOX_AMK_SECRET_KEY,
            "amk_username": SANDBOX_AMK_USERNAME,
            "amk_password": SANDBOX_AMK_PASSWORD,
            "amk_merchant_id": SANDBOX_MERCHANT_ID,
            "amk_store_id": SANDBOX_STORE_ID,
            "amk_terminal_id": SANDBOX_TERMINAL_ID,
        }
        changes: dict[str, Any] = {k: v for k, v in defaults.items() if not getattr(self, k)}
        if not self.subscribe_secret:
            changes["subscribe_secret"] = self.jwt_secret or SANDBOX_JWT_SECRET
        return replace(self, **changes)

    def validate(self) -> None:
        problems: list[str] = []
        if self.mode not in ("sandbox", "production"):
            problems.append("PAYHUB_MODE must be 'sandbox' or 'production'")
        if not (0 < self.port < 65536):
            problems.append("PAYHUB_PORT must be between 1 and 65535")
        scheme = self.database_url.split(":", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            problems.append("PAYHUB_DATABASE_URL must start with sqlite:/// or postgresql://")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://")):
            problems.append("PAYHUB_REDIS_URL must start with redis:// or rediss://")
        if self.kafka_bootstrap and not self.redis_url:
            problems.append("PAYHUB_KAFKA_BOOTSTRAP needs PAYHUB_REDIS_URL (push nodes fan out through Redis)")
        if self.amk_retry_attempts < 1:
            problems.append("PAYHUB_AMK_RETRY_ATTEMPTS must be at least 1")
        if not 0 < self.breaker_failure_ratio < 1:
            problems.append("PAYHUB_BREAKER_FAILURE_RATIO must be between 0 and 1")
        if self.mode == "production":
            required = {
                "PAYHUB_AMK_WEBHOOK_SECRET": self.amk_webhook_secrets,
                "PAYHUB_SUBSCRIBE_SECRET": self.subscribe_secret,
                "PAYHUB_AMK_BASE_URL": self.amk_base_url,
                "PAYHUB_AMK_VERIFY_URL": self.amk_verify_url,
                "PAYHUB_AMK_SECRET_KEY": self.amk_secret_key,
                "PAYHUB_AMK_MERCHANT_ID": self.amk_merchant_id,
                "PAYHUB_AMK_STORE_ID": self.amk_store_id,
                "PAYHUB_AMK_TERMINAL_ID": self.amk_terminal_id,
                "PAYHUB_AMK_USERNAME": self.amk_username,
                "PAYHUB_AMK_PASSWORD": self.amk_password,
            }
            problems += [f"{name} is required in production mode" for name, v in required.items() if not v]
            if not (self.jwt_secret or self.jwt_jwks_url):
                problems.append("PAYHUB_JWT_SECRET or PAYHUB_JWT_JWKS_URL is required in production mode")
            if self.jwt_secret and len(self.jwt_secret.encode()) < 32:
                problems.append("PAYHUB_JWT_SECRET must be at least 32 bytes in production mode")
            if self.subscribe_secret and len(self.subscribe_secret.encode()) < 32:
                problems.append("PAYHUB_SUBSCRIBE_SECRET must be at least 32 bytes in production mode")
            sandbox_values = {SANDBOX_JWT_SECRET, SANDBOX_WEBHOOK_SECRET, SANDBOX_AMK_SECRET_KEY}
            if sandbox_values & {
                self.jwt_secret,
                self.subscribe_secret,
                self.amk_secret_key,
                *self.amk_webhook_secrets,
            }:
                problems.append("a sandbox secret is configured in production mode")
        if problems:
            raise ConfigError("invalid settings", details=problems)


def _parse(annotation: Any, raw: str) -> Any:
    kind = str(annotation)
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "bool":
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean, got {raw!r}")
    if kind.startswith("tuple"):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


def _env_name(field_name: str) -> str:
    # The contract names the rotation list in the singular: PAYHUB_AMK_WEBHOOK_SECRET=a,b
    if field_name == "amk_webhook_secrets":
        return "PAYHUB_AMK_WEBHOOK_SECRET"
    return f"PAYHUB_{field_name.upper()}"
