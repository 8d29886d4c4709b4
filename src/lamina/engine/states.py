"""The execution environment's state machine: its states and the only transitions allowed.

    starting → ready ⇄ busy → stopping → gone
        └──────┴───────┴──→ failed ──→ gone

`starting`: process started, runtime initialising (an on-demand Init that failed stays here while
its retry inside the event, in a fresh process, initialises: AWS's suppressed init). `ready`:
idle, may take an event. `busy`: one event in flight. `stopping`: being ended on purpose (reaped,
retired, timed out, closing). `failed`: ended by itself (init error, crash). `gone`: process
reaped, nothing left.
Imports nothing from lamina.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    BUSY = "busy"
    STOPPING = "stopping"
    FAILED = "failed"
    GONE = "gone"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.STARTING: frozenset({State.READY, State.FAILED, State.STOPPING}),
    State.READY: frozenset({State.BUSY, State.STOPPING, State.FAILED}),
    State.BUSY: frozenset({State.READY, State.STOPPING, State.FAILED}),
    State.STOPPING: frozenset({State.GONE}),
    State.FAILED: frozenset({State.GONE}),
    State.GONE: frozenset(),
}

# States of an environment that is neither ending nor gone: it counts toward its pool (and the
# provisioned target) and may still be told to stop. A tuple: `in` compares identity first.
LIVE = (State.STARTING, State.READY, State.BUSY)


for _state, _targets in TRANSITIONS.items():
    _state._next = tuple(_targets)  # identity-compared on the hot path (Enum hashing is slow)


class IllegalTransition(RuntimeError):
    pass


def advance(current: State, target: State) -> State:
    """`target` if the machine may go there from `current`; raises IllegalTransition otherwise."""
    if target not in current._next:
        raise IllegalTransition(f"{current.value} → {target.value}")
    return target
