"""Helpers shared by the bench scripts: starting lamina and a reference server, timing HTTP calls."""

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
import time
import urllib.request
import zipfile

ROLE = "arn:aws:iam::000000000000:role/bench"


SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")  # this tree's package


def paired_arguments(rounds: int, requests: int) -> argparse.Namespace:
    """The arguments of a bench that alternates this tree with another (`--against SRC`)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", metavar="SRC", required=True)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--requests", type=int, default=requests)
    parser.add_argument("--runtime", default="python3.12")
    return parser.parse_args()


def free_port() -> int:
    """A free port: any, or one of $LAMINA_BENCH_PORTS ("FIRST-LAST") when set (a shared host)."""
    wanted = os.environ.get("LAMINA_BENCH_PORTS")
    candidates = [0]
    if wanted:
        first, last = (int(part) for part in wanted.split("-"))
        candidates = list(range(first, last + 1))
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError(f"no free port in {wanted}")


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


def _client(port: int, path: str, seconds: float, out, body: bytes, headers: dict, ok: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        done += response.status == ok
    out.put(done)


def throughput(port: int, path: str, clients: int, seconds: float, *, body: bytes = b"{}",
               headers: dict | None = None, ok: int = 200) -> float:
    """Requests answered with `ok` per second by `clients` processes, each on its own keep-alive connection."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_client, args=(port, path, seconds, queue, body, headers or {}, ok))
               for _ in range(clients)]
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


def start_lamina(data_dir: str, env: dict | None = None, *, args: tuple[str, ...] = (),
                 log_path: str | None = None) -> tuple[subprocess.Popen, int]:
    """Start lamina on a free port (see `free_port`) with `args` added to `lamina serve`; its output
    goes to `log_path`, else $LAMINA_BENCH_LOG when set (else nowhere)."""
    port = free_port()
    log_path = log_path or os.environ.get("LAMINA_BENCH_LOG")
    output = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "lamina.cli", "serve", "--port", str(port), "--data-dir", data_dir, *args],
        stdout=output, stderr=output, env={**os.environ, **(env or {})})
    if log_path:
        output.close()
    wait_http(f"http://127.0.0.1:{port}/health")
    return process, port


def create_function(port: int, name: str, source: str, runtime: str, **extra) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    lambda_call(port, "POST", "/2015-03-31/functions", {
        "FunctionName": name, "Runtime": runtime, "Handler": "app.handler", "Role": ROLE,
        "Code": {"ZipFile": base64.b64encode(buffer.getvalue()).decode()}, **extra,
    })
    wait_settled(port, name)


# The reference every figure is measured next to: a bare uvicorn (httptools) hello-world answering {}.
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


def start_app(tmp: str, module: str, source: str) -> tuple[subprocess.Popen, int]:
    """Start the ASGI app `source` (module `module`, written to `tmp`) under a bare uvicorn;
    returns the process and its port once it answers."""
    port = free_port()
    app_dir = os.path.join(tmp, module)
    os.makedirs(app_dir)
    with open(os.path.join(app_dir, f"{module}.py"), "w") as f:
        f.write(source)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", f"{module}:app", "--port", str(port), "--log-level", "warning",
         "--no-access-log", "--app-dir", app_dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/")
    return process, port


def start_reference(tmp: str) -> tuple[subprocess.Popen, int]:
    """Start the bare uvicorn hello-world in `tmp`; returns the process and its port once it answers."""
    return start_app(tmp, "hello", HELLO_APP)


def stop_all(processes: list[subprocess.Popen]) -> None:
    """SIGTERM every process, then wait for each (lamina stops within its grace); one still running
    after 20 s is killed (and reported), so a bench never leaves a server behind."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            print(f"process {process.pid} did not stop within 20 s of SIGTERM: killed", file=sys.stderr)
            process.kill()
            process.wait()


def emit_saved(figure: str, this: list[float], against: list[float]) -> None:
    """What this tree saved against the other, round by round (each pair measured in one round):
    the paired median, and in how many rounds this tree was lower."""
    paired = [b - t for t, b in zip(this, against, strict=True)]
    emit(figure=figure, paired_median=round(statistics.median(paired), 1), lower_in=sum(x > 0 for x in paired),
         rounds=len(paired), load=round(os.getloadavg()[0], 1))
