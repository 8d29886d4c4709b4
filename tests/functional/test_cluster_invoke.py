"""Sync invokes through a cluster front to two worker processes over NATS, on PostgreSQL: the Lambda
behaviour a caller sees (payload, function errors, log tail, 5 MB payloads, streamed responses),
warm affinity (repeat invokes reuse one environment), concurrent invokes spread over both workers,
and kill -9 of the worker running an invoke (ServiceException within seconds, then the survivor
serves)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cluster_support import Cluster
from images_support import RegistryProcess, build_and_push, missing_tools
from support import ROLE, client_for, make_zip, wait_for

HANDLER = """
import os, time, uuid
ENVIRONMENT = uuid.uuid4().hex  # one per execution environment

def handler(event, context):
    print("event", event.get("n"))
    if event.get("fail"):
        raise ValueError("boom")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("echo"):
        return {"size": len(event["echo"]), "tail": event["echo"][-8:], "environment": ENVIRONMENT}
    if event.get("big"):
        return "x" * event["big"]
    return {"environment": ENVIRONMENT, "n": event.get("n")}
"""


# A custom runtime streaming its response (Runtime API streaming mode): a first chunk, a pause, the last
# one; or `size` bytes as fast as it can.
BOOTSTRAP = """#!/usr/bin/env python3
import http.client, json, os, time
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
while True:
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    response = conn.getresponse()
    event = json.loads(response.read())
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.putrequest("POST", f"/2018-06-01/runtime/invocation/{request_id}/response")
    conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Content-Type", "text/plain")
    conn.endheaders()
    def chunk(data):
        conn.send(b"%x\\r\\n%s\\r\\n" % (len(data), data))
    if event.get("forever"):
        while True:
            chunk(b"tick\\n")
            time.sleep(0.05)
    if event.get("size"):
        block = bytes(range(256)) * 256
        for _ in range(event["size"] // len(block)):
            chunk(block)
    else:
        chunk((json.dumps({"first": int(time.time() * 1000)}) + "\\n").encode())
        time.sleep(1.5)
        chunk((json.dumps({"last": int(time.time() * 1000)}) + "\\n").encode())
    conn.send(b"0\\r\\n\\r\\n")
    conn.getresponse().read()
    conn.close()
"""


def _package(files: dict[str, str]) -> bytes:
    return make_zip(files, executable=lambda name: name == "bootstrap")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        front = cluster.front()
        workers = [cluster.worker(endpoint=front.url), cluster.worker(endpoint=front.url)]
        cluster.wait_workers(front, 2)
        lam = client_for(front.url)
        for name in ("echo", "sleeper"):
            lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": make_zip({"app.py": HANDLER})}, Timeout=60, MemorySize=128)
            lam.get_waiter("function_active_v2").wait(FunctionName=name)
        lam.create_function(FunctionName="streamer", Runtime="provided.al2023", Role=ROLE, Handler="x",
                            Code={"ZipFile": _package({"bootstrap": BOOTSTRAP})}, Timeout=30)
        lam.get_waiter("function_active_v2").wait(FunctionName="streamer")
        cluster.the_front, cluster.workers = front, workers
        yield cluster
    finally:
        cluster.close()


def _invoke(lam, name: str, event: dict, **kwargs) -> tuple[dict, object]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event), **kwargs)
    return response, json.loads(response["Payload"].read())


def test_sync_invoke_answers_payload_error_and_log_tail(cluster):
    lam = client_for(cluster.the_front.url)
    response, body = _invoke(lam, "echo", {"n": 7}, LogType="Tail")
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert body["n"] == 7
    assert response["ExecutedVersion"] == "$LATEST"
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "event 7" in tail and "REPORT RequestId:" in tail

    response, body = _invoke(lam, "echo", {"fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "boom"


def test_function_logs_from_workers_reach_the_shared_database(cluster):
    lam, logs = client_for(cluster.the_front.url), client_for(cluster.the_front.url, "logs")
    _invoke(lam, "echo", {"n": 4242})

    def found():
        events = logs.filter_log_events(logGroupName="/aws/lambda/echo", filterPattern='"event 4242"')["events"]
        return events

    assert wait_for(found, timeout=30, what="the worker's log line in the front's Logs API")


def test_five_megabyte_payloads_travel_both_ways(cluster):
    lam = client_for(cluster.the_front.url)
    text = "abcdefgh" * (5 * 1024 * 1024 // 8)
    response, body = _invoke(lam, "echo", {"echo": text})
    assert "FunctionError" not in response
    assert body["size"] == len(text) and body["tail"] == text[-8:]
    response, body = _invoke(lam, "echo", {"big": 5 * 1024 * 1024})
    assert "FunctionError" not in response and len(body) == 5 * 1024 * 1024


def test_repeat_invokes_reuse_one_environment(cluster):
    lam = client_for(cluster.the_front.url)
    seen = {_invoke(lam, "echo", {"n": n})[1]["environment"] for n in range(10)}
    assert len(seen) == 1


def test_concurrent_invokes_spread_over_both_workers(cluster):
    lam = client_for(cluster.the_front.url)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda n: _invoke(lam, "sleeper", {"sleep": 1.5, "n": n}), range(6)))
    workers = cluster.wait_workers(cluster.the_front, 2)

    def both_hold_environments():
        beats = cluster.live_workers(cluster.the_front)
        held = [beat["environments"].get("idleByVersion", {}).get("sleeper:$LATEST", 0) for beat in beats]
        return len(beats) == 2 and all(count > 0 for count in held)  # (6 when none finished before another began)

    assert workers and wait_for(both_hold_environments, timeout=10, what="both workers holding sleeper environments")


def test_a_streamed_response_arrives_as_the_worker_produces_it(cluster):
    lam = client_for(cluster.the_front.url)
    response = lam.invoke_with_response_stream(FunctionName="streamer", Payload=b"{}", LogType="Tail")
    assert response["StatusCode"] == 200 and response["ExecutedVersion"] == "$LATEST"
    chunks, arrivals, complete = [], [], None
    for event in response["EventStream"]:
        if "PayloadChunk" in event:
            chunks.append(event["PayloadChunk"]["Payload"])
            arrivals.append(time.time() * 1000)
        else:
            complete = event["InvokeComplete"]
    lines = [json.loads(line) for line in b"".join(chunks).decode().strip().split("\n")]
    assert lines[0]["first"] <= arrivals[0] < lines[-1]["last"], (lines, arrivals)
    assert "ErrorCode" not in complete
    assert "START RequestId" in base64.b64decode(complete["LogResult"]).decode()


def test_a_seven_megabyte_stream_arrives_whole(cluster):
    lam = client_for(cluster.the_front.url)
    size = 7 * 1024 * 1024
    response = lam.invoke_with_response_stream(FunctionName="streamer", Payload=json.dumps({"size": size}).encode())
    data = b"".join(event["PayloadChunk"]["Payload"] for event in response["EventStream"] if "PayloadChunk" in event)
    assert len(data) == size and data[:256] == bytes(range(256)) and data[-256:] == bytes(range(256))


def test_provisioned_concurrency_is_shared_out_over_the_workers(cluster):
    lam = client_for(cluster.the_front.url)
    version = lam.publish_version(FunctionName="echo")["Version"]
    lam.put_provisioned_concurrency_config(FunctionName="echo", Qualifier=version, ProvisionedConcurrentExecutions=2)

    def ready():
        config = lam.get_provisioned_concurrency_config(FunctionName="echo", Qualifier=version)
        return config["Status"] == "READY" and config

    config = wait_for(ready, timeout=60, what="the provisioned concurrency config to be READY")
    assert config["AvailableProvisionedConcurrentExecutions"] == 2
    held = [beat["environments"]["provisioned"].get(f"echo:{version}", 0)
            for beat in cluster.live_workers(cluster.the_front)]
    assert sorted(held) == [1, 1]
    response, body = _invoke(lam, "echo", {"n": 1}, Qualifier=version)
    assert response["ExecutedVersion"] == version and body["n"] == 1
    lam.delete_provisioned_concurrency_config(FunctionName="echo", Qualifier=version)


def test_a_reader_leaving_mid_stream_stops_the_function_on_its_worker(cluster):
    front = cluster.the_front
    body = b'{"forever": true}'
    sock = socket.create_connection(("127.0.0.1", int(front.url.rsplit(":", 1)[1])), timeout=30)
    sock.sendall(b"POST /2021-11-15/functions/streamer/response-streaming-invocations HTTP/1.1\r\n"
                 b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    received = b""
    while b"tick" not in received:
        received += sock.recv(65536)

    def busy() -> int:
        return sum(beat["environments"]["busy"] for beat in cluster.live_workers(front))

    wait_for(lambda: busy() >= 1, timeout=10, what="the worker to report the streaming invoke")
    sock.close()
    wait_for(lambda: busy() == 0, timeout=20, what="the worker to stop the invoke whose reader left")
    response = client_for(front.url).invoke_with_response_stream(FunctionName="streamer", Payload=b"{}")
    assert any("PayloadChunk" in event for event in response["EventStream"])


@pytest.fixture(scope="module")
def image_uri(tmp_path_factory):
    missing = missing_tools()
    if missing:
        pytest.skip(f"container image tests need {', '.join(missing)}")
    registry = RegistryProcess(tmp_path_factory.mktemp("registry"))
    try:
        yield build_and_push(registry, tmp_path_factory.mktemp("images"), "lambda/app", "v1")
    finally:
        registry.stop()


def test_an_image_function_runs_on_a_worker_that_pulls_it_by_digest(cluster, image_uri):
    lam = client_for(cluster.the_front.url)
    lam.create_function(FunctionName="img", Role=ROLE, PackageType="Image", Code={"ImageUri": image_uri}, Timeout=30)
    lam.get_waiter("function_active_v2").wait(FunctionName="img", WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})
    for _ in range(2):
        response, payload = _invoke(lam, "img", {"hello": "image"})
        assert "FunctionError" not in response, payload
        assert payload["event"] == {"hello": "image"} and payload["function"] == "img"
        assert payload["from_image"] == "yes"  # the image config's Env, read from the worker's own pull


def _running_worker(cluster):
    """The worker process whose beat shows an invoke running."""
    def busy():
        beats = cluster.live_workers(cluster.the_front)
        return next((beat for beat in beats if beat["environments"].get("busy")), None)

    beat = wait_for(busy, timeout=15, what="a worker running the sleeping invoke")
    return next(node for node in cluster.workers if node.pid == beat["pid"])


def test_a_stopping_worker_finishes_its_invokes_and_takes_no_new_ones(cluster):
    front = cluster.the_front
    lam = client_for(front.url)
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.update(answer=_invoke(lam, "sleeper", {"sleep": 3, "n": 9})))
    thread.start()
    stopping = _running_worker(cluster)
    stopper = threading.Thread(target=stopping.stop)
    stopper.start()
    for n in range(3):  # meanwhile, new invokes go to the other worker
        response, body = _invoke(lam, "echo", {"n": n})
        assert response["StatusCode"] == 200 and body["n"] == n
    thread.join(timeout=30)
    stopper.join(timeout=30)
    response, body = outcome["answer"]
    assert "FunctionError" not in response and body["n"] == 9
    assert stopping.proc.returncode == 0
    cluster.workers.remove(stopping)
    cluster.workers.append(cluster.worker(endpoint=front.url))
    cluster.wait_workers(front, 2)


def test_a_worker_killed_mid_invoke_fails_that_invoke_and_the_survivor_serves(cluster):
    front = cluster.the_front
    lam = client_for(front.url)
    _invoke(lam, "sleeper", {"n": 0})  # warm somewhere
    outcome: dict = {}

    def call():
        started = time.monotonic()
        try:
            _invoke(lam, "sleeper", {"sleep": 30})
            outcome["error"] = None
        except lam.exceptions.ServiceException as exc:
            outcome["error"] = exc.response["Error"]["Code"]
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=call)
    thread.start()

    victim = _running_worker(cluster)
    victim.kill()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert outcome["error"] == "ServiceException"
    assert outcome["seconds"] < 25  # answered by the lapse of the heartbeat, not the function's 30 s
    for n in range(5):
        response, body = _invoke(lam, "echo", {"n": n})
        assert response["StatusCode"] == 200 and body["n"] == n
    assert len(cluster.wait_workers(front, 1)) == 1


def test_a_front_with_its_own_worker_serves_beside_the_others(cluster):
    front = cluster.front(with_worker=True)
    nodes = cluster.health(front)["nodes"]
    assert ["front", "worker"] in [node["roles"] for node in nodes]
    workers = cluster.wait_workers(front, 2)  # the survivor of the kill above, and this front's own
    assert len({beat["pid"] for beat in workers}) == 2
    lam = client_for(front.url)
    for n in range(3):
        response, body = _invoke(lam, "echo", {"n": n})
        assert response["StatusCode"] == 200 and body["n"] == n


def test_an_event_invoke_continues_the_callers_trace_through_the_jetstream_queue(cluster):
    """The trace an Event invoke was accepted with travels in its JetStream message to the worker that
    runs it: the function sees the caller's Root and decision with a Parent of its own."""
    from support import printed_json

    lam, logs = client_for(cluster.the_front.url), client_for(cluster.the_front.url, "logs")
    source = ("import json, os\ndef handler(event, context):\n"
              "    print('TRACE ' + json.dumps({'tag': event['tag'], 'trace': os.environ.get('_X_AMZN_TRACE_ID')}))\n")
    lam.create_function(FunctionName="tracer", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": source})}, Timeout=30)
    lam.get_waiter("function_active_v2").wait(FunctionName="tracer")
    root = "Root=1-5759e988-bd862e3fe1be46a994272793"
    sent: list[str] = []

    def add_header(request, **_):
        request.headers["X-Amzn-Trace-Id"] = sent[-1]

    lam.meta.events.register("before-sign.lambda.Invoke", add_header)
    for tag, header in (("continued", f"{root};Parent=53995c3f42cd8ad8;Sampled=1"), ("malformed", "Root=1-x")):
        sent.append(header)
        assert lam.invoke(FunctionName="tracer", InvocationType="Event",
                          Payload=json.dumps({"tag": tag}))["StatusCode"] == 202

    def seen() -> dict | None:
        lines = {line["tag"]: line["trace"] for line in printed_json(logs, "tracer", "TRACE")}
        return lines if len(lines) == 2 else None

    traces = wait_for(seen, timeout=60, what="both Event invokes on a worker")
    assert traces["continued"].startswith(root + ";Parent=") and traces["continued"].endswith(";Sampled=1")
    assert "53995c3f42cd8ad8" not in traces["continued"]
    # ignored: the function (not traced actively) runs with a new unsampled trace
    assert not traces["malformed"].startswith(root) and traces["malformed"].endswith(";Sampled=0")
