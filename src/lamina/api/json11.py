"""One JSON 1.1 endpoint (`POST /` with `X-Amz-Target: <Prefix>.<Operation>`) for every such service
lamina serves: CloudWatch Logs and EventBridge.

Reads the target and the JSON body (lamina.api.json_body's rule; anything else is a
SerializationException), checks the input members against the service's botocore model (AWS's
"N validation error(s) detected" text, as the service's own error), asks the authorize step, runs
the operation in a worker thread and writes the JSON answer; errors through lamina.api.responses'
JSON 1.1 writer. What differs per service is data: a `Json11Service`.
Imports lamina.api (validation, json_body, responses, pipeline, authorization) only.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import botocore.session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from lamina.api import authorization, json_body, responses, validation
from lamina.api.authorization import Authorize, allow_all
from lamina.api.pipeline import caller_of

log = logging.getLogger("lamina.api")


@dataclass(frozen=True)
class Json11Service:
    target_prefix: str  # e.g. "Logs_20140328", "AWSEvents"
    model: str  # botocore's service name, whose input shapes the requests are checked against
    action_prefix: str  # the IAM service prefix the authorize step names ("logs", "events")
    operations: frozenset[str]
    call: Callable[[str, dict], object]  # (operation, params) → the JSON answer
    error: type[Exception]  # the service's error: .code, .message, .status
    invalid: Callable[[str], Exception]  # the service's error for input the model refuses
    internal_code: str  # what the service calls an internal failure


@functools.cache
def _model(name: str):
    return botocore.session.get_session().get_service_model(name)


def check(service: Json11Service, operation: str, params: dict) -> None:
    """Model-level checks of an operation's input, as the service answers them."""
    shape = _model(service.model).operation_model(operation).input_shape
    if shape is None:
        return
    failures = validation.shape_failures(shape, params)
    if failures:
        raise service.invalid(validation.message(failures))


def endpoint(service: Json11Service, authorize: Authorize = allow_all) -> Callable[[Request], Awaitable[responses.RawResponse]]:
    """The Starlette endpoint serving every implemented operation of `service`, each after `authorize`."""

    async def serve(request: Request) -> responses.RawResponse:
        prefix, _, operation = request.headers.get("x-amz-target", "").partition(".")
        if prefix != service.target_prefix or operation not in service.operations:
            return responses.json11_error(
                "UnknownOperationException",
                f"lamina does not implement the operation {operation or 'named by X-Amz-Target'}.")
        try:
            body = await request.body()
            try:
                params = json_body.decode(body) if body.strip() else {}
            except json_body.Malformed:
                params = None
            if not isinstance(params, dict):
                raise service.error("SerializationException", "The request body is not a JSON object.")
            check(service, operation, params)
            if authorize is not allow_all:
                denial = authorize(caller_of(request.scope), service.action_prefix, operation, params)
                if denial is not None:
                    return authorization.json11_denied(denial)
            result = await run_in_threadpool(service.call, operation, params)
        except service.error as error:
            return responses.json11_error(error.code, error.message, error.status)  # type: ignore[attr-defined]
        except Exception:
            log.exception("internal error in %s", operation)
            return responses.json11_error(service.internal_code, responses.INTERNAL_MESSAGE, 500)
        return responses.json_ok(200, result, content_type=responses.JSON11)

    return serve
