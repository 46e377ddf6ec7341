"""Span export adapters for ``hub.tracing.Tracer``: ``otel.py`` (OpenTelemetry SDK, the ``otel`` extra)."""
