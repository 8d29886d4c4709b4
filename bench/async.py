"""Async benchmark: durable enqueue throughput (Event invokes accepted per second with 8 clients)
and end-to-end latency from the 202 to the handler running.

Run: .venv/bin/python bench/async.py [--seconds 10] [--clients 8]
Prints one JSON line per figure. Target (DESIGN.md §10): ≥ 5,000 events/s accepted on 2 cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import sqlite3
import statistics
import sys
import tempfile
import time

from common import create_function, emit, lambda_call, percentile, start_lamina

NOOP = "import time\ndef handler(event, context):\n    print('LATENCY', (time.time() - event['t']) * 1000)\n"
PATH = "/2015-03-31/functions/{name}/invocations"


def _client(port: int, seconds: float, out) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.request("POST", PATH.format(name="sink"), body=b'{"t": 0}', headers={"X-Amz-Invocation-Type": "Event"})
        response = conn.getresponse()
        response.read()
        done += response.status == 202
    out.put(done)


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
        process, port = start_lamina(data)
        try:
            create_function(port, "sink", "def handler(event, context):\n    return None\n", args.runtime)
            if args.sink_concurrency is not None:  # limit how much of the CPU the queue workers take meanwhile
                lambda_call(port, "PUT", "/2017-10-31/functions/sink/concurrency",
                            {"ReservedConcurrentExecutions": args.sink_concurrency})
            create_function(port, "timed", NOOP, args.runtime)
            queue: multiprocessing.Queue = multiprocessing.Queue()
            workers = [multiprocessing.Process(target=_client, args=(port, args.seconds, queue))
                       for _ in range(args.clients)]
            for worker in workers:
                worker.start()
            accepted = sum(queue.get() for _ in workers)
            for worker in workers:
                worker.join()
            emit(figure="async_enqueue_rps", clients=args.clients, rps=round(accepted / args.seconds),
                 accepted=accepted, sink_reserved_concurrency=args.sink_concurrency, target=5000)

            conn = http.client.HTTPConnection("127.0.0.1", port)
            for _ in range(args.latency_samples):
                body = json.dumps({"t": time.time()}).encode()
                conn.request("POST", PATH.format(name="timed"), body=body, headers={"X-Amz-Invocation-Type": "Event"})
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
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
