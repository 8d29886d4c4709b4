"""The last answer of a scan past a skip list, kept until it may be wrong. The pure policy.

While a function's share is full, the worker claims and waits with that function in its skip list,
and the store then reads past every skipped row to find the events of the others (the whole backlog
of a burst: ~2.6 ms at 20,000 rows), about twice per refill. The answer of such a scan, the earliest
time an event outside the skip list can be claimed (None: there is none), only changes when
- an event of a function outside the list is added, claimed, released or rescheduled (a change
  whose function is unknown, None, counts as outside every list), or
- its time comes (an event becomes due or a lease runs out), or
- another process writes the table (PostgreSQL): bounded by MAX_AGE_SECONDS.
So `SkipScans` keeps one answer per skip list and forgets it on any of those; an answer never
outlives MAX_AGE_SECONDS, and is never given once its time has come. With no skip list there is
nothing to keep (the scan stops at the first claimable row).

No I/O, no clocks: callers pass the time. Imports nothing from lamina.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_AGE_SECONDS = 1.0
MISS = object()  # `SkipScans.next_at`'s answer when nothing usable is kept


@dataclass(frozen=True)
class Scan:
    next_at: float | None  # earliest time an event outside the skip list can be claimed; None: none exists
    taken_at: float  # when the scan began


def usable(scan: Scan, now: float) -> bool:
    """Whether a kept answer still holds at `now`: young enough, and its time has not come."""
    if not 0 <= now - scan.taken_at < MAX_AGE_SECONDS:
        return False
    return scan.next_at is None or now < scan.next_at


def survives(skip: frozenset[str], changed: str | None) -> bool:
    """Whether an answer for `skip` still holds after an event of `changed` (None: unknown) changed."""
    return changed is not None and changed in skip


class SkipScans:
    """One answer per skip list. Not thread-safe: one thread scans, changes and asks."""

    def __init__(self) -> None:
        self._scans: dict[frozenset[str], Scan] = {}

    def next_at(self, skip: frozenset[str], now: float):
        """The kept answer for `skip` at `now` (float or None), or MISS."""
        scan = self._scans.get(skip)
        if scan is None:
            return MISS
        if not usable(scan, now):
            del self._scans[skip]
            return MISS
        return scan.next_at

    def keep(self, skip: frozenset[str], next_at: float | None, taken_at: float) -> None:
        if skip:
            self._scans[skip] = Scan(next_at, taken_at)

    def changed(self, functions: Iterable[str | None]) -> None:
        """Events of `functions` were added, claimed, released or rescheduled: forget what they touch."""
        if not self._scans:
            return
        functions = set(functions)
        for skip in [skip for skip in self._scans if not all(survives(skip, f) for f in functions)]:
            del self._scans[skip]
