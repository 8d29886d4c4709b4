"""The server main thread's CPU on a warm invoke's critical path, in two parts: from the request's
first bytes to the INVOKE frame written to the runtime, and from the RESULT frame's arrival to
the response written. Work moved after the response (or off the path) leaves these figures.

Run: .venv/bin/python bench/critical_cpu.py --against SRC [--rounds 6] [--requests 2000]
Starts a lamina of this tree and one of SRC (another checkout's src directory), each with probes
wrapped around four methods (the HTTP protocol's data_received and on_response_complete, the frame
protocol's buffer_updated, the runtime channel's send), and alternates rounds of sequential warm
invokes between them. The probes read CLOCK_THREAD_CPUTIME_ID (time.thread_time_ns): CPU of the
main thread only, which a loaded host distorts far less than wall time (a thread waiting for a
core or for the runtime does not count). Prints one JSON line per tree (µs per invoke).
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import tempfile
import threading
import time

from common import SRC, create_function, emit, free_port, paired_arguments, stop_all, wait_http
from invoke import INVOKE_PATH, NOOP, sequential


def serve_probed(src: str, out: str, argv: list[str]) -> None:
    """`lamina serve` of the package in `src` with the probes; figures written to `out` every second."""
    sys.path.insert(0, src)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: F401 - the base of the probed class

    import lamina.http_server as http_server
    from lamina.engine import protocol

    clock = time.thread_time_ns
    state = {"request": None, "result": None, "before": [0, 0], "after": [0, 0]}
    http = http_server.OneWriteProtocol
    data_received, on_response_complete = http.data_received, http.on_response_complete
    buffer_updated, send = protocol.FrameProtocol.buffer_updated, protocol.SocketChannel.send

    def probed_data_received(self, data):
        state["request"] = clock()
        return data_received(self, data)

    def probed_send(self, kind, header=None, payload=b""):
        sent = send(self, kind, header, payload)
        if kind == protocol.INVOKE and state["request"] is not None:
            state["before"][0] += 1
            state["before"][1] += clock() - state["request"]
            state["request"] = None
        return sent

    def probed_buffer_updated(self, nbytes):
        state["result"] = clock()
        return buffer_updated(self, nbytes)

    def probed_on_response_complete(self):
        if state["result"] is not None:
            state["after"][0] += 1
            state["after"][1] += clock() - state["result"]
            state["result"] = None
        return on_response_complete(self)

    http.data_received, http.on_response_complete = probed_data_received, probed_on_response_complete
    protocol.FrameProtocol.buffer_updated, protocol.SocketChannel.send = probed_buffer_updated, probed_send

    def write_figures() -> None:
        while True:
            time.sleep(1)
            with open(out + ".tmp", "w") as f:
                json.dump({"before": list(state["before"]), "after": list(state["after"])}, f)
            os.replace(out + ".tmp", out)

    threading.Thread(target=write_figures, daemon=True).start()
    sys.argv = ["lamina", *argv]
    runpy.run_module("lamina.cli", run_name="__main__")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-probed":
        serve_probed(sys.argv[2], sys.argv[3], sys.argv[4:])
        return 0
    args = paired_arguments(rounds=6, requests=2000)
    here = SRC
    path = INVOKE_PATH.format(name="noop")
    with tempfile.TemporaryDirectory() as tmp:
        servers, processes = {}, []
        try:
            for label, src in (("this", here), ("against", args.against)):
                port, out = free_port(), os.path.join(tmp, f"{label}.json")
                process = subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), "--serve-probed", src, out, "serve", "--port",
                     str(port), "--data-dir", os.path.join(tmp, f"data-{label}")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                processes.append(process)
                wait_http(f"http://127.0.0.1:{port}/health")
                create_function(port, "noop", NOOP, args.runtime)
                sequential(port, path, 200)
                servers[label] = port, out
            time.sleep(1.5)
            start = {label: json.load(open(out)) for label, (_, out) in servers.items()}
            for index in range(args.rounds):
                for label in (("this", "against") if index % 2 == 0 else ("against", "this")):
                    sequential(servers[label][0], path, args.requests)
            time.sleep(1.5)
            for label, (_, out) in servers.items():
                end = json.load(open(out))
                figures = {}
                for part in ("before", "after"):
                    count = end[part][0] - start[label][part][0]
                    figures[part] = round((end[part][1] - start[label][part][1]) / max(count, 1) / 1000, 1)
                emit(figure="critical_path_cpu_us_per_invoke", tree=label if label == "this" else args.against,
                     request_to_invoke_sent=figures["before"], result_to_response_written=figures["after"],
                     load=round(os.getloadavg()[0], 1))
        finally:
            stop_all(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
