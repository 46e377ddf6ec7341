"""Settings: env names and defaults kept, secrets never printed, production refuses weak secrets (issue 7 §6,
issue 8's settings model)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from hub.errors import ConfigError
from hub.secrets_policy import (
    MIN_DISTINCT_CHARS,
    MIN_SECRET_BYTES,
    MIN_SECRET_BYTES_BY_FIELD,
    SANDBOX_AMK_PASSWORD,
    SANDBOX_AMK_USERNAME,
    SANDBOX_SECRETS,
)
from hub.settings import Settings, env_name

STRONG = "Zq8#vR2!mK5@wX9$pL3%tN7^yB1&cF4*"  # 32 bytes, 32 distinct characters


def production_env(**changes: str) -> dict[str, str]:
    """A production environment that starts; ``changes`` (variable=value) override it."""
    env = {
        "PAYHUB_MODE": "production",
        "PAYHUB_DATABASE_URL": "sqlite:///var/prod.db",
        "PAYHUB_JWT_SECRET": STRONG + "-jwt",
        "PAYHUB_SUBSCRIBE_SECRET": STRONG + "-subscribe",
        "PAYHUB_SERVICE_TOKEN_SECRET": STRONG + "-service",
        "PAYHUB_AMK_WEBHOOK_SECRET": STRONG + "-webhook",
        "PAYHUB_AMK_BASE_URL": "https://amk.example/api",
        "PAYHUB_AMK_VERIFY_URL": "https://amk.example/api/verify",
        "PAYHUB_AMK_SECRET_KEY": STRONG + "-verify",
        "PAYHUB_AMK_MERCHANT_ID": "123456789012345",
        "PAYHUB_AMK_STORE_ID": "123456789012346",
        "PAYHUB_AMK_TERMINAL_ID": "12345678",
        "PAYHUB_AMK_USERNAME": "insurer-partner",
        "PAYHUB_AMK_PASSWORD": "Pw-4-the-bank!",
        "PAYHUB_METRICS_TOKEN": STRONG + "-metrics",
    }
    env.update(changes)
    return env


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    return [str(p) for p in info.value.details]


SECRET_VARIABLES = sorted({name for name, _ in Settings.from_env(production_env()).secret_values()})


def test_the_production_example_starts() -> None:
    s = Settings.from_env(production_env())
    assert s.mode == "production" and not s.sandbox
    assert SECRET_VARIABLES == [
        "PAYHUB_AMK_PASSWORD",
        "PAYHUB_AMK_SECRET_KEY",
        "PAYHUB_AMK_WEBHOOK_SECRET",
        "PAYHUB_JWT_SECRET",
        "PAYHUB_METRICS_TOKEN",
        "PAYHUB_NOTIFY_PUSH_TOKEN",
        "PAYHUB_NOTIFY_SMS_API_KEY",
        "PAYHUB_SERVICE_TOKEN_SECRET",
        "PAYHUB_SUBSCRIBE_SECRET",
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PAYHUB_AMK_WEBHOOK_SECRET", "x"),
        ("PAYHUB_AMK_WEBHOOK_SECRET", f"{STRONG},x"),
        ("PAYHUB_AMK_SECRET_KEY", "x"),
        ("PAYHUB_AMK_PASSWORD", SANDBOX_AMK_PASSWORD),
        ("PAYHUB_AMK_USERNAME", SANDBOX_AMK_USERNAME),
    ],
)
def test_issue_examples_refused_in_production(variable: str, value: str) -> None:
    found = problems(production_env(**{variable: value}))
    assert any(p.startswith(variable) for p in found), found
    assert all(value not in p for p in found if len(value) > 1)  # the value itself is never echoed


def _weak_values() -> st.SearchStrategy[tuple[str, str]]:
    """(variable, value) where value breaks exactly one rule for that variable."""
    variable = st.sampled_from(SECRET_VARIABLES)

    def short(name: str) -> st.SearchStrategy[tuple[str, str]]:
        minimum = MIN_SECRET_BYTES_BY_FIELD.get(name.removeprefix("PAYHUB_").lower(), MIN_SECRET_BYTES)
        text = st.text(st.characters(codec="utf-8", exclude_characters=","), min_size=1, max_size=minimum)
        return text.filter(lambda v: v.strip() == v and 0 < len(v.encode()) < minimum).map(lambda v: (name, v))

    def sandbox(name: str) -> st.SearchStrategy[tuple[str, str]]:
        return st.sampled_from(sorted(SANDBOX_SECRETS)).map(lambda v: (name, v))

    def repeated(name: str) -> st.SearchStrategy[tuple[str, str]]:
        alphabet = st.lists(
            st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=","),
            min_size=1,
            max_size=MIN_DISTINCT_CHARS - 1,
            unique=True,
        )
        return st.tuples(alphabet, st.integers(64, 200)).map(
            lambda a: (name, "".join(a[0][i % len(a[0])] for i in range(a[1])))
        )

    return variable.flatmap(lambda name: st.one_of(short(name), sandbox(name), repeated(name)))


@settings(max_examples=150, deadline=None)
@given(case=_weak_values(), as_second_entry=st.booleans())
def test_every_weak_secret_is_refused_naming_its_variable(case: tuple[str, str], as_second_entry: bool) -> None:
    variable, value = case
    if variable == "PAYHUB_AMK_WEBHOOK_SECRET" and as_second_entry:
        value = f"{STRONG},{value}"  # each entry of the rotation list is judged
    found = problems(production_env(**{variable: value}))
    assert any(p.startswith(variable) for p in found), found


@settings(max_examples=60, deadline=None)
@given(
    variable=st.sampled_from(SECRET_VARIABLES),
    value=st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=","), min_size=6),
)
def test_secrets_never_printed(variable: str, value: str) -> None:
    value = f"V{value}"  # a mark no other setting holds (digits alone would match the sandbox merchant id)
    s = Settings.from_env({variable: value})  # sandbox: any value is accepted
    assert value not in repr(s) and value not in str(s)
    assert value not in repr(s.model_dump())
    record = logging.LogRecord("t", logging.INFO, "", 0, "settings %s", (s,), None)
    assert value not in record.getMessage()
    assert "**********" in repr(s)


def test_env_names_and_defaults_are_kept() -> None:
    s = Settings.from_env({})
    assert env_name("amk_webhook_secrets") == "PAYHUB_AMK_WEBHOOK_SECRET"
    expected: dict[str, Any] = {
        "port": 8000,
        "database_url": "sqlite:///var/payhub.db",
        "rate_user_per_min": 100,
        "rate_ip_per_min": 1000,
        "premium_cache_ttl_s": 900,
        "reverify_interval_s": 30.0,
        "kafka_topic_prefix": "dev.",
        "kafka_idempotence": True,
        "khqr_session_ttl_s": 1800,
        "max_body_bytes": 64 * 1024,
    }
    assert {k: getattr(s, k) for k in expected} == expected
    env = {
        "PAYHUB_PORT": "9001",
        "PAYHUB_AMK_WEBHOOK_SECRET": " new-secret-value , old-secret-value ,",
        "PAYHUB_KAFKA_IDEMPOTENCE": "off",
        "PAYHUB_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7",
    }
    s = Settings.from_env(env)
    assert s.port == 9001 and s.kafka_idempotence is False
    assert [x.get_secret_value() for x in s.amk_webhook_secrets] == ["new-secret-value", "old-secret-value"]
    assert s.trusted_proxies == ("10.0.0.0/8", "192.168.1.7")
    assert Settings.from_env(env, port=9002).port == 9002  # keyword overrides win over the environment


def test_sandbox_defaults_follow_the_jwt_secret() -> None:
    s = Settings.from_env({"PAYHUB_JWT_SECRET": "my-own-sandbox-key"})
    assert s.subscribe_secret.get_secret_value() == "my-own-sandbox-key"
    assert s.service_token_secret.get_secret_value() == "my-own-sandbox-key"
    assert isinstance(s.amk_password, SecretStr)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PAYHUB_PORT", "abc"),
        ("PAYHUB_PORT", "0"),
        ("PAYHUB_MODE", "staging"),
        ("PAYHUB_KAFKA_IDEMPOTENCE", "maybe"),
        ("PAYHUB_TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip"),
        ("PAYHUB_ADMIN_ALLOWED_IPS", "300.1.1.1"),
        ("PAYHUB_DATABASE_URL", "mysql://x/y"),
    ],
)
def test_an_invalid_value_names_its_variable(variable: str, value: str) -> None:
    assert any(p.startswith(variable) for p in problems({variable: value}))


def test_required_production_secrets_are_named() -> None:
    env = production_env()
    for variable in ("PAYHUB_SERVICE_TOKEN_SECRET", "PAYHUB_AMK_PASSWORD", "PAYHUB_SUBSCRIBE_SECRET"):
        missing = {k: v for k, v in env.items() if k != variable}
        assert f"{variable} is required in production mode" in problems(missing)


def test_jwks_only_production_needs_audience_and_issuer() -> None:
    env = {k: v for k, v in production_env().items() if k != "PAYHUB_JWT_SECRET"}
    env["PAYHUB_JWT_JWKS_URL"] = "https://idp.example/.well-known/jwks.json"
    found = problems(env)
    assert any(p.startswith("PAYHUB_JWT_AUDIENCE") for p in found)
    assert any(p.startswith("PAYHUB_JWT_ISSUER") for p in found)
    env |= {"PAYHUB_JWT_AUDIENCE": "payhub", "PAYHUB_JWT_ISSUER": "https://idp.example/"}
    s = Settings.from_env(env)
    assert s.jwt_secret.get_secret_value() == ""


# A sandbox value is public (README): dressed up it is still public. Each disguise keeps it recognisable.
_DISGUISES = {
    "padded": lambda v: f"  {v}\t",
    "upper case": str.upper,
    "suffix": lambda v: f"{v}-2026-prod",
    "prefix": lambda v: f"prod-{v}",
    "underscores": lambda v: v.replace("-", "_"),
    "full-width": lambda v: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in v),
    "title case, dots": lambda v: v.replace("-", ".").title(),
}


@settings(max_examples=120, deadline=None)
@given(
    variable=st.sampled_from(SECRET_VARIABLES),
    sandbox=st.sampled_from(sorted(SANDBOX_SECRETS)),
    disguise=st.sampled_from(sorted(_DISGUISES)),
)
def test_a_disguised_sandbox_secret_is_refused(variable: str, sandbox: str, disguise: str) -> None:
    value = _DISGUISES[disguise](sandbox)
    if variable == "PAYHUB_AMK_WEBHOOK_SECRET":
        value = value.strip()  # the rotation list trims its entries; padding is judged on the other variables
    found = problems(production_env(**{variable: value}))
    assert any(p.startswith(variable) for p in found), (variable, value, found)


@pytest.mark.parametrize("disguise", sorted(_DISGUISES))
def test_a_disguised_sandbox_user_name_is_refused(disguise: str) -> None:
    found = problems(production_env(PAYHUB_AMK_USERNAME=_DISGUISES[disguise](SANDBOX_AMK_USERNAME)))
    assert any(p.startswith("PAYHUB_AMK_USERNAME") for p in found), found


@settings(max_examples=80, deadline=None)
@given(
    variable=st.sampled_from(SECRET_VARIABLES),
    unit=st.text(
        st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=","),
        min_size=MIN_DISTINCT_CHARS,
        max_size=16,
    ).filter(lambda u: len(set(u)) >= MIN_DISTINCT_CHARS),
    extra=st.integers(0, 15),
)
def test_a_repeated_unit_is_refused_however_many_characters_it_has(variable: str, unit: str, extra: int) -> None:
    # "abcdefghabcdefgh…" has 8 distinct characters and 32+ bytes, but only the unit's worth of secret.
    value = (unit * 8)[: max(2 * len(unit), 64) + extra % len(unit)]
    found = problems(production_env(**{variable: value}))
    assert any(p.startswith(variable) for p in found), (value, found)


def test_strong_values_still_start() -> None:
    env = production_env(
        PAYHUB_AMK_USERNAME="sandbox-partner-of-insurer",  # 'sandbox' alone is not the sandbox user name
        PAYHUB_JWT_SECRET="k3J9-xQ2v_Lm8Pz4Rt6Wb1Nc7Yd5He0Fg",
    )
    assert Settings.from_env(env).mode == "production"


def test_notification_settings_are_checked() -> None:
    partner = (
        '[{"name": "acme", "url": "https://partner.example/hooks", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]'
    )
    s = Settings.from_env(production_env(PAYHUB_PARTNER_WEBHOOKS=partner, PAYHUB_NOTIFY_HOURS="08:30-17:00"))
    assert s.partner_webhooks[0].name == "acme" and s.notify_window.text() == {"start": "08:30", "end": "17:00"}
    assert ("PAYHUB_PARTNER_WEBHOOKS", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") in list(s.secret_values())
    found = problems(
        production_env(
            PAYHUB_NOTIFY_PUSH_URL="ftp://x",
            PAYHUB_NOTIFY_SMS_URL="sandbox:",
            PAYHUB_NOTIFY_SMTP_URL="smtp://mail.example",
            PAYHUB_NOTIFY_HOURS="9-18",
            PAYHUB_NOTIFY_TIMEZONE="Mars/Olympus",
            PAYHUB_PARTNER_WEBHOOKS='[{"name": "a b", "url": "https://p.example", "secret": "whsec_c2hvcnQ="}]',
        )
    )
    text = "\n".join(found)
    for expected in (
        "PAYHUB_NOTIFY_PUSH_URL must start with",
        "PAYHUB_NOTIFY_SMS_URL is sandbox:",
        "PAYHUB_NOTIFY_EMAIL_FROM is required",
        "PAYHUB_NOTIFY_HOURS must be HH:MM-HH:MM",
        "PAYHUB_NOTIFY_TIMEZONE: unknown time zone",
        "a name is 1-64 letters",
        "secret must be whsec_",
    ):
        assert expected in text, (expected, found)
    assert "whsec_c2hvcnQ=" not in text  # a problem names the variable, never the secret
