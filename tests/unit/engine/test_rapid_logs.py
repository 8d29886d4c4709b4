"""rapid's Logs API (PUT /2020-08-15/logs): its view of the telemetry events in the 2020-08-15 and
2021-03-18 schemas, its request checks, and the one-API-per-extension rule it shares with the
Telemetry API (reference 5.3; docs/architecture.md "The Logs API")."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src" / "lamina" / "runtimes" / "rapid"))

import rapid_logs as logs  # noqa: E402
import rapid_supervisor  # noqa: E402
import rapid_telemetry as telemetry  # noqa: E402

T = "2026-12-06T19:49:38.123Z"
RID = "6f7f0961-f834-4211-8a7a-f6fe80b88d56"
TRACING = {"type": "X-Amzn-Trace-Id", "value": "Root=1-5759e988-bd862e3fe1be46a994272793"}
METRICS = {"durationMs": 101.512, "billedDurationMs": 102, "memorySizeMB": 512, "maxMemoryUsedMB": 33}


def event(kind, record):
    return {"time": T, "type": kind, "record": record}


@pytest.mark.parametrize(("kind", "record", "schema", "expected"), [
    ("platform.start", {"requestId": RID, "version": "$LATEST", "tracing": TRACING}, "2020-08-15",
     [("platform.start", {"requestId": RID, "version": "$LATEST"})]),
    ("platform.report", {"requestId": RID, "status": "success", "metrics": {**METRICS, "initDurationMs": 116.67}},
     "2020-08-15",
     [("platform.end", {"requestId": RID}),
      ("platform.report", {"requestId": RID, "metrics": {**METRICS, "initDurationMs": 116.67}})]),
    ("platform.report", {"requestId": RID, "status": "error", "errorType": "Runtime.ExitError", "metrics": METRICS},
     "2021-03-18",
     [("platform.end", {"requestId": RID}), ("platform.report", {"requestId": RID, "metrics": METRICS})]),
    ("platform.runtimeDone", {"requestId": RID, "status": "success", "metrics": {"durationMs": 1.0}}, "2020-08-15",
     []),  # the 2021-03-18 schema brought it
    ("platform.runtimeDone", {"requestId": RID, "status": "success", "metrics": {"durationMs": 1.0}}, "2021-03-18",
     [("platform.runtimeDone", {"requestId": RID, "status": "success"})]),
    ("platform.runtimeDone", {"requestId": RID, "status": "error", "errorType": "Handled"}, "2021-03-18",
     [("platform.runtimeDone", {"requestId": RID, "status": "failure"})]),
    ("platform.runtimeDone", {"requestId": RID, "status": "failure", "errorType": "Function.X"}, "2021-03-18",
     [("platform.runtimeDone", {"requestId": RID, "status": "failure"})]),
    ("platform.runtimeDone", {"requestId": RID, "status": "timeout"}, "2021-03-18",
     [("platform.runtimeDone", {"requestId": RID, "status": "timeout"})]),
    ("platform.extension", {"name": "Foo.bar", "state": "Ready", "events": ["INVOKE", "SHUTDOWN"]}, "2020-08-15",
     [("platform.extension", {"name": "Foo.bar", "state": "Ready", "events": ["INVOKE", "SHUTDOWN"]})]),
    ("platform.logsSubscription", {"name": "Foo.bar", "state": "Subscribed", "types": ["platform"]}, "2020-08-15",
     [("platform.logsSubscription", {"name": "Foo.bar", "state": "Subscribed", "types": ["platform"]})]),
    ("platform.logsDropped", {"reason": "behind", "droppedRecords": 3, "droppedBytes": 30}, "2021-03-18",
     [("platform.logsDropped", {"reason": "behind", "droppedRecords": 3, "droppedBytes": 30})]),
    ("platform.fault", f"RequestId: {RID} Process exited before completing request", "2020-08-15",
     [("platform.fault", f"RequestId: {RID} Process exited before completing request")]),
    ("function", "2026-12-06T19:49:38.123Z\tINFO\thello", "2020-08-15",
     [("function", "2026-12-06T19:49:38.123Z\tINFO\thello")]),
    ("function", {"level": "INFO", "message": "hello"}, "2020-08-15",
     [("function", '{"level":"INFO","message":"hello"}')]),
    ("extension", "probe started", "2021-03-18", [("extension", "probe started")]),
    # the Telemetry API's own events are not the Logs API's
    ("platform.initStart", {"initializationType": "on-demand", "phase": "init"}, "2021-03-18", []),
    ("platform.initRuntimeDone", {"status": "success"}, "2021-03-18", []),
    ("platform.initReport", {"status": "success", "metrics": {"durationMs": 3.0}}, "2021-03-18", []),
    ("platform.telemetrySubscription", {"name": "x", "state": "Subscribed", "types": ["platform"]}, "2021-03-18", []),
])
def test_logs_view(kind, record, schema, expected):
    assert logs.view(event(kind, record), schema) == [event(k, r) for k, r in expected]


@pytest.mark.parametrize(("kind", "shown"), [
    ("platform.start", True), ("platform.report", True), ("platform.telemetrySubscription", True),
    ("function", True), ("platform.logsSubscription", False), ("platform.fault", False),
])
def test_the_telemetry_view_keeps_its_events_and_leaves_the_logs_api_ones(kind, shown):
    item = event(kind, {"name": "x"})
    assert list(telemetry.TELEMETRY.view(item, "2022-12-13")) == ([item] if shown else [])


GOOD = {"types": ["platform", "function"],
        "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:8080/lambda_logs"}}


def test_a_logs_subscription_takes_the_logs_api_defaults():
    settings, problem = telemetry.parse_subscription(json.dumps(GOOD).encode(), telemetry.LOGS)
    assert problem is None
    assert settings["api"] is telemetry.LOGS and settings["schema"] == "2020-08-15"  # schemaVersion is optional
    assert settings["target"] == ("HTTP", "127.0.0.1", 8080, "/lambda_logs") and settings["method"] == "POST"
    assert (settings["maxItems"], settings["maxBytes"], settings["timeoutMs"]) == (10000, 262144, 1000)


@pytest.mark.parametrize(("change", "accepted"), [
    ({"schemaVersion": "2021-03-18"}, True),
    ({"schemaVersion": "2020-08-15"}, True),
    ({"schemaVersion": "2022-12-13"}, False),  # the Telemetry API's
    ({"types": ["platform", "extension", "function"]}, True),
    ({"types": []}, False),
    ({"types": ["platform.start"]}, False),
    ({"destination": {"protocol": "TCP", "port": 9999}}, True),
    ({"destination": {**GOOD["destination"], "method": "PUT", "encoding": "JSON"}}, True),  # aws-samples' Go client
    ({"destination": {**GOOD["destination"], "method": "", "encoding": ""}}, True),
    ({"destination": {**GOOD["destination"], "method": "GET"}}, False),
    ({"destination": {"protocol": "HTTPS", "URI": "https://sandbox.localdomain:1/"}}, False),
    ({"destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain/no-port"}}, False),
    ({"buffering": {"maxItems": 1000, "maxBytes": 1048576, "timeoutMs": 25}}, True),
    ({"buffering": {"maxItems": 999}}, False),
    ({"buffering": {"maxItems": 10001}}, False),
    ({"buffering": {"maxBytes": 262143}}, False),
    ({"buffering": {"timeoutMs": 30001}}, False),
    ({"buffering": {"timeoutMs": "100"}}, False),
    ({"buffering": [1000]}, False),
])
def test_logs_subscription_checks(change, accepted):
    settings, problem = telemetry.parse_subscription(json.dumps({**GOOD, **change}).encode(), telemetry.LOGS)
    if accepted:
        assert problem is None
    else:
        assert problem[0] == 400 and problem[1]["errorType"] == "Logs.ValidationError"


def test_a_bad_body_is_a_logs_validation_error():
    assert telemetry.parse_subscription(b"not json", telemetry.LOGS) == (
        None, (400, {"errorMessage": "Invalid subscription request body", "errorType": "Logs.ValidationError"}))


@pytest.mark.parametrize(("subscribed", "api", "expected"), [
    ([], telemetry.LOGS, "new"),
    ([("other", "Telemetry")], telemetry.LOGS, "new"),
    ([("probe", "Logs")], telemetry.LOGS, "again"),  # idempotent: no second subscription
    ([("probe", "Telemetry")], telemetry.TELEMETRY, "again"),
    ([("probe", "Telemetry")], telemetry.LOGS, (400, {
        "errorMessage": "Extension probe is already subscribed to the Telemetry API",
        "errorType": "Logs.ValidationError"})),
    ([("probe", "Logs")], telemetry.TELEMETRY, (400, {
        "errorMessage": "Extension probe is already subscribed to the Logs API", "errorType": "ValidationError"})),
])
def test_one_extension_subscribes_through_one_api(subscribed, api, expected):
    assert telemetry.subscribing(subscribed, "probe", api) == expected


def test_a_logs_subscriber_receives_the_logs_view_over_tcp():
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    hub = telemetry.Telemetry()
    hub.emit("platform.initStart", {"phase": "init"})  # before the subscription: replayed from the backlog
    hub.emit("platform.extension", {"name": "probe", "state": "Ready", "events": ["INVOKE"]})
    body = {"schemaVersion": "2021-03-18", "types": ["platform", "function"], "buffering": {"timeoutMs": 25},
            "destination": {"protocol": "TCP", "port": port}}
    settings, _ = telemetry.parse_subscription(json.dumps(body).encode(), telemetry.LOGS)
    assert hub.subscribe("probe", settings) is None
    assert hub.subscribe("probe", settings) is None  # again: still one subscription
    telemetry_settings, _ = telemetry.parse_subscription(json.dumps({**body, "schemaVersion": "2022-12-13"}).encode())
    assert hub.subscribe("probe", telemetry_settings)[0] == 400
    hub.emit("platform.start", {"requestId": RID, "version": "$LATEST", "tracing": TRACING})
    hub.emit("function", "handling")
    hub.emit("platform.runtimeDone", {"requestId": RID, "status": "success", "metrics": {"durationMs": 1.0}})
    hub.emit("platform.report", {"requestId": RID, "status": "success", "metrics": METRICS})
    hub.close(2.0)
    server.settimeout(5)
    received = b""
    while received.count(b"\n") < 7:
        connection, _ = server.accept()
        with connection:
            while chunk := connection.recv(65536):
                received += chunk
    server.close()
    kinds = [(e["type"], e["record"]) for e in map(json.loads, received.decode().splitlines())]
    assert kinds == [
        ("platform.extension", {"name": "probe", "state": "Ready", "events": ["INVOKE"]}),
        ("platform.logsSubscription", {"name": "probe", "state": "Subscribed", "types": ["platform", "function"]}),
        ("platform.start", {"requestId": RID, "version": "$LATEST"}),
        ("function", "handling"),
        ("platform.runtimeDone", {"requestId": RID, "status": "success"}),
        ("platform.end", {"requestId": RID}),
        ("platform.report", {"requestId": RID, "metrics": METRICS}),
    ]


class Recorder:
    def __init__(self) -> None:
        self.emitted: list = []

    def emit(self, kind, record):
        self.emitted.append((kind, record))


@pytest.mark.parametrize(("invoke", "expected"), [
    (None, []),  # between invokes (or during Init)
    ({"id": RID, "status": None}, [("platform.fault", f"RequestId: {RID} Process exited before completing request")]),
    ({"id": RID, "status": "success"}, []),  # it answered, then exited
])
def test_a_runtime_gone_in_the_middle_of_an_invoke_is_a_platform_fault(invoke, expected):
    import threading

    made = object.__new__(rapid_supervisor.Supervisor)
    made.cv, made.invoke, made.telemetry = threading.Condition(), invoke, Recorder()
    made._fault()
    assert made.telemetry.emitted == expected
