"""W3C Trace Context: ``traceparent`` (and ``tracestate``) carried beside ``X-Correlation-ID``.

Where a trace travels: an HTTP request in (``hub.http.middleware``: the incoming ``traceparent`` is
the parent of the request's span, or a new trace starts), the HTTP calls between services
(khqr → gateway → integration, AMK: ``payhub.bootstrap``'s request hook sends the current span as
``traceparent``), the relay's Kafka records (headers ``traceparent`` and ``x-correlation-id``) and the
consumers that read them (``hub.event_consumer``). Every log line carries ``traceId`` and ``spanId``.

The header is parsed here by the rules of W3C Trace Context (Recommendation of 23 November 2021):
§3.2.2 the fields (``version-traceid-parentid-traceflags``, lowercase hex only, trace id and parent
id not all zeros, version ``ff`` invalid), §3.2.4 versioning (a later version is read by its first
four fields when the value is longer and continues with ``-``), §3.3 ``tracestate`` (list members,
at most 32, kept only with a valid ``traceparent``). A value that breaks a rule is ignored and a new
trace starts, as §3.2.2 asks ("restart the trace"). Hand-written, not OpenTelemetry's propagator:
OpenTelemetry is an optional extra (``pip install -e '.[otel]'``) and the core must carry traces
without it; ``tests/unit/test_tracing.py`` holds this parser to OpenTelemetry's when it is installed.

``Tracer`` starts spans (it sets ``current_trace`` for a block). Without export it only makes ids;
``hub.adapters.tracing.otel.OtelTracer`` also records each span and exports it (OTLP).
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
CORRELATION_HEADER = "x-correlation-id"
SAMPLED = 0x01
MAX_TRACESTATE_MEMBERS = 32  # §3.3.1.1
MAX_TRACESTATE_CHARS = 512  # §3.3.1.5: vendors should propagate at least this much; longer is dropped here

_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")  # as hub.http.middleware accepts one
_FIELDS = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
# §3.3.1.3: key = lcalpha 0*255(lcalpha / DIGIT / "_" / "-"/ "*" / "/") or a multi-tenant key with "@";
# value = 0*255(chr) nblk-chr, chr = %x20 / nblk-chr, nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
_TS_KEY = re.compile(r"^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$")
_TS_VALUE = re.compile(r"^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$")


@dataclass(frozen=True)
class TraceContext:
    """One span's place in a trace: ``trace_id`` (32 lowercase hex), ``span_id`` (16 lowercase hex,
    sent as the parent-id of the next hop), ``flags`` (bit 0: sampled) and the ``tracestate`` to pass on."""

    trace_id: str
    span_id: str
    flags: int = SAMPLED
    tracestate: str = ""

    @property
    def sampled(self) -> bool:
        return bool(self.flags & SAMPLED)

    @property
    def traceparent(self) -> str:
        """The header value this span sends: version 00, only the flags version 00 defines."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags & SAMPLED:02x}"

    def child(self) -> TraceContext:
        """A new span in the same trace (its parent is this one)."""
        return replace(self, span_id=new_span_id())

    @classmethod
    def root(cls, *, sampled: bool = True) -> TraceContext:
        return cls(new_trace_id(), new_span_id(), SAMPLED if sampled else 0)

    def headers(self, correlation_id: str | None = None) -> dict[str, str]:
        """``traceparent`` (+ ``tracestate``, + ``x-correlation-id``) for an outgoing call or record."""
        out = {TRACEPARENT: self.traceparent}
        if self.tracestate:
            out[TRACESTATE] = self.tracestate
        if correlation_id:
            out[CORRELATION_HEADER] = correlation_id
        return out


def new_trace_id() -> str:
    while (value := secrets.token_hex(16)) == "0" * 32:  # all zeros is invalid (§3.2.2.3)
        pass
    return value


def new_span_id() -> str:
    while (value := secrets.token_hex(8)) == "0" * 16:  # all zeros is invalid (§3.2.2.4)
        pass
    return value


def parse_traceparent(value: str | None) -> TraceContext | None:
    """The trace context a ``traceparent`` value names, or None when it breaks a rule of §3.2."""
    if value is None:
        return None
    value = value.strip(" \t")  # optional whitespace around an HTTP field value (RFC 9110 §5.5)
    if len(value) < 55:
        return None
    version = value[:2]
    if version == "00":
        if len(value) != 55:
            return None
    elif len(value) > 55 and value[55] != "-":  # §3.2.4: a later version may append fields after "-"
        return None
    match = _FIELDS.match(value[:55])
    if match is None:
        return None
    version, trace_id, span_id, flags = match.groups()
    if version == "ff" or trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return TraceContext(trace_id, span_id, int(flags, 16))


def parse_tracestate(values: Iterable[str]) -> str:
    """``tracestate`` header values (several fields are one list, §3.3.1) as one value to pass on,
    or "" when the list breaks a rule (then it is dropped whole, §3.3.1.1)."""
    members = [m.strip(" \t") for value in values for m in value.split(",")]
    members = [m for m in members if m]
    if len(members) > MAX_TRACESTATE_MEMBERS:
        return ""
    keys: set[str] = set()
    for member in members:
        key, sep, val = member.partition("=")
        if not sep or not _TS_KEY.match(key) or not _TS_VALUE.match(val) or key in keys:
            return ""
        keys.add(key)
    joined = ",".join(members)
    return joined if len(joined) <= MAX_TRACESTATE_CHARS else ""


def from_headers(traceparents: list[str], tracestates: list[str]) -> TraceContext | None:
    """The incoming context of a request or record: one valid ``traceparent`` (several are invalid)
    and its ``tracestate``, which is only read when the ``traceparent`` is valid (§3.3)."""
    if len(traceparents) != 1:
        return None
    parsed = parse_traceparent(traceparents[0])
    if parsed is None:
        return None
    return replace(parsed, tracestate=parse_tracestate(tracestates))


def from_record_headers(headers: Iterable[tuple[str, bytes]]) -> tuple[TraceContext | None, str | None]:
    """(trace context, correlation id) a stream record carries in its headers (None when absent/invalid)."""
    parents: list[str] = []
    states: list[str] = []
    correlation: str | None = None
    for key, raw in headers:
        name = key.lower()
        text = raw.decode("latin-1")
        if name == TRACEPARENT:
            parents.append(text)
        elif name == TRACESTATE:
            states.append(text)
        elif name == CORRELATION_HEADER and _CORRELATION_ID.match(text):
            correlation = text
    return from_headers(parents, states), correlation


current_trace: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar("current_trace", default=None)


class Tracer:
    """Starts spans. This one only makes ids (no export): ``OtelTracer`` records and exports too."""

    exporting = False

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        *,
        kind: str = "internal",
        parent: TraceContext | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Iterator[TraceContext]:
        """Run the block as a span named ``name``: ``current_trace`` is its context meanwhile.

        ``parent``: the remote parent (an incoming header); default the current span; else a new
        trace. ``kind``: server | client | producer | consumer | internal (OpenTelemetry's kinds).
        """
        base = parent if parent is not None else current_trace.get()
        ctx = base.child() if base is not None else TraceContext.root()
        token = current_trace.set(ctx)
        try:
            yield ctx
        finally:
            current_trace.reset(token)

    def shutdown(self) -> None:
        """Flush and stop exporting (nothing to do without export)."""
