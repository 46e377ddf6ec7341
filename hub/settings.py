"""Settings read from ``PAYHUB_*`` environment variables (pydantic-settings), validated once at start-up.

Sandbox defaults exist only in sandbox mode (``PAYHUB_MODE=sandbox``, the default); production mode
refuses to start while a secret is missing, short, low in entropy or a sandbox value, and names the
variable. Whatever the environment sets wins over a default. Secrets are :class:`pydantic.SecretStr`:
``repr``, ``str`` and logs show ``'**********'``; code that needs the value calls
``.get_secret_value()`` where it hands it to a client.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from datetime import time
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from hub.constants import DATABASE_SCHEMES, REDIS_SCHEMES, url_scheme
from hub.errors import ConfigError
from hub.fraud.rules import load_rules
from hub.secrets_policy import (
    SANDBOX_AMK_PASSWORD,
    SANDBOX_AMK_SECRET_KEY,
    SANDBOX_AMK_USERNAME,
    SANDBOX_JWT_SECRET,
    SANDBOX_MERCHANT_ID,
    SANDBOX_STORE_ID,
    SANDBOX_SUPPORT_CONTACT,
    SANDBOX_TERMINAL_ID,
    SANDBOX_WEBHOOK_SECRET,
    fingerprint,
    weak_secret,
)
from hub.settings_env import ENVIRON, EnvironSource, env_name, problem_message
from hub.settings_notify import NotifySettings

SecretList = Annotated[tuple[SecretStr, ...], NoDecode]
NameList = Annotated[tuple[str, ...], NoDecode]


class Settings(NotifySettings):  # the notifier's PAYHUB_NOTIFY_* in hub/settings_notify.py
    model_config = SettingsConfigDict(
        env_prefix="PAYHUB_", frozen=True, extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    mode: Literal["sandbox", "production"] = "sandbox"
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
    jwt_secret: SecretStr = SecretStr("")
    jwt_jwks_url: str = ""
    subscribe_secret: SecretStr = SecretStr("")
    # The contract names the rotation list in the singular: PAYHUB_AMK_WEBHOOK_SECRET=new,old
    amk_webhook_secrets: SecretList = Field(default=(), validation_alias="PAYHUB_AMK_WEBHOOK_SECRET")
    webhook_tolerance_s: int = 300
    max_body_bytes: int = 64 * 1024
    amk_base_url: str = ""
    amk_verify_url: str = ""
    amk_merchant_id: str = ""
    amk_store_id: str = ""
    amk_terminal_id: str = ""
    amk_secret_key: SecretStr = SecretStr("")
    amk_username: str = ""
    amk_password: SecretStr = SecretStr("")
    amk_timeout_s: float = 5.0
    amk_retry_attempts: int = 3
    amk_retry_initial_s: float = 1.0
    amk_retry_max_s: float = 10.0
    amk_retry_jitter: float = 0.1
    reverify_interval_s: float = 30.0
    settle_interval_s: float = 30.0
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
    # SSE ``retry:`` (ms) each stream opens with: the base reconnect delay, plus a random 0..jitter ms drawn
    # per stream, so that clients dropped together (a push node restarting) come back spread out.
    push_retry_ms: int = Field(default=1000, ge=0)
    push_retry_jitter_ms: int = Field(default=5000, ge=0)
    # How many payments' newest status a push node reads into its memory at start-up (push/warm.py): the
    # payments whose status changed last; 0 turns the warming off. Bounded by the memory's own size.
    push_warm_payments: int = Field(default=20_000, ge=0)
    # WebSocket permessage-deflate (RFC 7692): off, status frames are a few hundred bytes and a zlib
    # context per socket costs far more memory than it saves bandwidth.
    ws_per_message_deflate: bool = False
    # GET /admin/analytics/stream (backoffice/analytics/app.py): least seconds between two snapshots of a
    # stream (bursts of payments coalesce), most seconds without one, most seconds of silence.
    analytics_stream_interval_s: float = Field(default=2.0, gt=0)
    analytics_refresh_s: float = Field(default=30.0, gt=0)
    analytics_heartbeat_s: float = Field(default=15.0, gt=0)
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
    # Seconds a response may wait for a client that reads nothing of it (slow read; else the connection is dropped).
    send_timeout_s: float = 30.0
    # Seconds an idle keep-alive connection stays open (uvicorn timeout_keep_alive).
    keep_alive_timeout_s: int = 5
    # Connections open at once from one peer address (an IPv6 peer: its /64), WebSockets included;
    # 0 = no cap. Behind a proxy the peer is the proxy: set it above the proxy's connection pool or to 0
    # and cap at the proxy.
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
    # Security of the production surface (issue 7 §6): see README "Settings" and docs/operations.md.
    service_token_secret: SecretStr = SecretStr("")
    jwt_audience: str = ""
    jwt_issuer: str = ""
    metrics_token: SecretStr = SecretStr("")
    trusted_proxies: NameList = ()
    webhook_allowed_ips: NameList = ()
    admin_allowed_ips: NameList = ()
    # Fraud controls (issue 9): the rules as JSON, or a file holding them (hub/fraud/rules.py; neither:
    # the defaults documented in docs/operations.md), and how long a process reuses its copy of the blocklist.
    fraud_rules: str = ""
    fraud_rules_file: str = ""
    fraud_blocklist_cache_s: float = 5.0
    # Observability (issue 11): each dependency check of /readyz is cut off after this many seconds.
    readiness_timeout_s: float = 2.0
    # Port of a worker process's /metrics, /healthz, /readyz (payhub relay|feeder); 0 = that worker's
    # default (payhub/workers.py WORKER_PORTS). ``--port`` on the command line wins.
    worker_port: int = 0
    # OpenTelemetry span export (needs ``pip install -e '.[otel]'``; OTEL_* variables configure it).
    otel_enabled: bool = False
    # Reconciliation with AMK (issue 9), see docs/operations.md "Reconciliation".
    # The gateway reconciles each past day at this time of day, HH:MM in Asia/Phnom_Penh (and catches up).
    reconcile_daily: bool = True
    reconcile_at: str = "02:00"
    reconcile_catch_up_days: int = 7
    reconcile_poll_s: float = 300.0
    # Seconds a payment may hold money in PROCESSING (awaiting AMK's verdict) before it counts as stuck.
    reconcile_stuck_after_s: float = 3600.0
    # Seconds a process holds a day's run without renewing it (a killed run is resumed after this).
    reconcile_lease_s: float = 120.0
    reports_dir: str = "var/reports"
    # AMK's statement of a day: URL template with {date}; sandbox default: the sandbox bank's statements.
    amk_statement_url: str = ""
    # Whom a payer or AMK contacts about a payment error: the spec's ``supportContact`` (issue 12); unset in
    # production: payment errors then carry none.
    support_contact: str = ""

    @property
    def sandbox(self) -> bool:
        return self.mode == "sandbox"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Overrides (keyword arguments) win over the environment; no .env file, no secrets directory.
        return (init_settings, EnvironSource(settings_cls))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``environ`` (default ``os.environ``), apply sandbox defaults, validate.

        Raises :class:`ConfigError` whose ``details`` list every problem, each naming its variable.
        """
        token = ENVIRON.set(environ)
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise ConfigError("invalid settings", details=[problem_message(e) for e in exc.errors()]) from None
        finally:
            ENVIRON.reset(token)

    @field_validator(
        "amk_webhook_secrets", "trusted_proxies", "webhook_allowed_ips", "admin_allowed_ips", mode="before"
    )
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies", "webhook_allowed_ips", "admin_allowed_ips")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
        return value

    @model_validator(mode="after")
    def _defaults_and_rules(self) -> Settings:
        if self.sandbox:
            self._apply_sandbox_defaults()
        problems = self._problems()
        if problems:
            raise ConfigError("invalid settings", details=problems)
        return self

    def _apply_sandbox_defaults(self) -> None:
        jwt = self.jwt_secret.get_secret_value() or SANDBOX_JWT_SECRET
        defaults: dict[str, Any] = {
            "jwt_secret": SecretStr(SANDBOX_JWT_SECRET),
            "amk_webhook_secrets": (SecretStr(SANDBOX_WEBHOOK_SECRET),),
            "amk_secret_key": SecretStr(SANDBOX_AMK_SECRET_KEY),
            "amk_username": SANDBOX_AMK_USERNAME,
            "amk_password": SecretStr(SANDBOX_AMK_PASSWORD),
            "amk_merchant_id": SANDBOX_MERCHANT_ID,
            "amk_store_id": SANDBOX_STORE_ID,
            "amk_terminal_id": SANDBOX_TERMINAL_ID,
            "subscribe_secret": SecretStr(jwt),
            "service_token_secret": SecretStr(jwt),
            "support_contact": SANDBOX_SUPPORT_CONTACT,
        }
        for name, value in defaults.items():
            current = getattr(self, name)
            if not (current.get_secret_value() if isinstance(current, SecretStr) else current):
                # Frozen model: the defaults are filled in once, while it is being validated.
                object.__setattr__(self, name, value)

    def secret_values(self) -> Iterator[tuple[str, str]]:
        """Every configured secret as ``(PAYHUB_VARIABLE, value)``, one pair per entry of a list."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            entries = value if isinstance(value, tuple) else (value,)
            for entry in entries:
                if isinstance(entry, SecretStr):
                    yield env_name(name), entry.get_secret_value()
                elif isinstance(entry, BaseModel):  # an entry with secrets of its own (a partner webhook)
                    for part in type(entry).model_fields:
                        if isinstance(value := getattr(entry, part), SecretStr):
                            yield env_name(name), value.get_secret_value()

    def log_secrets(self) -> list[str]:
        """Every value the logs must never show: the secrets, and the passwords inside service URLs."""
        values = [value for _, value in self.secret_values() if value]
        for url in (
            self.database_url,
            self.redis_url,
            self.amk_base_url,
            self.amk_verify_url,
            self.amk_statement_url,
            self.jwt_jwks_url,
            self.notify_smtp_url,
        ):
            password = urlsplit(url).password if "@" in url else None
            if password:
                values += [password, unquote(password)]
        return values

    def _problems(self) -> list[str]:
        problems: list[str] = []
        if not (0 < self.port < 65536):
            problems.append("PAYHUB_PORT must be between 1 and 65535")
        if not (0 <= self.worker_port < 65536):
            problems.append("PAYHUB_WORKER_PORT must be between 0 and 65535")
        if self.readiness_timeout_s <= 0:
            problems.append("PAYHUB_READINESS_TIMEOUT_S must be positive")
        if url_scheme(self.database_url) not in DATABASE_SCHEMES:
            problems.append("PAYHUB_DATABASE_URL must start with sqlite:/// or postgresql://")
        if self.redis_url and url_scheme(self.redis_url) not in REDIS_SCHEMES:
            problems.append("PAYHUB_REDIS_URL must start with redis:// or rediss://")
        if self.kafka_bootstrap and not self.redis_url:
            problems.append("PAYHUB_KAFKA_BOOTSTRAP needs PAYHUB_REDIS_URL (push nodes fan out through Redis)")
        if self.amk_retry_attempts < 1:
            problems.append("PAYHUB_AMK_RETRY_ATTEMPTS must be at least 1")
        if not 0 < self.breaker_failure_ratio < 1:
            problems.append("PAYHUB_BREAKER_FAILURE_RATIO must be between 0 and 1")
        if len(self.support_contact) > 200 or not self.support_contact.isprintable():
            problems.append("PAYHUB_SUPPORT_CONTACT must be printable text of at most 200 characters")
        problems += self.notify_problems()
        if not 0 <= self.fraud_blocklist_cache_s <= 3600:
            problems.append("PAYHUB_FRAUD_BLOCKLIST_CACHE_S must be between 0 and 3600")
        try:
            load_rules(self.fraud_rules, self.fraud_rules_file)
        except ConfigError as exc:
            problems.append(exc.message)
        problems += self._reconcile_problems()
        if self.mode == "production":
            problems += self._production_problems()
        return problems

    @property
    def reconcile_time(self) -> time:
        """``PAYHUB_RECONCILE_AT`` as a time of day (validated at start-up)."""
        return time.fromisoformat(self.reconcile_at)

    def _reconcile_problems(self) -> list[str]:
        problems: list[str] = []
        if not re.fullmatch(r"[0-9]{2}:[0-9]{2}", self.reconcile_at, re.ASCII) or not (
            int(self.reconcile_at[:2]) < 24 and int(self.reconcile_at[3:]) < 60
        ):
            problems.append("PAYHUB_RECONCILE_AT must be a time of day HH:MM (Asia/Phnom_Penh)")
        if self.reconcile_catch_up_days < 1:
            problems.append("PAYHUB_RECONCILE_CATCH_UP_DAYS must be at least 1")
        for name in ("reconcile_poll_s", "reconcile_stuck_after_s", "reconcile_lease_s"):
            if not getattr(self, name) > 0:
                problems.append(f"{env_name(name)} must be greater than 0")
        if self.amk_statement_url and "{date}" not in self.amk_statement_url:
            problems.append("PAYHUB_AMK_STATEMENT_URL must contain {date} (replaced by YYYY-MM-DD)")
        return problems

    def _production_problems(self) -> list[str]:
        required: dict[str, object] = {
            "PAYHUB_AMK_WEBHOOK_SECRET": self.amk_webhook_secrets,
            "PAYHUB_SUBSCRIBE_SECRET": self.subscribe_secret.get_secret_value(),
            "PAYHUB_SERVICE_TOKEN_SECRET": self.service_token_secret.get_secret_value(),
            "PAYHUB_AMK_BASE_URL": self.amk_base_url,
            "PAYHUB_AMK_VERIFY_URL": self.amk_verify_url,
            "PAYHUB_AMK_SECRET_KEY": self.amk_secret_key.get_secret_value(),
            "PAYHUB_AMK_MERCHANT_ID": self.amk_merchant_id,
            "PAYHUB_AMK_STORE_ID": self.amk_store_id,
            "PAYHUB_AMK_TERMINAL_ID": self.amk_terminal_id,
            "PAYHUB_AMK_USERNAME": self.amk_username,
            "PAYHUB_AMK_PASSWORD": self.amk_password.get_secret_value(),
        }
        problems = [f"{name} is required in production mode" for name, v in required.items() if not v]
        if not (self.jwt_secret.get_secret_value() or self.jwt_jwks_url):
            problems.append("PAYHUB_JWT_SECRET or PAYHUB_JWT_JWKS_URL is required in production mode")
        if self.jwt_jwks_url:
            # Without both, any token the identity provider signs for another application would pass.
            problems += [
                f"{name} is required with PAYHUB_JWT_JWKS_URL in production mode"
                for name, v in (("PAYHUB_JWT_AUDIENCE", self.jwt_audience), ("PAYHUB_JWT_ISSUER", self.jwt_issuer))
                if not v
            ]
        for name, value in self.secret_values():
            if value and (problem := weak_secret(name, value)):
                problems.append(problem)
        if fingerprint(SANDBOX_AMK_USERNAME) in fingerprint(self.amk_username):
            problems.append("PAYHUB_AMK_USERNAME is the sandbox user name: not accepted in production mode")
        return problems
