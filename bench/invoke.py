"""Invoke benchmark: warm latency, throughput and cold start of lamina, next to a bare uvicorn
hello-world measured in the same run with the same client.

Run: .venv/bin/python bench/invoke.py [--warm 2000] [--seconds 10] [--clients 8] [--cold 100]
Prints one JSON line per figure. Targets (DESIGN.md §10): warm p50 ≤ 0.6 ms; throughput with
8 clients ≥ 0.5× the bare server's.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

HELLO_APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while True:
        message = await receive()
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})
'''
NOOP = "def handler(event, context):\n    return event\n"
INVOKE_PATH = "/2015-03-31/functions/{name}/invocations"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError as exc:
            if getattr(exc, "code", None):
                return
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def emit(**figure) -> None:
    print(json.dumps(figure), flush=True)


def sequential(port: int, path: str, count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    samples = []
    for _ in range(count + 50):
        start = time.perf_counter()
        conn.request("POST", path, body=b"{}")
        response = conn.getresponse()
        response.read()
        samples.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
    conn.close()
    return samples[50:]


def _client(port: int, path: str, seconds: float, out) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.request("POST", path, body=b"{}")
        response = conn.getresponse()
        response.read()
        done += response.status == 200
    out.put(done)


def throughput(port: int, path: str, clients: int, seconds: float) -> float:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_client, args=(port, path, seconds, queue)) for _ in range(clients)]
    for worker in workers:
        worker.start()
    total = sum(queue.get() for _ in workers)
    for worker in workers:
        worker.join()
    return total / seconds


def lambda_call(port: int, method: str, path: str, body: dict | None = None) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
    return json.loads(data) if data else {}


def wait_settled(port: int, name: str) -> None:
    for _ in range(500):
        config = lambda_call(port, "GET", f"/2015-03-31/functions/{name}/configuration")
        if config["State"] == "Active" and config.get("LastUpdateStatus", "Successful") == "Successful":
            return
        time.sleep(0.01)
    raise RuntimeError(f"{name} did not settle: {config}")


def cold_starts(port: int, name: str, count: int) -> list[float]:
    """Each sample: change the configuration (retiring the warm environment), then time one invoke."""
    samples = []
    for index in range(count):
        lambda_call(port, "PUT", f"/2015-03-31/functions/{name}/configuration", {"Description": f"cold {index}"})
        wait_settled(port, name)
        samples.extend(sequential_once(port, INVOKE_PATH.format(name=name)))
    return samples


def sequential_once(port: int, path: str) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    start = time.perf_counter()
    conn.request("POST", path, body=b"{}")
    conn.getresponse().read()
    conn.close()
    return [(time.perf_counter() - start) * 1000]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cold", type=int, default=100)
    parser.add_argument("--runtime", default="python3.12")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        processes = []
        try:
            ref_port = free_port()
            app_dir = os.path.join(tmp, "ref")
            os.makedirs(app_dir)
            with open(os.path.join(app_dir, "hello.py"), "w") as f:
                f.write(HELLO_APP)
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "hello:app", "--port", str(ref_port), "--log-level", "warning",
                 "--no-access-log", "--app-dir", app_dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            port = free_port()
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "lamina.cli", "serve", "--port", str(port), "--data-dir",
                 os.path.join(tmp, "data")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_http(f"http://127.0.0.1:{ref_port}/")
            wait_http(f"http://127.0.0.1:{port}/health")

            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr("app.py", NOOP)

            lambda_call(port, "POST", "/2015-03-31/functions", {
                "FunctionName": "noop", "Runtime": args.runtime, "Handler": "app.handler",
                "Role": "arn:aws:iam::000000000000:role/bench", "Code": {"ZipFile": base64.b64encode(buffer.getvalue()).decode()},
            })
            wait_settled(port, "noop")
            path = INVOKE_PATH.format(name="noop")

            ref = sequential(ref_port, "/", args.warm)
            emit(figure="reference_sequential_ms", server="uvicorn hello-world", p50=round(percentile(ref, 0.5), 3),
                 p99=round(percentile(ref, 0.99), 3), n=len(ref))
            warm = sequential(port, path, args.warm)
            emit(figure="warm_invoke_ms", p50=round(percentile(warm, 0.5), 3), p99=round(percentile(warm, 0.99), 3),
                 n=len(warm), target_p50=0.6)
            ref_rps = throughput(ref_port, "/", args.clients, args.seconds)
            emit(figure="reference_throughput_rps", server="uvicorn hello-world", clients=args.clients,
                 rps=round(ref_rps))
            rps = throughput(port, path, args.clients, args.seconds)
            emit(figure="invoke_throughput_rps", clients=args.clients, rps=round(rps),
                 ratio_to_reference=round(rps / ref_rps, 3), target_ratio=0.5)
            cold = cold_starts(port, "noop", args.cold)
            emit(figure="cold_start_invoke_ms", p50=round(statistics.median(cold), 3),
                 p99=round(percentile(cold, 0.99), 3), n=len(cold),
                 health=json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health").read())["sandbox"])
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
