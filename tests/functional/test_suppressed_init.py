"""AWS's "suppressed init" through a real `lamina serve`: an on-demand Init that fails (an error,
the 10 s Init timeout) is tried again inside the first event, in a fresh process, under the
function timeout, and logged with `Phase: invoke` (docs/architecture.md, "Suppressed init").

The logs are read back through the CloudWatch Logs API; a module that fails only the first time
asks a counter this test serves on the loopback (the retry's process is a new one, so nothing in
it remembers the first attempt)."""

from __future__ import annotations

import base64
import http.server
import json
import re
import threading
import time

import pytest

from support import ROLE, LaminaProcess, client_for, make_zip

# a module whose Init fails only the first time it runs: the counter says which run this is
FIRST_TIME_FAILS = """import os, urllib.request
RUN = int(urllib.request.urlopen(os.environ["COUNTER_URL"] + "/" + os.environ["AWS_LAMBDA_FUNCTION_NAME"]).read())
if RUN == 1:
    raise ImportError("the first Init fails")

def handler(event, context):
    return {"run": RUN, "left_ms": context.get_remaining_time_in_millis()}
"""

# a custom runtime doing the same, reporting the first failure through /init/error
FIRST_TIME_FAILS_BOOTSTRAP = """#!/usr/bin/env python3
import os, urllib.request
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
run = int(urllib.request.urlopen(os.environ["COUNTER_URL"] + "/" + os.environ["AWS_LAMBDA_FUNCTION_NAME"]).read())
if run == 1:
    urllib.request.urlopen(urllib.request.Request(API + "/init/error", method="POST",
        data=b'{"errorMessage": "first run", "errorType": "Custom.FirstRun", "stackTrace": []}',
        headers={"Lambda-Runtime-Function-Error-Type": "Custom.FirstRun"}))
    raise SystemExit(1)
while True:
    with urllib.request.urlopen(API + "/invocation/next") as response:
        rid, event = response.headers["Lambda-Runtime-Aws-Request-Id"], response.read()
    urllib.request.urlopen(urllib.request.Request(API + f"/invocation/{rid}/response", data=str(run).encode(),
                                                  method="POST"))
"""

# an external extension printing the phase of the Init events the Telemetry API sends it
PHASE_EXTENSION = """#!/usr/bin/env python3
import http.server, json, os, sys, threading, urllib.request
BASE = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]

class Listener(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        for event in json.loads(self.rfile.read(int(self.headers["Content-Length"]))):
            if event["type"].startswith("platform.init"):
                print("EXT", event["type"], event["record"]["phase"], event["record"].get("status", "-"), flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener)
threading.Thread(target=server.serve_forever, daemon=True).start()
register = urllib.request.Request(BASE + "/2020-01-01/extension/register", method="POST",
                                  data=json.dumps({"events": ["INVOKE"]}).encode(),
                                  headers={"Lambda-Extension-Name": "phase"})
with urllib.request.urlopen(register) as response:
    identifier = response.headers["Lambda-Extension-Identifier"]
urllib.request.urlopen(urllib.request.Request(BASE + "/2022-07-01/telemetry", method="PUT", data=json.dumps({
    "schemaVersion": "2022-12-13", "types": ["platform"], "buffering": {"timeoutMs": 25},
    "destination": {"protocol": "HTTP", "URI": f"http://sandbox.localdomain:{server.server_port}/t"}}).encode(),
    headers={"Lambda-Extension-Identifier": identifier, "Content-Type": "application/json"}))
while True:
    with urllib.request.urlopen(urllib.request.Request(BASE + "/2020-01-01/extension/event/next",
                                headers={"Lambda-Extension-Identifier": identifier})) as response:
        response.read()
"""


class Counter(http.server.BaseHTTPRequestHandler):
    """GET /<name>: how many times <name> asked (1 the first time)."""

    counts: dict[str, int] = {}

    def do_GET(self):
        name = self.path.strip("/")
        Counter.counts[name] = Counter.counts.get(name, 0) + 1
        body = str(Counter.counts[name]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def counter():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def deploy(lam, name: str, files: dict[str, str], counter: str, runtime: str = "python3.12",
           handler: str = "app.handler", **extra) -> None:
    lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                        Code={"ZipFile": make_zip(files, executable=lambda n: "bootstrap" in n or "extensions/" in n)},
                        Environment={"Variables": {"COUNTER_URL": counter}}, **extra)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})


