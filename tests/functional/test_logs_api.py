"""The Logs JSON 1.1 endpoint in a small Starlette app behind a real uvicorn, driven by boto3's `logs`
client and by the real aws CLI (`filter-log-events`, and `logs tail` where a CLI v2 is installed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from botocore.exceptions import ClientError
from starlette.applications import Starlette
from starlette.routing import Route

from lamina.api.logs import logs_endpoint
from lamina.control.logs import Logs
from lamina.engine.spec import LogBatch as Batch
from lamina.engine.spec import LogEvent as Event
from lamina.store.database import open_database, sqlite_url
from lamina.store.logs import DAY_MS, LogStore
from support import client_for, free_port

REGION, ACCOUNT = "us-east-1", "000000000000"
STREAM_A = "2024/05/01/[$LATEST]" + "0" * 31 + "a"
STREAM_B = "2024/05/01/[$LATEST]" + "0" * 31 + "b"


@dataclass
class Served:
    url: str
    store: LogStore
    logs: Logs
    client: object


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    store = LogStore(open_database(sqlite_url(tmp_path_factory.mktemp("logs-api"))))
    logs = Logs(store, REGION, ACCOUNT)
    app = Starlette(routes=[Route("/", logs_endpoint(logs), methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    yield Served(url, store, logs, client_for(url, "logs"))
    server.should_exit = True
    thread.join(10)


def now_ms() -> int:
    return int(time.time() * 1000)


def add(store: LogStore, group: str, stream: str, *events: tuple[int, str]) -> None:
    store.append([Batch(group, stream, tuple(Event(t, m) for t, m in events))])


def code_of(error: ClientError) -> str:
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error.response["Error"]["Code"]


@pytest.fixture(scope="module")
def function_logs(served):
    """A function's group with two environments' streams, written a minute ago."""
    group = "/aws/lambda/checkout"
    base = now_ms() - 60_000
    add(served.store, group, STREAM_A, (base, "START RequestId: r1 Version: $LATEST"),
        (base + 2, "[ERROR] ValueError: card declined"), (base + 4, "END RequestId: r1"))
    add(served.store, group, STREAM_B, (base + 1, "START RequestId: r2 Version: $LATEST"),
        (base + 3, '{"level": "INFO", "message": "paid", "amount": 42, "items": ["book", "pen"]}'),
        (base + 5, "END RequestId: r2"))
    return group, base


def test_describe_log_groups_and_streams(served, function_logs):
    group, base = function_logs
    pages = served.client.get_paginator("describe_log_groups").paginate(logGroupNamePrefix="/aws/lambda/",
                                                                        PaginationConfig={"PageSize": 1})
    groups = [g for page in pages for g in page["logGroups"]]
    mine = next(g for g in groups if g["logGroupName"] == group)
    assert mine["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"
    assert mine["logGroupArn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    assert mine["storedBytes"] > 0 and mine["logGroupClass"] == "STANDARD" and mine["metricFilterCount"] == 0
    streams = served.client.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)
    assert [s["logStreamName"] for s in streams["logStreams"]] == [STREAM_B, STREAM_A]
    assert streams["logStreams"][0]["lastEventTimestamp"] == base + 5
    assert streams["logStreams"][1]["firstEventTimestamp"] == base
    with pytest.raises(ClientError) as caught:
        served.client.describe_log_streams(logGroupName="/aws/lambda/missing")
    assert code_of(caught.value) == "ResourceNotFoundException"
    assert caught.value.response["Error"]["Message"] == "The specified log group does not exist."


def test_get_log_events_tokens(served):
    group = "/aws/lambda/pager"
    base = now_ms() - 10_000
    add(served.store, group, STREAM_A, *[(base + i, f"line {i}") for i in range(7)])
    client = served.client
    newest = client.get_log_events(logGroupName=group, logStreamName=STREAM_A, limit=3)
    assert [e["message"] for e in newest["events"]] == ["line 4", "line 5", "line 6"]
    seen, token = [], newest["nextBackwardToken"]
    while True:
        page = client.get_log_events(logGroupName=group, logStreamName=STREAM_A, limit=3, nextToken=token)
        if page["nextBackwardToken"] == token:
            assert page["events"] == []
            break
        seen = [e["message"] for e in page["events"]] + seen
        token = page["nextBackwardToken"]
    assert seen == ["line 0", "line 1", "line 2", "line 3"]
    head = client.get_log_events(logGroupName=group, logStreamName=STREAM_A, startFromHead=True, limit=4)
    assert head["nextForwardToken"].startswith("f/") and len(head["events"]) == 4
    tail = client.get_log_events(logGroupName=group, logStreamName=STREAM_A, startFromHead=True,
                                 nextToken=head["nextForwardToken"])
    assert [e["message"] for e in tail["events"]] == ["line 4", "line 5", "line 6"]
    end = client.get_log_events(logGroupName=group, logStreamName=STREAM_A, startFromHead=True,
                                nextToken=tail["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == tail["nextForwardToken"]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("", ["START RequestId: r1", "START RequestId: r2", "[ERROR]", '"paid"', "END RequestId: r1",
          "END RequestId: r2"]),
    ("ERROR declined", ["[ERROR]"]),
    ('"RequestId: r2"', ["START RequestId: r2", "END RequestId: r2"]),
    ("?ERROR ?paid", ["[ERROR]", '"paid"']),
    ("RequestId -START", ["END RequestId: r1", "END RequestId: r2"]),
    ('{ $.level = "INFO" }', ['"paid"']),
    ("{ $.amount > 40 && $.items[1] = pe* }", ['"paid"']),
    ("{ $.amount < 40 || $.message != paid }", []),
    ("[kind, ..., id = r1]", ["END RequestId: r1"]),
    ("[kind = START, request, id = r*, ...]", ["START RequestId: r1", "START RequestId: r2"]),
])
def test_filter_log_events_patterns(served, function_logs, pattern, expected):
    group, base = function_logs
    pages = served.client.get_paginator("filter_log_events").paginate(
        logGroupName=group, filterPattern=pattern, startTime=base, PaginationConfig={"PageSize": 2})
    events = [e for page in pages for e in page["events"]]
    assert len(events) == len(expected)
    for event, fragment in zip(events, expected, strict=True):
        assert fragment in event["message"]
        assert set(event) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)


def test_filter_log_events_streams_and_errors(served, function_logs):
    group, base = function_logs
    client = served.client
    only_b = client.filter_log_events(logGroupName=group, logStreamNames=[STREAM_B], endTime=base + 3)
    assert [e["message"][:5] for e in only_b["events"]] == ["START", '{"lev']
    prefixed = client.filter_log_events(logGroupIdentifier=group, logStreamNamePrefix=STREAM_A[:-1] + "a")
    assert {e["logStreamName"] for e in prefixed["events"]} == {STREAM_A}
    for bad in ({"logStreamNames": [STREAM_A], "logStreamNamePrefix": "2024"}, {"filterPattern": "{ $.x = }"}):
        with pytest.raises(ClientError) as caught:
            client.filter_log_events(logGroupName=group, **bad)
        assert code_of(caught.value) == "InvalidParameterException"
    assert caught.value.response["Error"]["Message"] == "Invalid filter pattern"


def test_writes_retention_and_expiry(served):
    client = served.client
    group = "/tools/writer"
    client.create_log_group(logGroupName=group)
    with pytest.raises(client.exceptions.ResourceAlreadyExistsException):
        client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="s")
    now = now_ms()
    for timestamp, message in ((now - 3 * DAY_MS, "three days old"), (now - 1000, "fresh")):
        response = client.put_log_events(logGroupName=group, logStreamName="s",
                                          logEvents=[{"timestamp": timestamp, "message": message}])
        assert "rejectedLogEventsInfo" not in response
    with pytest.raises(ClientError) as caught:
        client.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
            {"timestamp": now - 3 * DAY_MS, "message": "a"}, {"timestamp": now, "message": "b"}])
    assert caught.value.response["Error"]["Message"] == (
        "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
    with pytest.raises(ClientError) as caught:
        client.put_retention_policy(logGroupName=group, retentionInDays=2)
    assert code_of(caught.value) == "InvalidParameterException"
    client.put_retention_policy(logGroupName=group, retentionInDays=1)
    assert client.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 1
    assert served.logs.expire() == 1
    events = client.filter_log_events(logGroupName=group)["events"]
    assert [e["message"] for e in events] == ["fresh"]
    client.delete_retention_policy(logGroupName=group)
    client.delete_log_stream(logGroupName=group, logStreamName="s")
    client.delete_log_group(logGroupName=group)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.delete_log_group(logGroupName=group)


def raw(served: Served, target: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(served.url + "/", data=json.dumps(body).encode(), method="POST", headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_wire_errors(served):
    assert raw(served, "Logs_20140328.StartQuery", {})[1]["__type"] == "UnknownOperationException"
    status, body = raw(served, "Nope.DescribeLogGroups", {})
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body = raw(served, "Logs_20140328.DescribeLogGroups", {"limit": 100})
    assert (status, body["__type"]) == (400, "InvalidParameterException")
    assert body["message"] == ("1 validation error detected: Value '100' at 'limit' failed to satisfy "
                               "constraint: Member must have value less than or equal to 50")
    status, body = raw(served, "Logs_20140328.GetLogEvents", {"logGroupName": "/g"})
    assert "Value null at 'logStreamName' failed to satisfy constraint: Member must not be null" in body["message"]
    assert raw(served, "Logs_20140328.DescribeLogGroups", [1])[1]["__type"] == "SerializationException"
    status, body = raw(served, "Logs_20140328.DeleteLogGroup", {"logGroupName": "/never"})
    assert (status, body) == (400, {"__type": "ResourceNotFoundException",
                                    "message": "The specified log group does not exist."})


# -- the real aws CLI -----------------------------------------------------------------------------

def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_PAGER": ""}


def aws(executable: str, served: Served, *args: str) -> str:
    done = subprocess.run([executable, "--endpoint-url", served.url, *args], env=cli_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def cli_with_tail() -> str | None:
    """An aws CLI v2 (the one with `logs tail`): the venv's if it is v2, else one on PATH."""
    candidates = [str(Path(sys.executable).parent / "aws"), shutil.which("aws"), "/usr/bin/aws",
                  "/usr/local/bin/aws"]
    for candidate in dict.fromkeys(c for c in candidates if c and os.path.exists(c)):
        version = subprocess.run([candidate, "--version"], capture_output=True, text=True, env=cli_env())
        if (version.stdout + version.stderr).startswith("aws-cli/2."):
            return candidate
    return None


