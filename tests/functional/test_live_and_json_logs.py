"""Log output through a real `lamina serve`: lines reach the log store (and `aws logs tail --follow`)
while the handler still runs, and LoggingConfig JSON format (records, levels, platform lines)."""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from support import REGION, ROLE, client_for, make_zip

APP = r'''
import logging, time

logger = logging.getLogger()


def slow(event, context):
    print("first")
    time.sleep(event.get("sleep", 3))
    print("second")
    return "done"


def leveled(event, context):
    logger.info("info is below WARN")
    logger.warning("careful", extra={"order": 42})
    logger.error("broken")
    print("plain print")
    return "ok"


def failing(event, context):
    raise ValueError("card declined")
'''

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def _create(lam, name: str, handler: str, **extra) -> None:
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler=handler, Timeout=30,
                        Code={"ZipFile": make_zip({"app.py": APP})}, **extra)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_PAGER": ""}


def _cli_v2() -> str | None:
    for candidate in ("/usr/bin/aws", "/usr/local/bin/aws"):
        if os.path.exists(candidate):
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True, env=_cli_env())
            if (out.stdout + out.stderr).startswith("aws-cli/2."):
                return candidate
    return None


def _stored(logs, group: str, text: str) -> bool:
    try:
        events = logs.filter_log_events(logGroupName=group, filterPattern=f'"{text}"')["events"]
    except logs.exceptions.ResourceNotFoundException:
        return False
    return any(event["message"] == text + "\n" for event in events)  # AWS keeps a printed line's newline


def test_printed_line_reaches_logs_tail_while_the_handler_runs(lamina, lam):
    executable = _cli_v2()
    if executable is None:
        message = "`aws logs tail --follow` needs the AWS CLI v2 (Debian: apt-get install awscli)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    _create(lam, "live", "app.slow")
    logs = client_for(lamina.url, "logs")
    with ThreadPoolExecutor(1) as pool:
        invoked = pool.submit(lam.invoke, FunctionName="live", Payload=b'{"sleep": 3}')
        deadline = time.monotonic() + 10
        while not _stored(logs, "/aws/lambda/live", "first"):
            assert not invoked.done(), "the invoke returned before its first line was stored"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not invoked.done()
        tail = subprocess.Popen([executable, "logs", "tail", "/aws/lambda/live", "--follow", "--since", "5m",
                                 "--format", "short", "--color", "off", "--endpoint-url", lamina.url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_cli_env())
        lines: queue.Queue[tuple[float, str]] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put((time.monotonic(), line)) for line in tail.stdout],
                                  daemon=True)
        reader.start()
        try:
            seen: list[str] = []
            first_at = None
            while first_at is None:
                at, line = lines.get(timeout=15)
                seen.append(line)
                if line.rstrip("\n").endswith(" first"):
                    first_at = at
            assert not any(line.rstrip("\n").endswith(" second") for line in seen)
            assert not invoked.done(), "`aws logs tail` printed the line only after the handler returned"
            assert json.loads(invoked.result(timeout=30)["Payload"].read()) == "done"
            returned_at = time.monotonic()
            assert returned_at - first_at >= 0.3
        finally:
            tail.kill()
            tail.wait()


def _tail(response) -> list[str]:
    return base64.b64decode(response["LogResult"]).decode().splitlines()


def test_json_log_format_records_levels_and_platform_lines(lam):
    _create(lam, "json-levels", "app.leveled",
            LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN"})
    config = lam.get_function_configuration(FunctionName="json-levels")["LoggingConfig"]
    assert config == {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "INFO",
                      "LogGroup": "/aws/lambda/json-levels"}
    response = lam.invoke(FunctionName="json-levels", LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    lines = _tail(response)
    assert not any("info is below" in line for line in lines)
    assert "plain print" in lines  # print() stays plain text
    records = [json.loads(line) for line in lines if line.startswith("{")]
    start = next(r for r in records if r.get("type") == "platform.start")
    assert start["record"] == {"requestId": request_id, "version": "$LATEST"}
    assert re.fullmatch(TS, start["time"])
    report = next(r for r in records if r.get("type") == "platform.report")
    assert report["record"]["requestId"] == request_id and report["record"]["status"] == "success"
    metrics = report["record"]["metrics"]
    assert set(metrics) == {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs"}
    assert metrics["memorySizeMB"] == 128 and isinstance(metrics["billedDurationMs"], int)
    warning = next(r for r in records if r.get("message") == "careful")
    assert warning["level"] == "WARNING"  # awslambdaric's JsonFormatter keeps Python's level name
    assert warning["logger"] == "root" and warning["requestId"] == request_id and warning["order"] == 42
    assert re.fullmatch(TS, warning["timestamp"])
    assert next(r for r in records if r.get("message") == "broken")["level"] == "ERROR"
    assert not any(line.startswith(("START", "END", "REPORT")) for line in lines)


def test_json_log_format_uncaught_error(lam):
    _create(lam, "json-error", "app.failing", LoggingConfig={"LogFormat": "JSON"})
    response = lam.invoke(FunctionName="json-error", LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    request_id = response["ResponseMetadata"]["RequestId"]
    records = [json.loads(line) for line in _tail(response) if line.startswith("{")]
    error = next(r for r in records if r.get("log_level") == "ERROR")
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "card declined"
    assert error["requestId"] == request_id and isinstance(error["stackTrace"], list)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", error["timestamp"])
    report = next(r for r in records if r.get("type") == "platform.report")
    assert report["record"]["status"] == "error"