def messages_of(lamina, name: str, until: str, timeout: float = 20.0) -> list[str]:
    """The function's log events, through the CloudWatch Logs API, once one starts with `until`."""
    logs = client_for(lamina.url, "logs")
    deadline = time.monotonic() + timeout
    while True:
        try:
            messages = [e["message"] for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]]
        except logs.exceptions.ResourceNotFoundException:
            messages = []
        if any(m.startswith(until) for m in messages) or time.monotonic() > deadline:
            return messages
        time.sleep(0.2)


def platform(messages: list[str]) -> list[str]:
    """The platform's lines with their measured numbers written N (and INIT_START without its ARN)."""
    out = []
    for message in messages:
        if message.startswith(("INIT_", "START ", "END ", "REPORT ")):
            message = re.sub(r"(Duration|Memory Used): [\d.]+ ", r"\1: N ", message)
            out.append(re.sub(r"RequestId: [0-9a-f-]{36}", "RequestId: R", message.split("\tRuntime Version ARN")[0]))
    return out


def test_an_import_error_is_retried_inside_the_invoke_and_its_second_failure_answers(lamina, counter):
    lam = client_for(lamina.url)
    deploy(lam, "si-import", {"app.py": "import no_such_module\n"}, counter)
    response = lam.invoke(FunctionName="si-import", Payload=b"{}", LogType="Tail")
    body = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert body == {"errorMessage": "Unable to import module 'app': No module named 'no_such_module'",
                    "errorType": "Runtime.ImportModuleError", "requestId": "", "stackTrace": []}
    error = "\tStatus: error\tError Type: Runtime.ImportModuleError"
    expected = [
        "INIT_START Runtime Version: python:3.12.v1",
        f"INIT_REPORT Init Duration: N ms\tPhase: init{error}",  # the first Init, in its own process
        f"INIT_REPORT Init Duration: N ms\tPhase: invoke{error}",  # the retry, inside the invoke
        "START RequestId: R Version: $LATEST",
        "END RequestId: R",
        f"REPORT RequestId: R\tDuration: N ms\tBilled Duration: N ms\tMemory Size: 128 MB\tMax Memory Used: N MB{error}",
    ]
    messages = messages_of(lamina, "si-import", "REPORT ")
    assert platform(messages) == expected
    # each Init logged its error before its INIT_REPORT
    reports = [i for i, m in enumerate(messages) if m.startswith("INIT_REPORT")]
    errors = [i for i, m in enumerate(messages) if m.startswith("[ERROR] Runtime.ImportModuleError: Unable to import")]
    assert len(errors) == 2 and errors[0] < reports[0] < errors[1] < reports[1]
    tail = base64.b64decode(response["LogResult"]).decode()
    assert f"Phase: invoke{error}\nSTART RequestId: " in tail


def test_a_module_that_fails_only_the_first_time_succeeds_on_the_retry_and_stays_warm(lamina, counter):
    lam = client_for(lamina.url)
    deploy(lam, "si-once", {"app.py": FIRST_TIME_FAILS}, counter, Timeout=5)
    response = lam.invoke(FunctionName="si-once", Payload=b"{}")
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response
    assert body["run"] == 2  # the retried Init ran the module a second time, in a fresh process
    assert 4000 < body["left_ms"] <= 5000  # the event's clock started with the retry
    messages = messages_of(lamina, "si-once", "REPORT ")
    assert platform(messages) == [
        "INIT_START Runtime Version: python:3.12.v1",
        "INIT_REPORT Init Duration: N ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError",
        "START RequestId: R Version: $LATEST",
        "END RequestId: R",
        # the retried Init is in Duration: no Init Duration
        "REPORT RequestId: R\tDuration: N ms\tBilled Duration: N ms\tMemory Size: 128 MB\tMax Memory Used: N MB",
    ]
    again = lam.invoke(FunctionName="si-once", Payload=b"{}", LogType="Tail")
    assert json.loads(again["Payload"].read())["run"] == 2  # warm: the environment of the retry, no Init
    assert "INIT_" not in base64.b64decode(again["LogResult"]).decode()
    assert Counter.counts["si-once"] == 2


