"""Cluster-mode test helpers: a PostgreSQL database and a NATS cluster name of a test's own, and real
`lamina serve --nats` fronts and `lamina worker` nodes as child processes on free loopback ports.

`Cluster(tmp)` creates the database `lamina_wk_<hex>` (dropped by `close`) and the cluster name
`twk<hex>` (its NATS streams and buckets deleted by `close`); `front()` and `worker()` start nodes
and wait until they are ready; `kill(node)` is kill -9.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from lamina.engine import volumes
from pg_support import create_database, drop_database, url_of
from support import free_port, stop_process

PG = "postgresql://postgres@127.0.0.1:5432"
NATS = os.environ.get("LAMINA_TEST_NATS", "nats://127.0.0.1:4222")


async def _delete_nats(cluster: str) -> None:
    import nats

    nc = await nats.connect(NATS)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            name = info.config.name
            if name.startswith((cluster, f"KV_{cluster}", f"OBJ_{cluster}")):
                with contextlib.suppress(Exception):
                    await js.delete_stream(name)
    finally:
        await nc.close()


class Node:
    """One lamina child process (a front or a worker)."""

    def __init__(self, argv: list[str], env: dict[str, str], output: Path, url: str | None = None) -> None:
        self.output = output
        self.url = url
        self._log = open(output, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        return stop_process(self.proc, self._log, sig)

    def kill(self) -> None:
        """kill -9 the node (its sandboxes, in their own sessions, are left to the OS)."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._log.close()


class Cluster:
    def __init__(self, tmp: Path, *, sandbox: str | None = None) -> None:
        token = secrets.token_hex(4)
        self.tmp = tmp
        self.name = f"twk{token}"
        self.database_name = create_database("lamina_wk")
        self.database_url = url_of(self.database_name)
        self.sandbox = sandbox
        self.nodes: list[Node] = []
        self.env = {**os.environ, "LAMINA_CLUSTER_NAME": self.name, "LAMINA_DATABASE_URL": self.database_url,
                    "LAMINA_NATS_URL": NATS}
        self.env.pop("LAMINA_AUTH", None)

    def front(self, *, with_worker: bool = False, extra: list[str] = ()) -> Node:
        port = free_port()
        data_dir = self.tmp / f"front-{port}"
        argv = [sys.executable, "-m", "lamina.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                "--data-dir", str(data_dir), "--nats", NATS, *extra]
        if with_worker:
            argv.append("--with-worker")
        if self.sandbox:
            argv += ["--sandbox", self.sandbox]
        node = Node(argv, self.env, self.tmp / f"front-{port}.log", url=f"http://127.0.0.1:{port}")
        self.nodes.append(node)
        self._wait_healthy(node)
        return node

    def worker(self, *, endpoint: str | None = None) -> Node:
        data_dir = self.tmp / f"worker-{secrets.token_hex(3)}"
        argv = [sys.executable, "-m", "lamina.cli", "worker", "--data-dir", str(data_dir),
                "--database", self.database_url, "--nats", NATS]
        if endpoint:
            argv += ["--endpoint", endpoint]
        if self.sandbox:
            argv += ["--sandbox", self.sandbox]
        node = Node(argv, self.env, data_dir.with_suffix(".log"))
        self.nodes.append(node)
        deadline = time.monotonic() + 30
        while b"ready" not in node.output.read_bytes():
            if not node.alive():
                raise RuntimeError(f"lamina worker exited early:\n{node.output.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"lamina worker did not start:\n{node.output.read_text()}")
            time.sleep(0.05)
        return node

    def _wait_healthy(self, node: Node) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not node.alive():
                raise RuntimeError(f"lamina exited early:\n{node.output.read_text()}")
            try:
                with urllib.request.urlopen(node.url + "/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"lamina did not become healthy:\n{node.output.read_text()}")

    @staticmethod
    def health(front: Node) -> dict:
        with urllib.request.urlopen(front.url + "/health", timeout=5) as response:
            return json.loads(response.read())

    def live_workers(self, front: Node) -> list[dict]:
        return [node for node in self.health(front).get("nodes", []) if "worker" in node.get("roles", ())]

    def wait_workers(self, front: Node, count: int, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            workers = self.live_workers(front)
            if len(workers) == count:
                return workers
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} live workers, the front sees {workers}")
            time.sleep(0.1)

    def close(self) -> None:
        """Stop every node, then delete the cluster's NATS streams and buckets, unmount what killed nodes
        left mounted and drop the database (each step even when one before failed)."""
        try:
            for node in reversed(self.nodes):
                with contextlib.suppress(Exception):
                    node.stop()
        finally:
            try:
                asyncio.run(_delete_nats(self.name))
            finally:
                try:
                    volumes.detach_all(self.tmp)
                finally:
                    drop_database(self.database_name)
