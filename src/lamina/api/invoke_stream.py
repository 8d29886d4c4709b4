"""InvokeWithResponseStream on the wire (reference 2.8): the request as Invoke's (InvocationType
RequestResponse or DryRun only), the answer a 200 `application/vnd.amazon.eventstream` whose
PayloadChunk events carry the function's bytes as the runtime produces them, ended by
InvokeComplete (ErrorCode, ErrorDetails, LogResult). Errors before the stream starts are ordinary
rest-json errors. A function that does not stream (every managed Python runtime) sends its whole
response as one chunk, as AWS does. Runs behind lamina.api.pipeline like the Invoke fast lane.
Imports lamina.invoke, lamina.errors and lamina.api (invoke, validation, eventstream, stream_relay,
pipeline, body, responses).
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from dataclasses import replace

from lamina.api import eventstream, responses, validation
from lamina.api import invoke as invoke_api
from lamina.api.body import BODY
from lamina.api.pipeline import CALLER, VIEW
from lamina.api.stream_relay import ChunkQueue, Item, relay
from lamina.errors import LambdaError
from lamina.invoke import Invoker

log = logging.getLogger("lamina.api")

PATH = re.compile(r"^/2021-11-15/functions/([^/]+)/response-streaming-invocations$")
CONTENT_TYPE = b"application/vnd.amazon.eventstream"
_TYPES = frozenset({"RequestResponse", "DryRun"})


def _check_type(headers) -> None:
    invocation_type = headers.get(b"x-amz-invocation-type", b"RequestResponse").decode("latin-1")
    if invocation_type not in _TYPES:
        validation.validate("InvokeWithResponseStream", {"FunctionName": "f", "InvocationType": invocation_type})


def lane(invoker: Invoker, app):
    """An ASGI app answering InvokeWithResponseStream and passing every other request to `app`."""

    async def lamina(scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await app(scope, receive, send)
        match = PATH.match(scope["path"])
        if match is None:
            return await app(scope, receive, send)
        headers = scope[VIEW].headers
        try:
            _check_type(headers)
            call = invoke_api.parse(match[1], scope["query_string"], headers, scope[BODY], scope[CALLER])
        except LambdaError as error:
            return await responses.rest_json_error(error).send(send)
        queue = ChunkQueue()
        request_id = str(uuid.uuid4())
        call = replace(call, stream=queue, request_id=request_id)
        started: list[bool] = []

        async def start(version: str, request_id: str) -> None:
            started.append(True)
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"x-amzn-requestid", request_id.encode()), (b"x-amz-executed-version", version.encode()),
                (b"content-type", CONTENT_TYPE)]})


        async def take(item: Item) -> None:
            if isinstance(item, tuple):
                await start(item[1], request_id)
            elif item:
                await send({"type": "http.response.body", "body": eventstream.payload_chunk(item), "more_body": True})

        try:
            outcome = await relay(invoker.invoke(call), queue, receive, take)
        except LambdaError as error:
            if not started:
                return await responses.rest_json_error(error, request_id).send(send)
            complete = eventstream.invoke_complete(error.code, error.message)
            return await send({"type": "http.response.body", "body": complete, "more_body": False})
        except Exception:
            log.exception("internal error while invoking %s with a response stream", match[1])
            if not started:
                return await responses.internal_error().send(send)
            return await send({"type": "http.response.body", "body": b"", "more_body": False})
        if outcome is None:  # the client left
            return None
        if outcome.result is None:  # DryRun
            return await responses.RawResponse(204, [(b"x-amzn-requestid", request_id.encode()),
                                                     (b"x-amz-executed-version",
                                                      (outcome.executed_version or "").encode())]).send(send)
        result = outcome.result
        if not started:
            await start(result.executed_version, request_id)
        body = b""
        if result.function_error:
            error_code, details = result.error_type or result.function_error, result.payload.decode("utf-8", "replace")
        else:
            error_code = details = None
            if not result.streamed and result.payload:
                body = eventstream.payload_chunk(result.payload)
        tail = base64.b64encode(result.log_tail.encode()).decode() if result.log_tail is not None else None
        body += eventstream.invoke_complete(error_code, details, tail)
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return lamina
