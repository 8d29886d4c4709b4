"""The Invoke operation on the wire: headers and body in, status, headers and payload out.

It is the hot path, so it is a plain ASGI handler in front of the router, behind the request
pipeline (and `Direct`, the same answer for the pipeline's direct entry, without ASGI): it reads only what Invoke needs from the pipeline's RequestView, hands a typed
Invocation (with the pipeline's Caller) to lamina.invoke and writes the response itself (no
routing, no middleware, no Request/Response objects); errors go through lamina.api.responses.
The body was read (within Invoke's payload cap) by lamina.api.pipeline; the payload must be strict
JSON by lamina.api.json_body's rule.
Imports lamina.invoke, lamina.identity, lamina.errors and lamina.api (validation, pipeline, body,
json_body, responses, authorization).
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import re
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from lamina.api import json_body, responses, validation
from lamina.api.authorization import Authorize, allow_all
from lamina.api.body import BODY
from lamina.api.pipeline import CALLER, VIEW
from lamina.errors import (
    AccessDeniedException,
    InvalidParameterValueException,
    InvalidRequestContentException,
    InvokeRequestTooLarge,
    LambdaError,
)
from lamina.identity import Caller
from lamina.invoke import ASYNC_PAYLOAD_LIMIT, SYNC_PAYLOAD_LIMIT, Invocation, Invoker, Outcome

log = logging.getLogger("lamina.api")

PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
INVOCATION_TYPES = frozenset({"RequestResponse", "Event", "DryRun"})
LOG_TYPES = frozenset({"None", "Tail"})
CLIENT_CONTEXT_LIMIT = 3583
# Quick checks of the common case; anything they reject goes through the model-driven validation
# for AWS's exact message.
_NAME = re.compile(validation.service_model().operation_model("Invoke").input_shape.members["FunctionName"]
                   .metadata["pattern"], re.ASCII)
_QUALIFIER = re.compile(validation.service_model().operation_model("Invoke").input_shape.members["Qualifier"]
                        .metadata["pattern"], re.ASCII)

def _client_context(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > CLIENT_CONTEXT_LIMIT:
        raise InvalidParameterValueException("Client context must be smaller than 3583 bytes when base64 encoded.")
    try:
        raw = base64.b64decode(value, validate=True)
        json_body.decode(raw)
        text = raw.decode()
    except (binascii.Error, ValueError):
        raise InvalidRequestContentException("Client context must be a valid Base64-encoded JSON object.") from None
    return text


def _check(name: str, qualifier: str | None, invocation_type: str, log_type: str) -> None:
    if (len(name) <= 256 and _NAME.fullmatch(name) and invocation_type in INVOCATION_TYPES
            and log_type in LOG_TYPES
            and (qualifier is None or (0 < len(qualifier) <= 128 and _QUALIFIER.fullmatch(qualifier)))):
        return
    params: dict = {"FunctionName": name, "InvocationType": invocation_type, "LogType": log_type}
    if qualifier is not None:
        params["Qualifier"] = qualifier
    validation.validate("Invoke", params)


def parse(name: str, query: bytes, headers: Mapping[bytes, bytes], body: bytes,
          caller: Caller | None = None) -> Invocation:
    qualifier = None
    if query:
        qualifier = dict(parse_qsl(query.decode("latin-1"))).get("Qualifier")
    invocation_type = headers.get(b"x-amz-invocation-type", b"RequestResponse").decode("latin-1")
    log_type = headers.get(b"x-amz-log-type", b"None").decode("latin-1")
    _check(name, qualifier, invocation_type, log_type)
    limit = ASYNC_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT
    if len(body) > limit:
        raise InvokeRequestTooLarge(f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
    if not body.strip():
        body = b"{}"
    else:
        try:
            json_body.decode(body)
        except json_body.Malformed as exc:
            raise InvalidRequestContentException(
                f"Could not parse request body into json: Could not parse payload into json: {exc}") from None
    context = headers.get(b"x-amz-client-context")
    trace = headers.get(b"x-amzn-trace-id")
    return Invocation(
        function_name=name, qualifier=qualifier, payload=body, invocation_type=invocation_type,
        tail=log_type == "Tail", client_context=_client_context(context.decode("latin-1")) if context else None,
        caller=caller, caller_trace=trace.decode("latin-1") if trace else None,
    )


class Direct:
    """Invoke's answer, for both entries to the operation: lamina.api.pipeline's direct lane
    (`claim` names the function of an Invoke request, None for any other request) and the ASGI
    lane (`fast_lane`). `answer` answers it for the pipeline's caller."""

    def __init__(self, invoker: Invoker, authorize: Authorize = allow_all) -> None:
        self._invoker = invoker
        self._authorize = authorize

    @staticmethod
    def claim(method: str, path: str) -> str | None:
        if method != "POST":
            return None
        match = PATH.match(path)
        return None if match is None else match[1]

    async def answer(self, name: str, view, caller: Caller | None, body: bytes) -> responses.RawResponse:
        """The answer to an Invoke of `name` (the path's FunctionName) by `caller`, with the
        request's query and headers from `view` (lamina.api.pipeline's RequestView)."""
        try:
            outcome = await self._invoker.invoke(self._call(name, view, caller, body))
        except LambdaError as error:
            return responses.rest_json_error(error)
        except Exception:
            log.exception("internal error while invoking %s", name)
            return responses.internal_error()
        return _response(outcome)

    def may_answer_now(self, name: str, view) -> bool:
        """Whether `answer_now` may take the request (a RequestResponse invoke while the invoker
        runs warm invokes at once, an Event invoke while it accepts events at once): else the
        pipeline asks nothing more of it."""
        kind = view.headers.get(b"x-amz-invocation-type", b"RequestResponse")
        if kind == b"RequestResponse":
            return self._invoker.warm_lane
        return kind == b"Event" and self._invoker.event_lane

    def answer_now(self, name: str, view, caller: Caller | None, body: bytes,
                   respond: Callable[[tuple[int, list[tuple[bytes, bytes]], bytes]], None]) -> bool:
        """`answer` without a coroutine when the call is a RequestResponse invoke whose environment
        is warm (lamina.invoke.Invoker.invoke_warm: the event is sent now) or an Event invoke of a
        known function (Invoker.accept_event: the event joins the next group commit), and
        `respond` gets the answer's (status, headers, body) from the loop once it ended or was
        accepted. False, with nothing done, for every other request (one `answer` refuses
        included): `answer` takes it then."""
        try:
            call = self._call(name, view, caller, body)
            invoker = self._invoker
            take = invoker.invoke_warm if call.invocation_type == "RequestResponse" else invoker.accept_event
            return take(call, functools.partial(_answered, respond, name))
        except Exception:  # nothing was sent: `answer` answers what it raised
            return False

    def _call(self, name: str, view, caller: Caller | None, body: bytes) -> Invocation:
        """The Invoke `view` and `body` make, once `caller` may make it (AccessDeniedException if not)."""
        call = parse(name, view.query, view.headers, body, caller)
        denial = self._authorize(call.caller, "lambda", "Invoke",
                                 {"FunctionName": call.function_name, "Qualifier": call.qualifier})
        if denial is not None:
            raise AccessDeniedException(denial.message)
        return call


