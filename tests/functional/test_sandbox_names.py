"""The names `sandbox`, `sandbox.localdomain` and `localhost` inside an execution environment, through
a real `lamina serve` and boto3: on Lambda they resolve to the environment's loopback, so a function
or an extension can listen on them (AWS's Go Logs API sample listens on `sandbox:PORT`, its Python
Telemetry sample on `sandbox.localdomain:PORT`) and the Telemetry API delivers to
`http://sandbox.localdomain:PORT/`. Checked for managed Python, managed Node (where the host has a
node), a custom runtime (provided.al2023, the OS's python3) and an external extension in a layer
(container images: test_images.py), on the isolating
backends (one that cannot start here is skipped with the server's reason, except under CI); the
process backend says in its notEnforced list that it cannot show them."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from support import CI, ROLE, LaminaProcess, client_for, logs_of, make_zip, server_or_skip

VERSION = "3.12"
NAMES = ("sandbox", "sandbox.localdomain", "localhost")

# Resolves each name, listens on it (any free port), connects to it by name and reads a greeting
# back: what an extension's listener does. Shared by the managed handler and the custom runtime.
PROBE = r'''
import socket, threading

def probe(names):
    seen = {}
    for name in names:
        try:
            address = socket.gethostbyname(name)
            listener = socket.create_server((name, 0))
            bound, port = listener.getsockname()[:2]
            def greet():
                connection, _ = listener.accept()
                connection.sendall(b"hello " + name.encode())
                connection.close()
            threading.Thread(target=greet, daemon=True).start()
            with socket.create_connection((name, port), timeout=5) as client:
                answer = client.recv(100).decode()
            listener.close()
            seen[name] = {"address": address, "bound": bound, "answer": answer}
        except OSError as exc:
            seen[name] = {"error": "%s: %s" % (type(exc).__name__, exc)}
    return seen
'''

HANDLER = PROBE + r'''
def handler(event, context):
    return {"names": probe(event["names"]), "hostname": socket.gethostname()}
'''

BOOTSTRAP = r'''#!/bin/sh
# a custom runtime whose client is the OS's python3
exec python3 - <<'EOF'
import json, os, urllib.request
''' + PROBE + r'''
api = "http://%s/2018-06-01/runtime/invocation/" % os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    with urllib.request.urlopen(api + "next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read())
    body = json.dumps({"names": probe(event["names"]), "hostname": socket.gethostname()}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=body, method="POST")).read()
EOF
'''

# An external extension that listens on `sandbox` (as AWS's Go sample does) and subscribes to the
# Telemetry API at `http://sandbox.localdomain:PORT/`: it fails to start where the names do not
# resolve, and prints each event it receives.
EXTENSION = r'''#!/usr/bin/env python3
import http.server, json, os, sys, threading, urllib.request
BASE = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]

class Listener(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        for event in json.loads(self.rfile.read(int(self.headers["Content-Length"]))):
            record = event["record"]
            print("NAMES TELEMETRY", event["type"], record.get("requestId", "") if isinstance(record, dict) else "",
                  flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("sandbox", 0), Listener)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("NAMES LISTENING", server.server_address[0], flush=True)
register = urllib.request.Request(BASE + "/2020-01-01/extension/register", method="POST",
                                  data=json.dumps({"events": ["INVOKE"]}).encode(),
                                  headers={"Lambda-Extension-Name": os.path.basename(sys.argv[0])})
with urllib.request.urlopen(register) as response:
    identifier = response.headers["Lambda-Extension-Identifier"]
subscribe = urllib.request.Request(BASE + "/2022-07-01/telemetry", method="PUT", data=json.dumps({
    "schemaVersion": "2022-12-13", "types": ["platform"], "buffering": {"timeoutMs": 25},
    "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:%d/" % server.server_port}}).encode(),
    headers={"Lambda-Extension-Identifier": identifier, "Content-Type": "application/json"})
print("NAMES SUBSCRIBED", urllib.request.urlopen(subscribe).status, flush=True)
while True:
    nxt = urllib.request.Request(BASE + "/2020-01-01/extension/event/next",
                                 headers={"Lambda-Extension-Identifier": identifier})
    with urllib.request.urlopen(nxt) as response:
        if json.loads(response.read())["eventType"] == "SHUTDOWN":
            sys.exit(0)
'''

# The same probe in Node (dns.lookup goes through the C library's resolver, as getaddrinfo does).
NODE_HANDLER = r"""
const dns = require("dns").promises;
const net = require("net");
async function probe(name) {
  try {
    const { address } = await dns.lookup(name, { family: 4 });
    const server = net.createServer((socket) => socket.end("hello " + name));
    await new Promise((resolve, reject) => server.once("error", reject).listen(0, name, resolve));
    const { address: bound, port } = server.address();
    const answer = await new Promise((resolve, reject) => {
      const client = net.connect(port, name);
      let data = "";
      client.on("data", (chunk) => { data += chunk; }).on("end", () => resolve(data)).on("error", reject);
    });
    server.close();
    return { address, bound, answer };
  } catch (error) {
    return { error: String(error) };
  }
}
exports.handler = async (event) => {
  const names = {};
  for (const name of event.names) names[name] = await probe(name);
  return { names, hostname: require("os").hostname() };
};
"""


def node_runtime() -> str | None:
    """The nodejsNN.x runtime the host's node runs, or None without a node."""
    node = shutil.which("node")
    if node is None:
        return None
    major = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip().lstrip("v").split(".")[0]
    return f"nodejs{major}.x"


