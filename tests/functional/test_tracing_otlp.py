"""Traces over the wire: `Tracing` exports OTLP/HTTP protobuf to a real (in-test) receiver."""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from lamina.telemetry.tracing import Tracing, otel_trace_id, xray_trace_header


class Receiver:
    """A tiny OTLP/HTTP traces endpoint: POST /v1/traces, protobuf bodies, kept in `requests`."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        self.content_types: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.paths.append(self.path)
                receiver.content_types.append(self.headers.get("Content-Type", ""))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                receiver.requests.append(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format, *args) -> None:  # noqa: A002 (http.server's signature)
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def spans(self) -> list[tuple[dict, Span]]:
        """(resource attributes, span) of every span received."""
        return [(attributes(resource_spans.resource.attributes), span)
                for request in self.requests for resource_spans in request.resource_spans
                for scope_spans in resource_spans.scope_spans for span in scope_spans.spans]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def attributes(pairs) -> dict:
    out = {}
    for pair in pairs:
        value = pair.value
        out[pair.key] = getattr(value, value.WhichOneof("value"))
    return out


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def test_invocations_arrive_as_spans_with_the_xray_trace_ids(receiver):
    tracing = Tracing.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "lamina-test"})
    assert tracing.enabled
    now = time.time()
    cold, warm, failed = (xray_trace_header(True) for _ in range(3))
    common = dict(function="orders", version="$LATEST", error_type=None, function_error=False)
    tracing.record(trace_header=cold, request_id="req-cold", started_at=now, duration_ms=20.0, init_ms=150.0,
                   queued_at=now - 1.5, **common)
    tracing.record(trace_header=warm, request_id="req-warm", started_at=now + 1, duration_ms=3.0, init_ms=None,
                   queued_at=None, **common)
    tracing.record(trace_header=failed, request_id="req-failed", started_at=now + 2, duration_ms=4.0,
                   init_ms=None, queued_at=None, **{**common, "error_type": "Runtime.Unhandled",
                                                    "function_error": True})
    tracing.close()

    assert set(receiver.paths) == {"/v1/traces"}
    assert set(receiver.content_types) == {"application/x-protobuf"}
    received = receiver.spans()
    assert {resource["service.name"] for resource, _ in received} == {"lamina-test"}
    assert {resource["cloud.provider"] for resource, _ in received} == {"aws"}
    spans = [span for _, span in received]
    by_trace: dict[str, dict[str, Span]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id.hex(), {})[span.name] = span
    assert set(by_trace) == {otel_trace_id(cold), otel_trace_id(warm), otel_trace_id(failed)}

    cold_spans = by_trace[otel_trace_id(cold)]
    assert set(cold_spans) == {"orders", "queue wait", "init", "invoke"}
    root = cold_spans["orders"]
    assert root.parent_span_id == b"" and root.kind == Span.SPAN_KIND_SERVER
    assert root.span_id.hex() == cold.split("Parent=")[1][:16]
    for name in ("queue wait", "init", "invoke"):
        assert cold_spans[name].parent_span_id == root.span_id
        assert cold_spans[name].kind == Span.SPAN_KIND_INTERNAL
    assert cold_spans["queue wait"].end_time_unix_nano == cold_spans["init"].start_time_unix_nano
    assert cold_spans["init"].end_time_unix_nano == cold_spans["invoke"].start_time_unix_nano
    assert cold_spans["invoke"].end_time_unix_nano - cold_spans["invoke"].start_time_unix_nano == \
        pytest.approx(20_000_000, abs=1_000)
    assert root.start_time_unix_nano == cold_spans["queue wait"].start_time_unix_nano
    assert root.end_time_unix_nano == cold_spans["invoke"].end_time_unix_nano
    root_attributes = attributes(root.attributes)
    assert root_attributes["faas.name"] == "orders"
    assert root_attributes["faas.version"] == "$LATEST"
    assert root_attributes["faas.invocation_id"] == "req-cold"
    assert root_attributes["faas.coldstart"] is True
    assert root_attributes["cloud.provider"] == "aws"

    warm_spans = by_trace[otel_trace_id(warm)]
    assert set(warm_spans) == {"orders", "invoke"}
    assert attributes(warm_spans["orders"].attributes)["faas.coldstart"] is False
    assert warm_spans["orders"].status.code == Status.STATUS_CODE_UNSET

    failed_spans = by_trace[otel_trace_id(failed)]
    assert failed_spans["orders"].status.code == Status.STATUS_CODE_ERROR
    assert failed_spans["invoke"].status.code == Status.STATUS_CODE_ERROR
    assert failed_spans["orders"].status.message == "Runtime.Unhandled"
    assert attributes(failed_spans["orders"].attributes)["lamina.error_type"] == "Runtime.Unhandled"


def test_traces_endpoint_variable_is_used_as_is(receiver):
    tracing = Tracing.from_env({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url + "/v1/traces",
                                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    header = xray_trace_header(True)
    tracing.record(trace_header=header, function="f", version="1", request_id="r", started_at=time.time(),
                   duration_ms=1.0, init_ms=None, queued_at=None, error_type=None, function_error=False)
    tracing.close()
    assert {span.trace_id.hex() for _, span in receiver.spans()} == {otel_trace_id(header)}


def test_record_and_close_do_not_wait_for_an_unreachable_collector(caplog):
    tracing = Tracing(endpoint="http://127.0.0.1:9/v1/traces")  # nothing listens there
    started = time.perf_counter()
    for index in range(200):
        tracing.record(trace_header=xray_trace_header(True), function="f", version="1", request_id=str(index),
                       started_at=time.time(), duration_ms=1.0, init_ms=None, queued_at=None, error_type=None,
                       function_error=False)
    assert time.perf_counter() - started < 1.0
    started = time.perf_counter()
    tracing.close(timeout_s=0.5)
    assert time.perf_counter() - started < 1.0
    assert "did not take the last spans" in caplog.text


def test_a_real_server_traces_active_functions_with_the_trace_id_the_handler_saw(receiver, tmp_path):
    import json

    from support import ROLE, LaminaProcess, client_for, make_zip

    server = LaminaProcess(tmp_path / "data", env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}).start()
    try:
        lam = client_for(server.url)
        source = "import os\ndef handler(e, c):\n    return os.environ.get('_X_AMZN_TRACE_ID')\n"
        for name, mode in (("traced", "Active"), ("untraced", "PassThrough")):
            lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                TracingConfig={"Mode": mode}, Code={"ZipFile": make_zip({"app.py": source})})
            lam.get_waiter("function_active_v2").wait(FunctionName=name)
        header = json.loads(lam.invoke(FunctionName="traced", Payload=b"{}")["Payload"].read())
        lam.invoke(FunctionName="untraced", Payload=b"{}")
    finally:
        server.stop()  # flushes the exporter
    assert "Sampled=1" in header
    trace_id = otel_trace_id(header)
    spans = [span for _, span in receiver.spans()]
    assert spans, "no span reached the collector"
    assert {span.trace_id.hex() for span in spans} == {trace_id}
    names = {span.name for span in spans}
    assert {"traced", "init", "invoke"} <= names


def test_an_invoke_continues_the_callers_trace_header(receiver, tmp_path):
    import json

    from support import ROLE, LaminaProcess, client_for, make_zip

    caller = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"
    sent: list[str] = []

    def add_header(request, **_):
        if sent:
            request.headers["X-Amzn-Trace-Id"] = sent[-1]

    server = LaminaProcess(tmp_path / "data", env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}).start()
    try:
        lam = client_for(server.url)
        lam.meta.events.register("before-sign.lambda.Invoke", add_header)
        source = "import os\ndef handler(e, c):\n    return os.environ.get('_X_AMZN_TRACE_ID')\n"
        for name, mode in (("traced", "Active"), ("untraced", "PassThrough")):
            lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                TracingConfig={"Mode": mode}, Code={"ZipFile": make_zip({"app.py": source})})
            lam.get_waiter("function_active_v2").wait(FunctionName=name)

        def seen(name: str, header: str) -> str:
            sent.append(header)
            return json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())

        traced = seen("traced", caller)  # no decision from the caller: the Active function samples
        untraced = seen("untraced", caller + ";Sampled=1")
        declined = seen("untraced", caller + ";Sampled=0")
        malformed = seen("traced", "Root=1-5759e988-nothex;Sampled=1")
    finally:
        server.stop()  # flushes the exporter
    root = "Root=1-5759e988-bd862e3fe1be46a994272793;"
    assert traced.startswith(root) and traced.endswith(";Sampled=1") and "53995c3f42cd8ad8" not in traced
    assert untraced.startswith(root) and untraced.endswith(";Sampled=1")
    assert declined.startswith(root) and declined.endswith(";Sampled=0")
    assert not malformed.startswith("Root=1-5759e988-") and malformed.endswith(";Sampled=1")
    spans = [span for _, span in receiver.spans()]
    by_trace = {span.trace_id.hex() for span in spans if span.name == "traced"}
    assert by_trace == {otel_trace_id(traced), otel_trace_id(malformed)}  # the PassThrough one records nothing
    root_span = next(span for span in spans if span.name == "traced" and span.trace_id.hex() == otel_trace_id(traced))
    assert root_span.span_id.hex() == traced.split("Parent=")[1][:16]


EVENT_SOURCE = """import json, os
def handler(event, context):
    print("TRACE " + json.dumps({"tag": event["tag"], "trace": os.environ.get("_X_AMZN_TRACE_ID")}))
    if event.get("fail"):
        raise RuntimeError("fails, to be retried")