def _answered(respond: Callable[[tuple[int, list[tuple[bytes, bytes]], bytes]], None], name: str,
              outcome: Outcome | None, error: BaseException | None) -> None:
    """`answer`'s answer, from what `Invoker.invoke_warm` came to: the usual one (JSON, no log
    tail) as the header lines `_response` would give, rendered at once."""
    try:
        if outcome is not None:
            result = outcome.result
            if result is None and outcome.status == 202:  # an Event invoke accepted
                answer = (202, _ACCEPTED % outcome.request_id.encode(), b"")
            elif (result is not None and result.content_type == "application/json" and result.log_tail is None
                    and result.function_error in _SAFE_FUNCTION_ERRORS):
                answer = (200, _OK % (outcome.request_id.encode(), outcome.executed_version.encode(),  # type: ignore[union-attr]
                                      _SAFE_FUNCTION_ERRORS[result.function_error], len(result.payload)), result.payload)
            else:
                answer = _response(outcome).wire()
        elif isinstance(error, LambdaError):
            answer = responses.rest_json_error(error).wire()
        else:
            raise error  # type: ignore[misc]
    except Exception as fault:
        log.error("internal error while invoking %s", name, exc_info=fault)
        answer = responses.internal_error().wire()
    respond(answer)


# `_response`'s header lines of a JSON result without a log tail, as `http_server` writes a
# rendered head: request id (a UUID), executed version ($LATEST or a number), the function error
# line of a failed one, content type and length
_OK = (b"x-amzn-requestid: %s\r\nx-amz-executed-version: %s\r\n%scontent-type: application/json\r\n"
       b"content-length: %d\r\n")
_ACCEPTED = b"x-amzn-requestid: %s\r\ncontent-length: 0\r\n"
_SAFE_FUNCTION_ERRORS = {None: b"", "Unhandled": b"x-amz-function-error: Unhandled\r\n",
                         "Handled": b"x-amz-function-error: Handled\r\n"}


def _response(outcome: Outcome) -> responses.RawResponse:
    """Invoke's answer to a call that ran (or was accepted or checked)."""
    headers_out = [(b"x-amzn-requestid", outcome.request_id.encode())]
    if outcome.executed_version is not None and outcome.status not in (202, 204):  # not Event, DryRun
        headers_out.append((b"x-amz-executed-version", outcome.executed_version.encode()))
    result = outcome.result
    if result is None:
        return responses.RawResponse(outcome.status, headers_out)
    if result.function_error:
        headers_out.append((b"x-amz-function-error", result.function_error.encode()))
    if result.log_tail is not None:
        headers_out.append((b"x-amz-log-result", base64.b64encode(result.log_tail.encode())))
    headers_out.append((b"content-type", result.content_type.encode()))
    return responses.RawResponse(200, headers_out, result.payload)


def fast_lane(invoker: Invoker, app, authorize: Authorize = allow_all):
    """An ASGI app answering Invoke itself and passing every other request to `app`; it runs
    behind lamina.api.pipeline, which put the request's view and caller in the scope, and asks
    `authorize` whether the caller may invoke what it names."""
    direct = Direct(invoker, authorize)

    async def lamina(scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await app(scope, receive, send)
        match = PATH.match(scope["path"])
        if match is None:
            return await app(scope, receive, send)
        answer = await direct.answer(match[1], scope[VIEW], scope[CALLER], scope[BODY])
        await answer.send(send)

    return lamina
