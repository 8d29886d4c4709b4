"""Accepting before running: how many attempts each function's consumers may run at once while
Event invokes keep the front door busy. The pure policy.

Accepting an Event invoke is one group-committed append and a 202; running it costs several
times more (dispatch on the event loop, claiming and acknowledging it, its log lines, the
runtime's own CPU). On a host whose CPU is taken, consumers running events as fast as they can
take that CPU from the requests that accept more, so a burst would be accepted slowly (and its
senders held up). So accepting comes first: every TICK_SECONDS the worker measures how many
Event invokes were being accepted at once on average during the tick (the seconds they spent
waiting for their commit, per second) and
- while that is at least BUSY (the front door is never without an event to accept: a burst),
  the consumers' allowance halves, down to FLOOR attempts per function;
- otherwise it doubles back, up to the queue's workers: after the burst, or under a stream the
  front door keeps up with, the backlog runs at full speed within a few ticks.
FLOOR is the guaranteed progress: each function with events waiting always has at least that
many attempts running, so a burst that never ends still drains, and nothing waits for the front
door to go quiet. The allowance bounds a function's share (queue/ramp.py) from above and changes
neither what runs nor how often (retries, destinations, ordering): only when.

No I/O, no clocks: callers pass the tick's measurement. Imports nothing from lamina.
"""

from __future__ import annotations

TICK_SECONDS = 0.05  # how often the allowance is reconsidered
BUSY = 1.0  # Event invokes being accepted at once, on average over a tick, that make a burst
FLOOR = 1  # attempts per function that may always run


def next_allowance(allowance: int, *, accepting: float, top: int) -> int:
    """The allowance after a tick during which `accepting` Event invokes were being accepted at
    once on average; `top` is the most it can be (the queue's workers)."""
    top = max(FLOOR, top)
    if accepting >= BUSY:
        return max(FLOOR, min(top, allowance) // 2)
    return min(top, max(FLOOR, allowance) * 2)
