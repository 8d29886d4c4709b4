"""lamina's own monitoring endpoints (not AWS APIs): Prometheus text, per-minute series, cost.

- `GET /metrics`: the Prometheus exposition of lamina.telemetry.metrics.Metrics.
- `GET /system/metrics?function=NAME&minutes=60`: the last `minutes` minutes (1 to the retention)
  of one function, or of every function with `function=ALL` (the default), zero-filled: one entry
  per minute, oldest first, the current (still running) minute last.
- `GET /system/cost[?minutes=N]`: GB-seconds, requests and their estimated price per function and
  in total, over lamina's whole history or the last N minutes.
Both JSON endpoints write the buffered minutes first, so they include the last few seconds.
This module parses the query and writes JSON; lamina.control.usage reads and shapes the figures.
Each asks the authorize step for `cloudwatch:GetMetricData` (what reading metrics takes on AWS).
Imports lamina.control.usage, lamina.errors and lamina.api (responses, authorization, pipeline) only.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api import authorization, responses
from lamina.api.pipeline import caller_of
from lamina.control.usage import Usage
from lamina.errors import LambdaError

DEFAULT_MINUTES = 60


def _bad_request(message: str) -> responses.RawResponse:
    return responses.json11_error("InvalidParameterValueException", message, content_type=responses.REST_JSON)


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


def _denied(authorize: authorization.Authorize, request: Request) -> responses.RawResponse | None:
    """cloudwatch:GetMetricData for the caller, or its AccessDenied answer."""
    if authorize is authorization.allow_all:  # an app built without authorization (nor, maybe, the pipeline)
        return None
    try:
        authorization.require(authorize, caller_of(request.scope), "cloudwatch", "GetMetricData", {})
    except LambdaError as error:
        return responses.rest_json_error(error)
    return None


def system_routes(usage: Usage, authorize: authorization.Authorize = authorization.allow_all) -> list[Route]:
    async def prometheus(request: Request) -> Response:
        if (denied := _denied(authorize, request)) is not None:
            return denied
        body, content_type = usage.prometheus()
        return Response(body, media_type=content_type)

    async def minute_series(request: Request):
        if (denied := _denied(authorize, request)) is not None:
            return denied
        try:
            minutes = _minutes(request, DEFAULT_MINUTES, usage.retention_minutes)
        except ValueError as error:
            return _bad_request(str(error))
        assert minutes is not None
        read = await run_in_threadpool(usage.series, request.query_params.get("function"), minutes)
        return responses.json_ok(200, {"function": read.function, "minutes": read.minutes, "series": read.series})

    async def cost_report(request: Request):
        if (denied := _denied(authorize, request)) is not None:
            return denied
        try:
            minutes = _minutes(request, None, usage.retention_minutes)
        except ValueError as error:
            return _bad_request(str(error))
        return responses.json_ok(200, await run_in_threadpool(usage.cost, minutes))

    return [
        Route("/metrics", prometheus, methods=["GET"]),
        Route("/system/metrics", minute_series, methods=["GET"]),
        Route("/system/cost", cost_report, methods=["GET"]),
    ]
