"""The warm lane answers a warm Invoke exactly as the layered path does. Two real servers, one with
the warm lane (the default) and one with LAMINA_WARM_LANE=0, get the same warm invokes of the same
function over raw HTTP: status, every header (request ids and dates aside), the payload, the tail
of the log and the log group's lines must be the same. The outcomes cover a result, a handled
error, a timeout, a process that exits, a response too large, a client context, Tail, a qualifier
and an alias, and what is refused before anything runs (bad JSON, a throttle). Event invokes,
which the lane accepts at once, are answered alike too, and every event it accepted runs."""

from __future__ import annotations

import base64
import http.client
import json
import re
import time
import urllib.parse

import pytest

from support import LaminaProcess, client_for, logs_of, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
HANDLER = r'''
import json, os, sys, time

def handler(event, context):
    mode = event.get("mode") if isinstance(event, dict) else None
    if mode == "print":
        print("printed", event["n"])
        return {"n": event["n"]}
    if mode == "raise":
        raise ValueError("nope")
    if mode == "sleep":
        time.sleep(5)
    if mode == "exit":
        sys.stdout.flush()
        os._exit(3)
    if mode == "big":
        return "x" * 7_000_000
    if mode == "context":
        cc = context.client_context
        return {"custom": cc.custom if cc else None, "arn": context.invoked_function_arn,
                "left": 0 < context.get_remaining_time_in_millis() <= 2000}
    return event
'''
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NUMBERS = re.compile(r"\d+(\.\d+)?")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    on = LaminaProcess(tmp_path_factory.mktemp("on") / "data", env={"LAMINA_IDLE_TIMEOUT": "120"}).start()
    off = LaminaProcess(tmp_path_factory.mktemp("off") / "data",
                        env={"LAMINA_IDLE_TIMEOUT": "120", "LAMINA_WARM_LANE": "0"}).start()
    for server in (on, off):
        lam = client_for(server.url)
        lam.create_function(FunctionName="w", Runtime="python3.12", Role=ROLE, Handler="app.handler", Timeout=2,
                            Code={"ZipFile": make_zip({"app.py": HANDLER})})
        lam.get_waiter("function_active_v2").wait(FunctionName="w")
        lam.publish_version(FunctionName="w")
        lam.create_alias(FunctionName="w", Name="live", FunctionVersion="1")
        lam.create_function(FunctionName="none", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": HANDLER})})
        lam.get_waiter("function_active_v2").wait(FunctionName="none")
    yield on, off
    on.stop()
    off.stop()


def call(server: LaminaProcess, path: str, body: bytes, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, response.getheaders(), data


def normalised(status: int, headers: list[tuple[str, str]], body: bytes) -> tuple:
    """What must be equal: ids and times stood in for, durations and memory figures as N."""
    shown = []
    for name, value in headers:
        if name.lower() == "date":
            continue
        if name.lower() == "x-amz-log-result":
            tail = base64.b64decode(value).decode()
            value = NUMBERS.sub("N", UUID.sub(b"ID", tail.encode()).decode())
        shown.append((name.lower(), UUID.sub(b"ID", value.encode()).decode()))
    return status, shown, UUID.sub(b"ID", body)


def path(function: str, qualifier: str | None = None) -> str:
    query = f"?{urllib.parse.urlencode({'Qualifier': qualifier})}" if qualifier else ""
    return f"/2015-03-31/functions/{function}/invocations{query}"


def both(servers, function_path: str, body: bytes, headers: dict | None = None, warm_first: bool = True):
    """The normalised answer of each server, each invoked warm (an echo first) unless told."""
    answers = []
    for server in servers:
        if warm_first:
            assert call(server, function_path, b'{"mode": "echo"}')[0] == 200
        answers.append(normalised(*call(server, function_path, body, headers)))
    return answers


CC = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()


@pytest.mark.parametrize(("body", "headers", "qualifier"), [
    (b'{"mode": "echo", "a": [1, 2.5, "x", null]}', None, None),
    (b'{"mode": "print", "n": 7}', None, None),
    (b'{"mode": "raise"}', None, None),
    (b'{"mode": "context"}', {"X-Amz-Client-Context": CC}, None),
    (b'{"mode": "print", "n": 8}', {"X-Amz-Log-Type": "Tail"}, None),
    (b'{"mode": "raise"}', {"X-Amz-Log-Type": "Tail"}, None),
    (b'{"mode": "echo"}', None, "1"),
    (b'{"mode": "context"}', None, "live"),
    (b'  {"mode": "echo"}\n', None, None),
    (b"", None, None),
    (b'{"mode": "big"}', None, None),
    (b'{"mode": "sleep"}', None, None),
    (b'{"mode": "exit"}', None, None),
    (b'{"mode": ', None, None),
    (b'{"mode": "echo"}', {"X-Amz-Invocation-Type": "DryRun"}, None),
])
def test_a_warm_invoke_is_answered_alike_with_and_without_the_warm_lane(servers, body, headers, qualifier):
    with_lane, without = both(servers, path("w", qualifier), body, headers)
    assert with_lane == without
    assert with_lane[0] in (200, 204, 400)


def test_a_throttle_is_answered_alike(servers):
    for server in servers:
        client_for(server.url).put_function_concurrency(FunctionName="none", ReservedConcurrentExecutions=0)
    with_lane, without = both(servers, path("none"), b"{}", warm_first=False)
    assert with_lane == without and with_lane[0] == 429


def test_the_log_group_holds_the_same_lines(servers):
    streams = []
    for server in servers:
        for n in range(3):
            status, headers, _ = call(server, path("w"), json.dumps({"mode": "print", "n": 100 + n}).encode())
            assert status == 200
        rid = dict((name.lower(), value) for name, value in headers)["x-amzn-requestid"]
        messages = logs_of(server, "w", f"REPORT RequestId: {rid}")
        own = [m for m in messages if "printed 10" in m or any(f"RequestId: {r}" in m for r in [rid])]
        streams.append([NUMBERS.sub("N", UUID.sub(b"ID", m.encode()).decode()).rstrip("\n") for m in own])
    assert streams[0] == streams[1]
    assert [line.split(" ")[0] for line in streams[0][-4:]] == ["START", "printed", "END", "REPORT"]


def test_sequential_warm_invokes_reuse_one_environment(servers):
    on = servers[0]
    lam = client_for(on.url)
    lam.create_function(FunctionName="seq", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": HANDLER})})
    lam.get_waiter("function_active_v2").wait(FunctionName="seq")
    taken = on.health()["counts"]["warmLaneInvokes"]
    for _ in range(30):
        assert call(on, path("seq"), b'{"mode": "echo"}')[0] == 200
    assert on.health()["counts"]["warmLaneInvokes"] == taken + 29  # all but the first (a cold start)
    assert servers[1].health()["counts"]["warmLaneInvokes"] == 0  # LAMINA_WARM_LANE=0: none
    logs = client_for(on.url, "logs")
    deadline = time.monotonic() + 10
    while True:
        try:
            events = [event for event in logs.filter_log_events(logGroupName="/aws/lambda/seq")["events"]
                      if event["message"].startswith("START ")]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        if len(events) == 30 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(events) == 30
    assert len({event["logStreamName"] for event in events}) == 1  # one environment served them all


@pytest.mark.parametrize(("body", "headers", "function", "qualifier"), [
    (b'{"mode": "echo"}', None, "w", None),
    (b'{"mode": "echo"}', None, "w", "1"),
    (b'{"mode": "echo"}', None, "w", "live"),
    (b'{"mode": "echo"}', {"X-Amz-Log-Type": "Tail"}, "w", None),
    (b'  {"mode": "echo"}\n', None, "w", None),
    (b'{"mode": ', None, "w", None),
    (b'"' + b"x" * 1_048_600 + b'"', None, "w", None),  # over an Event's 1 MB
    (b'{"mode": "echo"}', None, "w", "9"),  # no such version
    (b'{"mode": "echo"}', None, "nowhere", None),
], ids=["event", "version", "alias", "tail", "whitespace", "bad json", "too large", "no version", "no function"])
def test_an_event_invoke_is_answered_alike_with_and_without_the_lane(servers, body, headers, function, qualifier):
    headers = {"X-Amz-Invocation-Type": "Event", **(headers or {})}
    if function == "w":  # its target cached (a RequestResponse invoke of the same qualifier first)
        for server in servers:
            assert call(server, path(function, qualifier), b'{"mode": "echo"}')[0] in (200, 404)
    with_lane, without = both(servers, path(function, qualifier), body, headers, warm_first=False)
    assert with_lane == without
    assert with_lane[0] in (202, 400, 404, 413)


def test_events_accepted_by_the_lane_run(servers):
    on, off = servers
    counts = []
    for server in servers:
        assert call(server, path("w"), b'{"mode": "echo"}')[0] == 200  # the target is cached
        taken = server.health()["counts"]["eventLaneAccepts"]
        for n in range(10):
            status, headers, body = call(server, path("w"), json.dumps({"mode": "print", "n": 300 + n}).encode(),
                                         {"X-Amz-Invocation-Type": "Event"})
            assert (status, body) == (202, b"")
        counts.append(server.health()["counts"]["eventLaneAccepts"] - taken)
        deadline = time.monotonic() + 30
        while True:
            printed = {m.strip() for m in logs_of(server, "w", "printed 30") if m.startswith("printed 30")}
            if len(printed) == 10 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert printed == {f"printed {300 + n}" for n in range(10)}  # every accepted event ran, once
    assert counts == [10, 0]  # LAMINA_WARM_LANE=0: none
