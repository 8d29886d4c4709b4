"""Table tests of the pool policy's pure functions (lamina.engine.policy)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lamina.engine import policy


@dataclass
class Idle:
    released_at: float
    generation: int = 0
    provisioned: bool = False


@dataclass
class Env:
    provisioned: bool = True
    live: bool = True
    generation: int = 0


@pytest.mark.parametrize(("in_flight", "limit", "reason"), [
    (0, 10, None),
    (9, 10, None),
    (10, 10, "ConcurrentInvocationLimitExceeded"),
    (11, 10, "ConcurrentInvocationLimitExceeded"),
    (0, 1, None),
    (1, 1, "ConcurrentInvocationLimitExceeded"),
    (0, 0, "ConcurrentInvocationLimitExceeded"),
])
def test_throttle_reason(in_flight, limit, reason):
    assert policy.throttle_reason(in_flight, limit) == reason


@pytest.mark.parametrize(("idle", "generation", "picked"), [
    ([], 0, None),  # nothing idle: start a new one
    ([Idle(1.0)], 0, 0),
    ([Idle(1.0), Idle(2.0), Idle(3.0)], 0, 2),  # the most recently released one
    ([Idle(1.0, 0), Idle(2.0, 1)], 1, 1),
    ([Idle(1.0, 1), Idle(2.0, 0)], 1, 0),  # a stale generation is never picked
    ([Idle(1.0, 0), Idle(2.0, 0)], 1, None),  # all stale: start a new one
])
def test_pick_warm(idle, generation, picked):
    assert policy.pick_warm(idle, generation) == picked


@pytest.mark.parametrize(("healthy", "env_generation", "pool_generation", "closing", "action"), [
    (True, 0, 0, False, policy.KEEP),
    (True, 0, 1, False, policy.STOP),  # retired while busy
    (True, 0, 0, True, policy.STOP),  # the engine is closing
    (False, 0, 0, False, policy.DISCARD),  # timed out, crashed: already ending
    (False, 0, 1, True, policy.DISCARD),
])
def test_after_release(healthy, env_generation, pool_generation, closing, action):
    assert policy.after_release(healthy, env_generation, pool_generation, closing) == action


@pytest.mark.parametrize(("idle", "now", "timeout", "generation", "reaped"), [
    ([], 100.0, 10.0, 0, []),
    ([Idle(95.0)], 100.0, 10.0, 0, []),
    ([Idle(90.0)], 100.0, 10.0, 0, [0]),  # exactly the idle timeout
    ([Idle(50.0), Idle(95.0), Idle(80.0)], 100.0, 10.0, 0, [0, 2]),
    ([Idle(99.0, 0), Idle(99.0, 1)], 100.0, 10.0, 1, [0]),  # stale generations go at once
    ([Idle(10.0, 0, True), Idle(20.0), Idle(30.0, 0, True)], 100.0, 10.0, 0, [1]),  # provisioned ones stay
    ([Idle(10.0, 0, True), Idle(99.0, 1, True)], 100.0, 10.0, 1, [0]),  # ... unless stale
    ([Idle(10.0, 0), Idle(20.0, 1)], 100.0, float("inf"), 1, [0]),  # retire: only the stale ones
])
def test_reap(idle, now, timeout, generation, reaped):
    assert policy.reap(idle, now, timeout, generation) == reaped


@pytest.mark.parametrize(("target", "live", "start"), [
    (0, 0, 0),
    (3, 0, 3),
    (3, 1, 2),
    (3, 3, 0),
    (1, 3, 0),  # a surplus is demoted, never "started negatively"
])
def test_provisioned_to_start(target, live, start):
    assert policy.provisioned_to_start(target, live) == start


@pytest.mark.parametrize(("environments", "target", "generation", "demoted"), [
    ([], 2, 0, []),
    ([Env(), Env()], 2, 0, []),
    ([Env(), Env(), Env()], 2, 0, [2]),  # beyond the target, in the order given
    ([Env(), Env(), Env()], 0, 0, [0, 1, 2]),  # no target any more: every one
    ([Env(provisioned=False), Env(), Env()], 1, 0, [2]),  # ordinary ones do not count
    ([Env(live=False), Env(), Env()], 1, 0, [2]),  # nor ending ones
    ([Env(generation=0), Env(generation=1), Env(generation=1)], 1, 1, [2]),  # nor stale ones
])
def test_provisioned_to_demote(environments, target, generation, demoted):
    assert policy.provisioned_to_demote(environments, target, generation) == demoted


@pytest.mark.parametrize(("initialization_type", "for_event", "retried"), [
    ("on-demand", True, True),  # started for an event: its failed Init is tried again inside it
    ("on-demand", False, False),  # no event to retry in
    ("provisioned-concurrency", False, False),  # initialised ahead: its failure is final
    ("provisioned-concurrency", True, False),
    ("snap-start", True, False),
])
def test_retries_init(initialization_type, for_event, retried):
    assert policy.retries_init(initialization_type, for_event) is retried


@pytest.mark.parametrize(("timeout", "spent", "left"), [
    (3, 0.0, 3.0),  # the retry starts the event's clock: all of it
    (3, 0.5, 2.5),  # the handler gets what the retried Init left
    (3, 3.0, 0.0),
    (3, 4.2, 0.0),  # never negative
    (900, 10.0, 890.0),
])
def test_event_left(timeout, spent, left):
    assert policy.event_left(timeout, spent) == pytest.approx(left)


@pytest.mark.parametrize(("duration", "billed"), [(0.0, 1), (0.01, 1), (1.0, 1), (1.01, 2), (170.19, 171), (3000.0, 3000)])
def test_billed_ms(duration, billed):
    assert policy.billed_ms(duration) == billed


@pytest.mark.parametrize(("kb", "mb"), [(0, 0), (1, 1), (1024, 1), (1025, 2), (40 * 1024, 40)])
def test_memory_mb(kb, mb):
    assert policy.memory_mb(kb) == mb
