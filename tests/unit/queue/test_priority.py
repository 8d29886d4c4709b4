"""lamina.queue.priority: accepting a burst of Event invokes comes before running the queued ones."""

import pytest

from lamina.queue import priority


@pytest.mark.parametrize("allowance, accepting, top, expected", [
    (64, 5.8, 64, 32),  # a burst: events are being accepted all the time, several at once
    (32, 5.8, 64, 16),
    (2, 1.0, 64, 1),  # exactly one at once on average: the front door is never idle
    (1, 6.0, 64, 1),  # never below the floor: a burst that never ends still drains
    (0, 6.0, 64, 1),
    (1, 0.0, 64, 2),  # the burst is over: double back
    (16, 0.0, 64, 32),
    (32, 0.0, 64, 64),
    (64, 0.0, 64, 64),  # never past the workers
    (48, 0.0, 64, 64),
    (4, 0.5, 64, 8),  # a stream the front door keeps up with (idle half the time): full speed
    (4, 0.99, 64, 8),
    (64, 3.0, 8, 4),  # fewer workers than the allowance: halve from the workers
    (8, 0.0, 0, 1),  # no workers: the floor (nothing is claimed anyway)
])
def test_next_allowance(allowance, accepting, top, expected):
    assert priority.next_allowance(allowance, accepting=accepting, top=top) == expected


def test_a_burst_halves_to_the_floor_in_a_few_ticks_and_its_end_doubles_back():
    allowance, seen = 64, []
    for accepting in [4.0] * 8 + [0.0] * 8:
        allowance = priority.next_allowance(allowance, accepting=accepting, top=64)
        seen.append(allowance)
    assert seen == [32, 16, 8, 4, 2, 1, 1, 1, 2, 4, 8, 16, 32, 64, 64, 64]
