"""OpenTelemetry span export: ``OtelTracer`` records each span and exports it (OTLP over HTTP).

Installed with the optional extra (``pip install -e '.[otel]'``) and used only when
``PAYHUB_OTEL_ENABLED=true``; the SDK is imported here only. The exporter reads the standard
``OTEL_EXPORTER_OTLP_*`` variables (endpoint, headers, timeout) and the resource
``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``. The tracer provider is this object's own, not
OpenTelemetry's global one: nothing is set at import time, and two processes' apps in one test
process do not share spans.

Ids and parents stay those of ``hub.tracing``: an incoming ``traceparent`` parsed there becomes the
remote parent of the span here, and the span's ids become ``current_trace`` for the block, so logs,
outgoing headers and Kafka headers name the exported span.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState

from hub.tracing import TraceContext, Tracer, current_trace

_KINDS = {
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
    "internal": SpanKind.INTERNAL,
}


class OtelTracer(Tracer):
    exporting = True

    def __init__(self, service_name: str, exporter: SpanExporter | None = None, *, batch: bool = True) -> None:
        """Export to ``exporter`` (default: OTLP over HTTP as the OTEL_* variables say); ``batch=False``
        exports each span when it ends (tests)."""
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
        self._provider = TracerProvider(resource=Resource.create(attributes))
        self._provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("payhub")

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        *,
        kind: str = "internal",
        parent: TraceContext | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Iterator[TraceContext]:
        base = parent if parent is not None else current_trace.get()
        context = None
        if base is not None:
            state = TraceState.from_header([base.tracestate]) if base.tracestate else None
            remote = SpanContext(
                trace_id=int(base.trace_id, 16),
                span_id=int(base.span_id, 16),
                is_remote=parent is not None,
                trace_flags=TraceFlags(base.flags & TraceFlags.SAMPLED),
                trace_state=state,
            )
            context = trace.set_span_in_context(NonRecordingSpan(remote))
        with self._tracer.start_as_current_span(
            name, context=context, kind=_KINDS.get(kind, SpanKind.INTERNAL), attributes=dict(attributes or {})
        ) as span:
            ids = span.get_span_context()
            mine = TraceContext(
                format(ids.trace_id, "032x"),
                format(ids.span_id, "016x"),
                int(ids.trace_flags),
                base.tracestate if base is not None else "",
            )
            token = current_trace.set(mine)
            try:
                yield mine
            finally:
                current_trace.reset(token)

    def shutdown(self) -> None:
        """Export what is buffered, then stop (at the end of the process's lifespan)."""
        self._provider.shutdown()
