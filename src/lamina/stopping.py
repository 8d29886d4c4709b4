"""The stop of a server, in time: after SIGTERM (or Ctrl-C) the server exits within its grace
period (Settings.stop_grace). It stops accepting at once; invokes in flight may run for the first
part of the grace (`drain_seconds`); whatever is still running then is answered with
ServiceException, and the rest of the grace (`reserve_seconds`) is left for ending every
environment, unmounting their volumes and removing their cgroups, which takes time in proportion
to how many environments there are. Pure; imports nothing from lamina.
"""

from __future__ import annotations

RESERVE_BASE = 1.0  # seconds kept for closing the server itself (queue, buffers, database)
RESERVE_PER_ENVIRONMENT = 0.015  # ending one: the kernel tears down its namespaces (~4 ms idle, more under load)


def reserve_seconds(environments: int) -> float:
    """The time ending `environments` environments and the server is given."""
    return RESERVE_BASE + RESERVE_PER_ENVIRONMENT * max(0, environments)


def drain_seconds(grace: float, environments: int) -> float:
    """How long after the stop signal invokes in flight may still finish: the grace minus the
    reserve for ending everything (none when the reserve takes the whole grace)."""
    return max(0.0, grace - reserve_seconds(environments))
