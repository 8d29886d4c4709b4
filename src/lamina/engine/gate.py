"""How many environments initialise at once.

A burst of cold starts (3,000 concurrent invokes) forks every environment at once without a gate:
each then shares two cores with thousands of others, none finishes its Init within the 10 s Init
timeout, and the burst fails as a whole. Through the gate, a few environments initialise at a
time, each quickly, and the rest wait their turn before their Init begins (the wait is neither
Init Duration nor under the Init timeout, as a queued request on AWS). A slot is held until the
environment is ready (or failed), or for `hold_s` at most, so a function whose own init is slow
(a long import, a sleep) delays the others by that much only.

Owns the slots and the queue of environments waiting for one. Imports nothing from lamina.
"""

from __future__ import annotations

import asyncio
import collections
import os

SLOTS_PER_CPU = 4
# A slot is given back after this long even if its environment is not ready: long enough that
# inits slowed by contention do not let more in (with 1 s, one of 3,000 still missed its Init
# timeout on a loaded 2-core host), short enough that a slow init of the function's own costs
# the others little.
HOLD_S = 3.0


def default_slots(cpus: int | None = None) -> int:
    """Slots for a host with `cpus` processors (os.cpu_count() when None): enough to keep every
    processor busy while others wait on the zygote or on I/O."""
    return max(4, SLOTS_PER_CPU * (cpus or os.cpu_count() or 1))


class Ticket:
    """One slot, released once: by `release()` or when its hold time is over."""

    def __init__(self, gate: StartGate, hold_s: float) -> None:
        self._gate: StartGate | None = gate
        self._timer = asyncio.get_running_loop().call_later(hold_s, self.release)

    def release(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            self._timer.cancel()
            gate._give_back()


class StartGate:
    def __init__(self, slots: int, hold_s: float = HOLD_S) -> None:
        self._free = max(1, slots)
        self._hold = hold_s
        self._waiting: collections.deque[asyncio.Future[Ticket]] = collections.deque()

    @property
    def waiting(self) -> int:
        return sum(1 for future in self._waiting if not future.done())

    def ticket(self) -> asyncio.Future[Ticket]:
        """A future of the ticket for a slot, in the order asked. Cancelling it gives up the turn;
        one whose result was set but never taken must be released by whoever cancelled it
        (`give_up`)."""
        future: asyncio.Future[Ticket] = asyncio.get_running_loop().create_future()
        if self._free > 0 and not self._waiting:
            self._free -= 1
            future.set_result(Ticket(self, self._hold))
        else:
            self._waiting.append(future)
        return future

    @staticmethod
    def give_up(future: asyncio.Future[Ticket]) -> None:
        """Leave the queue: cancel the turn, or release the slot it was already given."""
        if future.done():
            if not future.cancelled():
                future.result().release()
        else:
            future.cancel()

    def _give_back(self) -> None:
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(Ticket(self, self._hold))
                return
        self._free += 1
