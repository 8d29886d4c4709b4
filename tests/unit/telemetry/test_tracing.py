"""Traces: X-Ray headers, their OTel trace ids, and the spans `Tracing.record` makes per phase."""

from __future__ import annotations

import re
import time

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from lamina.telemetry.tracing import (
    Tracing,
    continued_trace_header,
    endpoint_from_env,
    otel_trace_id,
    parse_trace_header,
    queued_trace,
    xray_trace_header,
)

HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
TRACE_ID = 0x5759E988BD862E3FE1BE46A994272793
PARENT = 0x53995C3F42CD8AD8
T0 = 1_700_000_000.25  # epoch seconds the engine began the invoke


def ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


@pytest.fixture
def exported():
    exporter = InMemorySpanExporter()
    tracing = Tracing(endpoint=None, exporter=exporter)

    def record(**overrides):
        args = dict(trace_header=HEADER, function="orders", version="3", request_id="req-1", started_at=T0,
                    duration_ms=12.5, init_ms=None, queued_at=None, error_type=None, function_error=False)
        args.update(overrides)
        tracing.record(**args)
        tracing.close()
        return {span.name: span for span in exporter.get_finished_spans()}

    return record


def test_new_header_has_the_xray_format_and_current_epoch():
    before = int(time.time())
    header = xray_trace_header(True)
    match = re.fullmatch(r"Root=1-([0-9a-f]{8})-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=1", header)
    assert match
    assert before <= int(match.group(1), 16) <= int(time.time())
    assert xray_trace_header(False).endswith(";Sampled=0")
    assert xray_trace_header(True) != header


def test_header_maps_to_the_otel_trace_id():
    assert otel_trace_id(HEADER) == "5759e988bd862e3fe1be46a994272793"
    assert parse_trace_header(HEADER) == (TRACE_ID, PARENT, True)
    assert parse_trace_header("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0") == (TRACE_ID, None, False)
    header = xray_trace_header(True)
    assert otel_trace_id(header) == header[7:15] + header[16:40]


@pytest.mark.parametrize("header", ["", "Root=2-5759e988-bd862e3fe1be46a994272793", "Root=1-5759e988-bd86",
                                    "Root=1-zzzzzzzz-bd862e3fe1be46a994272793", "Parent=53995c3f42cd8ad8"])
def test_malformed_headers_have_no_trace_id(header):
    assert otel_trace_id(header) is None


def test_warm_sync_invoke_is_one_server_span_with_an_invoke_child(exported):
    spans = exported()
    assert set(spans) == {"orders", "invoke"}
    root, invoke = spans["orders"], spans["invoke"]
    assert root.kind is SpanKind.SERVER and root.parent is None
    assert root.context.trace_id == invoke.context.trace_id == TRACE_ID
    assert root.context.span_id == PARENT  # spans the handler makes from _X_AMZN_TRACE_ID nest under it
    assert invoke.parent.span_id == PARENT
    assert (root.start_time, root.end_time) == (ns(T0), ns(T0 + 0.0125))
    assert (invoke.start_time, invoke.end_time) == (ns(T0), ns(T0 + 0.0125))
    assert dict(root.attributes) == {
        "faas.name": "orders", "faas.version": "3", "faas.invocation_id": "req-1", "faas.coldstart": False,
        "cloud.provider": "aws", "cloud.platform": "aws_lambda", "aws.xray.trace_header": HEADER,
    }
    assert root.status.status_code is StatusCode.UNSET
    assert root.resource.attributes["service.name"] == "lamina"
    assert root.resource.attributes["cloud.provider"] == "aws"


def test_cold_event_invoke_has_queue_wait_init_and_invoke_in_order(exported):
    spans = exported(init_ms=250.0, queued_at=T0 - 2.0)
    assert set(spans) == {"orders", "queue wait", "init", "invoke"}
    root = spans["orders"]
    assert (root.start_time, root.end_time) == (ns(T0 - 2.0), ns(T0 + 0.2625))
    assert (spans["queue wait"].start_time, spans["queue wait"].end_time) == (ns(T0 - 2.0), ns(T0))
    assert (spans["init"].start_time, spans["init"].end_time) == (ns(T0), ns(T0 + 0.25))
    assert (spans["invoke"].start_time, spans["invoke"].end_time) == (ns(T0 + 0.25), ns(T0 + 0.2625))
    for name in ("queue wait", "init", "invoke"):
        assert spans[name].parent.span_id == root.context.span_id
        assert spans[name].context.trace_id == TRACE_ID
        assert spans[name].kind is SpanKind.INTERNAL
    assert root.attributes["faas.coldstart"] is True
    assert root.attributes["faas.trigger"] == "other"


def test_queue_wait_never_ends_before_it_starts(exported):
    spans = exported(queued_at=T0 + 1.0)  # the acceptance clock ran ahead of the attempt's
    assert spans["queue wait"].start_time == spans["queue wait"].end_time == ns(T0)


def test_function_error_sets_error_status_and_type(exported):
    spans = exported(error_type="Runtime.ImportModuleError", function_error=True)
    for name in ("orders", "invoke"):
        assert spans[name].status.status_code is StatusCode.ERROR
        assert spans[name].status.description == "Runtime.ImportModuleError"
    assert spans["orders"].attributes["lamina.error_type"] == "Runtime.ImportModuleError"


