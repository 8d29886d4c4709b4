"""The stop of a server, in time: after SIGTERM (or Ctrl-C) the server exits within its grace
period (Settings.stop_grace). It stops accepting at once; invokes in flight may run for the first
part of the grace (`drain_seconds`); whatever is still running then is answered with
ServiceException, and the rest of the grace (`STOP_RESERVE`) is left for ending every
environment, unmounting their volumes and removing their cgroups. Pure; imports nothing from lamina.
"""

from __future__ import annotations

STOP_RESERVE = 3.0  # seconds kept for ending environments after the invokes are answered


def drain_seconds(grace: float) -> float:
    """How long after the stop signal invokes in flight may still finish: the grace minus the
    reserve for ending everything (half of a grace shorter than twice the reserve)."""
    grace = max(0.0, grace)
    return grace - min(STOP_RESERVE, grace / 2)
