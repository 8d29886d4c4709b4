"""`WorkList`: one thread doing a queue's database work, in the order the loop asked for it.

The loop appends a call to a list and wakes the thread only if it sleeps; the thread takes everything
appended in one go, runs it in order and hands all the answers back to the loop in one callback. So a
burst costs one thread wake-up and one loop wake-up per batch, not one of each per operation (as a
ThreadPoolExecutor item and its `run_in_executor` future do). A call whose awaiting future was
cancelled before the thread reached it is not run (as an executor item not yet started).
`run_here` runs a call in the caller's own thread instead when the list's thread is asleep with
nothing pending: in order all the same (after everything called before it, before anything called
after it), without the two hand-overs, each of which waits for the GIL behind a busy loop. Imports
nothing from lamina.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WorkList:
    def __init__(self, name: str) -> None:
        self._work: list[tuple[Callable[[], Any], asyncio.Future, asyncio.AbstractEventLoop]] = []
        self._lock = threading.Lock()  # guards the list and the two flags below
        self._sleeping = False
        self._stopping = False
        self._borrowed = False  # a call runs in its caller's thread (`run_here`): the thread must not start
        self._signal = threading.Lock()  # released once to wake the sleeping thread (a plain C lock:
        self._signal.acquire()           # no Condition bookkeeping on the loop's side)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call(self, function: Callable[[], Any]) -> asyncio.Future:
        """A future (of the running loop) for `function()` run in the thread, after what came before."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            if self._stopping:
                raise RuntimeError("the work list is stopped")
            self._work.append((function, future, loop))
            wake = self._sleeping and not self._borrowed  # else `run_here` wakes it when done
            if wake:
                self._sleeping = False
        if wake:
            self._signal.release()
        return future

    def run_here(self, function: Callable[[], T]) -> tuple[bool, T | None]:
        """(True, `function()`) run in the calling thread, if the list's thread is asleep with nothing
        pending; else (False, None) without running it (the caller then `call`s it). What is called
        while it runs waits for it: the thread starts after it returns."""
        with self._lock:
            if not self._sleeping or self._work or self._borrowed or self._stopping:
                return False, None
            self._borrowed = True
        try:
            return True, function()
        finally:
            with self._lock:
                self._borrowed = False
                wake = self._sleeping and (bool(self._work) or self._stopping)
                if wake:
                    self._sleeping = False
            if wake:
                self._signal.release()

    def stop(self) -> None:
        """Run what was appended, then end the thread (waiting for it)."""
        with self._lock:
            self._stopping = True
            wake = self._sleeping and not self._borrowed
            if wake:
                self._sleeping = False
        if wake:
            self._signal.release()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._lock:
                batch, self._work = self._work, []
                if not batch:
                    if self._stopping:  # and all is done
                        return
                    self._sleeping = True
            if not batch:
                self._signal.acquire()  # until `call` or `stop` releases it (once per sleep)
                continue
            answers: dict[asyncio.AbstractEventLoop, list] = {}
            for function, future, loop in batch:
                if future.cancelled():  # nobody waits for it any more (a benign race: it may run anyway)
                    continue
                try:
                    answer = (future, function(), None)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    answer = (future, None, exc)
                answers.setdefault(loop, []).append(answer)
            for loop, settled in answers.items():
                try:
                    loop.call_soon_threadsafe(_settle, settled)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    pass


def _settle(answers: list) -> None:
    for future, result, exc in answers:
        if future.done():
            continue
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)
