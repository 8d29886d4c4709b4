"""The floor of the warm rows: what one hop to another process costs a bare server, whoever builds it.

Run: .venv/bin/python bench/floor.py [--warm 2000] [--seconds 5] [--clients 8] [--no-lamina]

Issue 18 measures lamina's warm invoke against a bare uvicorn hello-world that answers in its own
process. Lamina runs the function in another process (its environment), so every warm invoke has
at least one round trip more than that reference: the request to the function's process and its
answer back, two more wake-ups and four more socket operations. This script measures that floor
with nothing of lamina in it, in the same run as the reference:

- `bare`: the reference of the other benches (bench/common.py's uvicorn hello-world);
- `relay`: the same uvicorn app, which hands each request's body to a plain Python worker process
  over a Unix socket (a 4-byte length and the JSON, one worker per concurrent request, kept warm)
  and answers with what the worker returns (the worker decodes the event, calls a no-op handler and
  encodes its result). No sandbox, no logs, no metrics, no validation, no admission: the least any
  design that runs function code outside the server's process has to do;
- `lamina`: a warm invoke of a no-op Python function through lamina (unless --no-lamina).

It prints each one's sequential p50 (alternating rounds, so the host's noise hits each alike) and
throughput with --clients keep-alive clients, as ratios to the bare server's, and lamina's ratio
to the relay's: how far lamina is above the floor.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

from common import create_function, emit, start_app, start_lamina, start_reference, stop_all, throughput
from invoke import INVOKE_PATH, NOOP, rounds_p50

RELAY_APP = r'''
import asyncio
import socket
import struct
import subprocess
import sys

WORKER = """
import json, socket, struct, sys
sock = socket.socket(fileno=int(sys.argv[1]))

def handler(event, context):
    return event

while True:
    head = sock.recv(4, socket.MSG_WAITALL)
    if len(head) < 4:
        break
    size = struct.unpack("!I", head)[0]
    event = json.loads(sock.recv(size, socket.MSG_WAITALL) if size else b"{}")
    out = json.dumps(handler(event, None)).encode()
    sock.sendall(struct.pack("!I", len(out)) + out)
"""

_idle = []  # warm workers' (reader, writer), last used first


async def _worker():
    if _idle:
        return _idle.pop()
    parent, child = socket.socketpair()
    subprocess.Popen([sys.executable, "-c", WORKER, str(child.fileno())], pass_fds=[child.fileno()])
    child.close()
    return await asyncio.open_unix_connection(sock=parent)


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    reader, writer = await _worker()
    writer.write(struct.pack("!I", len(body)) + body)
    size = struct.unpack("!I", await reader.readexactly(4))[0]
    out = await reader.readexactly(size)
    _idle.append((reader, writer))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": out})
'''


def start_relay(tmp: str) -> tuple[subprocess.Popen, int]:
    """The bare server with one hop to a worker process per request: the floor (see the docstring)."""
    return start_app(tmp, "relay", RELAY_APP)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm", type=int, default=2000, help="sequential requests to each server")
    parser.add_argument("--seconds", type=float, default=5, help="length of each throughput window")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="throughput windows per server, alternating")
    parser.add_argument("--runtime", default="python3.12")
    parser.add_argument("--no-lamina", action="store_true", help="measure only the reference and the floor")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        processes: list = []
        try:
            reference, ref_port = start_reference(tmp)
            relay, relay_port = start_relay(tmp)
            processes += [reference, relay]
            servers = {"bare": (ref_port, "/"), "relay": (relay_port, "/")}
            if not args.no_lamina:
                process, port = start_lamina(os.path.join(tmp, "data"))
                processes.append(process)
                create_function(port, "noop", NOOP, args.runtime)
                servers["lamina"] = (port, INVOKE_PATH.format(name="noop"))
            for port, path in servers.values():  # one warm worker or environment per client
                throughput(port, path, args.clients, 1.0)
            p50 = rounds_p50(servers, args.warm, 10)
            rate = {label: 0.0 for label in servers}
            for _ in range(args.rounds):  # alternating windows: the host's noise hits each alike
                for label, (port, path) in servers.items():
                    rate[label] += throughput(port, path, args.clients, args.seconds) / args.rounds
            for label in servers:
                emit(figure="floor_sequential_ms", server=label, p50=round(p50[label], 3),
                     ratio_to_bare=round(p50[label] / p50["bare"], 3))
                emit(figure="floor_throughput_rps", server=label, clients=args.clients, rps=round(rate[label]),
                     ratio_to_bare=round(rate[label] / rate["bare"], 3))
            if "lamina" in servers:
                emit(figure="lamina_above_floor", p50_ratio_to_relay=round(p50["lamina"] / p50["relay"], 3),
                     throughput_ratio_to_relay=round(rate["lamina"] / rate["relay"], 3),
                     relay_p50_ratio_to_bare=round(p50["relay"] / p50["bare"], 3),
                     relay_throughput_ratio_to_bare=round(rate["relay"] / rate["bare"], 3))
        finally:
            stop_all(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
