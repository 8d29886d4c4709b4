"""The event queue's mechanism: group-committed enqueue, and workers that run due events, apply
`policy.next_step` and hand destination records on.

An Event invoke is answered 202 only after `enqueue` returns, i.e. after its row is committed.
Concurrent enqueues share one transaction (group commit). Events stay in the table until they
are finished, so a crash loses none: on start every event still in the table runs
again (at least once, with their original request id). Imports lamina.store and lamina.queue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lamina.queue import policy
from lamina.queue.record import destination_record
from lamina.store.queue import QueuedEvent, QueueStore

log = logging.getLogger("lamina.queue")

IDLE_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Attempt:
    """What one run of an event produced."""

    outcome: str  # "success" | "function_error" | "throttle" | "system_error" | "zero_concurrency" | "gone"
    function_arn: str = ""  # qualified ARN of the version that ran
    executed_version: str | None = None
    function_error: str | None = None
    response: bytes | None = None


class EventQueue:
    def __init__(self, store: QueueStore, *, run: Callable[[QueuedEvent], Awaitable[Attempt]],
                 config_for: Callable[[str, str | None], policy.RetryConfig],
                 deliver: Callable[[str, bytes], Awaitable[None]], arn_for: Callable[[str, str | None], str],
                 before_remove: Callable[[], Awaitable[None]] | None = None,
                 on_drop: Callable[[str], None] | None = None,
                 scale: float = 1.0,
                 workers: int = 64) -> None:
        self._store = store
        self._run = run
        self._config_for = config_for
        self._deliver = deliver
        self._arn_for = arn_for
        self._before_remove = before_remove
        self._on_drop = on_drop
        self._scale = scale
        self._slots = asyncio.Semaphore(workers)
        self._workers = workers
        self._pending: list[tuple[dict, asyncio.Future]] = []  # accepted events to commit
        self._finished: list[tuple[int, asyncio.Future]] = []  # finished events to forget
        # One thread does all of the queue's database work: SQLite has one writer anyway, and the
        # queue never waits behind other users of the default executor.
        self._db = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lamina-queue")
        self._flush_wanted = asyncio.Event()
        self._wake = asyncio.Event()
        self._in_flight: set[int] = set()
        self._tasks: set[asyncio.Task] = set()
        self._loops: list[asyncio.Task] = []
        self._closing = False

    # -- accepting ----------------------------------------------------------------------------
    async def enqueue(self, *, request_id: str, function_name: str, qualifier: str | None, payload: bytes) -> None:
        """Return once the event is durably stored."""
        now = time.time()
        future = asyncio.get_running_loop().create_future()
        self._pending.append(({"request_id": request_id, "function_name": function_name, "qualifier": qualifier,
                               "payload": payload, "enqueued_at": now, "due_at": now}, future))
        self._flush_wanted.set()
        await future

    async def _in_db(self, function, *args, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, lambda: function(*args, **kwargs))

    async def _flusher(self) -> None:
        """Commit accepted and finished events together: one transaction for everything pending."""
        while not self._closing or self._pending or self._finished:
            await self._flush_wanted.wait()
            self._flush_wanted.clear()
            added, self._pending = self._pending, []
            removed, self._finished = self._finished, []
            if not added and not removed:
                continue
            waiting = [future for _, future in added] + [future for _, future in removed]
            try:
                await self._in_db(self._store.commit, [row for row, _ in added], [i for i, _ in removed])
            except Exception as exc:  # the callers answer with an error; nothing was accepted
                for future in waiting:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for future in waiting:
                if not future.done():
                    future.set_result(None)
            if added:
                self._wake.set()

    # -- running ------------------------------------------------------------------------------
    async def start(self) -> None:
        waiting = await self._in_db(self._store.depth)
        if waiting:
            log.info("resuming %d accepted events that were not finished when lamina stopped", waiting)
        self._loops = [asyncio.create_task(self._flusher()), asyncio.create_task(self._dispatcher())]

    async def _dispatcher(self) -> None:
        while not self._closing:
            free = self._workers - len(self._in_flight)
            claimed = []
            if free > 0:
                try:
                    due = await self._in_db(self._store.due, time.time(), free + len(self._in_flight))
                    claimed = [event for event in due if event.id not in self._in_flight][:free]
                except Exception:
                    log.exception("could not read the event queue")
            for event in claimed:
                self._in_flight.add(event.id)
                task = asyncio.create_task(self._process(event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if len(claimed) >= free > 0:
                continue
            wait = IDLE_POLL_SECONDS
            next_due = await self._in_db(self._store.next_due)
            if next_due is not None:
                wait = max(0.0, min(wait, next_due - time.time()))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except TimeoutError:
                pass

    async def _process(self, event: QueuedEvent) -> None:
        try:
            async with self._slots:
                await self._attempt(event)
        except Exception:
            log.exception("event %s of %s could not be processed; it stays queued", event.request_id,
                          event.function_name)
        finally:
            self._in_flight.discard(event.id)
            self._wake.set()

    async def _attempt(self, event: QueuedEvent) -> None:
        config = self._config_for(event.function_name, event.qualifier)
        now = time.time()
        if policy.expired(config, event.enqueued_at, now, self._scale):
            await self._finish(event, policy.Finish(policy.EVENT_AGE_EXCEEDED, config.on_failure), None, event.runs)
            return
        attempt = await self._run(event)
        if attempt.outcome == "gone":
            log.warning("event %s dropped: function %s no longer exists", event.request_id, event.function_name)
            if self._on_drop is not None:
                self._on_drop(event.function_name)
            await self._forget(event.id)
            return
        if attempt.outcome == "zero_concurrency":
            await self._finish(event, policy.Finish("ZeroReservedConcurrency", config.on_failure), None, event.runs)
            return
        runs = event.runs + (attempt.outcome in ("success", "function_error"))
        throttles = event.throttles + (attempt.outcome in ("throttle", "system_error"))
        step = policy.next_step(outcome=attempt.outcome, runs=runs, throttles=throttles, config=config,
                                enqueued_at=event.enqueued_at, now=time.time(), scale=self._scale)
        if isinstance(step, policy.Retry):
            await self._in_db(self._store.reschedule, event.id, due_at=step.at, runs=runs, throttles=throttles)
        else:
            await self._finish(event, step, attempt, runs)

    async def _finish(self, event: QueuedEvent, step: policy.Finish, attempt: Attempt | None, runs: int) -> None:
        if step.condition != policy.SUCCESS and self._on_drop is not None:
            self._on_drop(event.function_name)  # AsyncEventsDropped counts it, destination or not
        if step.destination:
            record = destination_record(
                request_id=event.request_id,
                function_arn=attempt.function_arn if attempt else self._arn_for(event.function_name, event.qualifier),
                condition=step.condition, invoke_count=runs, now=time.time(), request_payload=event.payload,
                executed_version=attempt.executed_version if attempt and attempt.outcome != "throttle" else None,
                function_error=attempt.function_error if attempt else None,
                response_payload=attempt.response if attempt else None,
            )
            await self._deliver(step.destination, record)
        if self._before_remove is not None:
            await self._before_remove()  # e.g. the event's log lines are stored before it leaves the queue
        await self._forget(event.id)

    async def _forget(self, event_id: int) -> None:
        future = asyncio.get_running_loop().create_future()
        self._finished.append((event_id, future))
        self._flush_wanted.set()
        await future

    async def close(self) -> None:
        self._closing = True
        self._flush_wanted.set()
        self._wake.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._db.shutdown(wait=True)

    def oldest(self) -> float | None:
        return self._store.oldest()

    def depth(self) -> int:
        return self._store.depth()