ECHO_BOOTSTRAP = """#!/usr/bin/env python3
import os, urllib.request
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
while True:
    with urllib.request.urlopen(API + "/invocation/next") as response:
        rid, event = response.headers["Lambda-Runtime-Aws-Request-Id"], response.read()
    urllib.request.urlopen(urllib.request.Request(API + f"/invocation/{rid}/response", data=event, method="POST"))
"""


def _package(files: dict[str, str]) -> bytes:
    return make_zip(files, executable=lambda name: name == "bootstrap" or name.startswith("extensions/"))


@pytest.fixture(scope="module", params=["namespaces", "bubblewrap"])
def env(request, tmp_path_factory):
    backend = request.param
    server = server_or_skip(backend, tmp_path_factory.mktemp(f"names-{backend}") / "data")
    lam = client_for(server.url)
    lam.create_function(FunctionName="managed", Runtime=f"python{VERSION}", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": HANDLER})}, Timeout=30)
    lam.create_function(FunctionName="custom", Runtime="provided.al2023", Role=ROLE, Handler="x",
                        Code={"ZipFile": _package({"bootstrap": BOOTSTRAP})}, Timeout=30)
    layer = lam.publish_layer_version(LayerName="names-extension",
                                      Content={"ZipFile": _package({"extensions/names": EXTENSION})})
    lam.create_function(FunctionName="extended", Runtime="provided.al2023", Role=ROLE, Handler="x",
                        Code={"ZipFile": _package({"bootstrap": ECHO_BOOTSTRAP})}, Timeout=30,
                        Layers=[layer["LayerVersionArn"]])
    functions = ["managed", "custom", "extended"]
    if node_runtime():
        lam.create_function(FunctionName="node", Runtime=node_runtime(), Role=ROLE, Handler="index.handler",
                            Code={"ZipFile": make_zip({"index.js": NODE_HANDLER})}, Timeout=30)
        functions.append("node")
    for name in functions:
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    yield server, lam
    server.stop()


def _invoke(lam, name: str, event: dict, **extra) -> tuple[dict, dict]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **extra)
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return payload, response


@pytest.mark.parametrize("function", ["managed", "custom", "node"])
def test_a_function_listens_on_and_connects_to_the_sandbox_names(env, function):
    _, lam = env
    if function == "node" and not node_runtime():
        if CI:
            pytest.fail("CI installs nodejs")
        pytest.skip("no node on this host")
    seen, _ = _invoke(lam, function, {"names": list(NAMES)})
    for name in NAMES:
        assert seen["names"][name] == {"address": "127.0.0.1", "bound": "127.0.0.1", "answer": f"hello {name}"}, \
            (name, seen["names"][name])
    assert seen["hostname"] == "169.254.100.1"  # the environment's own host name is left as it was


def test_an_extension_listens_on_sandbox_and_receives_telemetry_at_sandbox_localdomain(env):
    server, lam = env
    _, response = _invoke(lam, "extended", {"hello": "names"}, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    messages = logs_of(server, "extended", f"NAMES TELEMETRY platform.report {request_id}")
    assert "NAMES LISTENING 127.0.0.1\n" in messages and "NAMES SUBSCRIBED 200\n" in messages, messages
    for kind in ("platform.start", "platform.runtimeDone", "platform.report"):
        assert f"NAMES TELEMETRY {kind} {request_id}\n" in messages, (kind, messages)


def test_the_process_backend_says_it_cannot_show_the_names(tmp_path):
    server = LaminaProcess(tmp_path / "data", env={"LAMINA_SANDBOX": "process"}).start()
    try:
        missing = " ".join(server.health()["sandbox"]["notEnforced"])
    finally:
        server.stop()
    assert "sandbox.localdomain" in missing and "/etc/hosts" in missing
