"""A buffer between the engine's log lines and the store: appends cost a deque push; a thread
writes what accumulated in one transaction every `interval` seconds (or sooner when it grows).
Another thread may hand what accumulated to a transaction of its own (`drain_into`: the queue's group
commit stores the lines of acknowledged events with their removal) instead of waking the writer and
waiting for it.

Imports nothing from lamina: the writer is a callable taking the list of batches.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("lamina.telemetry")


class LogBuffer:
    def __init__(self, write: Callable[[list[Any]], None], *, interval: float = 0.1,
                 high_water: int = 2000) -> None:
        self._write = write
        self._interval = interval
        self._high_water = high_water
        self._pending: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._stopping = False
        self._draining = threading.Lock()  # one drain at a time: a batch popped is stored before the next drain ends
        self._thread = threading.Thread(target=self._loop, name="lamina-logs", daemon=True)
        self._thread.start()

    def __call__(self, batch: Any) -> None:
        self._pending.append(batch)
        if len(self._pending) >= self._high_water:
            self._wake.set()

    def write_now(self) -> None:
        """Store everything appended so far (and what the writer thread is storing) before returning,
        in the calling thread (the writer thread's own drain, too); lines that fail to store are
        logged and dropped. Flush waiters among them are told after."""
        self.drain_into(self._write_or_log)

    def _write_or_log(self, batches: list[Any]) -> None:
        if batches:
            try:
                self._write(batches)
            except Exception:
                log.exception("could not store %d log batches", len(batches))

    def drain_into(self, store: Callable[[list[Any]], None]) -> None:
        """Store everything appended so far with `store(batches)` (called even with none), in the
        calling thread, under the drain lock: what the writer thread popped is stored first, and the
        writer stores nothing meanwhile. Waiters popped with the lines are told once `store` returned.
        When `store` raises, the lines go back to the front of the buffer (the writer stores them
        later) and the error propagates."""
        with self._draining:
            batches, waiters = [], []
            while self._pending:
                item = self._pending.popleft()
                (waiters if callable(item) else batches).append(item)
            try:
                store(batches)
            except BaseException:
                self._pending.extendleft(reversed(batches + waiters))
                raise
            for waiter in waiters:
                waiter()

    def _loop(self) -> None:
        while not self._stopping:
            self._wake.wait(self._interval)
            self._wake.clear()
            self.write_now()
        self.write_now()

    def flush(self) -> None:
        """Write everything appended so far (from any thread) before returning."""
        done = threading.Event()
        self.after_flush(done.set)
        done.wait(5)

    def after_flush(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from the writer thread) once everything appended so far is written."""
        self._pending.append(callback)
        self._wake.set()

    @staticmethod
    async def appended() -> None:
        """Wait until the lines of callbacks already scheduled on the loop are appended (not stored):
        one turn of the loop, as `stored` takes first; for a caller whose next step drains the buffer (`drain_into`)."""
        await asyncio.sleep(0)

    async def stored(self) -> None:
        """Wait, without holding a thread, until the lines appended so far are stored, and those
        of callbacks already scheduled on the loop: an environment writes a finished event's
        output, END and REPORT on the loop's next turn (after the answer), so the event that just
        returned has not appended them yet. One turn first lets them come before the mark."""
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self.after_flush(lambda: loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None)))
        await done

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=10)
