"""`SqlQueue`: the `Queue` protocol over the queue table (store/queue.py), for single-node mode.

Concurrent enqueues and acks share one transaction (group commit): an Event invoke waits for
one commit, not for its own. One thread does all of the queue's database work: SQLite has one
writer anyway, and the queue never waits behind other users of the default executor. Leases
live in the table (`lease_until`), so what a dead process held becomes claimable again when
its leases run out. The thread takes all the work pending in one wake-up (queue/worklist.py). A
commit of accepted events only, while the thread has nothing in hand, is made on the event loop's
thread itself when the store can do it without waiting (`QueueStore.commit_here`): under a burst
each hand-over to the thread and back waited for the GIL behind the busy loop (~0.1-0.6 ms each on 2
cores), and the clients' requests waited for both; the thread checkpoints what those commits wrote. Scans past a skip list keep their answer (queue/skipscan.py) until an event
they may have missed is added, claimed, released or rescheduled; that bookkeeping happens in the
queue's thread, in the order of the database work. A commit that forgets acknowledged events stores
the log lines appended so far in the same transaction first (`drain_lines`), so an event leaves the
table only with its lines. `accept_now` is `enqueue` for a caller without a coroutine (the lane of
lamina.api.invoke): its waiter is a callback object in place of a future. Imports lamina.store.queue, lamina.queue.queue, lamina.queue.skipscan and
lamina.queue.worklist.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable

from lamina.queue.queue import QueuedEvent
from lamina.queue.skipscan import MISS, SkipScans
from lamina.queue.worklist import WorkList
from lamina.store.queue import QueueStore

log = logging.getLogger("lamina.queue")

# Commits of accepted events made on the loop's thread between two checkpoints of SQLite's WAL on the
# queue's thread (its own automatic checkpoint comes after ~1,000 pages; such a commit writes a few).
CHECKPOINT_EVERY = 200


class _Accepted:
    """An `accept_now` event's waiter in the group commit, in place of a future: its caller is told
    as the commit's outcome is handed out, not a loop turn later."""

    __slots__ = ("_then", "_done")

    def __init__(self, then: Callable[[BaseException | None], None]) -> None:
        self._then = then
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, _: None) -> None:
        self._tell(None)

    def set_exception(self, error: BaseException) -> None:
        self._tell(error)

    def _tell(self, error: BaseException | None) -> None:
        self._done = True
        try:
            self._then(error)
        except Exception:  # one caller's fault must not stop the commit's other waiters (or the flusher)
            log.exception("answering an accepted event failed")


