"""Runtime contract kit: the log stream of an environment (platform lines, print, logging,
uncaught errors, fd-level output), its order, and the 4 KB tail."""

from __future__ import annotations

import base64
import re

APP = """
import logging, os, subprocess, sys

logger = logging.getLogger()
print("printed during init")

def chatty(event, context):
    print("hello from print")
    print("two", "parts", sep="-", end="")
    print(" joined")
    sys.stderr.write("to stderr\\n")
    logger.warning("from logging")
    logger.info("info is below the root logger's default level")
    context.log("from context.log")
    return "ok"

def leveled(event, context):
    logger.setLevel(logging.INFO)
    logger.info("now info shows")
    return "ok"

def fd_level(event, context):
    os.write(1, b"written to fd 1\\n")
    subprocess.run(["echo", "from a subprocess"], check=True)
    return "ok"

def flood(event, context):
    for i in range(event["lines"]):
        print(f"line {i}")
    print("z" * event.get("long", 0))
    return "done"

def unterminated(event, context):
    sys.stdout.write("no newline at the end")
    return "ok"
"""

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def test_platform_lines_and_application_output_in_order(kit):
    async def scenario(k):
        spec = k.function(APP, "app.chatty")
        await k.invoke(spec, request_id="req-1")
        await k.invoke(spec, request_id="req-2")
        messages = k.messages()
        init = [m for m in messages if m.startswith("INIT_START")]
        assert len(init) == 1  # once per environment
        assert re.fullmatch(r"INIT_START Runtime Version: python:3\.\d+\.v1\tRuntime Version ARN: "
                            r"arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}", init[0])
        assert messages.index(init[0]) < messages.index("printed during init\n") < messages.index(
            "START RequestId: req-1 Version: $LATEST")
        first = messages[messages.index("START RequestId: req-1 Version: $LATEST"):
                         messages.index("START RequestId: req-2 Version: $LATEST")]
        assert first[1:4] == ["hello from print\n", "two-parts joined\n", "to stderr\n"]  # as AWS stores them
        assert re.fullmatch(rf"\[WARNING\]\t{TS}\treq-1\tfrom logging\n", first[4])
        assert first[5] == "from context.log"
        assert first[6] == "END RequestId: req-1"
        fields = first[7].split("\t")
        assert fields[0] == "REPORT RequestId: req-1"
        assert re.fullmatch(r"Duration: \d+\.\d\d ms", fields[1])
        assert re.fullmatch(r"Billed Duration: \d+ ms", fields[2])
        assert fields[3] == "Memory Size: 128 MB"
        assert re.fullmatch(r"Max Memory Used: \d+ MB", fields[4]) and int(fields[4].split()[3]) > 1
        assert re.fullmatch(r"Init Duration: \d+\.\d\d ms", fields[5])
        assert len(first) == 8
        second_report = next(m for m in messages if m.startswith("REPORT RequestId: req-2"))
        assert "Init Duration" not in second_report and len(second_report.split("\t")) == 5
        assert not any("info is below" in m for m in messages)
        assert all(batch.stream == k.streams()[0] for batch in k.batches)
    kit(scenario)


def test_logging_level_can_be_raised_by_the_function(kit):
    async def scenario(k):
        result = await k.invoke(k.function(APP, "app.leveled"), request_id="req-l", tail=True)
        assert re.search(rf"^\[INFO\]\t{TS}\treq-l\tnow info shows$", result.log_tail, re.M)
    kit(scenario)


def test_fd_level_and_subprocess_output_is_captured_inside_the_invocation(kit):
    async def scenario(k):
        await k.invoke(k.function(APP, "app.fd_level"), request_id="req-fd")
        messages = k.messages()
        start, end = messages.index("START RequestId: req-fd Version: $LATEST"), messages.index("END RequestId: req-fd")
        assert "written to fd 1\n" in messages[start:end]
        assert "from a subprocess\n" in messages[start:end]
    kit(scenario)


def test_large_output_arrives_whole_and_in_order(kit):
    async def scenario(k):
        spec = k.function(APP, "app.flood")
        result = await k.invoke(spec, b'{"lines": 20000, "long": 300000}', request_id="req-big", tail=True)
        assert result.payload == b'"done"'
        messages = k.messages()
        start = messages.index("START RequestId: req-big Version: $LATEST")
        assert messages[start + 1:start + 20001] == [f"line {i}\n" for i in range(20000)]
        assert messages[start + 20001:-2] == ["z" * 262_144, "z" * (300_000 - 262_144) + "\n"]  # cut at 256 KiB
        assert messages[-2] == "END RequestId: req-big"
        tail = result.log_tail
        assert len(tail.encode()) <= 4096
        assert tail.endswith("\n") and tail.splitlines()[-1].startswith("REPORT RequestId: req-big\t")
    kit(scenario)


def test_unterminated_output_becomes_its_own_event_before_end(kit):
    async def scenario(k):
        await k.invoke(k.function(APP, "app.unterminated"), request_id="req-u")
        messages = k.messages()
        assert messages[messages.index("END RequestId: req-u") - 1] == "no newline at the end"
    kit(scenario)


