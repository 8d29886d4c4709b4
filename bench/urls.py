"""Function URL benchmark: warm URL request latency and 8-client throughput next to a bare uvicorn
hello-world (and lamina's own Invoke) measured in the same run with the same client, and the
time to first byte of a streamed response (RESPONSE_STREAM URL and InvokeWithResponseStream).

Run: .venv/bin/python bench/urls.py [--warm 2000] [--seconds 10] [--clients 8] [--streams 50]
Prints one JSON line per figure. Targets (DESIGN.md §10, issue 13): URL p50 ≤ 1.5× the bare server's;
throughput with 8 clients ≥ 0.5× the bare server's.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
import zipfile

from common import (
    ROLE,
    create_function,
    emit,
    lambda_call,
    percentile,
    start_lamina,
    start_reference,
    stop_all,
    throughput,
    wait_settled,
)
from invoke import INVOKE_PATH, sequential

HELLO_URL = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'hi'}\n"
NODE_STREAM = """exports.handler = awslambda.streamifyResponse(async (event, stream) => {
  stream.setContentType("text/plain");
  stream.write("first\\n");
  await new Promise((resolve) => setTimeout(resolve, 100));
  stream.end("last\\n");
});
"""
CUSTOM_STREAM = """#!/usr/bin/env python3
import http.client, os, time
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    response = conn.getresponse()
    response.read()
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.putrequest("POST", f"/2018-06-01/runtime/invocation/{request_id}/response")
    conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Content-Type", "text/plain")
    conn.endheaders()
    conn.send(b"6\\r\\nfirst\\n\\r\\n")
    time.sleep(0.1)
    conn.send(b"5\\r\\nlast\\n\\r\\n0\\r\\n\\r\\n")
    conn.getresponse().read()
"""
STREAM_PAUSE_MS = 100


def create_zip_function(port: int, name: str, runtime: str, handler: str, files: dict[str, str]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, content in files.items():
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if path == "bootstrap" else 0o644) << 16
            archive.writestr(info, content)
    lambda_call(port, "POST", "/2015-03-31/functions", {
        "FunctionName": name, "Runtime": runtime, "Handler": handler, "Role": ROLE, "Timeout": 10,
        "Code": {"ZipFile": base64.b64encode(buffer.getvalue()).decode()}})
    wait_settled(port, name)


def url_path(port: int, name: str, mode: str = "BUFFERED") -> str:
    config = lambda_call(port, "POST", f"/2021-10-31/functions/{name}/url", {"AuthType": "NONE", "InvokeMode": mode})
    return "/lambda-url/" + config["FunctionUrl"].split("//", 1)[1].split(".", 1)[0] + "/"


def first_byte(port: int, method: str, path: str, body: bytes = b"") -> tuple[float, float]:
    """(ms to the first body byte, ms to the end) of one request, read off a raw socket."""
    sock = socket.create_connection(("127.0.0.1", port))
    start = time.perf_counter()
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
                 "Connection: close\r\n\r\n".encode() + body)
    received = b""
    first = None
    while True:
        data = sock.recv(65536)
        if not data:
            break
        received += data
        if first is None:
            head, sep, rest = received.partition(b"\r\n\r\n")
            if sep and rest.split(b"\r\n", 1)[-1]:
                first = time.perf_counter()
    end = time.perf_counter()
    sock.close()
    return ((first or end) - start) * 1000, (end - start) * 1000


def streamed(port: int, label: str, method: str, path: str, body: bytes, count: int) -> None:
    for _ in range(3):
        first_byte(port, method, path, body)  # warm
    samples = [first_byte(port, method, path, body) for _ in range(count)]
    ttfb = [s[0] for s in samples]
    total = [s[1] for s in samples]
    emit(figure="stream_time_to_first_byte_ms", stream=label, p50=round(statistics.median(ttfb), 3),
         p99=round(percentile(ttfb, 0.99), 3), total_p50=round(statistics.median(total), 3),
         function_pause_ms=STREAM_PAUSE_MS, n=count)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--runtime", default="python3.12")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        processes = []
        try:
            reference, ref_port = start_reference(tmp)
            processes.append(reference)
            process, port = start_lamina(os.path.join(tmp, "data"))
            processes.append(process)
            create_function(port, "hello", HELLO_URL, args.runtime)
            path = url_path(port, "hello")

            ref = sequential(ref_port, "/", args.warm)
            ref_p50 = percentile(ref, 0.5)
            emit(figure="reference_sequential_ms", server="uvicorn hello-world", p50=round(ref_p50, 3),
                 p99=round(percentile(ref, 0.99), 3), n=len(ref))
            invoke = sequential(port, INVOKE_PATH.format(name="hello"), args.warm)
            emit(figure="warm_invoke_ms", p50=round(percentile(invoke, 0.5), 3), n=len(invoke),
                 ratio_to_reference=round(percentile(invoke, 0.5) / ref_p50, 3))
            warm = sequential(port, path, args.warm)
            emit(figure="warm_function_url_ms", p50=round(percentile(warm, 0.5), 3),
                 p99=round(percentile(warm, 0.99), 3), n=len(warm),
                 ratio_to_reference=round(percentile(warm, 0.5) / ref_p50, 3), target_ratio=1.5)
            ref_rps = throughput(ref_port, "/", args.clients, args.seconds)
            emit(figure="reference_throughput_rps", server="uvicorn hello-world", clients=args.clients,
                 rps=round(ref_rps))
            throughput(port, INVOKE_PATH.format(name="hello"), args.clients, 2)  # warm: an environment per client
            invoke_rps = throughput(port, INVOKE_PATH.format(name="hello"), args.clients, args.seconds)
            emit(figure="invoke_throughput_rps", clients=args.clients, rps=round(invoke_rps),
                 ratio_to_reference=round(invoke_rps / ref_rps, 3))
            rps = throughput(port, path, args.clients, args.seconds)
            emit(figure="function_url_throughput_rps", clients=args.clients, rps=round(rps),
                 ratio_to_reference=round(rps / ref_rps, 3), target_ratio=0.5)

            create_zip_function(port, "custom_stream", "provided.al2023", "x", {"bootstrap": CUSTOM_STREAM})
            streamed(port, "custom runtime, RESPONSE_STREAM URL", "GET", url_path(port, "custom_stream",
                                                                                  "RESPONSE_STREAM"), b"", args.streams)
            streamed(port, "custom runtime, InvokeWithResponseStream", "POST",
                     "/2021-11-15/functions/custom_stream/response-streaming-invocations", b"{}", args.streams)
            if shutil.which("node"):
                create_zip_function(port, "node_stream", "nodejs20.x", "index.handler", {"index.js": NODE_STREAM})
                streamed(port, "node, RESPONSE_STREAM URL", "GET", url_path(port, "node_stream", "RESPONSE_STREAM"),
                         b"", args.streams)
            else:
                emit(figure="stream_time_to_first_byte_ms", stream="node", skipped="node is not installed")
        finally:
            stop_all(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
