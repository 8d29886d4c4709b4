"""Pool policy as pure functions: admission (throttling), which warm environment serves an event
(or that a new one must start), what happens to an environment when its event is done, which
idle environments the reaper ends, how many provisioned environments to start and which stop
counting as provisioned, whether a failed Init is tried again inside its event (suppressed init)
and with how much time, and billing rounding.

No I/O, no clocks, no asyncio: callers pass `now` and plain values, so every rule has a table
test. Imports lamina.errors only (the throttle Reason).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from lamina.errors import CONCURRENT_INVOCATION_LIMIT_EXCEEDED

KEEP = "keep"  # back to the idle list
STOP = "stop"  # healthy but retired (code or configuration changed): end it gracefully
DISCARD = "discard"  # not healthy (timed out, crashed, failed init): already ending


class Idle(Protocol):
    """What the policy reads of an idle environment."""

    @property
    def released_at(self) -> float: ...  # monotonic seconds when its last event finished

    @property
    def generation(self) -> int: ...  # the pool generation it was started for

    @property
    def provisioned(self) -> bool: ...  # initialised ahead for provisioned concurrency


class Provisioned(Protocol):
    """What the policy reads of an environment when the provisioned target changes."""

    @property
    def generation(self) -> int: ...

    @property
    def provisioned(self) -> bool: ...

    @property
    def live(self) -> bool: ...  # starting, ready or busy (not ending, not gone)


def throttle_reason(in_flight: int, limit: int) -> str | None:
    """Why one more concurrent invoke must be refused (the 429 Reason), or None to admit it.

    `in_flight` counts invokes running in the whole engine: the account-wide backstop. Reserved
    concurrency and the unreserved pool are decided before the engine, by lamina.admission."""
    if in_flight >= limit:
        return CONCURRENT_INVOCATION_LIMIT_EXCEEDED
    return None


def pick_warm(idle: Sequence[Idle], generation: int) -> int | None:
    """Index of the idle environment that takes the next event, or None: start a new one.

    `idle` is ordered by release time, oldest first. The most recently released environment of
    the current generation wins (warmest caches; older ones age out and get reaped)."""
    for index in range(len(idle) - 1, -1, -1):
        if idle[index].generation == generation:
            return index
    return None


def after_release(healthy: bool, env_generation: int, pool_generation: int, closing: bool) -> str:
    """What to do with an environment whose event just finished."""
    if not healthy:
        return DISCARD
    if closing or env_generation != pool_generation:
        return STOP
    return KEEP


def reap(idle: Sequence[Idle], now: float, idle_timeout: float, generation: int) -> list[int]:
    """Indexes of idle environments to end: stale generations at once, and those idle for at least
    `idle_timeout`, except provisioned ones of the current generation (kept initialised ahead)."""
    out = []
    for index, env in enumerate(idle):
        if env.generation != generation:
            out.append(index)
        elif not env.provisioned and now - env.released_at >= idle_timeout:
            out.append(index)
    return out


def provisioned_to_start(target: int, live: int) -> int:
    """How many provisioned environments to start so that the `live` ones (current generation,
    starting, ready or busy) reach `target`; never negative (a surplus is demoted, not started)."""
    return max(0, target - live)


def provisioned_to_demote(environments: Sequence[Provisioned], target: int, generation: int) -> list[int]:
    """Indexes of environments that stop counting as provisioned when the target is `target`:
    the live provisioned ones of the current generation beyond the first `target` (in the order
    given). Demoted ones become ordinary environments, reaped when idle; none is stopped here."""
    counted = [i for i, env in enumerate(environments) if env.provisioned and env.live and env.generation == generation]
    return counted[max(0, target):]


def retries_init(initialization_type: str, for_event: bool) -> bool:
    """Whether an Init that failed (an error, the runtime exiting, the Init timeout) is tried again
    inside the event it was started for, in a fresh process (AWS's "suppressed init", logged as
    `Phase: invoke`). Only an on-demand environment started for an event: a provisioned one
    initialised ahead has no event to retry in (its failure is final; another one replaces it)."""
    return for_event and initialization_type == "on-demand"


def event_left(timeout_s: float, spent_s: float) -> float:
    """Seconds of the function timeout an event has left after `spent_s` of it went to its retried
    Init (the event's clock starts with the retry: the failed Init before it was the Init phase's,
    bounded by the Init timeout); never negative."""
    return max(0.0, timeout_s - spent_s)


def billed_ms(duration_ms: float) -> int:
    """Lambda bills in 1 ms steps, rounding up (at least 1 ms)."""
    return max(1, math.ceil(duration_ms))


def memory_mb(peak_kb: int) -> int:
    """Max Memory Used in MB (rounded up, as a partly used MB counts)."""
    return (peak_kb + 1023) // 1024
