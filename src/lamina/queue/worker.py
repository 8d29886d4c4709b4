"""The event queue's workers: claim due events from a `Queue`, run them, apply the pure
`policy` and hand destination records on.

Depends on the `Queue` protocol only (queue/queue.py), not on how events are stored. Each
claimed event is leased for LEASE_SECONDS and the lease is renewed every RENEW_SECONDS while
the event runs, so a worker that dies (or whose loop stalls) lets its events be claimed again;
a clean close releases the leases at once. How many of a function's events run at once ramps up
under a backlog (queue/ramp.py): claimed events beyond its share wait here, leased; a claim takes
what the shares have room for (and CLAIM_NEW more) and skips a function once as many wait as its
share runs, so one function's backlog never fills every slot. While the front door is busy, the
consumers defer to it (queue/priority.py): given `accepting` (the seconds Event invokes have spent
being accepted, all told), a tick every priority.TICK_SECONDS measures how many were accepted at
once and bounds how many attempts each function may run at once (at least priority.FLOOR).
Imports lamina.queue and lamina.model only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from lamina.model import RetryConfig
from lamina.queue import policy, priority, ramp
from lamina.queue.attempt import Attempt
from lamina.queue.queue import Queue, QueuedEvent
from lamina.queue.record import destination_record

log = logging.getLogger("lamina.queue")

IDLE_POLL_SECONDS = 0.5
LEASE_SECONDS = 30.0
RENEW_SECONDS = LEASE_SECONDS / 3
CLAIM_NEW = 8  # events a claim may take beyond what the known shares have room for


class _Share:
    """One function's consumers: its ramp state, the events it runs and those waiting for a consumer."""

    __slots__ = ("limit", "since", "warmed", "rate", "running", "waiting")

    def __init__(self, limit: int, now: float) -> None:
        self.limit = limit
        self.since = now  # monotonic seconds when `limit` last changed
        self.warmed = 0  # attempts that ran the function since then
        self.rate = 0.0  # attempts per second at the share before (0 after a shrink)
        self.running = 0
        self.waiting: deque[QueuedEvent] = deque()


