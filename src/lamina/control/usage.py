"""The read side of invocation metrics: per-minute series (zero-filled) and the cost report.

`zero_filled` is the policy (one entry per minute, stored rows where there are some, zeros
elsewhere); `Usage` is the thin mechanism that flushes the buffered minutes, reads the metric
store and applies it. The HTTP layer (lamina.api.system) only parses the query and writes JSON.
Imports lamina.store.metrics and lamina.telemetry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lamina.store.metrics import MetricStore
from lamina.telemetry import cost
from lamina.telemetry.metrics import ALL, FIELDS, Metrics, empty_minute, minute_of


@dataclass(frozen=True)
class MinuteSeries:
    function: str
    minutes: int
    series: list[dict]


def zero_filled(function: str, rows: list[dict], first_minute: int, count: int) -> list[dict]:
    """One entry per minute from `first_minute`, `count` of them: stored rows, zeros elsewhere."""
    stored = {int(row["minute"]): row for row in rows}
    series = []
    for index in range(count):
        minute = first_minute + 60 * index
        row = stored.get(minute)
        entry = empty_minute(function, minute) if row is None else {"minute": minute, **row}
        series.append({"minute": minute, **{name: entry[name] for name in FIELDS}})
    return series


class Usage:
    def __init__(self, metrics: Metrics, store: MetricStore, clock: Callable[[], float] = time.time) -> None:
        self._metrics = metrics
        self._store = store
        self._clock = clock
        self.retention_minutes = max(1, int(metrics.retention_s // 60))

    def prometheus(self) -> tuple[bytes, str]:
        """The Prometheus exposition and its content type."""
        return self._metrics.prometheus_text()

    def _first_minute(self, minutes: int) -> int:
        return minute_of(self._clock()) - 60 * (minutes - 1)

    def series(self, function: str | None, minutes: int) -> MinuteSeries:
        """The last `minutes` minutes of `function` (every function when None), the current one last."""
        function = function or ALL
        self._metrics.flush()
        first = self._first_minute(minutes)
        return MinuteSeries(function, minutes, zero_filled(function, self._store.series(function, first), first, minutes))

    def cost(self, minutes: int | None) -> dict:
        """The cost report over the last `minutes` minutes, or over the whole history when None."""
        self._metrics.flush()
        since = None if minutes is None else self._first_minute(minutes)
        rows = self._store.cost_totals(since)
        first = min((row["first_minute"] for row in rows), default=None)
        return cost.report(rows, since=since if since is not None else first)