def test_a_custom_runtime_retries_too_and_its_extensions_see_phase_invoke(lamina, counter):
    lam = client_for(lamina.url)
    layer = lam.publish_layer_version(LayerName="si-phase", Content={"ZipFile": make_zip(
        {"extensions/phase": PHASE_EXTENSION}, executable=lambda n: True)})
    deploy(lam, "si-custom", {"bootstrap": FIRST_TIME_FAILS_BOOTSTRAP}, counter, runtime="provided.al2023",
           handler="any", Layers=[layer["LayerVersionArn"]])
    response = lam.invoke(FunctionName="si-custom", Payload=b"{}")
    assert "FunctionError" not in response and response["Payload"].read() == b"2"
    messages = messages_of(lamina, "si-custom", "EXT platform.initReport invoke")  # telemetry comes batched
    assert platform(messages)[1:] == [
        "INIT_REPORT Init Duration: N ms\tPhase: init\tStatus: error\tError Type: Custom.FirstRun",
        "START RequestId: R Version: $LATEST", "END RequestId: R",
        "REPORT RequestId: R\tDuration: N ms\tBilled Duration: N ms\tMemory Size: 128 MB\tMax Memory Used: N MB"]
    phases = [m.strip() for m in messages if m.startswith("EXT platform.init")]
    # (the failed Init's tree is ended as soon as it reports: its last events may not reach the extension)
    assert phases[0] == "EXT platform.initStart init -"
    assert phases[-3:] == ["EXT platform.initStart invoke -", "EXT platform.initRuntimeDone invoke success",
                           "EXT platform.initReport invoke success"]


def test_an_init_past_10_seconds_is_retried_under_the_function_timeout(lamina, counter):
    lam = client_for(lamina.url)
    deploy(lam, "si-slow", {"app.py": "import time\ntime.sleep(12)\n\ndef handler(e, c):\n    return 1\n"},
           counter, Timeout=2)
    began = time.monotonic()
    response = lam.invoke(FunctionName="si-slow", Payload=b"{}")
    assert 12 <= time.monotonic() - began < 20  # 10 s of Init, then the 2 s function timeout
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read()) == {
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 2.00 seconds",
        "errorType": "Sandbox.Timedout"}
    messages = messages_of(lamina, "si-slow", "REPORT ")
    assert platform(messages) == [
        "INIT_START Runtime Version: python:3.12.v1",
        "INIT_REPORT Init Duration: N ms\tPhase: init\tStatus: timeout",
        "INIT_REPORT Init Duration: N ms\tPhase: invoke\tStatus: timeout",
        "START RequestId: R Version: $LATEST",
        "END RequestId: R",
        "REPORT RequestId: R\tDuration: N ms\tBilled Duration: N ms\tMemory Size: 128 MB\tMax Memory Used: N MB"
        "\tStatus: timeout",
    ]
    first, retried = (float(re.search(r"Init Duration: ([\d.]+) ms", m).group(1))
                      for m in messages if m.startswith("INIT_REPORT"))
    assert 10000 <= first < 11000 and 2000 <= retried < 3000
    timed_out = [m for m in messages if f"{request_id} Task timed out after 2.0" in m]
    assert len(timed_out) == 1


@pytest.mark.parametrize("backend", ["bubblewrap", "process"])
def test_every_sandbox_backend_retries_in_a_fresh_process(tmp_path, counter, backend):
    server = LaminaProcess(tmp_path / "data", env={"LAMINA_SANDBOX": backend})
    try:
        server.start()
    except RuntimeError as exc:
        pytest.skip(f"the {backend} backend cannot run here: {str(exc).strip().splitlines()[-1]}")
    try:
        lam = client_for(server.url)
        name = f"si-{backend}"
        deploy(lam, name, {"app.py": FIRST_TIME_FAILS}, counter, Timeout=5)
        for _ in range(2):  # the retry's environment stays warm
            response = lam.invoke(FunctionName=name, Payload=b"{}")
            assert "FunctionError" not in response
            assert json.loads(response["Payload"].read())["run"] == 2
        assert Counter.counts[name] == 2
    finally:
        server.stop()
