"""The cluster's live nodes: every node (front and worker) beats about once a second into a JetStream
key-value bucket (Names.nodes_bucket) whose entries expire a few seconds after the last beat; every
node watches the bucket and keeps the latest beat of each.

A beat is a JSON document: id, roles, url, host, pid, started, the engine's environments (total,
busy, and idle / provisioned-ready counts per function version), free memory, in-flight invokes.
`live()` lists the nodes that beat within the lapse (for /health and placement), `seen(id)` says
when one last did (RemoteEngine fails a lapsed worker's invokes). NATS and the bucket do the
membership: nothing here elects or agrees on anything. Imports lamina.cluster's names and link only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable

from nats.js.api import KeyValueConfig, StorageType

from lamina.cluster.link import Link
from lamina.cluster.names import Names

log = logging.getLogger("lamina.cluster.nodes")

BEAT_S = 1.0  # how often a node beats
LAPSE_S = 3.0  # a node that has not beaten for this long is taken for dead
TTL_S = 6.0  # the bucket forgets a node this long after its last beat


def free_memory_mb(meminfo: str | None = None) -> tuple[int, int]:
    """(available, total) MiB of this host from /proc/meminfo (MemAvailable, MemTotal)."""
    if meminfo is None:
        try:
            with open("/proc/meminfo") as file:
                meminfo = file.read()
        except OSError:
            return 0, 0
    values = {}
    for line in meminfo.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0]) // 1024
    return values.get("MemAvailable", values.get("MemFree", 0)), values.get("MemTotal", 0)


def version_key(function_name: str, version: str) -> str:
    """How a function version is named in a beat's per-version counts."""
    return f"{function_name}:{version}"


def new_node_id(role: str) -> str:
    """A node's id: its role, pid and a random part (never reused after a restart)."""
    return f"{role}-{os.getpid()}-{os.urandom(4).hex()}"


def base_beat(node_id: str, roles: list[str], url: str, started: float) -> dict:
    available, total = free_memory_mb()
    return {"id": node_id, "roles": roles, "url": url, "host": socket.gethostname(), "pid": os.getpid(),
            "started": started, "memory": {"freeMb": available, "totalMb": total}}


class Nodes:
    """The nodes' bucket and this node's view of it."""

    def __init__(self, link: Link, names: Names, *, lapse_s: float = LAPSE_S, ttl_s: float = TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._link = link
        self._names = names
        self._lapse = lapse_s
        self._ttl = ttl_s
        self._clock = clock
        self._kv = None
        self._watcher = None
        self._task: asyncio.Task | None = None
        self._beats: dict[str, tuple[dict, float]] = {}  # id → (beat, when it was seen, monotonic)
        self._listeners: list[Callable[[str, dict | None], None]] = []

    async def start(self) -> None:
        js = self._link.nc.jetstream()
        self._kv = await js.create_key_value(KeyValueConfig(
            bucket=self._names.nodes_bucket, history=1, ttl=self._ttl, storage=StorageType.MEMORY))
        self._watcher = await self._kv.watchall()
        self._task = asyncio.create_task(self._watch(), name="lamina-nodes-watch")

    def listen(self, listener: Callable[[str, dict | None], None]) -> None:
        """`listener(id, beat)` on every beat seen, `listener(id, None)` when a node leaves."""
        self._listeners.append(listener)

    async def _watch(self) -> None:
        assert self._watcher is not None
        async for entry in self._watcher:
            if entry is None:
                continue
            try:
                self._seen(entry)
            except Exception:
                log.exception("a node beat could not be read")

    def _seen(self, entry) -> None:
        node_id = entry.key
        if entry.operation in ("DEL", "PURGE") or not entry.value:
            self._beats.pop(node_id, None)
            for listener in self._listeners:
                listener(node_id, None)
            return
        beat = json.loads(entry.value)
        age = max(0.0, time.time() - float(beat.get("beat", time.time())))  # a replayed old beat is old
        self._beats[node_id] = (beat, self._clock() - age)
        for listener in self._listeners:
            listener(node_id, beat)

    async def beat(self, node_id: str, beat: dict) -> None:
        assert self._kv is not None, "Nodes.start() first"
        await self._kv.put(node_id, json.dumps({**beat, "beat": time.time()}).encode())

    async def leave(self, node_id: str) -> None:
        if self._kv is not None:
            with contextlib.suppress(Exception):
                await self._kv.delete(node_id)

    def seen(self, node_id: str) -> float | None:
        """When (monotonic) `node_id` last beat, None if it never did or left."""
        found = self._beats.get(node_id)
        return found[1] if found else None

    def alive(self, node_id: str) -> bool:
        seen = self.seen(node_id)
        return seen is not None and self._clock() - seen < self._lapse

    def live(self) -> list[dict]:
        """The latest beat of every node that beat within the lapse, oldest node first."""
        now = self._clock()
        found = [beat for beat, seen in self._beats.values() if now - seen < self._lapse]
        return sorted(found, key=lambda beat: (beat.get("started", 0), beat.get("id", "")))

    def workers(self) -> list[dict]:
        """Live workers that take new invokes (a stopping one says `draining`)."""
        return [beat for beat in self.live() if "worker" in beat.get("roles", ()) and not beat.get("draining")]

    async def close(self) -> None:
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await self._watcher.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


class Beat:
    """Beats `describe()` into the bucket every `interval` seconds until closed; leaves on close."""

    def __init__(self, nodes: Nodes, node_id: str, describe: Callable[[], dict], interval: float = BEAT_S) -> None:
        self._nodes = nodes
        self._id = node_id
        self._describe = describe
        self._interval = interval
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self.once()
        self._task = asyncio.create_task(self._run(), name="lamina-node-beat")

    async def once(self) -> None:
        await self._nodes.beat(self._id, self._describe())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.once()
            except Exception as exc:  # NATS away: beat again when it is back
                log.warning("node beat failed: %s", exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._nodes.leave(self._id)
