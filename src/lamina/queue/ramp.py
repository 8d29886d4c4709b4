"""How many of one function's queued events run at once: the pure consumer ramp.

AWS does not run a burst of asynchronous events all at once: the consumers of a function's
queue scale up gradually. Here a function's share starts at INITIAL consumers, doubles while a
backlog persists and its environments are warm (each current consumer finished an attempt since
the share last changed) and the last doubling paid off (events finished at least GAIN times as fast
at this share as at the one before: on a host whose CPU is already taken, more consumers would only
take it from the requests that accept events), at most once per step interval; or, for long-running
events, once every consumer has been busy for SLOW_STEPS intervals (their environments had that long
to initialise). It never exceeds the function's ceiling
(its reserved concurrency, else the account's unreserved pool, and never more than the queue's
workers). Once fewer than half the consumers are busy and nothing waits, it halves per interval
back to INITIAL. So a burst starts a few environments, not one per worker, and the events that
run never take the whole host from the requests that accept more.

No I/O, no clocks: callers pass the elapsed time. Imports nothing from lamina.
"""

from __future__ import annotations

INITIAL = 2  # consumers a function's share starts with
STEP_SECONDS = 1.0  # at most one change of a share per this many seconds
SLOW_STEPS = 5  # a share whose consumers are all still busy grows after this many intervals
GAIN = 1.2  # a doubling must have made events finish this much faster for the next one


def ceiling(*, reserved: int | None, unreserved_pool: int, workers: int) -> int:
    """The most consumers a function's share may reach: its reserved concurrency, else the account's
    unreserved pool, and at most `workers`; at least 1, so an event of a function with reserved
    concurrency 0 still gets its attempt (which fails it as AWS does)."""
    bound = reserved if reserved is not None else unreserved_pool
    return max(1, min(bound, workers))


def start(top: int) -> int:
    """The share of a function that had none."""
    return max(1, min(INITIAL, top))


def next_limit(*, limit: int, warmed: int, waiting: int, running: int, top: int, elapsed: float,
               previous_rate: float = 0.0, interval: float = STEP_SECONDS) -> int:
    """The share after `elapsed` seconds at `limit`, during which `warmed` attempts finished;
    `waiting` events are held for a consumer and `running` run now; `top` is the ceiling;
    `previous_rate` is how many attempts finished per second at the share before (0: none)."""
    top = max(1, top)
    if limit > top:  # the reservation was lowered: follow it at once
        return top
    if elapsed < interval:
        return limit
    if waiting > 0 and limit < top:
        if warmed >= limit and warmed / elapsed >= previous_rate * GAIN:
            return min(top, limit * 2)
        if running >= limit and elapsed >= interval * SLOW_STEPS:
            return min(top, limit * 2)
    if waiting == 0 and running <= limit // 2 and limit > INITIAL:
        return max(INITIAL, limit // 2)
    return limit
