"""Async benchmark: durable enqueue throughput (Event invokes accepted per second with 8 clients)
and end-to-end latency from the 202 to the handler running.

Run: .venv/bin/python bench/async.py [--seconds 10] [--clients 8]
Prints one JSON line per figure, and issue 18's "Event (async) acceptance" row next to its
reference from the same run: a bare uvicorn hello-world answering the same requests from the same
clients. Targets: accepted Events/s ≥ 0.5× the bare server's requests/s (issue 18), with the events
also running (the queue's workers run every accepted event meanwhile); ≥ 5,000 events/s on 2 cores
(DESIGN.md §10).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time

from common import (
    create_function,
    emit,
    lambda_call,
    percentile,
    start_lamina,
    start_reference,
    stop_all,
    throughput,
)

NOOP = "import time\ndef handler(event, context):\n    print('LATENCY', (time.time() - event['t']) * 1000)\n"
PATH = "/2015-03-31/functions/{name}/invocations"


EVENT = {"X-Amz-Invocation-Type": "Event"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--runtime", default="python3.12")
    parser.add_argument("--sink-concurrency", type=int, default=None,
                        help="reserved concurrency of the function the events are sent to")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        reference, ref_port = start_reference(tmp)
        process, port = start_lamina(data)
        try:
            create_function(port, "sink", "def handler(event, context):\n    return None\n", args.runtime)
            if args.sink_concurrency is not None:  # limit how much of the CPU the queue workers take meanwhile
                lambda_call(port, "PUT", "/2017-10-31/functions/sink/concurrency",
                            {"ReservedConcurrentExecutions": args.sink_concurrency})
            create_function(port, "timed", NOOP, args.runtime)
            # The runtime's zygote starts (ahead, once the functions are Active) before any figure is
            # taken, so its start competes with neither the reference nor lamina: one synchronous
            # invoke of a third function waits for it (the sink stays without an environment).
            create_function(port, "settle", "def handler(event, context):\n    return None\n", args.runtime)
            lambda_call(port, "POST", PATH.format(name="settle"), {})
            ref_rps = throughput(ref_port, "/", args.clients, args.seconds, body=b'{"t": 0}', headers=EVENT)
            emit(figure="reference_throughput_rps", server="uvicorn hello-world", clients=args.clients,
                 rps=round(ref_rps))
            rps = throughput(port, PATH.format(name="sink"), args.clients, args.seconds, body=b'{"t": 0}',
                             headers=EVENT, ok=202)
            emit(figure="async_enqueue_rps", clients=args.clients, rps=round(rps), accepted=round(rps * args.seconds),
                 sink_reserved_concurrency=args.sink_concurrency, ratio_to_reference=round(rps / ref_rps, 3),
                 target_ratio=0.5, target=5000)
            emit(figure="issue18_row", row=f"Event (async) acceptance, {args.clients} clients, events also running",
                 lamina=round(rps), reference=round(ref_rps), unit="req/s", ratio=round(rps / ref_rps, 3),
                 target=">= 0.5x bare")

            conn = http.client.HTTPConnection("127.0.0.1", port)
            for _ in range(args.latency_samples):
                body = json.dumps({"t": time.time()}).encode()
                conn.request("POST", PATH.format(name="timed"), body=body, headers=EVENT)
                conn.getresponse().read()
                time.sleep(0.01)
            deadline, samples = time.monotonic() + 60, []
            while time.monotonic() < deadline and len(samples) < args.latency_samples:
                with sqlite3.connect(os.path.join(data, "lamina.db")) as db:
                    samples = [float(m.split()[1]) for (m,) in db.execute(
                        "SELECT message FROM log_events WHERE log_group='/aws/lambda/timed' AND message LIKE 'LATENCY %'")]
                time.sleep(0.2)
            if samples:
                emit(figure="async_end_to_end_ms", p50=round(statistics.median(samples), 3),
                     p99=round(percentile(samples, 0.99), 3), n=len(samples))
        finally:
            stop_all([reference, process])
    return 0


if __name__ == "__main__":
    sys.exit(main())