class EventQueue:
    def __init__(self, queue: Queue, *, run: Callable[[QueuedEvent], Awaitable[Attempt]],
                 config_for: Callable[[str, str | None], RetryConfig],
                 deliver: Callable[[str, bytes], Awaitable[None]], arn_for: Callable[[str, str | None], str],
                 before_remove: Callable[[], Awaitable[None]] | None = None,
                 on_drop: Callable[[str], None] | None = None,
                 scale: float = 1.0,
                 workers: int = 64,
                 ceiling_for: Callable[[str], tuple[int | None, int]] | None = None,
                 ramp_interval: float = ramp.STEP_SECONDS,
                 accepting: Callable[[], float] | None = None,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._queue = queue
        self._run = run
        self._config_for = config_for
        self._deliver = deliver
        self._arn_for = arn_for
        self._before_remove = before_remove
        self._on_drop = on_drop
        self._scale = scale
        self._clock = clock
        self._monotonic = monotonic
        self._workers = workers
        self._ceiling_for = ceiling_for  # a function's (reserved concurrency, unreserved pool); None: workers bound
        self._ramp_interval = ramp_interval
        self._shares: dict[str, _Share] = {}
        self._accepting = accepting  # seconds Event invokes spent being accepted, all told; None: no deferring
        self._allowance = max(priority.FLOOR, workers)  # attempts a function may run at once (priority.py)
        self._in_flight: set[int] = set()  # events this worker holds a lease on
        self._slot_freed = asyncio.Event()
        self._refill = asyncio.Event()  # a share's waiting events fell below its share: claim more
        self._stop = asyncio.Event()
        self._starting = True  # attempts start; False once the server is stopping (`quiesce`)
        self._tasks: set[asyncio.Task] = set()
        self._loops: list[asyncio.Task] = []

    # -- running ------------------------------------------------------------------------------
    async def start(self) -> None:
        await self._queue.start()
        waiting = await asyncio.to_thread(self._queue.depth)
        if waiting:
            log.info("%d accepted events are not finished yet; they run when due and not leased", waiting)
        self._loops = [asyncio.create_task(self._dispatcher()), asyncio.create_task(self._renewer())]
        if self._accepting is not None:
            self._loops.append(asyncio.create_task(self._defer_to_front()))

    async def _until_stopped(self, awaitable: Awaitable) -> None:
        """Await `awaitable` unless close() comes first."""
        waiting = asyncio.ensure_future(awaitable)
        stopped = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({waiting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for future in (waiting, stopped):
            future.cancel()

    async def _dispatcher(self) -> None:
        while not self._stop.is_set() and self._starting:
            free = self._workers - len(self._in_flight)
            if free <= 0:
                self._slot_freed.clear()
                await self._until_stopped(self._slot_freed.wait())
                continue
            allowance = self._allowance  # while the front door holds shares below their size, they claim less
            skip = frozenset(name for name, share in self._shares.items()
                             if len(share.waiting) >= min(share.limit, allowance))
            # What the shares have room for, and a few for functions with none yet: a claim never fills
            # every slot with one function's backlog (the claim is earliest first, whoever's it is).
            want = min(free, CLAIM_NEW + sum(2 * min(share.limit, allowance) - len(share.waiting)
                                             for name, share in self._shares.items() if name not in skip))
            try:
                claimed = await self._queue.claim(want, LEASE_SECONDS, skip=skip)
            except Exception:
                log.exception("could not read the event queue")
                claimed = []
            for event in claimed:
                if event.id in self._in_flight:  # its lease ran out while it ran here; the claim renewed it
                    continue
                self._in_flight.add(event.id)
                share = self._shares.get(event.function_name)
                if share is None:
                    share = self._shares[event.function_name] = _Share(
                        ramp.start(self._top(event.function_name)), self._monotonic())
                share.waiting.append(event)
            self._step_all()
            if claimed and len(claimed) >= want:
                continue
            self._refill.clear()
            await self._until_stopped(self._idle(skip))

    def _top(self, function_name: str) -> int:
        if self._ceiling_for is None:
            return max(1, self._workers)
        reserved, unreserved_pool = self._ceiling_for(function_name)
        return ramp.ceiling(reserved=reserved, unreserved_pool=unreserved_pool, workers=self._workers)

    def _step(self, name: str, share: _Share, now: float) -> None:
        """Apply the ramp to `share`, then start what it and the front door's allowance let run."""
        allowance, top = self._allowance, self._top(name)
        if allowance < share.limit <= top:
            # the front door holds the share below its size: the ramp neither grows it nor counts
            # this time (it measures the share at its own size once the front door lets it run); a
            # lowered reservation is still followed at once (below)
            share.since, share.warmed = now, 0
        else:
            elapsed = now - share.since
            limit = ramp.next_limit(limit=share.limit, warmed=share.warmed, waiting=len(share.waiting),
                                    running=share.running, top=top, elapsed=elapsed,
                                    previous_rate=share.rate, interval=self._ramp_interval)
            if limit != share.limit:
                share.rate = share.warmed / elapsed if limit > share.limit and elapsed > 0 else 0.0
                share.limit, share.since, share.warmed = limit, now, 0
        while share.running < share.limit and share.running < allowance and share.waiting and self._starting:
            share.running += 1
            task = asyncio.create_task(self._process(share, share.waiting.popleft()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _step_all(self) -> None:
        """Step every share; forget those idle at their starting size."""
        now = self._monotonic()
        for name, share in list(self._shares.items()):
            self._step(name, share, now)
            if not share.running and not share.waiting and share.limit <= ramp.INITIAL:
                del self._shares[name]

    async def _idle(self, skip: frozenset[str]) -> None:
        """Until an event of a function not in `skip` may be due, or a skipped function's share wants more
        events (never spinning while the queue's storage fails)."""
        try:
            if not skip:
                return await self._queue.wait_due(IDLE_POLL_SECONDS)
            due = asyncio.ensure_future(self._queue.wait_due(IDLE_POLL_SECONDS, skip=skip))
            refill = asyncio.ensure_future(self._refill.wait())
            try:
                await asyncio.wait({due, refill}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                refill.cancel()
                due.cancel()
            if due.done() and not due.cancelled():
                due.result()
        except Exception:
            log.exception("could not read the event queue")
            await asyncio.sleep(IDLE_POLL_SECONDS)

    async def _defer_to_front(self) -> None:
        """Every priority.TICK_SECONDS: how many Event invokes were being accepted at once decides the
        allowance; a larger one starts the attempts it lets run."""
        assert self._accepting is not None
        seen, then = self._accepting(), self._monotonic()
        while not self._stop.is_set():
            await self._until_stopped(asyncio.sleep(priority.TICK_SECONDS))
            total, now = self._accepting(), self._monotonic()
            accepting = (total - seen) / max(now - then, 1e-3)
            seen, then = total, now
            allowance = priority.next_allowance(self._allowance, accepting=accepting, top=self._workers)
            if allowance == self._allowance:
                continue
            grew = allowance > self._allowance
            self._allowance = allowance
            if grew:
                self._step_all()
                self._refill.set()

    async def _renewer(self) -> None:
        """Keep the leases of running events alive."""
        while not self._stop.is_set():
            await self._until_stopped(asyncio.sleep(RENEW_SECONDS))
            if self._stop.is_set():
                return
            try:
                await self._queue.extend(sorted(self._in_flight), LEASE_SECONDS)
            except Exception:
                log.exception("could not renew the leases of running events")

    async def _process(self, share: _Share, event: QueuedEvent) -> None:
        cancelled = ran = False
        try:
            ran = await self._attempt(event)
        except asyncio.CancelledError:
            cancelled = True  # close() gives the event back
            raise
        except Exception:
            log.exception("event %s of %s could not be processed; it runs again when its lease runs out",
                          event.request_id, event.function_name)
        finally:
            share.running -= 1
            share.warmed += ran
            if not cancelled:
                self._in_flight.discard(event.id)
                self._step(event.function_name, share, self._monotonic())
                if len(share.waiting) < min(share.limit, self._allowance):
                    self._refill.set()
            self._slot_freed.set()

    async def _attempt(self, event: QueuedEvent) -> bool:
        """Run one attempt of `event` and apply its outcome; True when the function ran."""
        config = self._config_for(event.function_name, event.qualifier)
        step = policy.before_run(runs=event.runs, config=config, enqueued_at=event.enqueued_at, now=self._clock(),
                                 scale=self._scale)
        attempt = None
        if step is None:
            attempt = await self._run(event)
            step = policy.next_step(outcome=attempt.outcome, runs=event.runs, throttles=event.throttles,
                                    config=config, enqueued_at=event.enqueued_at, now=self._clock(),
                                    scale=self._scale)
        if isinstance(step, policy.Retry):
            await self._queue.retry_at(event.id, due_at=step.at, runs=step.runs, throttles=step.throttles)
        elif isinstance(step, policy.Drop):
            log.warning("event %s dropped: function %s no longer exists", event.request_id, event.function_name)
            if self._on_drop is not None:
                self._on_drop(event.function_name)
            await self._queue.ack(event.id)
        else:
            await self._finish(event, step, attempt)
        return attempt is not None and attempt.outcome in policy.RAN

    async def _finish(self, event: QueuedEvent, step: policy.Finish, attempt: Attempt | None) -> None:
        if step.condition != policy.SUCCESS and self._on_drop is not None:
            self._on_drop(event.function_name)  # AsyncEventsDropped counts it, destination or not
        if step.destination:
            ran = attempt is not None and attempt.outcome in policy.RAN
            record = destination_record(
                request_id=event.request_id,
                function_arn=attempt.function_arn if ran else self._arn_for(event.function_name, event.qualifier),
                condition=step.condition, invoke_count=step.runs, now=self._clock(), request_payload=event.payload,
                executed_version=attempt.executed_version if ran else None,
                function_error=attempt.function_error if ran else None,
                response_payload=attempt.response if ran else None,
            )
            await self._deliver(step.destination, record)
        if self._before_remove is not None:
            await self._before_remove()  # e.g. the event's log lines are stored before it leaves the queue
        await self._queue.ack(event.id)

    def quiesce(self) -> None:
        """The server is stopping: claim nothing more and start no attempt; those running go on
        (until close). What is not started stays in the queue for the next start, and the stop's
        reserve for ending environments (counted at the stop signal) is not outgrown by new ones."""
        self._starting = False
        self._slot_freed.set()  # the dispatcher, if it waits for a slot, sees it and ends

    async def close(self) -> None:
        """Stop claiming, cancel running attempts and give their events back, then close the queue."""
        self.quiesce()
        self._stop.set()
        await asyncio.gather(*self._loops, return_exceptions=True)
        # no attempt starts from here on (`quiesce`), so this ends with every attempt's task
        while self._tasks:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._in_flight:
            try:
                await self._queue.release(sorted(self._in_flight))
            except Exception:  # they are claimable again when their leases run out
                log.exception("could not release the leases of %d events", len(self._in_flight))
            self._in_flight.clear()
        await self._queue.close()

    def oldest(self) -> float | None:
        return self._queue.oldest()

    def depth(self) -> int:
        return self._queue.depth()

    def backlog(self) -> dict[str, tuple[int, float]]:
        """Per function with unfinished events: (how many, when the oldest was accepted)."""
        return self._queue.backlog()