def test_unsampled_header_records_nothing(exported):
    assert exported(trace_header=HEADER.replace("Sampled=1", "Sampled=0")) == {}


def test_malformed_header_records_nothing(exported):
    assert exported(trace_header="Root=nope") == {}


def test_disabled_tracing_records_and_imports_nothing():
    tracing = Tracing.from_env({})
    assert not tracing.enabled
    tracing.record(trace_header=HEADER, function="f", version="$LATEST", request_id="r", started_at=T0,
                   duration_ms=1.0, init_ms=1.0, queued_at=T0 - 1, error_type=None, function_error=False)
    tracing.close()
    assert tracing._provider is None


def test_record_after_close_is_ignored():
    exporter = InMemorySpanExporter()
    tracing = Tracing(endpoint=None, exporter=exporter)
    tracing.close()
    tracing.record(trace_header=HEADER, function="f", version="1", request_id="r", started_at=T0,
                   duration_ms=1.0, init_ms=None, queued_at=None, error_type=None, function_error=False)
    assert exporter.get_finished_spans() == ()


def test_ids_of_other_spans_stay_random():
    exporter = InMemorySpanExporter()
    tracing = Tracing(endpoint=None, exporter=exporter)
    for request in ("a", "b"):
        tracing.record(trace_header=xray_trace_header(True), function="f", version="1", request_id=request,
                       started_at=T0, duration_ms=1.0, init_ms=None, queued_at=None, error_type=None,
                       function_error=False)
    tracing.close()
    spans = exporter.get_finished_spans()
    assert len({span.context.span_id for span in spans}) == 4
    assert len({span.context.trace_id for span in spans}) == 2


@pytest.mark.parametrize(("env", "endpoint"), [
    ({}, None),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "http://collector:4318/v1/traces"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, "http://collector:4318/v1/traces"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b/x"},
     "http://b/x"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_SDK_DISABLED": "true"}, None),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_TRACES_EXPORTER": "none"}, None),
])
def test_endpoint_comes_from_the_standard_variables(env, endpoint):
    assert endpoint_from_env(env) == endpoint


def test_from_env_builds_an_exporting_tracing_without_touching_the_network():
    tracing = Tracing.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SERVICE_NAME": "x"})
    try:
        assert tracing.enabled and tracing.endpoint == "http://127.0.0.1:9/v1/traces"
    finally:
        tracing.close()


@pytest.mark.parametrize(("header", "sampled", "root", "decision"), [
    (HEADER, False, "1-5759e988-bd862e3fe1be46a994272793", "1"),
    ("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0", True, "1-5759e988-bd862e3fe1be46a994272793", "0"),
    ("Root=1-5759e988-bd862e3fe1be46a994272793", True, "1-5759e988-bd862e3fe1be46a994272793", "1"),
    ("Root=1-5759e988-bd862e3fe1be46a994272793", False, "1-5759e988-bd862e3fe1be46a994272793", "0"),
    (" Sampled=?; Root=1-5759E988-BD862E3FE1BE46A994272793 ;Self=1-x", False,
     "1-5759E988-BD862E3FE1BE46A994272793", "0"),
    ("Root=1-5759e988-bd862e3fe1be46a99427279", True, None, None),  # 23 hex digits
    ("Root=2-5759e988-bd862e3fe1be46a994272793", True, None, None),
    ("Root=1-0x59e988-bd862e3fe1be46a994272793", True, None, None),
    ("Root=1-00000000-000000000000000000000000", True, None, None),
    ("Parent=53995c3f42cd8ad8;Sampled=1", True, None, None),
    ("", True, None, None),
    ("garbage", True, None, None),
])
def test_a_callers_header_is_continued_with_its_root_and_decision_and_a_new_parent(header, sampled, root, decision):
    continued = continued_trace_header(header, sampled)
    if root is None:
        assert continued is None
        return
    match = re.fullmatch(r"Root=(.+);Parent=([0-9a-f]{16});Sampled=([01])", continued)
    assert match and match[1] == root and match[3] == decision
    assert match[2] != "53995c3f42cd8ad8" and int(match[2], 16) != 0


@pytest.mark.parametrize(("header", "kept"), [
    (HEADER, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
    ("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"),
    ("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8", "Root=1-5759e988-bd862e3fe1be46a994272793"),
    (" Sampled=?; Root=1-5759E988-BD862E3FE1BE46A994272793 ;Lineage=a:1", "Root=1-5759E988-BD862E3FE1BE46A994272793"),
    ("Root=1-5759e988-bd862e3fe1be46a99427279", None),  # 23 hex digits
    ("Root=1-00000000-000000000000000000000000", None),
    ("Parent=53995c3f42cd8ad8;Sampled=1", None),
    ("", None),
])
def test_what_an_event_keeps_of_a_callers_header_while_queued(header, kept):
    assert queued_trace(header) == kept
    if kept is None:
        return
    assert len(kept) <= 64  # the queue's column
    assert queued_trace(kept) == kept
    for sampled in (True, False):  # each attempt continues it as the caller's header itself would be
        attempt, direct = continued_trace_header(kept, sampled), continued_trace_header(header, sampled)
        assert attempt.split(";Parent=")[0] == direct.split(";Parent=")[0]
        assert attempt.split(";")[2] == direct.split(";")[2]
