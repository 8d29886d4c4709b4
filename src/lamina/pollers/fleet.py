"""The `Pollers` supervisor: one poller task per enabled event source mapping, started at server
start, replaced when its mapping changes, ended when it is disabled or deleted and on stop.

It is handed callables (load every mapping, load one, settle a mapping's passing state), the
`Hooks` every poller gets and the poller factory per kind of source (see lamina.pollers). A
poller that fails unexpectedly is logged, its problem reported, and restarted after a pause: a
poller never takes the server down. With `Hooks.access` (auth on) a poller runs only while its
mapping's execution role may read the source: checked before it starts and every
`access_interval`; when the role loses the permission the poller is stopped and the problem
reported until the permission is back. In cluster mode the fleet runs on one node at a time
(`start` when it gains the pollers' lease, `standby` when it loses it). Imports lamina.model, lamina.events and lamina.pollers.hooks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lamina.events import MappingChanged
from lamina.model import EventSourceMapping
from lamina.pollers.hooks import Hooks

log = logging.getLogger("lamina.pollers")
RESTART_PAUSE_S = 5.0
STOP_WAIT_S = 10.0  # how long a stopping poller may finish the batches in flight before it is cancelled
Factory = Callable[[EventSourceMapping, Hooks], object]  # → an object with `async run()`


class Pollers:
    def __init__(self, *, load_all: Callable[[], list[EventSourceMapping]],
                 load: Callable[[str], EventSourceMapping | None],
                 settle: Callable[[str], object], hooks: Hooks, factories: dict[str, Factory],
                 stop_wait_s: float = STOP_WAIT_S) -> None:
        self._load_all = load_all
        self._load = load
        self._settle = settle
        self._hooks = hooks
        self._factories = factories
        self._stop_wait_s = stop_wait_s
        self._tasks: dict[str, asyncio.Task] = {}
        self._pollers: dict[str, object] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.Task] = set()
        self._closed = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for mapping in await asyncio.to_thread(self._load_all):
            await self._apply(mapping.uuid, mapping)

    def changed(self, event: MappingChanged) -> None:
        """The subscriber of MappingChanged (delivered on the loop while it runs)."""
        if self._loop is None or self._closed:
            return
        task = self._loop.create_task(self._apply(event.uuid))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _apply(self, uuid: str, mapping: EventSourceMapping | None = None) -> None:
        lock = self._locks.setdefault(uuid, asyncio.Lock())
        async with lock:
            if mapping is None:
                mapping = await asyncio.to_thread(self._load, uuid)
            await self._stop(uuid)
            self._hooks.forget(uuid)
            if mapping is None:
                self._locks.pop(uuid, None)
                return
            if mapping.enabled and not self._closed:
                factory = self._factories.get(mapping.kind)
                if factory is None:
                    log.warning("event source mapping %s: lamina has no poller for %s sources", uuid, mapping.kind)
                    await self._hooks.tell(uuid, None, f"PROBLEM: lamina does not poll {mapping.kind} sources yet.")
                else:
                    self._tasks[uuid] = asyncio.get_running_loop().create_task(self._run(mapping, factory))
                    log.info("event source mapping %s: polling %s for %s", uuid, mapping.event_source_arn,
                             mapping.function_name)
            try:
                await asyncio.to_thread(self._settle, uuid)
            except Exception:
                log.exception("event source mapping %s: could not record its state", uuid)

    async def _run(self, mapping: EventSourceMapping, factory: Factory) -> None:
        denied = False
        while True:
            try:
                problem = await self._access(mapping)
                if problem is not None:
                    denied = True
                    await self._hooks.tell(mapping.uuid, _result(mapping, problem), f"PROBLEM: {problem}")
                    await asyncio.sleep(self._hooks.access_interval)
                    continue
                if denied:
                    denied = False
                    log.info("event source mapping %s: its role may read the source again", mapping.uuid)
                    await self._hooks.tell(mapping.uuid, None, None)
                poller = self._pollers[mapping.uuid] = factory(mapping, self._hooks)
                if self._hooks.access is None:
                    await poller.run()
                    return
                if await self._watched(mapping, poller):
                    return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.exception("event source mapping %s: its poller failed; restarting it", mapping.uuid)
                try:
                    await self._hooks.tell(mapping.uuid, None, f"PROBLEM: internal error in lamina's poller: {error}")
                except Exception:
                    log.exception("event source mapping %s: could not report the failure", mapping.uuid)
                await asyncio.sleep(RESTART_PAUSE_S)

    async def _access(self, mapping: EventSourceMapping) -> str | None:
        access = self._hooks.access
        return None if access is None else await asyncio.to_thread(access, mapping)

    async def _watched(self, mapping: EventSourceMapping, poller) -> bool:
        """Run the poller while its mapping's role may read the source: True when the poller ended
        by itself, False when it was stopped because the role lost the permission."""
        task = asyncio.get_running_loop().create_task(poller.run())
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self._hooks.access_interval)
                if done:
                    task.result()
                    return True
                if await self._access(mapping) is not None:
                    log.warning("event source mapping %s: its role may no longer read %s; polling stops",
                                mapping.uuid, mapping.event_source_arn)
                    await _finish(poller, task)
                    return False
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _stop(self, uuid: str) -> None:
        """Ask the poller to finish its batches in flight (a poller with `stop()`), then cancel it."""
        task = self._tasks.pop(uuid, None)
        poller = self._pollers.pop(uuid, None)
        if task is None:
            return
        stop = getattr(poller, "stop", None)
        if stop is not None:
            stop()
            await asyncio.wait({task}, timeout=self._stop_wait_s)
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        log.info("event source mapping %s: poller stopped", uuid)

    async def standby(self) -> None:
        """Stop every poller and ignore changes until `start` again (cluster mode: this node lost the
        pollers' lease, another node polls now)."""
        self._loop = None
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        await asyncio.gather(*(self._stop(uuid) for uuid in list(self._tasks)), return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        await asyncio.gather(*(self._stop(uuid) for uuid in list(self._tasks)), return_exceptions=True)

    def running(self) -> int:
        return len(self._tasks)


def _result(mapping: EventSourceMapping, problem: str) -> str | None:
    """The LastProcessingResult of a mapping whose role may not read its source (SQS mappings have none)."""
    return None if mapping.kind == "sqs" else f"PROBLEM: {problem}"


async def _finish(poller, task: asyncio.Task) -> None:
    """Let a poller finish its batches in flight (one with `stop()`), then cancel what remains."""
    stop = getattr(poller, "stop", None)
    if stop is not None:
        stop()
        await asyncio.wait({task}, timeout=STOP_WAIT_S)
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
