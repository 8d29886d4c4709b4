"""The CloudWatch Logs JSON 1.1 endpoint: `POST /` with `X-Amz-Target: Logs_20140328.<Operation>`.

Reads the target and the JSON body, checks the input members against botocore's `logs` model
(required members, types, lengths, patterns, ranges; AWS answers these with InvalidParameterException
and the "N validation error(s) detected" text), runs the operation on lamina.control.logs.Logs in a
worker thread and writes the JSON answer, errors through lamina.api.responses' JSON 1.1 writer.
The body is decoded by lamina.api.json_body's rule (anything else is a SerializationException).
Imports lamina.api (validation, json_body, responses, pipeline, authorization) and lamina.control.logs only.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

import botocore.session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from lamina.api import authorization, json_body, responses, validation
from lamina.api.authorization import Authorize, allow_all
from lamina.api.pipeline import caller_of
from lamina.control.logs import Logs, LogsError, invalid

log = logging.getLogger("lamina.api.logs")
TARGET_PREFIX = "Logs_20140328"


@functools.cache
def service_model():
    return botocore.session.get_session().get_service_model("logs")


def check(operation: str, params: dict) -> None:
    """Model-level checks of an operation's input, as AWS answers them for CloudWatch Logs."""
    shape = service_model().operation_model(operation).input_shape
    if shape is None:
        return
    failures = validation.shape_failures(shape, params)
    if failures:
        raise invalid(validation.message(failures))


def logs_endpoint(logs: Logs, authorize: Authorize = allow_all) -> Callable[[Request], Awaitable[responses.RawResponse]]:
    """The Starlette endpoint for `POST /` that serves every implemented Logs operation, each
    after `authorize` allowed it."""

    async def endpoint(request: Request) -> responses.RawResponse:
        prefix, _, operation = request.headers.get("x-amz-target", "").partition(".")
        if prefix != TARGET_PREFIX or operation not in Logs.OPERATIONS:
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
                raise LogsError("SerializationException", "The request body is not a JSON object.")
            check(operation, params)
            if authorize is not allow_all:
                denial = authorize(caller_of(request.scope), "logs", operation, params)
                if denial is not None:
                    return authorization.json11_denied(denial)
            result = await run_in_threadpool(logs.call, operation, params)
        except LogsError as error:
            return responses.json11_error(error.code, error.message, error.status)
        except Exception:
            log.exception("internal error in %s", operation)
            return responses.json11_error("ServiceUnavailableException", responses.INTERNAL_MESSAGE, 500)
        return responses.json_ok(200, result, content_type=responses.JSON11)

    return endpoint
