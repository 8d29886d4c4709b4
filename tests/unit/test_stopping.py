"""drain_seconds: how long invokes in flight may run after a stop signal, leaving the reserve
for ending environments inside the grace period."""

import pytest

from lamina.stopping import STOP_RESERVE, drain_seconds


@pytest.mark.parametrize(("grace", "drain"), [
    (10.0, 10.0 - STOP_RESERVE),  # the default: 7 s for invokes, 3 s for ending everything
    (30.0, 27.0),
    (6.0, 3.0),  # exactly twice the reserve
    (4.0, 2.0),  # a short grace is shared half and half
    (1.0, 0.5),
    (0.0, 0.0),  # stop at once: invokes in flight are answered immediately
    (-1.0, 0.0),
])
def test_drain_seconds(grace, drain):
    assert drain_seconds(grace) == drain
