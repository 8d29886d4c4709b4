"""The platform's exact texts (lamina.engine.report): log lines, error bodies, stream names, tail."""

from __future__ import annotations

import calendar
import json
import re

import pytest

from lamina.engine import report

NOW = calendar.timegm((2024, 2, 21, 13, 12, 33)) + 0.9335


@pytest.mark.parametrize(("runtime", "version"), [
    ("python3.12", "python:3.12.v1"), ("nodejs22.x", "nodejs:22.v1"), ("provided.al2023", "provided:al2023.v1"),
    ("provided.al2", "provided:al2.v1"), ("provided", "provided.v1"),
])
def test_runtime_versions_as_init_start_names_them(runtime, version):
    assert report.runtime_version(runtime) == version


def test_stream_name_and_timestamps():
    assert report.stream_name("$LATEST", "a" * 32, NOW) == "2024/02/21/[$LATEST]" + "a" * 32
    assert report.stream_name("7", "b" * 32, NOW) == "2024/02/21/[7]" + "b" * 32
    assert report.iso_timestamp(NOW) == "2024-02-21T13:12:33.933Z"


def test_init_start_line():
    line = report.init_start("python3.12", "eu-west-1")
    assert re.fullmatch(r"INIT_START Runtime Version: python:3\.12\.v1\tRuntime Version ARN: "
                        r"arn:aws:lambda:eu-west-1::runtime:[0-9a-f]{64}", line)
    assert line == report.init_start("python3.12", "eu-west-1")  # stable per runtime
    assert line.split("runtime:")[-1] != report.init_start("python3.13", "eu-west-1").split("runtime:")[-1]


@pytest.mark.parametrize(("args", "line"), [
    (("r-1", 170.19, 171, 128, 73, 223.111), "REPORT RequestId: r-1\tDuration: 170.19 ms\tBilled Duration: 171 ms\t"
                                             "Memory Size: 128 MB\tMax Memory Used: 73 MB\tInit Duration: 223.11 ms"),
    (("r-2", 1.0, 1, 256, 40), "REPORT RequestId: r-2\tDuration: 1.00 ms\tBilled Duration: 1 ms\t"
                               "Memory Size: 256 MB\tMax Memory Used: 40 MB"),
    (("r-3", 3001.5, 3002, 128, 40, None, "timeout"),
     "REPORT RequestId: r-3\tDuration: 3001.50 ms\tBilled Duration: 3002 ms\tMemory Size: 128 MB\t"
     "Max Memory Used: 40 MB\tStatus: timeout"),
    (("r-4", 2.0, 2, 128, 40, None, "error", "Runtime.ExitError"),
     "REPORT RequestId: r-4\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t"
     "Max Memory Used: 40 MB\tStatus: error\tError Type: Runtime.ExitError"),
])
def test_report_line(args, line):
    assert report.report(*args) == line


def test_start_end_and_init_report_lines():
    assert report.start("r", "$LATEST") == "START RequestId: r Version: $LATEST"
    assert report.end("r") == "END RequestId: r"
    assert report.init_report(10007.333, "timeout") == "INIT_REPORT Init Duration: 10007.33 ms\tPhase: init\tStatus: timeout"
    assert report.init_report(5, "error", "Runtime.ImportModuleError") == (
        "INIT_REPORT Init Duration: 5.00 ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError")
    assert report.init_report(80.494, "error", "Runtime.ImportModuleError", "invoke") == (  # suppressed init
        "INIT_REPORT Init Duration: 80.49 ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ImportModuleError")
    assert report.timed_out_line("r", 3.0312, NOW) == "2024-02-21T13:12:33.933Z r Task timed out after 3.03 seconds"


def test_platform_error_bodies():
    assert report.timed_out("r", 3) == (b'{"errorMessage":"RequestId: r Error: Task timed out after 3.00 seconds",'
                                        b'"errorType":"Sandbox.Timedout"}')
    assert json.loads(report.too_large(6291556)) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge"}
    assert json.loads(report.exited("r", 1))["errorMessage"] == "RequestId: r Error: Runtime exited with error: exit status 1"
    assert json.loads(report.exited("r", 1))["errorType"] == "Runtime.ExitError"


@pytest.mark.parametrize(("status", "reason"), [
    (1, "Runtime exited with error: exit status 1"),
    (3, "Runtime exited with error: exit status 3"),
    (0, "Runtime exited without providing a reason"),
    (-9, "Runtime exited with error: signal: killed"),
    (-15, "Runtime exited with error: signal: terminated"),
    (-11, "Runtime exited with error: signal: segmentation fault"),
    (-6, "Runtime exited with error: signal: aborted"),
])
def test_exit_reasons_use_gos_wording(status, reason):
    assert report.exit_reason(status) == reason


