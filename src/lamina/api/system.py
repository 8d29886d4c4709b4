"""lamina's own monitoring endpoints (not AWS APIs): Prometheus text, per-minute series, cost.

- `GET /metrics`: the Prometheus exposition of lamina.telemetry.metrics.Metrics.
- `GET /system/metrics?function=NAME&minutes=60`: the last `minutes` minutes (1 to the retention)
  of one function, or of every function with `function=ALL` (the default), zero-filled: one entry
  per minute, oldest first, the current (still running) minute last.
- `GET /system/cost[?minutes=N]`: GB-seconds, requests and their estimated price per function and
  in total, over lamina's whole history or the last N minutes.
Both JSON endpoints write the buffered minutes first, so they include the last few seconds.
Imports lamina.telemetry and lamina.store.metrics only.
"""

from __future__ import annotations

import json
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.store.metrics import ALL, MetricStore
from lamina.telemetry import cost
from lamina.telemetry.metrics import FIELDS, Metrics, empty_minute, minute_of

DEFAULT_MINUTES = 60


def _json(status: int, body: object) -> Response:
    return Response(json.dumps(body, separators=(",", ":")).encode(), status_code=status,
                    media_type="application/json")


def _bad_request(message: str) -> Response:
    return _json(400, {"__type": "InvalidParameterValueException", "message": message})


def _minutes(request: Request, default: int | None, limit: int) -> int | None:
    """The `minutes` query parameter (1..limit), `default` when absent; ValueError when invalid."""
    text = request.query_params.get("minutes")
    if text is None or text == "":
        return default
    try:
        minutes = int(text)
    except ValueError:
        raise ValueError("minutes must be an integer.") from None
    if not 1 <= minutes <= limit:
        raise ValueError(f"minutes must be between 1 and {limit}.")
    return minutes


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


def system_routes(metrics: Metrics, store: MetricStore) -> list[Route]:
    retention_minutes = max(1, int(metrics.retention_s // 60))

    async def prometheus(_: Request) -> Response:
        body, content_type = metrics.prometheus_text()
        return Response(body, media_type=content_type)

    async def minute_series(request: Request) -> Response:
        function = request.query_params.get("function") or ALL
        try:
            minutes = _minutes(request, DEFAULT_MINUTES, retention_minutes)
        except ValueError as error:
            return _bad_request(str(error))
        assert minutes is not None

        def read() -> list[dict]:
            metrics.flush()
            first = minute_of(time.time()) - 60 * (minutes - 1)
            return zero_filled(function, store.series(function, first), first, minutes)

        return _json(200, {"function": function, "minutes": minutes, "series": await run_in_threadpool(read)})

    async def cost_report(request: Request) -> Response:
        try:
            minutes = _minutes(request, None, retention_minutes)
        except ValueError as error:
            return _bad_request(str(error))

        def read() -> dict:
            metrics.flush()
            since = None if minutes is None else minute_of(time.time()) - 60 * (minutes - 1)
            rows = store.cost_totals(since)
            first = min((row["first_minute"] for row in rows), default=None)
            return cost.report(rows, since=since if since is not None else first)

        return _json(200, await run_in_threadpool(read))

    return [
        Route("/metrics", prometheus, methods=["GET"]),
        Route("/system/metrics", minute_series, methods=["GET"]),
        Route("/system/cost", cost_report, methods=["GET"]),
    ]
