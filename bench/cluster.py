"""Cluster-mode benchmark: warm invoke p50 and 8-client throughput through a front with one and with
two workers (PostgreSQL and NATS on this machine), next to single-node mode measured in the same run
with the same client.

Run: .venv/bin/python bench/cluster.py [--warm 1000] [--seconds 5] [--clients 8]
Needs PostgreSQL on 127.0.0.1:5432 (trust, user postgres) and NATS with JetStream on 127.0.0.1:4222
(LAMINA_TEST_NATS to change). Prints one JSON line per figure; `added_ms` is the cluster p50 minus the
single-node p50 (DESIGN.md §10: cluster mode adds ≤ 0.5 ms per invoke), both taken in alternating batches
(a shared machine's load shifts fall on both alike; the single-node figure is printed beside each). On a
2-core machine a second worker cannot add CPU: the two-worker figure shows the placement cost, not scaling.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time

from common import create_function, emit, free_port, percentile, start_lamina, stop_all, throughput, wait_http
from invoke import INVOKE_PATH, NOOP, sequential

PG = "postgresql://postgres@127.0.0.1:5432"
NATS = os.environ.get("LAMINA_TEST_NATS", "nats://127.0.0.1:4222")


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(sql)


async def _delete_nats(cluster: str) -> None:
    import nats

    nc = await nats.connect(NATS)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name.startswith((cluster, f"KV_{cluster}", f"OBJ_{cluster}")):
                await js.delete_stream(info.config.name)
    finally:
        await nc.close()


class ClusterRun:
    """A front and N workers on a database and cluster name of this run's own."""

    def __init__(self, tmp: str) -> None:
        token = secrets.token_hex(4)
        self.name, self.database = f"bench{token}", f"lamina_bench_{token}"
        _admin(f'CREATE DATABASE "{self.database}"')
        self.env = {**os.environ, "LAMINA_CLUSTER_NAME": self.name, "LAMINA_DATABASE_URL": f"{PG}/{self.database}",
                    "LAMINA_NATS_URL": NATS}
        self.tmp = tmp
        self.processes: list[subprocess.Popen] = []

    def front(self) -> int:
        port = free_port()
        self.processes.append(subprocess.Popen(
            [sys.executable, "-m", "lamina.cli", "serve", "--port", str(port), "--data-dir",
             os.path.join(self.tmp, f"front-{port}")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=self.env))
        wait_http(f"http://127.0.0.1:{port}/health")
        return port

    def worker(self) -> None:
        log = open(os.path.join(self.tmp, f"worker-{len(self.processes)}.log"), "wb")  # noqa: SIM115
        self.processes.append(subprocess.Popen(
            [sys.executable, "-m", "lamina.cli", "worker", "--data-dir",
             os.path.join(self.tmp, f"worker-{len(self.processes)}")], stdout=log, stderr=subprocess.STDOUT,
            env=self.env))
        deadline = time.monotonic() + 30
        while b"ready" not in open(log.name, "rb").read():
            if time.monotonic() > deadline:
                raise RuntimeError("a worker did not start")
            time.sleep(0.05)

    def close(self) -> None:
        stop_all(self.processes)
        asyncio.run(_delete_nats(self.name))
        _admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def interleaved(ports: dict[str, int], name: str, count: int, rounds: int = 10) -> dict[str, list[float]]:
    """Warm invoke samples of each server, taken in alternating batches so that a change in the
    machine's load (other work on a shared host) falls on every mode alike."""
    path = INVOKE_PATH.format(name=name)
    samples: dict[str, list[float]] = {label: [] for label in ports}
    for _ in range(rounds):
        for label, port in ports.items():
            samples[label] += sequential(port, path, max(1, count // rounds))
    return samples


def report(samples: list[float], port: int, name: str, args, **labels) -> float:
    emit(figure="warm_invoke_ms", **labels, p50=round(percentile(samples, 0.5), 3),
         p99=round(percentile(samples, 0.99), 3), n=len(samples))
    rps = throughput(port, INVOKE_PATH.format(name=name), args.clients, args.seconds)
    emit(figure="invoke_throughput_rps", **labels, clients=args.clients, rps=round(rps))
    return percentile(samples, 0.5)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runtime", default="python3.12")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        single, port = start_lamina(os.path.join(tmp, "single"))
        run = ClusterRun(tmp)
        try:
            create_function(port, "noop", NOOP, args.runtime)
            front = run.front()
            run.worker()
            time.sleep(1.5)  # the front hears the worker's first beat
            create_function(front, "noop", NOOP, args.runtime)
            for workers in (1, 2):
                if workers == 2:
                    run.worker()
                    time.sleep(1.5)
                samples = interleaved({"single": port, "cluster": front}, "noop", args.warm)
                base = report(samples["single"], port, "noop", args, mode="single-node", workers=workers)
                p50 = report(samples["cluster"], front, "noop", args, mode="cluster", workers=workers)
                emit(figure="cluster_added_ms", workers=workers, added_ms=round(p50 - base, 3))
        finally:
            stop_all([single])
            run.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