def test_tail_is_the_last_4096_bytes_on_a_character_boundary():
    assert report.tail(["START", "END"]) == "START\nEND\n"
    lines = ["é" * 3000, "REPORT x"]
    tail = report.tail(lines)
    assert len(tail.encode()) <= 4096 and tail.endswith("é\nREPORT x\n")
    assert len(tail.encode()) >= 4095
    ascii_tail = report.tail(["a" * 5000, "b"])
    assert len(ascii_tail.encode()) == 4096 and ascii_tail.endswith("a\nb\n")


NOW = 1708521153.933


def test_json_platform_lines():
    assert json.loads(report.json_start("r1", "$LATEST", NOW)) == {
        "time": "2024-02-21T13:12:33.933Z", "type": "platform.start", "record": {"requestId": "r1", "version": "$LATEST"}}
    line = report.json_report("r1", 170.194, 171, 128, 73, 223.111, now=NOW)
    assert line == ('{"time":"2024-02-21T13:12:33.933Z","type":"platform.report","record":{"requestId":"r1",'
                    '"metrics":{"durationMs":170.19,"billedDurationMs":171,"memorySizeMB":128,"maxMemoryUsedMB":73,'
                    '"initDurationMs":223.11},"status":"success"}}')
    failed = json.loads(report.json_report("r1", 3000, 3000, 128, 40, status="timeout", now=NOW))["record"]
    assert "initDurationMs" not in failed["metrics"] and failed["status"] == "timeout"
    start = json.loads(report.json_init_start("python3.12", "us-east-1", "fn", "$LATEST", now=NOW))["record"]
    assert start == {"initializationType": "on-demand", "phase": "init", "runtimeVersion": "python:3.12.v1",
                     "runtimeVersionArn": report.runtime_version_arn("us-east-1", "python3.12"),
                     "functionName": "fn", "functionVersion": "$LATEST"}
    init = json.loads(report.json_init_report(10.5, "error", "Runtime.ImportModuleError", now=NOW))["record"]
    assert init == {"initializationType": "on-demand", "phase": "init", "status": "error",
                    "errorType": "Runtime.ImportModuleError", "metrics": {"durationMs": 10.5}}
    retried = json.loads(report.Platform("JSON").init_report(2000.0, "timeout", phase="invoke"))["record"]
    assert retried == {"initializationType": "on-demand", "phase": "invoke", "status": "timeout",
                       "metrics": {"durationMs": 2000.0}}


@pytest.mark.parametrize(("system_level", "kinds"), [
    (None, ["platform.initStart", "platform.start", "platform.report"]),
    ("DEBUG", ["platform.initStart", "platform.start", "platform.runtimeDone", "platform.report"]),
    ("WARN", []),
])
def test_platform_lines_json_by_system_level(system_level, kinds):
    platform = report.Platform("JSON", system_level)
    lines = [platform.init_start("python3.12", "us-east-1", "fn", "$LATEST"), platform.start("r", "$LATEST"),
             platform.end("r", 1.0, None, "ValueError"), platform.report("r", 1.0, 1, 128, 40, None, None, "ValueError")]
    written = [json.loads(line) for line in lines if line is not None]
    assert [w["type"] for w in written] == kinds
    for w in written:
        if w["type"] in ("platform.report", "platform.runtimeDone"):
            assert (w["record"]["status"], w["record"]["errorType"]) == ("error", "ValueError")


def test_platform_lines_text_are_the_classic_ones():
    platform = report.Platform()
    assert platform.start("r", "$LATEST") == report.start("r", "$LATEST")
    assert platform.end("r", 1.0, None, "ValueError") == "END RequestId: r"
    assert platform.report("r", 1.0, 1, 128, 40, None, None, "ValueError") == report.report("r", 1.0, 1, 128, 40)
    assert platform.report("r", 1.0, 1, 128, 40, None, "error", "X").endswith("\tStatus: error\tError Type: X")


@pytest.mark.parametrize(("handler", "error_type", "message"), [
    ("app.handler", None, None),
    ("app.handler\0", "Runtime.HandlerNotFound", "Handler 'handler\0' missing on module 'app'"),
    ("a\0pp.handler", "Runtime.ImportModuleError", "Unable to import module 'a\0pp': No module named 'a\\x00pp'"),
    ("app\0", "Runtime.MalformedHandlerName",
     "Bad handler 'app\0': not enough values to unpack (expected 2, got 1)"),
])
def test_a_handler_no_environment_variable_can_carry_fails_as_the_runtime_would(handler, error_type, message):
    found = report.unpassable_handler(handler)
    if error_type is None:
        assert found is None
        return
    kind, body = found
    assert kind == error_type
    assert json.loads(body) == {"errorMessage": message, "errorType": error_type, "requestId": "", "stackTrace": []}
