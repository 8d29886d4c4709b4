"""drain_seconds: how long invokes in flight may run after a stop signal, leaving the reserve
for ending every environment inside the grace period."""

import pytest

from lamina.stopping import drain_seconds, reserve_seconds


@pytest.mark.parametrize(("environments", "reserve"), [
    (0, 1.0),
    (1, 1.015),
    (300, 5.5),
    (3000, 46.0),
    (-1, 1.0),
])
def test_reserve_seconds(environments, reserve):
    assert reserve_seconds(environments) == pytest.approx(reserve)


@pytest.mark.parametrize(("grace", "environments", "drain"), [
    (10.0, 0, 9.0),  # the default grace, nothing running: 9 s for invokes in flight
    (10.0, 300, 4.5),
    (30.0, 300, 24.5),
    (10.0, 600, 0.0),  # ending them needs the whole grace: invokes are answered at once
    (10.0, 3000, 0.0),
    (0.5, 0, 0.0),
    (0.0, 0, 0.0),
])
def test_drain_seconds(grace, environments, drain):
    assert drain_seconds(grace, environments) == pytest.approx(drain)
