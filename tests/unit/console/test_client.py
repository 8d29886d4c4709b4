"""lamina.console.client: calls serialized as boto3 sends them, answers parsed as boto3 reads them,
errors (and unknown operations) raised as ApiError; against a small in-process ASGI app."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from lamina.console.client import ApiClient, ApiError, _body_is_result


class Recorder:
    """An ASGI app that records the request and answers with a canned response."""

    def __init__(self, status: int = 200, body: bytes = b"{}", headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {"content-type": "application/json"}
        self.scope: dict = {}
        self.request_body = b""

    async def __call__(self, scope, receive, send) -> None:
        self.scope = scope
        message = await receive()
        self.request_body = message.get("body", b"")
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [(k.encode(), v.encode()) for k, v in self.headers.items()]})
        await send({"type": "http.response.body", "body": self.body})


def run(coroutine):
    return asyncio.run(coroutine)


def test_rest_json_call_is_what_boto3_sends():
    app = Recorder(body=json.dumps({"Functions": [{"FunctionName": "a"}], "NextMarker": "m"}).encode())
    client = ApiClient(lambda: app)
    answer = run(client.call("lambda", "ListFunctions", {"Marker": "x", "MaxItems": 5}, client=("10.0.0.1", 5)))
    assert answer == {"Functions": [{"FunctionName": "a"}], "NextMarker": "m"}
    assert (app.scope["method"], app.scope["path"]) == ("GET", "/2015-03-31/functions")
    assert sorted(app.scope["query_string"].decode().split("&")) == ["Marker=x", "MaxItems=5"]
    assert app.scope["client"] == ("10.0.0.1", 5)


def test_invoke_reads_headers_and_the_payload():
    log = base64.b64encode(b"REPORT RequestId: r\tDuration: 1.00 ms\t").decode()
    app = Recorder(body=b'{"ok": true}', headers={"content-type": "application/json", "x-amz-log-result": log,
                                                  "x-amz-executed-version": "$LATEST",
                                                  "x-amz-function-error": "Unhandled"})
    answer = run(ApiClient(lambda: app).call("lambda", "Invoke", {"FunctionName": "f", "LogType": "Tail",
                                                                  "Payload": b'{"a": 1}'}))
    assert app.scope["path"] == "/2015-03-31/functions/f/invocations"
    assert app.request_body == b'{"a": 1}'
    assert answer["Payload"].read() == b'{"ok": true}' and answer["LogResult"] == log
    assert answer["ExecutedVersion"] == "$LATEST" and answer["FunctionError"] == "Unhandled"


def test_binary_invoke_payload_stays_bytes():
    app = Recorder(body=b"\xff\x00binary", headers={"content-type": "application/octet-stream"})
    answer = run(ApiClient(lambda: app).call("lambda", "Invoke", {"FunctionName": "f"}))
    assert answer["Payload"].read() == b"\xff\x00binary"


def test_json11_call_carries_the_target():
    app = Recorder(body=b'{"events": []}')
    run(ApiClient(lambda: app).call("logs", "FilterLogEvents", {"logGroupName": "/aws/lambda/f"}))
    headers = dict(app.scope["headers"])
    assert app.scope["path"] == "/" and headers[b"x-amz-target"] == b"Logs_20140328.FilterLogEvents"
    assert json.loads(app.request_body) == {"logGroupName": "/aws/lambda/f"}


@pytest.mark.parametrize(("status", "body", "headers", "code", "message"), [
    (404, b'{"Type": "User", "Message": "Function not found: x"}',
     {"x-amzn-errortype": "ResourceNotFoundException"}, "ResourceNotFoundException", "Function not found: x"),
    (404, b'{"Type": "User", "message": "Unknown operation"}',
     {"x-amzn-errortype": "UnknownOperationException"}, "UnknownOperationException", "Unknown operation"),
])
def test_errors(status, body, headers, code, message):
    app = Recorder(status=status, body=body, headers={"content-type": "application/json", **headers})
    client = ApiClient(lambda: app)
    with pytest.raises(ApiError) as raised:
        run(client.call("lambda", "GetFunction", {"FunctionName": "x"}))
    assert (raised.value.code, raised.value.message, raised.value.status) == (code, message, status)
    if code == "UnknownOperationException":
        assert raised.value.not_available
        assert run(client.available("lambda", "GetFunction", {"FunctionName": "x"})) is None


def test_lamina_json_endpoints():
    app = Recorder(status=400, body=b'{"Type": "User", "message": "bad name"}',
                   headers={"content-type": "application/json", "x-amzn-errortype": "InvalidParameterValueException"})
    with pytest.raises(ApiError) as raised:
        run(ApiClient(lambda: app).send("PUT", "/_lamina/test-events/f/a b", {"Event": "{}"}))
    assert raised.value.code == "InvalidParameterValueException" and raised.value.message == "bad name"
    assert json.loads(app.request_body) == {"Event": "{}"}
    ok = Recorder(body=b'{"TestEvents": []}')
    assert run(ApiClient(lambda: ok).get("/_lamina/test-events/f")) == {"TestEvents": []}


@pytest.mark.parametrize(("service", "operation", "plain"), [
    ("lambda", "ListFunctions", True), ("lambda", "GetFunction", True), ("lambda", "Invoke", False),
    ("lambda", "ListEventSourceMappings", False),  # LastModified is a timestamp botocore converts
    ("logs", "FilterLogEvents", True),
])
def test_body_is_result(service, operation, plain):
    assert _body_is_result(service, operation) is plain
