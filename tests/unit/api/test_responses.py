"""lamina.api.responses: the one writer of AWS errors per protocol, byte by byte."""

from __future__ import annotations

import asyncio
import json

import pytest

from lamina.api import responses
from lamina.errors import (
    InvokeRequestTooLarge,
    ResourceNotFoundException,
    ServiceException,
    TooManyRequestsException,
    UnknownOperationException,
    ValidationException,
)


def sent(response: responses.RawResponse) -> tuple[int, dict[bytes, bytes], bytes]:
    messages = []

    async def send(message):
        messages.append(message)

    asyncio.run(response(scope={}, receive=None, send=send))
    start, body = messages
    assert (start["type"], body["type"]) == ("http.response.start", "http.response.body")
    return start["status"], dict(start["headers"]), body["body"]


@pytest.mark.parametrize(("error", "status", "body"), [
    (ResourceNotFoundException("Function not found: f"), 404, {"Type": "User", "Message": "Function not found: f"}),
    (ValidationException("bad"), 400, {"message": "bad"}),  # AWS: no Type on ValidationException
    (UnknownOperationException("Unknown operation"), 404, {"Type": "User", "message": "Unknown operation"}),
    (InvokeRequestTooLarge("big"), 413, {"Type": "User", "Message": "big"}),
    (ServiceException("oops"), 500, {"Type": "Service", "Message": "oops"}),
    (TooManyRequestsException("ReservedFunctionConcurrentInvocationLimitExceeded"), 429,
     {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "Type": "User", "message": "Rate Exceeded."}),
])
def test_rest_json_errors_as_lamina_errors_decides(error, status, body):
    got_status, headers, raw = sent(responses.rest_json_error(error, "rid-1"))
    assert got_status == status
    assert headers[b"x-amzn-errortype"] == error.code.encode()
    assert headers[b"x-amzn-requestid"] == b"rid-1"
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"content-length"] == str(len(raw)).encode()
    assert raw == json.dumps(body, separators=(",", ":")).encode()


def test_extra_error_headers_are_written():
    _, headers, _ = sent(responses.rest_json_error(TooManyRequestsException("r", retry_after=3)))
    assert headers[b"retry-after"] == b"3"


def test_every_answer_gets_a_fresh_request_id():
    first = sent(responses.rest_json_error(ValidationException("x")))[1][b"x-amzn-requestid"]
    second = sent(responses.rest_json_error(ValidationException("x")))[1][b"x-amzn-requestid"]
    assert first != second and len(first) == 36


def test_the_internal_error_is_a_500_service_exception_without_details():
    status, headers, raw = sent(responses.internal_error())
    assert (status, headers[b"x-amzn-errortype"]) == (500, b"ServiceException")
    assert json.loads(raw) == {"Type": "Service", "Message": "An internal error occurred in lamina; see its log."}


def test_json11_errors_carry_the_code_in_the_body():
    status, headers, raw = sent(responses.json11_error("ResourceNotFoundException", "gone"))
    assert status == 400
    assert headers[b"content-type"] == b"application/x-amz-json-1.1"
    assert b"x-amzn-errortype" not in headers and len(headers[b"x-amzn-requestid"]) == 36
    assert raw == b'{"__type":"ResourceNotFoundException","message":"gone"}'
    assert sent(responses.json11_error("ServiceUnavailableException", "x", 500))[0] == 500


def test_json_ok_and_the_bodiless_answer():
    status, headers, raw = sent(responses.json_ok(201, {"A": 1}, "rid"))
    assert (status, headers[b"content-type"], headers[b"x-amzn-requestid"], raw) == (
        201, b"application/json", b"rid", b'{"A":1}')
    status, headers, raw = sent(responses.json_ok(204, None))
    assert (status, raw) == (204, b"")
    assert b"content-type" not in headers and b"content-length" not in headers