def test_aws_cli_filter_log_events(served, function_logs):
    group, base = function_logs
    venv_aws = str(Path(sys.executable).parent / "aws")
    out = json.loads(aws(venv_aws, served, "logs", "filter-log-events", "--log-group-name", group,
                         "--filter-pattern", "RequestId", "--start-time", str(base)))
    assert [e["message"] for e in out["events"]] == [
        "START RequestId: r1 Version: $LATEST", "START RequestId: r2 Version: $LATEST",
        "END RequestId: r1", "END RequestId: r2"]
    assert [e["logStreamName"] for e in out["events"]] == [STREAM_A, STREAM_B, STREAM_A, STREAM_B]
    text = aws(venv_aws, served, "logs", "filter-log-events", "--log-group-name", group, "--output", "text",
               "--query", "events[].message", "--filter-pattern", "{ $.amount = 42 }")
    assert json.loads(text.strip()) == {"level": "INFO", "message": "paid", "amount": 42, "items": ["book", "pen"]}


def test_aws_cli_logs_tail(served, function_logs):
    executable = cli_with_tail()
    if executable is None:
        message = "`aws logs tail` needs the AWS CLI v2 (Debian: apt-get install awscli)"
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run installs it")
        pytest.skip(message)
    group, base = function_logs

    def line(offset: int, stream: str, message: str) -> str:
        stamp = datetime.fromtimestamp((base + offset) / 1000, UTC).isoformat(timespec="microseconds")
        return f"{stamp} {stream} {message}"

    out = aws(executable, served, "logs", "tail", group, "--since", "1h", "--color", "off")
    assert out.splitlines() == [
        line(0, STREAM_A, "START RequestId: r1 Version: $LATEST"),
        line(1, STREAM_B, "START RequestId: r2 Version: $LATEST"),
        line(2, STREAM_A, "[ERROR] ValueError: card declined"),
        line(3, STREAM_B, '{"level": "INFO", "message": "paid", "amount": 42, "items": ["book", "pen"]}'),
        line(4, STREAM_A, "END RequestId: r1"),
        line(5, STREAM_B, "END RequestId: r2"),
    ]
    short = aws(executable, served, "logs", "tail", group, "--since", "1h", "--format", "short",
                "--filter-pattern", "ERROR", "--color", "off")
    assert len(short.splitlines()) == 1 and short.rstrip().endswith("[ERROR] ValueError: card declined")
