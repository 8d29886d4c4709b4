"""The CloudWatch Logs JSON 1.1 endpoint: `POST /` with `X-Amz-Target: Logs_20140328.<Operation>`.

Reads the target and the JSON body, checks the input members against botocore's `logs` model
(required members, types, lengths, patterns, ranges; AWS answers these with InvalidParameterException
and the "N validation error(s) detected" text), runs the operation on lamina.control.logs.Logs in a
worker thread and writes the JSON answer. Imports lamina.api.validation and lamina.control.logs only.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable

import botocore.session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from lamina.api import validation
from lamina.control.logs import Logs, LogsError, invalid

log = logging.getLogger("lamina.api.logs")
TARGET_PREFIX = "Logs_20140328"
CONTENT_TYPE = "application/x-amz-json-1.1"


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


def _response(status: int, body: dict) -> Response:
    return Response(json.dumps(body, separators=(",", ":")).encode(), status_code=status,
                    media_type=CONTENT_TYPE, headers={"x-amzn-RequestId": str(uuid.uuid4())})


def logs_endpoint(logs: Logs) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint for `POST /` that serves every implemented Logs operation."""

    async def endpoint(request: Request) -> Response:
        prefix, _, operation = request.headers.get("x-amz-target", "").partition(".")
        if prefix != TARGET_PREFIX or operation not in Logs.OPERATIONS:
            error = LogsError("UnknownOperationException",
                              f"lamina does not implement the operation {operation or 'named by X-Amz-Target'}.")
            return _response(error.status, error.body())
        try:
            body = await request.body()
            try:
                params = json.loads(body) if body.strip() else {}
            except (ValueError, UnicodeError):
                params = None
            if not isinstance(params, dict):
                raise LogsError("SerializationException", "The request body is not a JSON object.")
            check(operation, params)
            result = await run_in_threadpool(logs.call, operation, params)
        except LogsError as error:
            return _response(error.status, error.body())
        except Exception:
            log.exception("internal error in %s", operation)
            return _response(500, {"__type": "ServiceUnavailableException",
                                   "message": "An internal error occurred in lamina; see its log."})
        return _response(200, result)

    return endpoint
