"""The Runtime, Extensions, Telemetry and Logs APIs (rapid) through a real `lamina serve` and boto3:
the protocol's error paths answer as the reference says, and an extension in a layer registers,
receives INVOKE and SHUTDOWN, and its telemetry (or legacy Logs API) subscription receives the
platform events."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest

from support import ROLE, LaminaProcess, client_for, logs_of, make_zip

# A custom runtime in Python (the host's python3 is on PATH) that probes the error paths.
PROBING_BOOTSTRAP = """#!/usr/bin/env python3
import json, os, urllib.request, urllib.error
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"

def call(method, path, body=None, headers=None):
    request = urllib.request.Request(API + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()

previous = None
while True:
    status, headers, event = call("GET", "/invocation/next")
    rid = headers["Lambda-Runtime-Aws-Request-Id"]
    command = json.loads(event)
    probes = {"previous_double": previous, "headers": {k: v for k, v in headers.items() if k.startswith("Lambda-")}}
    for name, (method, path) in {"wrong_id": ("POST", "/invocation/not-the-id/response"),
                                 "init_error": ("POST", "/init/error"),
                                 "next_while_running": ("GET", "/invocation/next")}.items():
        code, _, body = call(method, path, b"{}" if method == "POST" else None)
        probes[name] = [code, json.loads(body)]
    if command.get("big"):
        code, _, body = call("POST", f"/invocation/{rid}/response", b"x" * 7_000_000)
        previous = [code, json.loads(body)]
        continue
    code, _, body = call("POST", f"/invocation/{rid}/response", json.dumps(probes).encode(),
                         {"Content-Type": "application/json"})
    assert code == 202 and json.loads(body) == {"status": "OK"}
    code, _, body = call("POST", f"/invocation/{rid}/response", b"{}")
    previous = [code, json.loads(body)]
"""

INIT_ERROR_BOOTSTRAP = """#!/usr/bin/env python3
import os, urllib.request
print("posting init error", flush=True)
request = urllib.request.Request(
    "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/init/error", method="POST",
    data=b'{"errorMessage": "no config", "errorType": "Custom.ConfigMissing", "stackTrace": []}',
    headers={"Lambda-Runtime-Function-Error-Type": "Runtime.ConfigMissing"})
urllib.request.urlopen(request)
"""

SIMPLE_BOOTSTRAP = """#!/usr/bin/env python3
import os, urllib.request
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
while True:
    with urllib.request.urlopen(API + "/invocation/next") as response:
        rid, event = response.headers["Lambda-Runtime-Aws-Request-Id"], response.read()
    print("handling", rid, flush=True)
    urllib.request.urlopen(urllib.request.Request(API + f"/invocation/{rid}/response", data=event, method="POST"))
"""

# A runtime whose HTTP client writes header names in lower case, as hyper (the Rust runtime and
# extension crates) and Node's clients do: an internal extension registers and polls, then each
# invoke answers with what the register call got.
LOWERCASE_HEADERS_BOOTSTRAP = """#!/usr/bin/env python3
import http.client, json, os, threading
HOST = os.environ["AWS_LAMBDA_RUNTIME_API"]
def call(method, path, body=None, headers=None):
    connection = http.client.HTTPConnection(HOST)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.getheader("lambda-extension-identifier"), response.read()
status, identifier, _ = call("POST", "/2020-01-01/extension/register", b'{"events": ["INVOKE"]}',
                             {"lambda-extension-name": "lowercase"})
def poll():
    while True:
        call("GET", "/2020-01-01/extension/event/next", None, {"lambda-extension-identifier": identifier})
if identifier:
    threading.Thread(target=poll, daemon=True).start()
while True:
    connection = http.client.HTTPConnection(HOST)
    connection.request("GET", "/2018-06-01/runtime/invocation/next")
    response = connection.getresponse()
    response.read()
    rid = response.getheader("lambda-runtime-aws-request-id")
    call("POST", f"/2018-06-01/runtime/invocation/{rid}/response", json.dumps([status, bool(identifier)]).encode(),
         {"content-type": "application/json"})
"""

# An external extension: registers for INVOKE and SHUTDOWN, subscribes to platform telemetry on its
# own listener, and reports what it receives as log lines.
EXTENSION = """#!/usr/bin/env python3
import http.server, json, os, sys, threading, urllib.request
BASE = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]
NAME = os.path.basename(sys.argv[0])

