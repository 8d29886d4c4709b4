"""Bench the cluster's async queue (lamina.cluster.jetstream_queue) on a real NATS: enqueue latency
(publish acknowledged = durable), enqueue rate with N concurrent callers, and the claim+ack drain
rate of one consumer, beside SqlQueue (single-node mode's queue) on SQLite in the same run.

    .venv/bin/python bench/jetstream_queue.py [--nats nats://127.0.0.1:4222] [--events 2000] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, percentile  # noqa: E402

from lamina.cluster.connection import connect  # noqa: E402
from lamina.cluster.jetstream_queue import JetStreamQueue  # noqa: E402
from lamina.cluster.names import Names  # noqa: E402


async def measure(kind: str, queue, events: int, clients: int) -> None:
    await queue.start()
    samples = []
    for n in range(200):
        started = time.perf_counter()
        await queue.enqueue(request_id=f"l{n}", function_name="f", qualifier=None, payload=b'{"k": 1}')
        samples.append((time.perf_counter() - started) * 1000)
    emit(figure="queue_enqueue_ms", queue=kind, p50=round(statistics.median(samples), 3),
         p99=round(percentile(samples, 0.99), 3))
    per_client = events // clients

    async def client(c):
        for n in range(per_client):
            await queue.enqueue(request_id=f"c{c}-{n}", function_name=f"f{c % 4}", qualifier=None, payload=b"{}")

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - started
    emit(figure="queue_enqueue_rps", queue=kind, clients=clients, rps=round(per_client * clients / elapsed))
    total, done = 200 + per_client * clients, 0
    started = time.perf_counter()
    while done < total:
        claimed = await queue.claim(64, 30)
        if not claimed:
            await queue.wait_due(0.5)
            continue
        await asyncio.gather(*(queue.ack(event.id) for event in claimed))
        done += len(claimed)
    emit(figure="queue_drain_rps", queue=kind, rps=round(total / (time.perf_counter() - started)))
    await queue.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    names = Names(f"benchjs{secrets.token_hex(4)}")
    nc = await connect(args.nats, name="bench")
    try:
        await measure("jetstream", JetStreamQueue(nc, names), args.events, args.clients)
    finally:
        await nc.jetstream().delete_stream(names.async_stream)
        await nc.close()
    from lamina.queue.sql import SqlQueue
    from lamina.store.database import migrate, open_database
    from lamina.store.queue import QueueStore
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_database(f"sqlite:///{tmp}/bench.db")
        migrate(engine)
        await measure("sqlite", SqlQueue(QueueStore(engine)), args.events, args.clients)


if __name__ == "__main__":
    asyncio.run(main())
