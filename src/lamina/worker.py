"""The composition root of a cluster worker node (`lamina worker`): the engine and its sandboxes,
answering the run requests fronts send over NATS. Built in cluster mode only (docs/cluster.md).

A WorkerNode builds the Engine with its backend, runtime catalog, blob store, image store and file
systems, and a LogBuffer writing function logs straight to the shared database's LogStore. It
answers run requests on its own subject (Names.run) and the placement queue group (Names.place),
hears retire/provision/prepare commands (Names.workers_control) and beats into the nodes bucket
(with the interpreters whose zygote runs). A runtime's zygote starts ahead, off the loop's path: when
a front says a function on it was created or changed ("prepare"), and at the worker's start for the
runtimes of the versions deployed in the shared database. Code and
layers arrive as digests: a missing one is fetched once through the blob store's remote (the
cluster's JetStream object store) and cached in the data dir. `lamina serve --with-worker` runs one in the front's
process, sharing its NATS link, node id and beat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from pathlib import Path

from lamina import stopping
from lamina.cluster import wire
from lamina.cluster.blob_remote import BlobRemote
from lamina.cluster.link import Link
from lamina.cluster.localize import IMAGE_RAPID_RUNTIME, Localizer
from lamina.cluster.names import Names
from lamina.cluster.nodes import Beat, Nodes, base_beat, new_node_id, version_key
from lamina.config import Settings
from lamina.engine import backends
from lamina.engine.catalog import Runtimes
from lamina.engine.engine import Engine
from lamina.engine.file_systems import FileSystems
from lamina.engine.spec import RunSpec
from lamina.environments import runtimes_in_use
from lamina.errors import LambdaError, ServiceException
from lamina.images.store import ImageStore
from lamina.store.blobs import BlobStore
from lamina.store.database import database_url, open_database
from lamina.store.functions import FunctionStore
from lamina.store.logs import LogStore
from lamina.telemetry.logbuffer import LogBuffer

log = logging.getLogger("lamina.worker")

PENDING_BYTES = 512 * 1024 * 1024
SPEC_CACHE = 1024


def runtime_to_prepare(command: dict) -> tuple[str, bool] | None:
    """(runtime, whether it is a container image's) a front's "prepare" command names, or None when
    it names none this worker could make ready (image functions all share one: ("", True))."""
    if command.get("image") is True:
        return "", True
    runtime = command.get("runtime")
    return (runtime, False) if isinstance(runtime, str) and runtime else None


class _Relay:
    """The ResponseStream a streamed invoke writes to on the worker: its bytes go to the front's
    per-invoke subject as they come; the front's abort/pause come back through `attach`."""

    def __init__(self, node: WorkerNode, reply: str, call_id: str) -> None:
        self._node, self._reply, self._id = node, reply, call_id
        self.tasks: list[asyncio.Task] = []
        self.abort = None
        self.pause = None

    def _send(self, header: dict, body: bytes = b"") -> None:
        data = wire.pack(header, body)
        self.tasks.append(asyncio.get_running_loop().create_task(self._node.publish(self._reply, data)))

    def begin(self, content_type: str, executed_version: str) -> None:
        self._send({"k": wire.BEGIN, "id": self._id, "ct": content_type, "v": executed_version})

    def write(self, data: bytes) -> None:
        step = self._node.limit - wire.PART_OVERHEAD
        for offset in range(0, len(data), step):
            self._send({"k": wire.DATA, "id": self._id}, data[offset:offset + step])

    def attach(self, abort, pause) -> None:
        self.abort, self.pause = abort, pause


class WorkerNode:
    def __init__(self, settings: Settings, *, link: Link | None = None, nodes: Nodes | None = None,
                 node_id: str | None = None) -> None:
        self.settings = settings
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.node_id = node_id or new_node_id("worker")
        self.names = Names(settings.cluster_name)
        self._own_link = link is None
        self.link = link or Link(settings.nats_url or "nats://127.0.0.1:4222", name=f"lamina {self.node_id}")
        self._own_nodes = nodes is None
        self.nodes = nodes or Nodes(self.link, self.names)
        self.database = open_database(database_url(settings))
        self.log_buffer = LogBuffer(LogStore(self.database).append)
        self.backend = backends.select(settings.sandbox, data_dir / "sandbox", settings.isolation)
        self.file_systems = FileSystems(settings.file_systems, self.backend.name)
        self.file_systems.prepare()
        self.runtimes = Runtimes(settings.runtime_paths)
        self.blob_remote = BlobRemote(settings.nats_url or "", self.names, node_id=self.node_id)
        self.blobs = BlobStore(data_dir / "blobs", remote=self.blob_remote)
        self.images = ImageStore(data_dir / "images", insecure=frozenset(settings.insecure_registries),
                                 credentials=settings.registry_credentials)
        self.engine = Engine(
            backend=self.backend, concurrency_limit=settings.concurrency_limit, idle_timeout=settings.idle_timeout,
            endpoint_url=settings.base_url, region=settings.region, account_id=settings.account_id,
            scratch_dir=data_dir / "sandboxes", log_sink=self.log_buffer, runtime_site_dir=settings.cache_dir / "runtime",
            runtime_site_fallback=data_dir / "runtime", start_concurrency=settings.start_concurrency,
        )
        self.localizer = Localizer(unpacked=self.blobs.unpacked, interpreter=self.runtimes.interpreter,
                                   executable=self.runtimes.executable, file_system_dir=self.file_systems.host_dir,
                                   image=self._image)
        self.started = time.time()
        self.draining = False
        self.limit = 1024 * 1024
        self._specs: dict[bytes, RunSpec] = {}
        self._assemblies: dict[str, wire.Assembly] = {}
        self._relays: dict[str, _Relay] = {}
        self._tasks: set[asyncio.Task] = set()
        self._subs: list = []
        self._beat = Beat(self.nodes, self.node_id, self.describe) if self._own_nodes else None

    # ---- what this worker holds ------------------------------------------------------------------

    def _image(self, uri: str, architecture: str) -> tuple[Path, dict]:
        pulled = self.images.pull(uri, architecture)
        return pulled.root, pulled.config

    def describe(self) -> dict:
        """This node's beat: who it is, its environments (idle and provisioned-ready per version), load."""
        stats = self.engine.stats()
        idle, provisioned = {}, {}
        for (name, version), (idle_count, ready) in self.engine.versions().items():
            if idle_count:
                idle[version_key(name, version)] = idle_count
            if ready:
                provisioned[version_key(name, version)] = ready
        return {**base_beat(self.node_id, ["worker"], "", self.started), "draining": self.draining,
                "environments": {**stats, "idleByVersion": idle, "provisioned": provisioned,
                                 "backend": self.backend.name, "zygotes": self.backend.zygotes()},
                "inFlight": stats["inFlight"]}

    # ---- running -------------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.blob_remote.start)
        nc = await self.link.open()
        self.limit = nc.max_payload
        if self._own_nodes:
            await self.nodes.start()
        await self.engine.start()
        limits = {"pending_bytes_limit": PENDING_BYTES, "pending_msgs_limit": 1_000_000}
        self._subs = [
            await self.link.subscribe(self.names.run(self.node_id), self._on_run, **limits),
            await self.link.subscribe(self.names.place, self._on_run, queue=self.names.place_group, **limits),
            await nc.subscribe(self.names.workers_control, cb=self._on_control),
        ]
        self._spawn(self._prepare_deployed())
        if self._beat is not None:
            await self._beat.start()

    async def publish(self, subject: str, data: bytes) -> None:
        try:
            await self.link.publish(subject, data)
        except Exception as exc:
            log.warning("NATS publish to %s failed: %s", subject, exc)

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_run(self, _subject: str, _reply: str, data: bytes, _headers: dict | None) -> None:
        """A run request, or a part, abort or pause of one (run in the NATS read loop: the invoke
        itself is a task of its own)."""
        try:
            header, spec, body = wire.unpack(data)
        except ValueError:
            return
        kind, call_id = header.get("k"), header.get("id", "")
        if kind == wire.RUN:
            if header.get("placed"):  # written before the answer: the task starts (and writes) first
                self._spawn(self.publish(header["reply"], wire.pack({"k": wire.ACK, "id": call_id,
                                                                     "w": self.node_id})))
            if "size" in header:
                self._assemblies[call_id] = wire.Assembly(header, bytes(spec), body)
                return
            self._spawn(self._run(header, spec, body))
        elif kind == wire.PART:
            assembly = self._assemblies.get(call_id)
            whole = assembly.add(body) if assembly is not None else None
            if whole is not None:
                del self._assemblies[call_id]
                self._spawn(self._run(assembly.header, assembly.spec, whole))
        elif kind in (wire.ABORT, wire.PAUSE):
            relay = self._relays.get(call_id)
            if relay is not None and kind == wire.ABORT and relay.abort is not None:
                relay.abort()
            elif relay is not None and relay.pause is not None:
                relay.pause(bool(header.get("on")))

    async def _spec(self, data: bytes) -> RunSpec:
        spec = self._specs.get(data)
        if spec is None:
            spec = await asyncio.to_thread(self.localizer.localize, wire.spec_from_bytes(data))
            if len(self._specs) >= SPEC_CACHE:
                self._specs.clear()
            self._specs[bytes(data)] = spec
        return spec

    async def _run(self, header: dict, spec_data: bytes, payload: bytes) -> None:
        call_id, reply = header["id"], header["reply"]
        relay = _Relay(self, reply, call_id) if header.get("stream") else None
        if relay is not None:
            self._relays[call_id] = relay
        try:
            spec = await self._spec(spec_data)
            result = await self.engine.invoke(spec, wire.request_from(header, bytes(payload), relay))
            messages = wire.messages(wire.result_header(result, call_id, self.node_id), result.payload, self.limit)
        except LambdaError as exc:
            messages = [wire.pack(wire.error_header(exc, call_id, self.node_id))]
        except Exception as exc:
            log.exception("invoke %s failed on this worker", call_id)
            error = ServiceException(f"The lamina worker could not run the invocation: {exc}")
            messages = [wire.pack(wire.error_header(error, call_id, self.node_id))]
        finally:
            self._relays.pop(call_id, None)
        if relay is not None and relay.tasks:
            await asyncio.gather(*relay.tasks, return_exceptions=True)
        for message in messages:
            await self.publish(reply, message)

    async def _on_control(self, msg) -> None:
        try:
            command = json.loads(msg.data)
        except ValueError:
            return
        if command.get("op") == "retire":
            self.engine.retire(command["function"], command.get("version"))
        elif command.get("op") == "provision":
            self._spawn(self._provision(command.get("targets") or []))
        elif command.get("op") == "prepare":
            runtime = runtime_to_prepare(command)
            if runtime is not None:
                self._spawn(self._prepare([runtime]))

    async def _prepare_deployed(self) -> None:
        """At the start: the runtimes of every version deployed in the shared database are made
        ready ahead (read off the loop), so this worker's first invoke of each need not start one."""
        try:
            versions = await asyncio.to_thread(FunctionStore(self.database).list_versions)
        except Exception as exc:
            log.warning("the deployed runtimes could not be read to start their zygotes ahead: %s", exc)
            return
        await self._prepare(runtimes_in_use(versions))

    async def _prepare(self, runtimes: list[tuple[str, bool]]) -> None:
        """Have the engine make each runtime ready ahead (in the background; nothing for one this host
        cannot run). Finding the interpreter may probe it, so that happens on a thread."""
        for runtime, image in runtimes:
            try:
                interpreter = await asyncio.to_thread(self.runtimes.interpreter,
                                                      IMAGE_RAPID_RUNTIME if image else runtime)
                self.engine.prepare_runtime(runtime, interpreter, image=image)
            except Exception as exc:
                log.warning("runtime %s could not be made ready ahead: %s", runtime or "(image)", exc)

    async def _provision(self, targets: list[dict]) -> None:
        wanted = {}
        for target in targets:
            count = int((target.get("shares") or {}).get(self.node_id, 0))
            if count <= 0:
                continue
            try:
                spec = await self._spec(json.dumps(target["spec"], separators=(",", ":")).encode())
            except Exception as exc:
                log.warning("a provisioned target could not be prepared here: %s", exc)
                continue
            wanted[spec.pool_key] = (spec, count)
        self.engine.provision(wanted)

    async def close(self) -> None:
        """Stop taking invokes (fronts see `draining` and NATS no subscriber, so they place elsewhere),
        let those in flight finish within the stop grace (lamina.stopping), still beating so fronts do
        not fail them, then end the environments and leave the nodes bucket. Those in flight include
        requests NATS delivered before the unsubscribe reached it: a front that placed one here
        before it saw `draining` gets its answer, not a lost worker once this one leaves."""
        self.draining = True
        if self._beat is not None:
            with contextlib.suppress(Exception):
                await self._beat.once()
        deadline = time.monotonic() + stopping.drain_seconds(self.settings.stop_grace,
                                                            self.engine.stats()["environments"])
        for sub in self._subs:  # a drain, not an unsubscribe: requests NATS sent before it took are run
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sub.drain(), max(0.1, deadline - time.monotonic()))
        while (self.engine.stats()["inFlight"] or self._tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await self.engine.close()
        if self._tasks:  # the answers of invokes the close stopped
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._beat is not None:
            await self._beat.close()
        if self._own_nodes:
            await self.nodes.close()
        if self._own_link:
            await self.link.close()
        await asyncio.to_thread(self.blob_remote.close)
        self.log_buffer.close()
        self.database.dispose()

    async def run(self, ready=None) -> None:
        """Start, serve until SIGTERM or SIGINT, then stop (in-flight invokes answered, environments ended)."""
        try:
            await self.start()
        except BaseException:  # e.g. NATS unreachable: give back the sandbox's mounts before failing
            await self.engine.close()
            raise
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if ready is not None:
            ready(self)
        try:
            await stop.wait()
        finally:
            await self.close()

