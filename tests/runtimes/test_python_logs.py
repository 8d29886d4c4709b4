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
        assert messages.index(init[0]) < messages.index("printed during init") < messages.index(
            "START RequestId: req-1 Version: $LATEST")
        first = messages[messages.index("START RequestId: req-1 Version: $LATEST"):
                         messages.index("START RequestId: req-2 Version: $LATEST")]
        assert first[1:4] == ["hello from print", "two-parts joined", "to stderr"]
        assert re.fullmatch(rf"\[WARNING\]\t{TS}\treq-1\tfrom logging", first[4])
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
        assert "written to fd 1" in messages[start:end]
        assert "from a subprocess" in messages[start:end]
    kit(scenario)


def test_large_output_arrives_whole_and_in_order(kit):
    async def scenario(k):
        spec = k.function(APP, "app.flood")
        result = await k.invoke(spec, b'{"lines": 20000, "long": 300000}', request_id="req-big", tail=True)
        assert result.payload == b'"done"'
        messages = k.messages()
        start = messages.index("START RequestId: req-big Version: $LATEST")
        assert messages[start + 1:start + 20001] == [f"line {i}" for i in range(20000)]
        assert messages[start + 20001:-2] == ["z" * 262_144, "z" * (300_000 - 262_144)]  # cut at 256 KiB
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
