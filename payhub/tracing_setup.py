"""The tracer of a process: span ids only, or OpenTelemetry export when ``PAYHUB_OTEL_ENABLED=true``."""

from __future__ import annotations

from hub.errors import ConfigError
from hub.settings import Settings
from hub.tracing import Tracer


def tracer_for(settings: Settings, process: str) -> Tracer:
    """``Tracer()`` (ids and propagation, no export) unless ``settings.otel_enabled``; then an
    ``OtelTracer`` for service ``payhub-<process>``. Raises ConfigError when export is asked for and
    the ``otel`` extra is not installed."""
    if not settings.otel_enabled:
        return Tracer()
    try:
        from hub.adapters.tracing.otel import OtelTracer
    except ImportError as exc:
        raise ConfigError(
            "PAYHUB_OTEL_ENABLED=true needs the OpenTelemetry extra: pip install -e '.[otel]'", details=str(exc)
        ) from exc
    return OtelTracer(f"payhub-{process}")
