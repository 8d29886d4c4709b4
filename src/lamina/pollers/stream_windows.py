"""Tumbling windows of a stream mapping (TumblingWindowInSeconds, reference 1.12): which window a
record falls in (by its arrival time, windows aligned on multiples of the window length), how many
records of a batch share the first record's window (a batch never spans two), when an invoke is
the window's last, and the extra members of the event.

Pure: callers pass `now`. Imports nothing from lamina.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime


def start_of(arrival: float, length: int) -> float:
    return math.floor(arrival / length) * length


def same_window(arrivals: Sequence[float], length: int) -> int:
    """How many leading records fall in the first record's window."""
    if not arrivals:
        return 0
    first = start_of(arrivals[0], length)
    count = 0
    for arrival in arrivals:
        if start_of(arrival, length) != first:
            break
        count += 1
    return count


def is_final(start: float, length: int, now: float, more_in_window: bool) -> bool:
    """An invoke is the window's last when the window's time is over and no record read so far
    still belongs to it (records arriving later fall in later windows)."""
    return now >= start + length and not more_in_window


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event(records: list, *, start: float, length: int, state: dict, shard_id: str, source_arn: str,
          final: bool, terminated_early: bool = False) -> dict:
    """The event of an invoke inside a window: `Records` plus the window members."""
    return {
        "Records": records,
        "window": {"start": iso(start), "end": iso(start + length)},
        "state": state,
        "shardId": shard_id,
        "eventSourceARN": source_arn,
        "isFinalInvokeForWindow": final,
        "isWindowTerminatedEarly": terminated_early,
    }


MAX_STATE_BYTES = 1_048_576  # state beyond 1 MB per shard ends the window early
