"""Traces of functions with `TracingConfig.Mode: Active`: the X-Ray trace header an invoke runs
with, and OpenTelemetry spans per invocation phase, exported over OTLP/HTTP (protobuf).

Owns: making X-Ray headers (`xray_trace_header`), continuing a caller's (`continued_trace_header`;
`queued_trace`, what an Event invoke keeps of it in the queue), mapping them to OTel ids, and `Tracing`, which
turns one finished invocation into spans after the fact (explicit start and end times): an overall
SERVER span named after the function, with INTERNAL children `queue wait` (Event invokes: from
acceptance to the start of the attempt), `init` (cold starts) and `invoke` (the handler's
Duration). The trace id is the header's Root (`1-5759e988-bd862e3f...` -> `5759e988bd862e3f...`)
and the overall span's id is the header's Parent, so spans the handler makes from
`_X_AMZN_TRACE_ID` nest under it. A BatchSpanProcessor exports from its own thread, so `record`
never waits on the network. Disabled (no endpoint) it costs one attribute test per call: the
OpenTelemetry SDK and exporter are imported only when tracing is enabled.

Imports nothing from lamina outside lamina.telemetry.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("lamina.telemetry.tracing")

TRACES_PATH = "/v1/traces"


def xray_trace_header(sampled: bool) -> str:
    """A new X-Ray header: `Root=1-<8 hex epoch seconds>-<24 hex>;Parent=<16 hex>;Sampled=1|0`."""
    return (f"Root=1-{int(time.time()):08x}-{random.getrandbits(96):024x};"
            f"Parent={_nonzero(64):016x};Sampled={1 if sampled else 0}")


_CALLER_ROOT = re.compile(r"1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}")


def _caller_root(header: str) -> tuple[str, str | None] | None:
    """(Root, Sampled decision or None) of a caller's X-Amzn-Trace-Id; None without a well-formed Root."""
    root = decision = None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "Root":
            root = value
        elif key == "Sampled":
            decision = value
    if root is None or not _CALLER_ROOT.fullmatch(root) or int(root[2:10] + root[11:], 16) == 0:
        return None
    return root, decision if decision in ("0", "1") else None


def continued_trace_header(header: str, sampled: bool) -> str | None:
    """The header of an invoke that came with the caller's X-Amzn-Trace-Id `header`, as Lambda
    continues it: the caller's Root and sampling decision (`sampled` when the caller made none),
    this invocation's own new Parent. None when the header has no well-formed Root (Lambda then
    ignores it and starts a new trace)."""
    caller = _caller_root(header)
    if caller is None:
        return None
    root, decision = caller
    if decision is None:
        decision = "1" if sampled else "0"
    return f"Root={root};Parent={_nonzero(64):016x};Sampled={decision}"


def queued_trace(header: str) -> str | None:
    """What an Event invoke keeps of the caller's X-Amzn-Trace-Id `header` while it waits in the
    queue: `Root=...` and the caller's `;Sampled=0|1` if it made a decision (at most 50 characters),
    which `continued_trace_header` continues at each attempt (same Root, a new Parent). None when
    the header has no well-formed Root (it is ignored, as for a synchronous invoke)."""
    caller = _caller_root(header)
    if caller is None:
        return None
    root, decision = caller
    return f"Root={root}" if decision is None else f"Root={root};Sampled={decision}"


def _nonzero(bits: int) -> int:
    """A random id of `bits` bits that is never 0 (0 is OTel's invalid id)."""
    return random.getrandbits(bits) or 1


def parse_trace_header(header: str) -> tuple[int, int | None, bool] | None:
    """(OTel trace id, parent span id or None, sampled) of an X-Ray header; None if it has no valid Root."""
    fields = dict(part.strip().partition("=")[::2] for part in header.split(";") if "=" in part)
    root = fields.get("Root", "").split("-")
    if len(root) != 3 or root[0] != "1" or len(root[1]) != 8 or len(root[2]) != 24:
        return None
    try:
        trace_id = int(root[1] + root[2], 16)
        parent = int(fields["Parent"], 16) if len(fields.get("Parent", "")) == 16 else None
    except ValueError:
        return None
    if trace_id == 0:
        return None
    return trace_id, parent or None, fields.get("Sampled", "1") != "0"


def otel_trace_id(header: str) -> str | None:
    """The 32-hex OTel trace id of an X-Ray header: Root `1-5759e988-bd86...` -> `5759e988bd86...`."""
    parsed = parse_trace_header(header)
    return None if parsed is None else f"{parsed[0]:032x}"