class SqlQueue:
    def __init__(self, store: QueueStore, *, clock: Callable[[], float] = time.time,
                 drain_lines: Callable[[Callable[[list], None]], None] | None = None) -> None:
        self._store = store
        # in the queue's thread, before acknowledged events leave the table: hands the log lines
        # appended so far (lamina.telemetry.logbuffer.LogBuffer.drain_into) to the commit that removes
        # them, so the caller of `ack` need not wait for its lines to be stored first
        self._drain_lines = drain_lines
        self._clock = clock
        self._pending: list[tuple[tuple, asyncio.Future | _Accepted]] = []  # accepted events (store rows) to commit
        self._finished: list[tuple[int, asyncio.Future]] = []  # acknowledged events to forget
        self._db = WorkList("lamina-queue")  # one wake-up of the thread (and of the loop) per batch
        self._flush_wanted = asyncio.Event()
        self._changed = asyncio.Event()  # something may have become claimable
        self._changed_functions: set[str | None] = set()  # whose events, since the last wait (None: any)
        # the skip list of the wait_due under way (the worker's dispatcher is the one waiter), None
        # when none is: a change of only those functions does not wake it (a burst of one function's
        # events, while its share is full, would wake it at every commit for nothing)
        self._skipping: frozenset[str] | None = None
        self._flusher: asyncio.Task | None = None
        self._closing = False
        self._scans = SkipScans()  # used by the work list's calls only (one at a time, in order)
        self._here_commits = 0  # commits made on the loop's thread since the last checkpoint

    def _in_db(self, function, *args, **kwargs) -> asyncio.Future:
        return self._db.call(lambda: function(*args, **kwargs))

    async def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush())

    async def close(self) -> None:
        self._closing = True
        self._flush_wanted.set()
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self._in_db(self._store.close)
        self._db.stop()

    # -- group commit -------------------------------------------------------------------------
    async def enqueue(self, *, request_id: str, function_name: str, qualifier: str | None, payload: bytes,
                      trace: str | None = None) -> None:
        future = asyncio.get_running_loop().create_future()
        self._add(request_id, function_name, qualifier, payload, trace, future)
        await future

    def accept_now(self, *, request_id: str, function_name: str, qualifier: str | None, payload: bytes,
                   trace: str | None, done: Callable[[BaseException | None], None]) -> None:
        """`enqueue` without a coroutine (the lane, docs/architecture.md): the event joins the next
        group commit, and `done(None)` (or `done(error)`, nothing accepted) is called from the loop
        once that commit is over, where `enqueue` would return (or raise)."""
        self._add(request_id, function_name, qualifier, payload, trace, _Accepted(done))

    def _add(self, request_id: str, function_name: str, qualifier: str | None, payload: bytes,
             trace: str | None, waiter: asyncio.Future | _Accepted) -> None:
        now = self._clock()
        row = ((request_id, function_name, qualifier, payload, now, now) if trace is None  # (store/queue.py)
               else (request_id, function_name, qualifier, payload, now, now, trace))
        self._pending.append((row, waiter))
        self._flush_wanted.set()

    async def ack(self, event_id: int) -> None:
        future = asyncio.get_running_loop().create_future()
        self._finished.append((event_id, future))
        self._flush_wanted.set()
        await future

    async def _flush(self) -> None:
        """Commit accepted and finished events together: one transaction for everything pending."""
        while not self._closing or self._pending or self._finished:
            await self._flush_wanted.wait()
            self._flush_wanted.clear()
            added, self._pending = self._pending, []
            removed, self._finished = self._finished, []
            if not added and not removed:
                continue
            waiting = [future for _, future in added] + [future for _, future in removed]
            rows = [row for row, _ in added]
            try:
                if removed or not self._db.run_here(functools.partial(self._commit_here, rows))[1]:
                    await self._in_db(self._commit, rows, [i for i, _ in removed])
            except Exception as exc:  # the callers answer with an error; nothing was accepted
                for future in waiting:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for future in waiting:
                if not future.done():
                    future.set_result(None)
            if added:
                self._announce({row[1] for row, _ in added})

    # -- the queue's database work: in its thread, or on the loop's while the thread is idle ----
    def _commit(self, add: list[tuple], remove: list[int]) -> None:
        try:
            if remove and self._drain_lines is not None:
                self._drain_lines(lambda lines: self._store.commit(add, remove, lines))
            else:
                self._store.commit(add, remove)
        finally:  # an acknowledged event leaving only makes the next claimable time later
            if add:
                self._scans.changed({row[1] for row in add})

    def _commit_here(self, add: list[tuple]) -> bool:
        """On the loop's thread, while the queue's thread is idle (WorkList.run_here)."""
        if not self._store.commit_here(add):
            return False
        self._scans.changed({row[1] for row in add})
        self._here_commits += 1
        if self._here_commits >= CHECKPOINT_EVERY:
            self._here_commits = 0
            self._db.call(self._store.checkpoint).add_done_callback(_checkpointed)
        return True

    def _claim(self, now: float, limit: int, lease_until: float, skip: frozenset[str]) -> list[dict]:
        if skip and self._scans.next_at(skip, now) is not MISS:  # none is claimable outside `skip` yet
            return []
        rows = self._store.claim(now, limit, lease_until, skip)
        if rows:
            self._scans.changed({row["function_name"] for row in rows})
        return rows

    def _next_claimable(self, skip: frozenset[str]) -> float | None:
        now = self._clock()
        if skip:
            kept = self._scans.next_at(skip, now)
            if kept is not MISS:
                return kept
        next_at = self._store.next_claimable(skip)
        self._scans.keep(skip, next_at, now)
        return next_at

    def _changed_any(self, store_call, *args, **kwargs) -> None:
        try:
            store_call(*args, **kwargs)
        finally:
            self._scans.changed([None])

    # -- leases -------------------------------------------------------------------------------
    async def claim(self, limit: int, lease_s: float, *, skip: frozenset[str] = frozenset()) -> list[QueuedEvent]:
        now = self._clock()
        rows = await self._in_db(self._claim, now, limit, now + lease_s, skip)
        return [QueuedEvent(row["id"], row["request_id"], row["function_name"], row["qualifier"], row["payload"],
                            row["enqueued_at"], row["due_at"], row["runs"], row["throttles"], row["trace"])
                for row in rows]

    def _announce(self, functions: set[str | None]) -> None:
        """Events of `functions` (None: any) may have become claimable: wake the wait_due under way
        unless it skips them all."""
        self._changed_functions.update(functions)
        skipping = self._skipping
        if skipping is None or not functions <= skipping:
            self._changed.set()

    async def wait_due(self, timeout: float, *, skip: frozenset[str] = frozenset()) -> None:
        self._skipping = skip
        self._changed.clear()  # before the read: a commit after it still wakes this wait
        self._changed_functions.clear()
        try:
            next_at = await self._in_db(self._next_claimable, skip)
            if next_at is not None:
                timeout = max(0.0, min(timeout, next_at - self._clock()))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=max(0.0, deadline - loop.time()))
                except TimeoutError:
                    return
                if not self._changed_functions <= skip:  # not only events of skipped functions came in
                    return
                self._changed.clear()
                self._changed_functions.clear()
        finally:
            self._skipping = None

    async def extend(self, event_ids: list[int], lease_s: float) -> None:
        if event_ids:
            await self._in_db(self._store.extend, event_ids, self._clock() + lease_s)

    async def release(self, event_ids: list[int]) -> None:
        if event_ids:
            await self._in_db(self._changed_any, self._store.release, event_ids)
            self._announce({None})

    async def retry_at(self, event_id: int, *, due_at: float, runs: int, throttles: int) -> None:
        await self._in_db(self._changed_any, self._store.reschedule, event_id, due_at=due_at, runs=runs,
                          throttles=throttles)
        self._announce({None})

    def depth(self) -> int:
        return self._store.depth()

    def oldest(self) -> float | None:
        return self._store.oldest()

    def backlog(self) -> dict[str, tuple[int, float]]:
        return self._store.backlog()


def _checkpointed(future: asyncio.Future) -> None:
    if not future.cancelled() and future.exception() is not None:  # the next one may succeed
        log.warning("checkpoint of the queue's database failed: %s", future.exception())
