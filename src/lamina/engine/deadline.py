"""One environment's timeouts: the Init timeout, and the invocation timeout of the event in flight
without a timer per event. Both are off while a debugger may hold the function (the spec's
`debug_port`): that rule is here, once (`Deadline.enforced`).

A timeout answers the waiter of what timed out with the outcome ("timeout", None, {}, arrival).
The environment hands in its loop, its spec, and `in_flight`, a callable naming the waiter of the
event being run (None between events). Imports lamina.engine.spec only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from lamina.engine.spec import RunSpec


def expire(waiter: asyncio.Future) -> None:
    """Answer `waiter` with the timeout outcome, unless it was answered already."""
    if not waiter.done():
        waiter.set_result(("timeout", None, {}, time.perf_counter()))


class Deadline:
    """The Init and invocation timeouts of one environment (its spec's, fixed for its life)."""

    __slots__ = ("enforced", "_loop", "_timeout", "_in_flight", "_at", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, spec: RunSpec,
                 in_flight: Callable[[], asyncio.Future | None]) -> None:
        self.enforced = spec.debug_port is None  # no timeouts while a debugger may hold the function
        self._loop = loop
        self._timeout = spec.timeout_s
        self._in_flight = in_flight
        self._at = 0.0  # loop time the event in flight times out at
        self._timer: asyncio.TimerHandle | None = None

    def init_timer(self, seconds: float, waiter: asyncio.Future) -> asyncio.TimerHandle | None:
        """Time the Init out after `seconds` (the caller cancels the handle); None when not enforced."""
        if not self.enforced:
            return None
        return self._loop.call_later(seconds, expire, waiter)

    def watch(self, left: float | None = None) -> None:
        """The invocation timeout of the event just sent, without a timer per event: a timer armed
        for an earlier event's deadline (never later than this one's: the timeout is the spec's)
        stays, and when it fires it times out the event in flight whose deadline has come, or waits
        until it comes. `left`: the seconds the event has left when part of its timeout went to a
        retried Init (suppressed init: the first event of its environment, so no earlier timer)."""
        if self.enforced:
            if left is None:
                left = self._timeout
            self._at = self._loop.time() + left
            if self._timer is None:
                self._timer = self._loop.call_later(left, self._due)

    def _due(self) -> None:
        self._timer = None
        waiter = self._in_flight()
        if waiter is None:
            return  # nothing in flight: the next event arms it again
        left = self._at - self._loop.time()
        if left > 0:  # (at least a millisecond: a loop's clock may move in whole ones)
            self._timer = self._loop.call_later(max(left, 0.001), self._due)
        else:
            expire(waiter)

    def cancel(self) -> None:
        """No more timeouts (the environment is gone)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
