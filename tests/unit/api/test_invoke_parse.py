"""lamina.api.invoke.parse: the Invoke request's parts into a typed Invocation, or AWS's error."""

from __future__ import annotations

import base64
import json

import pytest

from lamina.api.invoke import CLIENT_CONTEXT_LIMIT, parse
from lamina.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    InvokeRequestTooLarge,
    ValidationException,
)
from lamina.identity import anonymous
from lamina.invoke import ASYNC_PAYLOAD_LIMIT, SYNC_PAYLOAD_LIMIT


def b64(text: str) -> bytes:
    return base64.b64encode(text.encode())


@pytest.mark.parametrize(("name", "query", "headers", "expected"), [
    ("f", b"", {}, dict(qualifier=None, invocation_type="RequestResponse", tail=False, client_context=None)),
    ("f", b"Qualifier=7", {}, dict(qualifier="7")),
    ("f", b"Qualifier=live&Other=x", {}, dict(qualifier="live")),
    ("f", b"Qualifier=%24LATEST", {}, dict(qualifier="$LATEST")),
    ("f", b"Qualifier=", {}, dict(qualifier=None)),  # a blank qualifier is no qualifier
    ("f", b"", {b"x-amz-invocation-type": b"Event"}, dict(invocation_type="Event")),
    ("f", b"", {b"x-amz-invocation-type": b"DryRun"}, dict(invocation_type="DryRun")),
    ("f", b"", {b"x-amz-log-type": b"Tail"}, dict(tail=True)),
    ("f", b"", {b"x-amz-log-type": b"None"}, dict(tail=False)),
    ("f", b"", {b"x-amz-client-context": b64('{"custom":{"a":1}}')}, dict(client_context='{"custom":{"a":1}}')),
    ("arn:aws:lambda:us-east-1:000000000000:function:f", b"", {},
     dict(function_name="arn:aws:lambda:us-east-1:000000000000:function:f")),
    ("f:live", b"", {}, dict(function_name="f:live", qualifier=None)),
])
def test_valid_requests_become_invocations(name, query, headers, expected):
    call = parse(name, query, headers, b'{"k": 1}')
    assert call.function_name == expected.get("function_name", name)
    assert call.payload == b'{"k": 1}'
    for field, value in expected.items():
        assert getattr(call, field) == value, field


@pytest.mark.parametrize("body", [b"", b"   ", b"\n\t"])
def test_an_empty_body_is_an_empty_object(body):
    assert parse("f", b"", {}, body).payload == b"{}"


def test_the_caller_travels_in_the_invocation():
    caller = anonymous("000000000000", "10.0.0.1")
    assert parse("f", b"", {}, b"{}", caller).caller is caller
    assert parse("f", b"", {}, b"{}").caller is None


@pytest.mark.parametrize(("invocation_type", "limit"), [
    ("RequestResponse", SYNC_PAYLOAD_LIMIT), ("DryRun", SYNC_PAYLOAD_LIMIT), ("Event", ASYNC_PAYLOAD_LIMIT),
])
def test_size_limits_per_invocation_type(invocation_type, limit):
    headers = {b"x-amz-invocation-type": invocation_type.encode()}
    at_limit = b'"' + b"x" * (limit - 2) + b'"'
    assert parse("f", b"", headers, at_limit).payload == at_limit
    with pytest.raises(InvokeRequestTooLarge) as raised:
        parse("f", b"", headers, at_limit + b" ")
    assert raised.value.message == f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
    assert (raised.value.status, raised.value.code, raised.value.message_key) == (
        413, "RequestEntityTooLargeException", "Message")


@pytest.mark.parametrize("body", [b"{", b"not json", b'{"a": }', b"\xff\xfe"])
def test_a_body_that_is_not_json_is_invalid_request_content(body):
    with pytest.raises(InvalidRequestContentException) as raised:
        parse("f", b"", {}, body)
    assert raised.value.message.startswith("Could not parse request body into json: ")


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_any_json_value_is_a_payload(body):
    assert parse("f", b"", {}, body).payload == body


@pytest.mark.parametrize(("name", "query", "headers", "member"), [
    ("bad name!", b"", {}, "functionName"),
    ("f" * 257, b"", {}, "functionName"),
    ("f", b"Qualifier=a%2Fb", {}, "qualifier"),
    ("f", b"Qualifier=" + b"q" * 129, {}, "qualifier"),
    ("f", b"", {b"x-amz-invocation-type": b"Bogus"}, "invocationType"),
    ("f", b"", {b"x-amz-log-type": b"All"}, "logType"),
])
def test_members_outside_the_model_are_validation_errors(name, query, headers, member):
    with pytest.raises(ValidationException) as raised:
        parse(name, query, headers, b"{}")
    assert raised.value.message.startswith("1 validation error detected: Value ")
    assert f"at '{member}' failed to satisfy constraint" in raised.value.message


@pytest.mark.parametrize(("context", "error", "message"), [
    (b"!!not base64!!", InvalidRequestContentException, "Client context must be a valid Base64-encoded JSON object."),
    (b64("not json"), InvalidRequestContentException, "Client context must be a valid Base64-encoded JSON object."),
    (b64("\"" + "x" * CLIENT_CONTEXT_LIMIT + "\""), InvalidParameterValueException,
     "Client context must be smaller than 3583 bytes when base64 encoded."),
])
def test_client_context_rules(context, error, message):
    with pytest.raises(error) as raised:
        parse("f", b"", {b"x-amz-client-context": context}, b"{}")
    assert raised.value.message == message


def test_the_longest_client_context_is_accepted_and_one_more_block_is_not():
    text = json.dumps({"custom": {"k": "v" * 2666}}, separators=(",", ":"))
    encoded = b64(text)
    assert len(encoded) == 3580  # the longest base64 text within 3583 bytes
    assert parse("f", b"", {b"x-amz-client-context": encoded}, b"{}").client_context == text
    longer = b64(json.dumps({"custom": {"k": "v" * 2669}}, separators=(",", ":")))
    assert len(longer) == 3584
    with pytest.raises(InvalidParameterValueException):
        parse("f", b"", {b"x-amz-client-context": longer}, b"{}")
