"""Cluster mode's parts of a front node, built by the composition root (lamina.server) when
Settings.nats_url is set: the NATS link, the node's beat, the RemoteEngine standing in for the
Engine, the code blobs' remote, the relay of domain events, and with `--with-worker` a worker node
in the same process. Imports lamina.config, lamina.events and lamina.cluster only; the worker node
is made by a factory the CLI passes in, since lamina.worker sits above this package.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from lamina import events
from lamina.cluster.blob_remote import BlobRemote
from lamina.cluster.bridge import BusBridge
from lamina.cluster.link import Link
from lamina.cluster.names import Names
from lamina.cluster.nodes import Beat, Nodes, base_beat, new_node_id
from lamina.cluster.remote_engine import RemoteEngine
from lamina.config import Settings


class ClusterWorker(Protocol):
    """A worker node run in a front's process (lamina.worker.WorkerNode; `serve --with-worker`)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def describe(self) -> dict: ...


WorkerFactory = Callable[[Link, Nodes, str], ClusterWorker]  # (link, nodes, node id) → a worker node


class ClusterFront:
    """Cluster mode's parts of a front node (Settings.nats_url set): its NATS link, its beat in the
    nodes bucket, the RemoteEngine that stands in for the Engine, the code blobs' remote, the relay of
    domain events to the other nodes, and with `--with-worker` a worker node in this process sharing
    the link, node id and beat (made by `worker`, since lamina.worker sits beside this module)."""

    def __init__(self, settings: Settings, bus: events.Bus, worker: WorkerFactory | None) -> None:
        self.settings = settings
        self.names = Names(settings.cluster_name)
        self.node_id = new_node_id("front")
        self.link = Link(settings.nats_url or "", name=f"lamina {self.node_id}")
        self.nodes = Nodes(self.link, self.names)
        self.blob_remote = BlobRemote(settings.nats_url or "", self.names, node_id=self.node_id)
        self.bridge = BusBridge(bus, self.link.client, self.names, self.node_id)
        self.worker = worker(self.link, self.nodes, self.node_id) if worker and settings.with_worker else None
        self.engine = RemoteEngine(self.link, self.names, self.nodes, node_id=self.node_id)
        self.beat = Beat(self.nodes, self.node_id, self.describe)
        self.started = time.time()

    def describe(self) -> dict:
        roles = ["front", "worker"] if self.worker is not None else ["front"]
        beat = base_beat(self.node_id, roles, self.settings.base_url, self.started)
        if self.worker is not None:
            described = self.worker.describe()
            beat.update(environments=described["environments"], inFlight=described["inFlight"],
                        draining=described["draining"])
        return beat

    async def start(self) -> None:
        await asyncio.to_thread(self.blob_remote.start)
        await self.link.open()
        await self.bridge.start()
        await self.nodes.start()
        if self.worker is not None:
            await self.worker.start()
        await self.beat.start()

    async def close(self) -> None:
        await self.beat.close()
        if self.worker is not None:
            await self.worker.close()
        await self.nodes.close()
        await self.bridge.close()
        await self.link.close()
        await asyncio.to_thread(self.blob_remote.close)