def endpoint_from_env(env: Mapping[str, str]) -> str | None:
    """The OTLP/HTTP traces URL from the standard variables, or None when tracing is not configured."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    if url := env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
        return url
    if base := env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        return base.rstrip("/") + TRACES_PATH
    return None


def _ns(epoch_s: float) -> int:
    return int(round(epoch_s * 1e9))


class Tracing:
    """Records invocations as spans and exports them; a no-op when built without an endpoint."""

    def __init__(self, *, endpoint: str | None, service_name: str = "lamina",
                 exporter: SpanExporter | None = None) -> None:
        """`endpoint` is the full traces URL (…/v1/traces); None disables tracing. `exporter`
        replaces the OTLP exporter (tests hand in an in-memory one)."""
        self.endpoint = endpoint
        self.enabled = endpoint is not None or exporter is not None
        self._provider: TracerProvider | None = None
        self._tracer: Any = None
        self._otel: Any = None  # the opentelemetry.trace module, imported when enabled
        self._empty_context: Any = None
        self._next = threading.local()  # the ids the next root span takes (see _Ids in _start)
        self._closed = False
        if self.enabled:
            self._start(service_name, exporter)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Tracing:
        """From OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME."""
        return cls(endpoint=endpoint_from_env(env), service_name=env.get("OTEL_SERVICE_NAME") or "lamina")

    def _start(self, service_name: str, exporter: SpanExporter | None) -> None:
        from opentelemetry import trace
        from opentelemetry.context import Context
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.id_generator import IdGenerator

        pending = self._next

        class _Ids(IdGenerator):
            """Random ids, except that a root span takes the trace id and span id `record` set."""

            def generate_trace_id(self) -> int:
                trace_id = getattr(pending, "trace_id", None)
                pending.trace_id = None
                return trace_id or _nonzero(128)

            def generate_span_id(self) -> int:
                span_id = getattr(pending, "span_id", None)
                pending.span_id = None
                return span_id or _nonzero(64)

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=self.endpoint)
        resource = Resource.create({"service.name": service_name, "cloud.provider": "aws",
                                    "cloud.platform": "aws_lambda"})
        # close() shuts down (bounded in time); no atexit hook that could hang the exit on a dead collector
        self._provider = TracerProvider(resource=resource, id_generator=_Ids(), shutdown_on_exit=False)
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("lamina")
        self._otel, self._empty_context = trace, Context()

    def record(self, *, trace_header: str, function: str, version: str, request_id: str, started_at: float,
               duration_ms: float, init_ms: float | None, queued_at: float | None, error_type: str | None,
               function_error: bool) -> None:
        """Spans of one finished invocation. `started_at`: epoch seconds when the engine began it
        (init, if any, then the handler follow); `queued_at`: epoch seconds an Event invoke was
        accepted. A header with Sampled=0 or without a valid Root records nothing."""
        if not self.enabled or self._closed:
            return
        parsed = parse_trace_header(trace_header)
        if parsed is None or not parsed[2]:
            return
        otel = self._otel
        trace_id, parent_id, _ = parsed
        init_s = (init_ms or 0.0) / 1000.0
        handler_start = started_at + init_s
        end = handler_start + max(duration_ms, 0.0) / 1000.0
        queued = min(queued_at, started_at) if queued_at is not None else None
        attributes: dict[str, Any] = {
            "faas.name": function, "faas.version": version, "faas.invocation_id": request_id,
            "faas.coldstart": init_ms is not None, "cloud.provider": "aws", "cloud.platform": "aws_lambda",
            "aws.xray.trace_header": trace_header,
        }
        if queued is not None:
            attributes["faas.trigger"] = "other"  # an asynchronous (Event) invoke
        if error_type:
            attributes["lamina.error_type"] = error_type
        self._next.trace_id, self._next.span_id = trace_id, parent_id
        try:
            root = self._tracer.start_span(function, context=self._empty_context, kind=otel.SpanKind.SERVER,
                                           attributes=attributes,
                                           start_time=_ns(queued if queued is not None else started_at))
        finally:
            self._next.trace_id = self._next.span_id = None
        context = otel.set_span_in_context(root)
        if queued is not None:
            self._child("queue wait", context, queued, started_at, {"faas.invocation_id": request_id})
        if init_ms is not None:
            self._child("init", context, started_at, handler_start, {"faas.coldstart": True})
        invoke = self._child("invoke", context, handler_start, end, {"faas.invocation_id": request_id},
                             keep_open=True)
        if function_error:
            status = otel.Status(otel.StatusCode.ERROR, error_type or "Unhandled")
            invoke.set_status(status)
            root.set_status(status)
        invoke.end(end_time=_ns(end))
        root.end(end_time=_ns(end))

    def _child(self, name: str, context: Any, start: float, end: float, attributes: dict[str, Any],
               keep_open: bool = False) -> Any:
        span = self._tracer.start_span(name, context=context, attributes=attributes, start_time=_ns(start))
        if not keep_open:
            span.end(end_time=_ns(end))
        return span

    def close(self, timeout_s: float = 5.0) -> None:
        """Export what is buffered and shut the exporter down, waiting at most `timeout_s` (an
        unreachable collector is given up on: its spans are dropped with a warning)."""
        if self._closed:
            return
        self._closed = True
        provider = self._provider
        if provider is None:
            return

        def flush_and_shutdown() -> None:
            provider.force_flush()
            provider.shutdown()

        closing = threading.Thread(target=flush_and_shutdown, name="lamina-tracing-close", daemon=True)
        closing.start()
        closing.join(timeout_s)
        if closing.is_alive():
            log.warning("tracing: the collector at %s did not take the last spans within %.1f s; dropping them",
                        self.endpoint, timeout_s)
