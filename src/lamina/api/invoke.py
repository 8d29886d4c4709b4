"""The Invoke operation on the wire: headers and body in, status, headers and payload out.

Kept apart from the generic operation router because it is the hot path: it reads only what
Invoke needs and hands a typed Invocation to lamina.invoke. Imports lamina.invoke, lamina.errors
and lamina.api.validation.
"""

from __future__ import annotations

import base64
import binascii
import json

from starlette.requests import Request
from starlette.responses import Response

from lamina.api import validation
from lamina.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    InvokeRequestTooLarge,
    LambdaError,
)
from lamina.invoke import ASYNC_PAYLOAD_LIMIT, SYNC_PAYLOAD_LIMIT, Invocation, Invoker

INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
CLIENT_CONTEXT_LIMIT = 3583


def _client_context(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > CLIENT_CONTEXT_LIMIT:
        raise InvalidParameterValueException("Client context must be smaller than 3583 bytes when base64 encoded.")
    try:
        text = base64.b64decode(value, validate=True).decode()
        json.loads(text)
    except (binascii.Error, ValueError):
        raise InvalidRequestContentException("Client context must be a valid Base64-encoded JSON object.") from None
    return text


def parse(request: Request, body: bytes) -> Invocation:
    headers = request.headers
    name = request.path_params["FunctionName"]
    qualifier = request.query_params.get("Qualifier")
    invocation_type = headers.get("x-amz-invocation-type", "RequestResponse")
    log_type = headers.get("x-amz-log-type", "None")
    params: dict = {"FunctionName": name, "InvocationType": invocation_type, "LogType": log_type}
    if qualifier is not None:
        params["Qualifier"] = qualifier
    validation.validate("Invoke", params)
    limit = ASYNC_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT
    if len(body) > limit:
        raise InvokeRequestTooLarge(f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
    if not body.strip():
        body = b"{}"
    else:
        try:
            json.loads(body)
        except ValueError as exc:
            raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") from None
    return Invocation(
        function_name=name, qualifier=qualifier, payload=body, invocation_type=invocation_type,
        tail=log_type == "Tail", client_context=_client_context(headers.get("x-amz-client-context")),
    )


def endpoint(invoker: Invoker, error_response):
    async def invoke(request: Request) -> Response:
        try:
            body = await request.body()
            outcome = await invoker.invoke(parse(request, body))
        except LambdaError as error:
            return error_response(error)
        headers = {"x-amzn-RequestId": outcome.request_id}
        if outcome.executed_version is not None and outcome.status != 202:
            headers["X-Amz-Executed-Version"] = outcome.executed_version
        result = outcome.result
        if result is None:
            return Response(b"", status_code=outcome.status, headers=headers)
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if result.log_tail is not None:
            headers["X-Amz-Log-Result"] = base64.b64encode(result.log_tail.encode()).decode()
        return Response(result.payload, status_code=200, headers=headers, media_type=result.content_type)

    return invoke