class Listener(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        events = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        for event in events:
            record = event["record"]
            detail = record.get("requestId", record.get("runtimeVersion", "")) if isinstance(record, dict) else ""
            print(f"EXT TELEMETRY {event['type']} {detail}", flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener)
threading.Thread(target=server.serve_forever, daemon=True).start()
register = urllib.request.Request(BASE + "/2020-01-01/extension/register", method="POST",
                                  data=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
                                  headers={"Lambda-Extension-Name": NAME, "Lambda-Extension-Accept-Feature": "accountId"})
with urllib.request.urlopen(register) as response:
    identifier = response.headers["Lambda-Extension-Identifier"]
    registered = json.loads(response.read())
    print("EXT REGISTERED", NAME, registered["functionName"], registered.get("accountId"), flush=True)
subscribe = urllib.request.Request(BASE + "/2022-07-01/telemetry", method="PUT", data=json.dumps({
    "schemaVersion": "2022-12-13", "types": ["platform", "function"], "buffering": {"timeoutMs": 25},
    "destination": {"protocol": "HTTP", "URI": f"http://sandbox.localdomain:{server.server_port}/t"}}).encode(),
    headers={"Lambda-Extension-Identifier": identifier, "Content-Type": "application/json"})
print("EXT SUBSCRIBED", urllib.request.urlopen(subscribe).status, flush=True)
while True:
    nxt = urllib.request.Request(BASE + "/2020-01-01/extension/event/next",
                                 headers={"Lambda-Extension-Identifier": identifier})
    with urllib.request.urlopen(nxt) as response:
        event = json.loads(response.read())
    if event["eventType"] == "INVOKE":
        print("EXT INVOKE", event["requestId"], event["invokedFunctionArn"], flush=True)
    else:
        print("EXT SHUTDOWN", event["shutdownReason"], flush=True)
        sys.exit(0)
"""


# An external extension on the legacy Logs API: subscribes during Init (twice: it is idempotent),
# then tries the Telemetry API too (refused: one API per extension) and, at its first INVOKE, the
# Logs API again (refused: subscriptions close with Init). Every event it receives is printed as
# one JSON line, so the test reads their shapes back from the function's log.
LOGS_EXTENSION = """#!/usr/bin/env python3
import http.server, json, os, sys, threading, urllib.error, urllib.request
BASE = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]
NAME = os.path.basename(sys.argv[0])

class Listener(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):  # it asked for PUT (destination.method), as the Logs API allows
        for event in json.loads(self.rfile.read(int(self.headers["Content-Length"]))):
            print("LOGSAPI", json.dumps(event), flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

def call(path, body, identifier):
    request = urllib.request.Request(BASE + path, method="PUT", data=json.dumps(body).encode(),
                                     headers={"Lambda-Extension-Identifier": identifier})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener)
threading.Thread(target=server.serve_forever, daemon=True).start()
register = urllib.request.Request(BASE + "/2020-01-01/extension/register", method="POST",
                                  data=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
                                  headers={"Lambda-Extension-Name": NAME})
with urllib.request.urlopen(register) as response:
    identifier = response.headers["Lambda-Extension-Identifier"]
subscription = {"schemaVersion": "2021-03-18", "types": ["platform", "function"],
                "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25},
                "destination": {"protocol": "HTTP", "URI": f"http://sandbox.localdomain:{server.server_port}/logs",
                                "method": "PUT", "encoding": "JSON"}}
print("LOGSAPI-SUBSCRIBE", json.dumps(call("/2020-08-15/logs", subscription, identifier)), flush=True)
print("LOGSAPI-AGAIN", json.dumps(call("/2020-08-15/logs", subscription, identifier)), flush=True)
print("LOGSAPI-TELEMETRY", json.dumps(call("/2022-07-01/telemetry", {**subscription, "schemaVersion": "2022-12-13"},
                                           identifier)), flush=True)
print("LOGSAPI-UNKNOWN", json.dumps(call("/2020-08-15/logs", subscription, "00000000-0000-4000-8000-000000000000")),
      flush=True)
