"""Where :class:`hub.settings.Settings` reads its values, and how a variable and its problems are named."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from pydantic_settings import EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

# The environment :meth:`Settings.from_env` reads; ``None`` means ``os.environ``.
ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("payhub_settings_environ", default=None)


class EnvironSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (tests pass their own environment)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = ENVIRON.get()
        return parse_env_vars(
            os.environ if environ is None else environ,
            self.case_sensitive,
            self.env_ignore_empty,
            self.env_parse_none_str,
        )


def env_name(field_name: str) -> str:
    """The environment variable of a settings field."""
    if field_name == "amk_webhook_secrets":
        return "PAYHUB_AMK_WEBHOOK_SECRET"
    return f"PAYHUB_{field_name.upper()}"


def problem_message(error: Mapping[str, Any]) -> str:
    """One pydantic validation error as ``PAYHUB_VARIABLE: message``."""
    loc = error.get("loc") or ()
    message = str(error.get("msg", "invalid"))
    if not loc:  # raised by the model validator: the message already names its variables
        return message
    first = str(loc[0])
    name = first if first.startswith("PAYHUB_") else env_name(first)
    return f"{name}: {message}"
