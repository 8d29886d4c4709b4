"""The CloudWatch Logs JSON 1.1 endpoint: `POST /` with `X-Amz-Target: Logs_20140328.<Operation>`, served by
lamina.api.json11 over lamina.control.logs.Logs (invalid input: InvalidParameterException).
Imports lamina.api (json11, authorization) and lamina.control.logs only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from lamina.api import json11, responses
from lamina.api.authorization import Authorize, allow_all
from lamina.control.logs import Logs, LogsError, invalid

TARGET_PREFIX = "Logs_20140328"


def logs_endpoint(logs: Logs, authorize: Authorize = allow_all) -> Callable[[Request], Awaitable[responses.RawResponse]]:
    """The Starlette endpoint for `POST /` that serves every implemented Logs operation."""
    return json11.endpoint(json11.Json11Service(
        TARGET_PREFIX, "logs", "logs", frozenset(Logs.OPERATIONS), logs.call, LogsError, invalid,
        "ServiceUnavailableException"), authorize)
