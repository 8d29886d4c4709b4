"""The execution environment's state machine: every allowed transition, and every other one refused."""

from __future__ import annotations

import itertools

import pytest

from lamina.engine.states import TRANSITIONS, IllegalTransition, State, advance

S = State
ALLOWED = {
    (S.STARTING, S.READY), (S.STARTING, S.FAILED), (S.STARTING, S.STOPPING),
    (S.READY, S.BUSY), (S.READY, S.STOPPING), (S.READY, S.FAILED),
    (S.BUSY, S.READY), (S.BUSY, S.STOPPING), (S.BUSY, S.FAILED),
    (S.STOPPING, S.GONE),
    (S.FAILED, S.GONE),
}


@pytest.mark.parametrize(("current", "target"), sorted(itertools.product(State, State), key=str))
def test_transition_table(current, target):
    if (current, target) in ALLOWED:
        assert advance(current, target) is target
    else:
        with pytest.raises(IllegalTransition):
            advance(current, target)


def test_the_table_is_the_documented_machine():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED
    assert TRANSITIONS[S.GONE] == frozenset()


def test_a_warm_life_and_its_ends():
    state = S.STARTING
    for target in (S.READY, S.BUSY, S.READY, S.BUSY, S.READY, S.STOPPING, S.GONE):
        state = advance(state, target)
    assert state is S.GONE
    crash = S.STARTING
    for target in (S.READY, S.BUSY, S.FAILED, S.GONE):
        crash = advance(crash, target)
    assert crash is S.GONE
