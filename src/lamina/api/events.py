"""The EventBridge JSON 1.1 endpoint: `POST /` with `X-Amz-Target: AWSEvents.<Operation>`, served by
lamina.api.json11 over lamina.control.rules.Rules (invalid input: ValidationException; every modeled
client error is HTTP 400, reference 3.1).
Imports lamina.api (json11, authorization) and lamina.control.rules only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from lamina.api import json11, responses
from lamina.api.authorization import Authorize, allow_all
from lamina.control.rules import EventsError, Rules

TARGET_PREFIX = "AWSEvents"


def events_endpoint(rules: Rules, authorize: Authorize = allow_all) -> Callable[[Request], Awaitable[responses.RawResponse]]:
    """The Starlette endpoint for `POST /` that serves every implemented EventBridge operation."""
    return json11.endpoint(json11.Json11Service(
        TARGET_PREFIX, "events", "events", frozenset(Rules.OPERATIONS), rules.call, EventsError,
        lambda message: EventsError("ValidationException", message), "InternalException"), authorize)