def test_tail_is_this_invocations_log_only_when_asked(kit):
    async def scenario(k):
        spec = k.function(APP, "app.chatty")
        cold = await k.invoke(spec, request_id="req-a", tail=True)
        lines = cold.log_tail.splitlines()
        assert lines[0].startswith("INIT_START") and lines[-1].startswith("REPORT RequestId: req-a\t")
        assert "hello from print" in lines and "END RequestId: req-a" in lines
        warm = await k.invoke(spec, request_id="req-b", tail=True)
        lines = warm.log_tail.splitlines()
        assert lines[0] == "START RequestId: req-b Version: $LATEST"
        assert not any("req-a" in line for line in lines)
        assert base64.b64decode(base64.b64encode(warm.log_tail.encode())).decode() == warm.log_tail
        assert (await k.invoke(spec)).log_tail is None
    kit(scenario)


def test_tail_never_splits_a_character(kit):
    code = """
    def handler(event, context):
        print("é" * 5000)
        return "ok"
    """

    async def scenario(k):
        result = await k.invoke(k.function(code), tail=True)
        data = result.log_tail.encode()
        assert 4090 <= len(data) <= 4096
        assert data.decode() == result.log_tail
    kit(scenario)


JSON_APP = """
import logging

logger = logging.getLogger()

def leveled(event, context):
    logger.debug("debug is below WARN")
    logger.info("info is below WARN")
    logger.warning("careful", extra={"order": 42})
    print("plain print")
    try:
        1 / 0
    except ZeroDivisionError:
        logger.exception("division")
    return "ok"

def failing(event, context):
    raise ValueError("card declined")
"""


def test_json_format_records_levels_and_platform_lines(kit):
    import json

    async def scenario(k):
        spec = k.function(JSON_APP, "app.leveled", log_format="JSON", application_log_level="WARN")
        result = await k.invoke(spec, request_id="req-j", tail=True)
        messages = k.messages()
        assert "plain print\n" in messages
        assert not any("below WARN" in m for m in messages)
        records = [json.loads(m) for m in messages if m.startswith("{")]
        types = [r.get("type") for r in records if "type" in r]
        assert types == ["platform.initStart", "platform.start", "platform.report"]
        warning = next(r for r in records if r.get("message") == "careful")
        assert list(warning) == ["timestamp", "level", "message", "logger", "requestId", "order"]
        assert (warning["level"], warning["logger"], warning["requestId"], warning["order"]) == (
            "WARNING", "root", "req-j", 42)
        assert re.fullmatch(TS, warning["timestamp"])
        error = next(r for r in records if r.get("message") == "division")
        assert error["errorType"] == "ZeroDivisionError" and error["errorMessage"] == "division by zero"
        assert error["location"].endswith("app.py:leveled:14") and error["stackTrace"]
        assert "platform.report" in result.log_tail and "plain print" in result.log_tail

        failing = k.function(JSON_APP, "app.failing", log_format="JSON", system_log_level="DEBUG")
        await k.invoke(failing, request_id="req-e")
        records = [json.loads(m) for m in k.messages() if m.startswith("{")]
        error = next(r for r in records if r.get("log_level") == "ERROR")
        assert list(error) == ["timestamp", "log_level", "errorMessage", "errorType", "requestId", "stackTrace"]
        assert (error["errorType"], error["requestId"]) == ("ValueError", "req-e")
        done = next(r for r in records if r.get("type") == "platform.runtimeDone")
        assert done["record"]["status"] == "error" and done["record"]["errorType"] == "ValueError"
    kit(scenario)


def test_json_format_default_level_is_info_and_warn_system_level_drops_platform_lines(kit):
    import json

    async def scenario(k):
        spec = k.function(JSON_APP.replace("logger.warning", "logger.info"), "app.leveled", log_format="JSON",
                          system_log_level="WARN")
        await k.invoke(spec, request_id="req-i")
        messages = k.messages()
        assert any('"info is below WARN"' in m for m in messages)
        assert not any('"debug is below WARN"' in m for m in messages)
        assert not any('"type"' in m for m in messages)
        assert not any(m.startswith(("START", "END", "REPORT", "INIT_START")) for m in messages)
        assert json.loads(next(m for m in messages if "careful" in m))["level"] == "INFO"
    kit(scenario)


def test_runtime_log_level_mapping_and_json_formatter():
    import importlib.util
    import json
    import logging
    from pathlib import Path

    import lamina.runtimes.python as runtime_dir

    path = Path(runtime_dir.__file__).parent / "_lamina_logging.py"
    module_spec = importlib.util.spec_from_file_location("_lamina_logging", path)
    formats = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(formats)
    assert [formats.level_from_env(v) for v in (None, "", "TRACE", "debug", "WARN", "FATAL", "bogus")] == [
        "", "", "DEBUG", "DEBUG", "WARN", "FATAL", ""]
    record = logging.LogRecord("orders", 35, "/var/task/app.py", 7, "paid %s", ("twice",), None, func="handler")
    record.aws_request_id = "r1"
    record.amount = 3
    record.created = 1708521153.9339
    assert json.loads(formats.JsonFormatter().format(record)) == {
        "timestamp": "2024-02-21T13:12:33.933Z", "level": "WARNING", "message": "paid twice", "logger": "orders",
        "requestId": "r1", "amount": 3}
    error = formats.json_error_record({"errorMessage": "m", "errorType": "T", "requestId": "r", "stackTrace": []},
                                      now=1708521153.9)
    assert list(error) == ["timestamp", "log_level", "errorMessage", "errorType", "requestId", "stackTrace"]
    assert error["timestamp"] == "2024-02-21T13:12:33"
