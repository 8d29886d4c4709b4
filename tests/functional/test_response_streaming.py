"""Response streaming end to end through a real server: InvokeWithResponseStream read by boto3 and
RESPONSE_STREAM function URLs read by a raw HTTP client receive the first chunk before the function
returns (the function's own timestamps, on the same clock, prove it), from lamina's Node runtime
(awslambda.streamifyResponse, HttpResponseStream.from) and from a custom runtime speaking the
Runtime API's streaming mode; errors arrive as InvokeComplete / trailers; a managed Python function
answers with its whole response as one chunk; a client that leaves mid-stream leaves nothing running."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time

import pytest

from support import ROLE, LaminaProcess, client_for, make_zip

PAUSE_MS = 1500


def node_runtime() -> str | None:
    """The nodejsNN.x runtime the host's node runs (Debian's node 18 included: the server allows
    deprecated runtimes), or None without a node."""
    node = shutil.which("node")
    if node is None:
        return None
    major = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip().lstrip("v").split(".")[0]
    return f"nodejs{major}.x"

NODE_HANDLER = """
exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  let stream = responseStream;
  const input = event.requestContext ? JSON.parse(event.body || "{}") : event;
  if (event.requestContext) {
    stream = awslambda.HttpResponseStream.from(responseStream,
      { statusCode: 201, headers: { "x-streamed": "node" }, cookies: ["s=1"] });
  } else {
    stream.setContentType("text/plain");
  }
  if (input.forever) {
    for (;;) {
      stream.write("tick " + Date.now() + "\\n");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  stream.write(JSON.stringify({ first: Date.now() }) + "\\n");
  await new Promise((resolve) => setTimeout(resolve, PAUSE));
  if (input.fail) throw new Error("failed mid-stream");
  stream.write({ last: Date.now() });
  stream.end();
});
""".replace("PAUSE", str(PAUSE_MS))

BOOTSTRAP = """#!/usr/bin/env python3
import base64, http.client, json, os, time
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
while True:
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    response = conn.getresponse()
    event = json.loads(response.read())
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    url = "requestContext" in event
    conn.putrequest("POST", f"/2018-06-01/runtime/invocation/{request_id}/response")
    conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Trailer", "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body")
    conn.putheader("Content-Type", "application/vnd.awslambda.http-integration-response" if url else "text/plain")
    conn.endheaders()
    def chunk(data):
        conn.send(b"%x\\r\\n%s\\r\\n" % (len(data), data))
    if event.get("size"):
        block = bytes(range(256)) * 256
        for _ in range(event["size"] // len(block)):
            chunk(block)
        conn.send(b"0\\r\\n\\r\\n")
        conn.getresponse().read()
        conn.close()
        continue
    if url:
        chunk(json.dumps({"statusCode": 202, "headers": {"x-streamed": "custom"}}).encode() + bytes(8))
    chunk((json.dumps({"first": int(time.time() * 1000)}) + "\\n").encode())
    time.sleep(PAUSE)
    if event.get("fail"):
        error = base64.b64encode(json.dumps({"errorMessage": "broke", "errorType": "StreamError"}).encode())
        conn.send(b"0\\r\\nLambda-Runtime-Function-Error-Type: StreamError\\r\\n"
                  b"Lambda-Runtime-Function-Error-Body: " + error + b"\\r\\n\\r\\n")
    else:
        chunk((json.dumps({"last": int(time.time() * 1000)}) + "\\n").encode())
        conn.send(b"0\\r\\n\\r\\n")
    conn.getresponse().read()
    conn.close()
""".replace("PAUSE", str(PAUSE_MS / 1000))


def package(files: dict[str, str]) -> bytes:
    return make_zip(files, executable=lambda name: name == "bootstrap")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = LaminaProcess(tmp_path_factory.mktemp("streaming") / "data",
                            env={"LAMINA_ALLOW_DEPRECATED_RUNTIMES": "1"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def lam(server):
    client = client_for(server.url)
    functions = {"custom": ("provided.al2023", "anything", {"bootstrap": BOOTSTRAP}),
                 "py": ("python3.12", "app.handler", {"app.py": "def handler(event, context):\n"
                                                                 "    if event.get('fail'):\n"
                                                                 "        raise ValueError('no')\n"
                                                                 "    return {'whole': True}\n"})}
    if node_runtime():
        functions["node"] = (node_runtime(), "index.handler", {"index.js": NODE_HANDLER})
    for name, (runtime, handler, files) in functions.items():
        client.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler, Timeout=30,
                               Code={"ZipFile": package(files)})
        client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
        client.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM")
    return client


def _runtimes():
    node = pytest.param("node", marks=pytest.mark.skipif(not shutil.which("node"), reason="needs node (apt nodejs)"))
    return [node, "custom"]


@pytest.mark.parametrize("name", _runtimes())
def test_invoke_with_response_stream_delivers_chunks_before_the_function_returns(lam, name):
    response = lam.invoke_with_response_stream(FunctionName=name, Payload=b"{}", LogType="Tail")
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert response["ResponseStreamContentType"] == "application/vnd.amazon.eventstream"
    chunks, arrivals, complete = [], [], None
    for event in response["EventStream"]:
        if "PayloadChunk" in event:
            chunks.append(event["PayloadChunk"]["Payload"])
            arrivals.append(time.time() * 1000)
        else:
            complete = event["InvokeComplete"]
    body = b"".join(chunks).decode()
    lines = [json.loads(line) for line in body.strip().split("\n")]
    first_arrival = arrivals[0]
    assert lines[0]["first"] <= first_arrival < lines[-1]["last"], (lines, arrivals)
    assert "ErrorCode" not in complete
    assert "START RequestId" in __import__("base64").b64decode(complete["LogResult"]).decode()


@pytest.mark.parametrize("name", _runtimes())
def test_a_failure_mid_stream_ends_with_invoke_complete_error(lam, name):
    response = lam.invoke_with_response_stream(FunctionName=name, Payload=b'{"fail": true}')
    events = list(response["EventStream"])
    assert "PayloadChunk" in events[0]
    complete = events[-1]["InvokeComplete"]
    expected = "Error" if name == "node" else "StreamError"
    assert complete["ErrorCode"] == expected
    assert json.loads(complete["ErrorDetails"])["errorType"] == expected


def test_python_answers_a_stream_with_its_whole_response_as_one_chunk(lam):
    response = lam.invoke_with_response_stream(FunctionName="py", Payload=b"{}")
    events = list(response["EventStream"])
    assert [list(event) for event in events] == [["PayloadChunk"], ["InvokeComplete"]]
    assert json.loads(events[0]["PayloadChunk"]["Payload"]) == {"whole": True}
    failed = list(lam.invoke_with_response_stream(FunctionName="py", Payload=b'{"fail": true}')["EventStream"])
    assert [list(event) for event in failed] == [["InvokeComplete"]]
    assert failed[0]["InvokeComplete"]["ErrorCode"] == "ValueError"


def test_invoke_with_response_stream_refuses_event_invocations(lam):
    with pytest.raises(lam.exceptions.ClientError) as caught:
        lam.invoke_with_response_stream(FunctionName="py", InvocationType="Event", Payload=b"{}")
    assert "Member must satisfy enum value set: [RequestResponse, DryRun]" in str(caught.value)
    assert lam.invoke_with_response_stream(FunctionName="py", InvocationType="DryRun")["StatusCode"] == 204


def test_buffered_invoke_of_a_streaming_function_collects_the_stream(lam):
    response = lam.invoke(FunctionName="custom", Payload=b"{}")
    lines = response["Payload"].read().decode().strip().split("\n")
    assert set(json.loads(lines[0])) == {"first"} and set(json.loads(lines[-1])) == {"last"}


def _raw_get(server, url_id: str, path: str = "/"):
    """A streamed URL response read chunk by chunk off the socket: (head, [(arrival ms, bytes)])."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(f"GET /lambda-url/{url_id}{path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    reader = sock.makefile("rb")
    head = []
    while (line := reader.readline()) not in (b"\r\n", b""):
        head.append(line.decode().strip())
    pieces = []
    while True:
        size = int(reader.readline().strip(), 16)
        if size == 0:
            break
        pieces.append((time.time() * 1000, reader.read(size)))
        reader.readline()
    sock.close()
    return head, pieces


@pytest.mark.parametrize("name", _runtimes())
def test_a_streaming_url_answers_chunked_as_bytes_arrive(lam, server, name):
    url_id = lam.get_function_url_config(FunctionName=name)["FunctionUrl"].split("//")[1].split(".")[0]
    head, pieces = _raw_get(server, url_id)
    status = 201 if name == "node" else 202
    assert head[0].startswith(f"HTTP/1.1 {status} ")
    headers = [line.lower() for line in head[1:]]
    assert "transfer-encoding: chunked" in headers
    assert f"x-streamed: {name}" in headers
    if name == "node":
        assert "set-cookie: s=1" in headers
    body = b"".join(data for _, data in pieces).decode()
    lines = [json.loads(line) for line in body.replace("}{", "}\n{").strip().split("\n")]
    assert lines[0]["first"] <= pieces[0][0] < lines[-1]["last"]


def test_a_client_leaving_mid_stream_stops_the_function(lam, server):
    if not shutil.which("node"):
        pytest.skip("needs node (apt nodejs)")
    url_id = lam.get_function_url_config(FunctionName="node")["FunctionUrl"].split("//")[1].split(".")[0]
    body = b'{"forever": true}'
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(f"POST /lambda-url/{url_id}/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    assert b"tick" in sock.recv(65536) or b"tick" in sock.recv(65536)
    counts = server.health()["counts"]
    assert counts["busy"] == 1
    sock.close()
    deadline = time.monotonic() + 20
    while server.health()["counts"]["environments"] >= counts["environments"] and time.monotonic() < deadline:
        time.sleep(0.1)
    after = server.health()["counts"]
    assert (after["busy"], after["inFlight"]) == (0, 0)
    assert after["environments"] == counts["environments"] - 1  # its environment was ended, not kept warm
    # the environment that served it was ended with its event, and the function still answers
    response = lam.invoke_with_response_stream(FunctionName="node", Payload=b"{}")
    assert any("PayloadChunk" in event for event in response["EventStream"])


def test_a_large_stream_arrives_whole_through_backpressure_and_the_bandwidth_cap(lam):
    size = 7 * 1024 * 1024  # past the 6 MB sent at full speed
    response = lam.invoke_with_response_stream(FunctionName="custom", Payload=json.dumps({"size": size}).encode())
    data = b"".join(event["PayloadChunk"]["Payload"] for event in response["EventStream"] if "PayloadChunk" in event)
    assert len(data) == size and data[:256] == bytes(range(256))


def test_a_buffered_invoke_of_a_stream_over_6_mb_is_too_large(lam):
    response = lam.invoke(FunctionName="custom", Payload=json.dumps({"size": 7 * 1024 * 1024}).encode())
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Function.ResponseSizeTooLarge"
    assert lam.invoke(FunctionName="custom", Payload=b"{}")["StatusCode"] == 200  # a new environment answers
