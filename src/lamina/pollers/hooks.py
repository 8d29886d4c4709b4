"""What a poller is handed: the invoke callable, the mapping's status reporter, metrics, source
clients, and the backoff to use while its source cannot be reached.

Imports lamina.model only (and lamina.pollers.sources for the type).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from lamina.pollers.sources import Sources


class Delivery(NamedTuple):
    """What a synchronous invoke of a batch answered."""

    function_error: str | None  # None on success, "Unhandled" when the function failed
    payload: bytes


Invoke = Callable[[str, str | None, bytes], Awaitable[Delivery]]
Report = Callable[[str, str | None, str | None], None]
# access(mapping) → AWS's text when the mapping's execution role may not read its source, else None.
Access = Callable[[Any], str | None]


def backoff_delays(first: float, cap: float):
    """1 s, 2 s, 4 s... up to `cap` (a fresh generator per spell of trouble)."""
    delay = first
    while True:
        yield min(delay, cap)
        delay *= 2


@dataclass
class Hooks:
    invoke: Invoke
    report: Report
    sources: Sources
    metrics: Any = None  # lamina.telemetry.metrics.MappingMetrics | None
    backoff_max: float = 30.0
    long_poll_s: int = 20  # WaitTimeSeconds of an SQS receive (AWS's pollers use 20)
    access: Access | None = None  # None: nothing to check (auth off)
    access_interval: float = 5.0  # how often a running mapping's role is checked again
    _told: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    async def tell(self, uuid: str, result: str | None, problem: str | None) -> None:
        """Report the mapping's LastProcessingResult / problem when either changed since last told."""
        if self._told.get(uuid) == (result, problem):
            return
        self._told[uuid] = (result, problem)
        try:
            await asyncio.to_thread(self.report, uuid, result, problem)
        except Exception:  # the database hiccuped: tell again next time
            self._told.pop(uuid, None)
            raise

    def forget(self, uuid: str) -> None:
        """The mapping was changed by its user (its reason reset): tell the next news even if it
        equals what was told before."""
        self._told.pop(uuid, None)

    def backoff(self):
        return backoff_delays(1.0, self.backoff_max)
