"""lamina.queue.ramp: how many of a function's queued events run at once."""

import pytest

from lamina.queue import ramp


@pytest.mark.parametrize("reserved, unreserved_pool, workers, expected", [
    (None, 1000, 64, 64),  # unreserved: the workers bound it
    (None, 10, 64, 10),  # a small unreserved pool
    (5, 995, 64, 5),  # reserved concurrency
    (0, 1000, 64, 1),  # reserved 0: one attempt, which fails the event
    (None, 1000, 0, 1),
])
def test_ceiling(reserved, unreserved_pool, workers, expected):
    assert ramp.ceiling(reserved=reserved, unreserved_pool=unreserved_pool, workers=workers) == expected


@pytest.mark.parametrize("top, expected", [(64, 2), (1, 1), (2, 2), (0, 1)])
def test_start(top, expected):
    assert ramp.start(top) == expected


@pytest.mark.parametrize("limit, warmed, waiting, running, top, elapsed, previous_rate, expected", [
    (4, 100, 5, 4, 64, 1.0, 50.0, 8),  # twice as fast as at the share before: double again
    (4, 100, 5, 4, 64, 1.0, 90.0, 4),  # barely faster (the CPU is taken): hold
    (4, 100, 5, 4, 64, 2.0, 45.0, 4),  # 50/s now against 45/s before
    (4, 120, 5, 4, 64, 2.0, 45.0, 8),  # 60/s
    (4, 0, 5, 4, 64, 5.0, 90.0, 8),  # long events, all busy for 5 intervals: grows regardless
])
def test_next_limit_after_a_doubling(limit, warmed, waiting, running, top, elapsed, previous_rate, expected):
    assert ramp.next_limit(limit=limit, warmed=warmed, waiting=waiting, running=running, top=top, elapsed=elapsed,
                           previous_rate=previous_rate) == expected


@pytest.mark.parametrize("limit, warmed, waiting, running, top, elapsed, expected", [
    (2, 2, 5, 2, 64, 1.0, 4),  # backlog, every consumer warm, interval over: double
    (2, 2, 5, 2, 64, 0.5, 2),  # too soon
    (2, 1, 5, 2, 64, 3.0, 2),  # one consumer's environment has not finished an attempt yet
    (2, 0, 5, 1, 64, 9.0, 2),  # one consumer idle but events wait (throttled, held back): no growth
    (2, 0, 5, 2, 64, 4.9, 2),  # both consumers still on their first (long) events
    (2, 0, 5, 2, 64, 5.0, 4),  # ... for 5 intervals: their environments had that long to start
    (8, 3, 5, 8, 8, 9.0, 8),  # at the ceiling
    (32, 40, 5, 32, 64, 1.0, 64),
    (48, 48, 5, 48, 64, 1.0, 64),  # capped at the ceiling
    (64, 100, 5, 64, 64, 1.0, 64),  # at the ceiling
    (4, 4, 3, 4, 5, 1.0, 5),  # reserved concurrency 5
    (16, 0, 3, 16, 5, 0.0, 5),  # the reservation was lowered below the share: follow it at once
    (16, 0, 0, 3, 64, 1.0, 8),  # nothing waits and few run: halve
    (16, 0, 0, 8, 64, 1.0, 8),  # half busy: halve
    (16, 0, 0, 9, 64, 1.0, 16),  # more than half busy: keep
    (16, 0, 0, 0, 64, 0.2, 16),  # too soon to shrink
    (4, 0, 0, 0, 64, 1.0, 2),
    (2, 0, 0, 0, 64, 9.0, 2),  # never below the start
    (2, 9, 0, 2, 64, 9.0, 2),  # warm but no backlog: no growth
])
def test_next_limit(limit, warmed, waiting, running, top, elapsed, expected):
    assert ramp.next_limit(limit=limit, warmed=warmed, waiting=waiting, running=running, top=top,
                           elapsed=elapsed) == expected


def test_a_backlog_whose_rate_follows_the_share_reaches_the_ceiling_in_doublings():
    """Events that wait (not compute): each doubling doubles the rate, up to the ceiling."""
    limit, rate, steps = ramp.start(64), 0.0, [ramp.start(64)]
    while limit < 64:
        finished = limit * 10  # 10 per consumer per second
        grown = ramp.next_limit(limit=limit, warmed=finished, waiting=1, running=limit, top=64, elapsed=1.0,
                                previous_rate=rate)
        limit, rate = grown, finished / 1.0
        steps.append(limit)
    assert steps == [2, 4, 8, 16, 32, 64]


def test_a_backlog_bound_by_the_cpu_stops_growing_where_more_consumers_stop_helping():
    """Events that compute on a host with 2 cores' worth of room: 500/s per consumer up to 2 busy ones."""
    limit, rate = ramp.start(64), 0.0
    for _ in range(10):
        finished = min(limit, 2) * 500
        grown = ramp.next_limit(limit=limit, warmed=finished, waiting=1, running=limit, top=64, elapsed=1.0,
                                previous_rate=rate)
        if grown != limit:
            limit, rate = grown, finished / 1.0
    assert limit == 4  # one doubling past the point where it stopped paying off
