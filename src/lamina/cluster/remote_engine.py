"""The front's engine in cluster mode: the Engine methods server.py calls, done by worker nodes over NATS.

`invoke` sends the request to a worker's own subject (Names.run): one known to hold an idle
environment of that version (warm affinity), else the one with the most free memory (placement
policy in lamina.cluster.placement); when no worker has beaten yet, to the placement queue group
(Names.place), whose taker acknowledges. Answers come back on a per-invoke subject under this
front's reply subject: the result (payload in parts above NATS's max payload), streamed response
bytes forwarded to the request's ResponseStream, or a lamina error. A worker that NATS says has no
subscription never got the request: it is tried on another. A worker whose heartbeat lapses (or
that leaves) fails its invokes in flight with ServiceException within the lapse, not the function
timeout. `retire`, `provision` and `prepare_runtime` go to every worker (Names.workers_control);
`provisioned_ready` and `stats` add up the workers' beats.

Imports lamina.cluster (names, link, nodes, placement, wire), lamina.engine.spec and lamina.errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina.cluster import placement, wire
from lamina.cluster.link import Link
from lamina.cluster.names import Names
from lamina.cluster.nodes import LAPSE_S, Nodes, version_key
from lamina.engine.spec import InvokeRequest, InvokeResult, RunSpec
from lamina.errors import ServiceException

log = logging.getLogger("lamina.cluster.remote_engine")

CHECK_S = 0.5  # how often invokes in flight are checked against their workers' heartbeats
PENDING_BYTES = 512 * 1024 * 1024  # what the reply subscription may hold unread (6 MB answers)
NO_WORKER = "No lamina worker node is available to run the function."
WORKER_LOST = ("The lamina worker node running the invocation stopped responding (its heartbeat lapsed); the "
               "invocation may or may not have run.")
NATS_AWAY = ("lamina cannot reach the cluster's message service (NATS) right now; the invocation may or may not "
             "have run. Retry shortly.")
SHUTTING_DOWN = "The service is shutting down: the invocation was stopped."
GIVE_UP_MARGIN_S = 60.0  # past the function's timeout (and init), a lost answer fails the invoke


class _NoResponders(Exception):
    """NATS had no subscriber for the request: the worker never got it."""


@dataclass(eq=False)
class _Call:
    key: str
    worker: str | None
    future: asyncio.Future
    stream: object = None
    warm: bool = False
    memory_mb: int = 0
    sent: float = field(default_factory=time.monotonic)
    deadline: float | None = None  # monotonic; past it, a lost answer fails the invoke
    assembly: wire.Assembly | None = None


class RemoteEngine:
    def __init__(self, link: Link, names: Names, nodes: Nodes, *, node_id: str, lapse_s: float = LAPSE_S,
                 check_s: float = CHECK_S) -> None:
        self._link = link
        self._names = names
        self._nodes = nodes
        self._node_id = node_id
        self._lapse = lapse_s
        self._check_s = check_s
        self._reply = names.reply(node_id)
        self._ids = itertools.count(1)
        self._calls: dict[str, _Call] = {}
        self._warm: dict[str, dict[str, int]] = {}  # version key → worker → idle environments known there
        self._inflight: dict[tuple[str, str], int] = {}  # (version key, worker) → invokes this front sent
        self._pending_mb: dict[str, int] = {}  # worker → memory of new environments sent since its beat
        self._specs: dict[int, tuple[RunSpec, bytes]] = {}
        self._targets: dict[tuple[str, str], tuple[RunSpec, int]] = {}
        self._provisioned_for: tuple[str, ...] | None = None
        self._closing = False
        self._sub = None
        self._checker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limit = 1024 * 1024
        nodes.listen(self._on_beat)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        nc = await self._link.open()
        self._limit = nc.max_payload
        self._sub = await self._link.subscribe(self._reply + ".*", self._on_reply, pending_bytes_limit=PENDING_BYTES,
                                               pending_msgs_limit=1_000_000)
        self._checker = asyncio.create_task(self._check_forever(), name="lamina-remote-engine-check")

    # ---- invoke --------------------------------------------------------------------------------

    def _spec_data(self, spec: RunSpec) -> bytes:
        cached = self._specs.get(id(spec))
        if cached is not None and cached[0] is spec:
            return cached[1]
        data = wire.spec_bytes(spec)
        if len(self._specs) > 4096:
            self._specs.clear()
        self._specs[id(spec)] = (spec, data)
        return data

    async def invoke(self, spec: RunSpec, request: InvokeRequest) -> InvokeResult:
        if self._closing:
            raise ServiceException("The execution engine is shutting down.")
        key = version_key(spec.function_name, spec.version)
        spec_data = self._spec_data(spec)
        tried: set[str] = set()
        while True:
            workers = self._nodes.workers()
            picked = placement.choose(workers, warm=self._warm.get(key, {}), pending_mb=self._pending_mb,
                                      exclude=tried)
            if picked is None and (tried or workers):
                raise ServiceException(NO_WORKER)
            try:
                return await self._send(spec, spec_data, request, key, picked)
            except _NoResponders:
                if picked is None:
                    raise ServiceException(NO_WORKER) from None
                tried.add(picked[0])

    async def _send(self, spec: RunSpec, spec_data: bytes, request: InvokeRequest, key: str,
                    picked: tuple[str, bool] | None) -> InvokeResult:
        nc = self._link.nc
        if not nc.is_connected:
            raise ServiceException(NATS_AWAY)
        call_id = f"{next(self._ids):x}"
        reply = f"{self._reply}.{call_id}"
        worker, warm = picked if picked is not None else (None, False)
        call = _Call(key, worker, asyncio.get_running_loop().create_future(), request.stream, warm, spec.memory_mb)
        header = wire.request_header(request, call_id, reply)
        if worker is None:
            header["placed"] = True
        subject = self._names.run(worker) if worker is not None else self._names.place
        self._calls[call_id] = call
        self._dispatched(call)
        try:
            if request.stream is not None and worker is not None:
                request.stream.attach(lambda: self._control(call, {"k": wire.ABORT, "id": call_id}),
                                      lambda on: self._control(call, {"k": wire.PAUSE, "id": call_id, "on": on}))
            if spec.debug_port is None:
                call.deadline = call.sent + spec.timeout_s + 10 + GIVE_UP_MARGIN_S
            messages = wire.messages(header, request.payload, self._limit, spec_data)
            if worker is None and len(messages) > 1:  # parts through a queue group could reach several workers
                raise ServiceException(NO_WORKER)
            try:
                for index, message in enumerate(messages):
                    await self._link.publish(subject, message, reply=reply if index == 0 else "")
            except Exception as exc:  # closed, or the reconnect buffer full
                raise ServiceException(NATS_AWAY) from exc
            return await call.future
        finally:
            self._calls.pop(call_id, None)
            self._settled(call)

    def _dispatched(self, call: _Call) -> None:
        if call.worker is None:
            return
        pair = (call.key, call.worker)
        self._inflight[pair] = self._inflight.get(pair, 0) + 1
        if call.warm:
            known = self._warm.setdefault(call.key, {})
            known[call.worker] = max(0, known.get(call.worker, 0) - 1)
        else:
            self._pending_mb[call.worker] = self._pending_mb.get(call.worker, 0) + call.memory_mb

    def _settled(self, call: _Call) -> None:
        if call.worker is None:
            return
        pair = (call.key, call.worker)
        left = self._inflight.get(pair, 1) - 1
        if left > 0:
            self._inflight[pair] = left
        else:
            self._inflight.pop(pair, None)
        if not call.warm:
            self._pending_mb[call.worker] = max(0, self._pending_mb.get(call.worker, 0) - call.memory_mb)
        future = call.future
        if future.done() and not future.cancelled() and future.exception() is None:
            known = self._warm.setdefault(call.key, {})  # its environment is idle again
            known[call.worker] = known.get(call.worker, 0) + 1

    def _control(self, call: _Call, header: dict) -> None:
        """Abort or pause a streamed invoke on its worker (from the HTTP layer's writer)."""
        if call.worker is None or self._loop is None:
            return
        data = wire.pack(header)
        subject = self._names.run(call.worker)
        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(self._publish(subject, data)))

    async def _publish(self, subject: str, data: bytes) -> None:
        try:
            await self._link.publish(subject, data)
        except Exception as exc:
            log.warning("NATS publish to %s failed: %s", subject, exc)

    def _on_reply(self, subject: str, _reply: str, data: bytes, headers: dict | None) -> None:
        """An answer on this front's reply subject (run in the NATS read loop: no awaiting here)."""
        call_id = subject.rsplit(".", 1)[-1]
        call = self._calls.get(call_id)
        if call is None or call.future.done():
            return
        if not data:
            if headers and headers.get("Status") == "503":
                call.future.set_exception(_NoResponders())
            return
        try:
            header, _, body = wire.unpack(data)
        except ValueError:
            log.warning("an unreadable answer on %s", subject)
            return
        kind = header.get("k")
        if kind == wire.RESULT:
            if "size" in header:
                call.assembly = wire.Assembly(header, b"", body)
                return
            call.future.set_result(wire.result_from(header, bytes(body)))
        elif kind == wire.PART:
            if call.assembly is not None:
                whole = call.assembly.add(body)
                if whole is not None:
                    call.future.set_result(wire.result_from(call.assembly.header, whole))
        elif kind in (wire.BEGIN, wire.DATA) and call.stream is not None:
            try:
                if kind == wire.BEGIN:
                    call.stream.begin(header.get("ct", "application/octet-stream"), header.get("v", ""))
                else:
                    call.stream.write(bytes(body))
            except Exception:  # the reader went away: its abort (attach) stops the invoke on the worker
                log.debug("a streamed response's reader is gone", exc_info=True)
        elif kind == wire.ACK:
            call.worker = header.get("w")
            if call.stream is not None and call.worker:
                call.stream.attach(lambda: self._control(call, {"k": wire.ABORT, "id": call_id}),
                                   lambda on: self._control(call, {"k": wire.PAUSE, "id": call_id, "on": on}))
        elif kind == wire.FAIL:
            call.future.set_exception(wire.error_from(header))

    # ---- workers going away --------------------------------------------------------------------

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self._check_s)
            try:
                self.check(time.monotonic())
            except Exception:
                log.exception("checking invokes in flight failed")

    def check(self, now: float) -> None:
        """Fail the invokes in flight on workers whose heartbeat lapsed (or, placed through the queue
        group, that no worker took within the lapse), and those whose answer is overdue; all of them
        while this front is cut off from NATS (answers published meanwhile are lost)."""
        connected = self._link.nc.is_connected
        for call in list(self._calls.values()):
            if call.future.done():
                continue
            if not connected:
                call.future.set_exception(ServiceException(NATS_AWAY))
            elif call.deadline is not None and now > call.deadline:
                call.future.set_exception(ServiceException(WORKER_LOST))
            elif call.worker is None:
                if now - call.sent > self._lapse:
                    call.future.set_exception(ServiceException(WORKER_LOST))
            elif not self._nodes.alive(call.worker):
                call.future.set_exception(ServiceException(WORKER_LOST))

    def _on_beat(self, node_id: str, beat: dict | None) -> None:
        if beat is None or "worker" not in beat.get("roles", ()):
            self._forget(node_id)
            return
        idle = (beat.get("environments") or {}).get("idleByVersion") or {}
        for key in set(idle) | {key for key, known in self._warm.items() if node_id in known}:
            count = max(0, int(idle.get(key, 0)) - self._inflight.get((key, node_id), 0))
            self._warm.setdefault(key, {})[node_id] = count
        self._pending_mb[node_id] = 0
        self._reprovision()

    def _forget(self, node_id: str) -> None:
        for known in self._warm.values():
            known.pop(node_id, None)
        self._pending_mb.pop(node_id, None)
        for call in list(self._calls.values()):
            if call.worker == node_id and not call.future.done():
                call.future.set_exception(ServiceException(WORKER_LOST))
        self._reprovision()

    # ---- environments: retire, provisioned concurrency -----------------------------------------

    def _post(self, header: dict, before: Callable[[], None] | None = None) -> None:
        """Tell every worker (from any thread), after `before` runs on the loop."""
        loop = self._loop
        if loop is None:
            if before is not None:
                before()
            return
        data = json.dumps(header, separators=(",", ":")).encode()

        def send() -> None:
            if before is not None:
                before()
            loop.create_task(self._publish(self._names.workers_control, data))

        if _running_in(loop):
            send()
        else:
            loop.call_soon_threadsafe(send)

    def retire(self, function_name: str, version: str | None = None) -> None:
        """Every worker ends that function's (version's) environments; this front forgets them at once
        (from any thread: the forgetting happens on the loop)."""
        self._post({"op": "retire", "function": function_name, "version": version},
                   lambda: self._forget_warm(function_name, version))

    def _forget_warm(self, function_name: str, version: str | None) -> None:
        prefix = version_key(function_name, version) if version is not None else f"{function_name}:"
        for key in list(self._warm):
            if key == prefix or (version is None and key.startswith(prefix)):
                self._warm.pop(key, None)

    def prepare_runtime(self, runtime: str, interpreter: str | None = None, *, image: bool = False) -> None:
        """Every worker makes `runtime` ready ahead (its zygote starts in the background), finding the
        interpreter on its own host: `interpreter`, the front's, is not sent. From any thread; never waits."""
        self._post({"op": "prepare", "runtime": runtime, "image": image})

    def provision(self, targets: dict[tuple[str, str], tuple[RunSpec, int]]) -> None:
        self._targets = dict(targets)
        self._provisioned_for = None
        self._reprovision()

    def _reprovision(self) -> None:
        """Share the provisioned targets out over the live workers, again whenever that set changes."""
        workers = tuple(sorted(beat["id"] for beat in self._nodes.workers()))
        if workers == self._provisioned_for or self._loop is None:
            return
        self._provisioned_for = workers
        wanted = [{"spec": json.loads(self._spec_data(spec)), "shares": placement.shares(count, list(workers))}
                  for spec, count in self._targets.values()]
        self._post({"op": "provision", "targets": wanted})

    def provisioned_ready(self, function_name: str, version: str) -> int:
        key = version_key(function_name, version)
        return sum(int(((beat.get("environments") or {}).get("provisioned") or {}).get(key, 0))
                   for beat in self._nodes.workers())

    def processes(self, function_name: str, version: str | None = None) -> list[tuple[str, str, int]]:
        """Environments run on the workers' hosts: the front samples none (the profiler finds nothing)."""
        return []

    def image_roots(self) -> set[str]:
        """A front cannot see which image roots the workers' environments run on (and `serve --with-worker`
        shares its image store with one): "*" tells the reclaimer to remove none."""
        return {"*"}

    def stats(self) -> dict:
        totals = {"environments": 0, "busy": 0, "idle": 0, "starting": 0, "inFlight": 0, "pools": 0}
        backends = set()
        for beat in self._nodes.workers():
            envs = beat.get("environments") or {}
            for name in totals:
                totals[name] += int(envs.get(name, 0) or 0)
            backends.add(envs.get("backend") or "")
        backend = backends.pop() if len(backends) == 1 else "cluster"
        return {"backend": backend, **totals, "workers": len(self._nodes.workers()), "frontInFlight": len(self._calls)}

    # ---- stopping ------------------------------------------------------------------------------

    def halt(self) -> None:
        self._closing = True
        for call in list(self._calls.values()):
            if not call.future.done():
                call.future.set_exception(ServiceException(SHUTTING_DOWN))

    async def close(self) -> None:
        self.halt()
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