"""


def test_an_event_invoke_continues_the_callers_trace_through_the_queue_and_its_retries(receiver, tmp_path):
    import json

    from support import ROLE, LaminaProcess, client_for, make_zip, printed_json, wait_for

    caller = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"
    root = "Root=1-5759e988-bd862e3fe1be46a994272793;"
    server = LaminaProcess(tmp_path / "data", env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                                                   "LAMINA_ASYNC_BACKOFF_SCALE": "0.005"}).start()
    try:
        lam, logs = client_for(server.url), client_for(server.url, "logs")
        for name, mode in (("traced", "Active"), ("untraced", "PassThrough")):
            lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                TracingConfig={"Mode": mode}, Code={"ZipFile": make_zip({"app.py": EVENT_SOURCE})})
            lam.get_waiter("function_active_v2").wait(FunctionName=name)
            lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
        sent: list[str | None] = []

        def add_header(request, **_):
            if sent[-1] is not None:
                request.headers["X-Amzn-Trace-Id"] = sent[-1]

        lam.meta.events.register("before-sign.lambda.Invoke", add_header)

        def event(name: str, header: str | None, tag: str, fail: bool = False) -> None:
            sent.append(header)
            response = lam.invoke(FunctionName=name, InvocationType="Event",
                                  Payload=json.dumps({"tag": tag, "fail": fail}).encode())
            assert response["StatusCode"] == 202

        event("traced", caller, "continued", fail=True)  # two attempts
        event("traced", "Root=1-5759e988-nothex;Sampled=1", "malformed", fail=True)
        event("traced", None, "own", fail=True)
        event("untraced", caller + ";Sampled=1", "passed")
        event("untraced", "Root=1-5759e988", "ignored")

        def seen(name: str, count: int) -> dict[str, list[str]]:
            def printed() -> list[dict] | None:
                lines = printed_json(logs, name, "TRACE")
                return lines if len(lines) >= count else None

            lines = wait_for(printed, timeout=60, what=f"{count} attempts of {name}")
            by_tag: dict[str, list[str]] = {}
            for line in lines:
                by_tag.setdefault(line["tag"], []).append(line["trace"])
            return by_tag

        traced, untraced = seen("traced", 6), seen("untraced", 2)
    finally:
        server.stop()  # flushes the exporter
    continued = traced["continued"]
    assert len(continued) == 2 and all(h.startswith(root) and h.endswith(";Sampled=1") for h in continued)
    assert len({h.split("Parent=")[1] for h in continued}) == 2 and "53995c3f42cd8ad8" not in "".join(continued)
    for tag in ("malformed", "own"):  # a new trace, begun when the event was accepted: its retry keeps it
        headers = traced[tag]
        assert len(headers) == 2 and not headers[0].startswith("Root=1-5759e988-")
        assert headers[0].split(";")[0] == headers[1].split(";")[0] and headers[0].endswith(";Sampled=1")
    assert untraced["passed"][0].startswith(root) and untraced["passed"][0].endswith(";Sampled=1")
    (ignored,) = untraced["ignored"]  # PassThrough, no well-formed caller header: its own unsampled trace
    assert not ignored.startswith("Root=1-5759e988") and ignored.endswith(";Sampled=0")
    spans = [span for _, span in receiver.spans()]
    traces = {span.trace_id.hex() for span in spans if span.name == "traced"}
    assert traces == {otel_trace_id(traced[tag][0]) for tag in ("continued", "malformed", "own")}
    continued_spans = [span for span in spans if span.trace_id.hex() == otel_trace_id(continued[0])]
    names = [span.name for span in continued_spans]
    assert (names.count("traced"), names.count("queue wait"), names.count("invoke")) == (2, 2, 2)
    assert {span.span_id.hex() for span in continued_spans if span.name == "traced"} == {
        h.split("Parent=")[1][:16] for h in continued}