late = None
while True:
    nxt = urllib.request.Request(BASE + "/2020-01-01/extension/event/next",
                                 headers={"Lambda-Extension-Identifier": identifier})
    with urllib.request.urlopen(nxt) as response:
        event = json.loads(response.read())
    if event["eventType"] == "SHUTDOWN":
        sys.exit(0)
    if late is None:
        late = call("/2020-08-15/logs", subscription, identifier)
        print("LOGSAPI-LATE", json.dumps(late), flush=True)
"""

def package(files: dict[str, str]) -> bytes:
    return make_zip(files, executable=lambda name: "bootstrap" in name or "extensions/" in name)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = LaminaProcess(tmp_path_factory.mktemp("rapid") / "data", env={"LAMINA_IDLE_TIMEOUT": "2"}).start()
    yield process
    process.stop()


def deploy(lam, name: str, files: dict[str, str], **extra) -> None:
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="anything",
                        Code={"ZipFile": package(files)}, **extra)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})


def invoke(lam, name: str, payload: dict, **extra):
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **extra)
    return response, json.loads(response["Payload"].read())


def test_error_paths_answer_as_the_reference_says(server):
    lam = client_for(server.url)
    deploy(lam, "probing", {"bootstrap": PROBING_BOOTSTRAP})
    response, probes = invoke(lam, "probing", {}, ClientContext=base64.b64encode(b'{"custom": {"a": 1}}').decode())
    assert "FunctionError" not in response
    assert probes["wrong_id"] == [400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}]
    assert probes["init_error"][0] == 403 and probes["init_error"][1]["errorType"] == "InvalidStateTransition"
    assert probes["next_while_running"][0] == 403
    assert probes["next_while_running"][1]["errorType"] == "InvalidStateTransition"
    headers = probes["headers"]
    assert headers["Lambda-Runtime-Invoked-Function-Arn"].endswith(":function:probing")
    assert int(headers["Lambda-Runtime-Deadline-Ms"]) > time.time() * 1000
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
    assert json.loads(headers["Lambda-Runtime-Client-Context"]) == {"custom": {"a": 1}}
    response, over = invoke(lam, "probing", {"big": True})
    assert response["FunctionError"] == "Unhandled"
    assert over == {"errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                    "errorType": "Function.ResponseSizeTooLarge"}
    _, probes = invoke(lam, "probing", {})
    assert probes["previous_double"] == [413, {
        "errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).", "errorType": "RequestEntityTooLarge"}]
    _, probes = invoke(lam, "probing", {})
    assert probes["previous_double"] == [400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}]


def test_header_names_are_case_insensitive(server):
    lam = client_for(server.url)
    deploy(lam, "lowercase", {"bootstrap": LOWERCASE_HEADERS_BOOTSTRAP}, Timeout=5)
    response, body = invoke(lam, "lowercase", {})
    assert "FunctionError" not in response
    assert body == [200, True]  # registered: the name was read from `lambda-extension-name`


def test_init_error_is_the_invoke_error(server):
    lam = client_for(server.url)
    deploy(lam, "initfail", {"bootstrap": INIT_ERROR_BOOTSTRAP})
    response, body = invoke(lam, "initfail", {}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert body == {"errorMessage": "no config", "errorType": "Custom.ConfigMissing", "stackTrace": []}
    tail = base64.b64decode(response["LogResult"]).decode()
    # it posts it twice: the failed Init is retried inside the invoke (suppressed init), which fails too
    assert tail.count("posting init error") == 2
    assert "Phase: init\tStatus: error\tError Type: Custom.ConfigMissing" in tail
    assert "Phase: invoke\tStatus: error\tError Type: Custom.ConfigMissing\nSTART RequestId: " in tail


def test_missing_bootstrap_is_an_invalid_entrypoint(server):
    lam = client_for(server.url)
    deploy(lam, "noboot", {"README": "no bootstrap here"})
    response, body = invoke(lam, "noboot", {}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    # A platform error: AWS names the invoke's request id (reference 4.6, as observed in the field).
    request_id = response["ResponseMetadata"]["RequestId"]
    assert body == {"errorMessage": f"RequestId: {request_id} Error: Couldn't find valid bootstrap(s): "
                                    "[/var/task/bootstrap /opt/bootstrap]",
                    "errorType": "Runtime.InvalidEntrypoint"}
    # retried inside the invoke (suppressed init); the retry's failure names the invoke after its START
    lines = [re.sub(r"Duration: [\d.]+ ms", "Duration: N ms", line)
             for line in base64.b64decode(response["LogResult"]).decode().splitlines()]
    assert lines[1:6] == [
        "INIT_REPORT Init Duration: N ms\tPhase: init\tStatus: error\tError Type: Runtime.InvalidEntrypoint",
        "INIT_REPORT Init Duration: N ms\tPhase: invoke\tStatus: error\tError Type: Runtime.InvalidEntrypoint",
        f"START RequestId: {request_id} Version: $LATEST",
        f"RequestId: {request_id} Error: Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]",
        "Runtime.InvalidEntrypoint"]
    assert lines[6] == f"END RequestId: {request_id}"
    assert lines[7].endswith("\tStatus: error\tError Type: Runtime.InvalidEntrypoint")
    lam.create_function(FunctionName="noexec", Runtime="provided.al2023", Role=ROLE, Handler="anything",
                        Code={"ZipFile": make_zip({"bootstrap": SIMPLE_BOOTSTRAP})})  # not executable
    lam.get_waiter("function_active_v2").wait(FunctionName="noexec", WaiterConfig={"Delay": 0.1})
    response, body = invoke(lam, "noexec", {})
    request_id = response["ResponseMetadata"]["RequestId"]
    assert body == {"errorMessage": f"RequestId: {request_id} Error: fork/exec /var/task/bootstrap: permission denied",
                    "errorType": "Runtime.InvalidEntrypoint"}


def test_an_extension_in_a_layer_gets_invoke_shutdown_and_telemetry(server):
    lam = client_for(server.url)
    layer = lam.publish_layer_version(LayerName="probe-extension", Content={"ZipFile": package(
        {"extensions/probe": EXTENSION})})
    deploy(lam, "extended", {"bootstrap": SIMPLE_BOOTSTRAP}, Layers=[layer["LayerVersionArn"]])
    response = lam.invoke(FunctionName="extended", Payload=b'{"hello": "world"}', LogType="Tail")
    assert json.loads(response["Payload"].read()) == {"hello": "world"}
    request_id = response["ResponseMetadata"]["RequestId"]
    tail = base64.b64decode(response["LogResult"]).decode()
    account = lam.get_function(FunctionName="extended")["Configuration"]["FunctionArn"].split(":")[4]
    # it asked for the accountId feature (Lambda-Extension-Accept-Feature), so the answer names it
    assert f"EXT REGISTERED probe extended {account}" in tail and "EXT SUBSCRIBED 200" in tail
    messages = logs_of(server, "extended", f"EXT TELEMETRY platform.report {request_id}")
    assert any(m.startswith(f"EXT INVOKE {request_id} arn:aws:lambda:") for m in messages)
    for kind in ("platform.initStart", "platform.initRuntimeDone", "platform.initReport",
                 "platform.extension", "platform.telemetrySubscription"):
        assert any(m.startswith(f"EXT TELEMETRY {kind}") for m in messages), kind
    assert "EXT TELEMETRY platform.initStart provided:al2023.v1\n" in messages  # as INIT_START names it
    for kind in ("platform.start", "platform.runtimeDone", "platform.report"):
        assert f"EXT TELEMETRY {kind} {request_id}\n" in messages, kind  # printed lines keep their newline
    assert "EXT TELEMETRY function \n" in messages  # the runtime's "handling" line
    messages = logs_of(server, "extended", "EXT SHUTDOWN spindown")  # reaped after LAMINA_IDLE_TIMEOUT
    assert "EXT SHUTDOWN spindown\n" in messages


def test_an_extension_on_the_logs_api_receives_the_2020_08_15_events(server):
    lam = client_for(server.url)
    layer = lam.publish_layer_version(LayerName="logs-extension", Content={"ZipFile": package(
        {"extensions/logsprobe": LOGS_EXTENSION})})
    deploy(lam, "logsapi", {"bootstrap": SIMPLE_BOOTSTRAP}, Layers=[layer["LayerVersionArn"]], MemorySize=256)
    request_ids = []
    for _ in range(2):
        response = lam.invoke(FunctionName="logsapi", Payload=b'{"hello": "logs"}')
        assert json.loads(response["Payload"].read()) == {"hello": "logs"}
        request_ids.append(response["ResponseMetadata"]["RequestId"])
    first, second = request_ids
    messages = logs_of(server, "logsapi", f'"type": "platform.report", "record": {{"requestId": "{second}"')

    def replies(prefix):
        return [json.loads(m.split(" ", 1)[1]) for m in messages if m.startswith(prefix + " ")]

    assert replies("LOGSAPI-SUBSCRIBE") == [[200, "OK"]]
    assert replies("LOGSAPI-AGAIN") == [[200, "OK"]]  # idempotent
    assert replies("LOGSAPI-TELEMETRY") == [[400, {
        "errorMessage": "Extension logsprobe is already subscribed to the Logs API", "errorType": "ValidationError"}]]
    assert replies("LOGSAPI-UNKNOWN") == [[403, {
        "errorMessage": "Unknown extension 00000000-0000-4000-8000-000000000000",
        "errorType": "Extension.UnknownExtensionIdentifier"}]]
    assert replies("LOGSAPI-LATE") == [[403, {
        "errorMessage": "Logs API subscription is closed already", "errorType": "Logs.SubscriptionClosed"}]]
    events = replies("LOGSAPI")
    assert all(set(event) == {"time", "type", "record"} and event["time"].endswith("Z") for event in events)

    def of(kind, request_id=None):
        return [e["record"] for e in events
                if e["type"] == kind and (request_id is None or e["record"]["requestId"] == request_id)]

    # one subscription (the second subscribe added none), announced in the Logs API's own event
    assert of("platform.logsSubscription") == [{"name": "logsprobe", "state": "Subscribed",
                                                "types": ["platform", "function"]}]
    assert of("platform.extension") == [{"name": "logsprobe", "state": "Ready", "events": ["INVOKE", "SHUTDOWN"]}]
    assert not {"platform.initStart", "platform.initRuntimeDone", "platform.initReport",
                "platform.telemetrySubscription"} & {e["type"] for e in events}
    for request_id in request_ids:
        assert of("platform.start", request_id) == [{"requestId": request_id, "version": "$LATEST"}]
        assert of("platform.runtimeDone", request_id) == [{"requestId": request_id, "status": "success"}]
        assert of("platform.end", request_id) == [{"requestId": request_id}]
        [report] = of("platform.report", request_id)
        assert set(report) == {"requestId", "metrics"}
        metrics = report["metrics"]
        assert metrics["memorySizeMB"] == 256 and metrics["billedDurationMs"] >= metrics["durationMs"] > 0
        assert 0 < metrics["maxMemoryUsedMB"] <= 256
        assert ("initDurationMs" in metrics) == (request_id == first)  # a cold start's report only
    assert f"handling {first}" in of("function") and f"handling {second}" in of("function")
    order = [(e["type"], e["record"].get("requestId") if isinstance(e["record"], dict) else e["record"])
             for e in events]
    assert order.index(("platform.start", first)) < order.index(("function", f"handling {first}")) \
        < order.index(("platform.end", first)) < order.index(("platform.report", first))


EXITING_BOOTSTRAP = """#!/usr/bin/env python3
import os, urllib.request
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
urllib.request.urlopen(API + "/invocation/next").read()
os._exit(3)
"""


def test_a_runtime_gone_mid_invoke_with_a_logs_subscriber_is_an_exit_error(server):
    # rapid tells its Logs API subscriber (platform.fault) before it exits with the runtime's status
    lam = client_for(server.url)
    layer = lam.publish_layer_version(LayerName="logs-extension-exit", Content={"ZipFile": package(
        {"extensions/logsprobe": LOGS_EXTENSION})})
    deploy(lam, "logsexit", {"bootstrap": EXITING_BOOTSTRAP}, Layers=[layer["LayerVersionArn"]])
    response, body = invoke(lam, "logsexit", {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
