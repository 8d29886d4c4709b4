"""The `Queue` protocol a durable async queue provides, and the `QueuedEvent` it hands out.

The worker (queue/worker.py) depends on this protocol only: the SQL implementation
(queue/sql.py) serves single-node mode; a JetStream one can replace it in cluster mode.
Semantics every implementation keeps: `enqueue` returns only once the event is durable;
`claim` leases due events for a while, and an event whose lease runs out (its holder died or
stopped renewing) is claimable again, so delivery is at least once; `ack` forgets an event for
good; `retry_at` hands it back, due later. Imports nothing from lamina.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class QueuedEvent:
    id: int
    request_id: str
    function_name: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float
    due_at: float
    runs: int  # times the function ran it so far
    throttles: int  # attempts that were throttled or hit a system error so far
    # the X-Ray trace it was accepted with, without a Parent (lamina.telemetry.tracing.queued_trace):
    # every attempt continues it; None: each attempt is traced on its own, if at all
    trace: str | None = None


class Queue(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None:
        """Commit what was accepted or acknowledged, then release resources."""

    async def enqueue(self, *, request_id: str, function_name: str, qualifier: str | None,
                      payload: bytes, trace: str | None = None) -> None:
        """Return once the event is durably stored (due now), with its `trace` (kept by every retry)."""

    async def claim(self, limit: int, lease_s: float, *, skip: frozenset[str] = frozenset()) -> list[QueuedEvent]:
        """Up to `limit` due events nobody holds a live lease on, leased for `lease_s` seconds; events of
        the functions in `skip` are left for later where the implementation can (a hint, not a filter
        the caller may rely on)."""

    async def wait_due(self, timeout: float, *, skip: frozenset[str] = frozenset()) -> None:
        """Return when an event may have become claimable, or after `timeout` seconds; events of the
        functions in `skip` need not count (as with `claim`)."""

    async def extend(self, event_ids: list[int], lease_s: float) -> None:
        """Renew the leases of events still being worked on: they stay held `lease_s` from now."""

    async def release(self, event_ids: list[int]) -> None:
        """Give leased events back unchanged (claimable at once), e.g. on a clean stop."""

    async def ack(self, event_id: int) -> None:
        """The event is finished: return once it is gone for good."""

    async def retry_at(self, event_id: int, *, due_at: float, runs: int, throttles: int) -> None:
        """Release the event with a new due time and attempt counts."""

    def depth(self) -> int:
        """Events accepted and not finished (leased ones included)."""

    def oldest(self) -> float | None:
        """When the oldest unfinished event was accepted (epoch seconds), or None."""

    def backlog(self) -> dict[str, tuple[int, float]]:
        """Per function with unfinished events: (how many, when the oldest was accepted, epoch seconds)."""
