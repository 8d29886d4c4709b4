"""The HTTP layer against hostile and malformed requests, on a real server (issue 21, items 6-8, 16):
strict JSON bodies under one rule, body caps on every route, clients leaving mid-body, no redirects."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from botocore.exceptions import ClientError

from support import ROLE, make_zip, read_response

FUNCTIONS = "/2015-03-31/functions"
LOGS_TARGET = "Logs_20140328."
DEEP = b"[" * 1000 + b"]" * 1000


@pytest.fixture(scope="module")
def http(lamina):
    with httpx.Client(base_url=lamina.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def echo(lam):
    lam.create_function(FunctionName="echo", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": "def handler(event, context):\n    return event\n"})})
    lam.get_waiter("function_active_v2").wait(FunctionName="echo")
    return "echo"


def error(response: httpx.Response) -> tuple[int, str, dict]:
    return response.status_code, response.headers.get("x-amzn-errortype", ""), response.json()


def logs_call(http, operation: str, body: bytes) -> httpx.Response:
    return http.post("/", content=body, headers={"X-Amz-Target": LOGS_TARGET + operation,
                                                 "Content-Type": "application/x-amz-json-1.1"})


def server_log(lamina) -> str:
    return lamina.output.read_text(errors="replace")


# Item 6: a payload that is not JSON.
def test_invoke_with_a_non_json_body_names_the_payload_parser(lam, echo):
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName=echo, Payload=b"not json")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert info.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert info.value.response["Error"]["Message"].startswith(
        "Could not parse request body into json: Could not parse payload into json: ")


# Item 7: DryRun answers 204 without an executed version.
def test_dry_run_has_no_executed_version(lam, echo):
    dry = lam.invoke(FunctionName=echo, InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204
    assert "x-amz-executed-version" not in dry["ResponseMetadata"]["HTTPHeaders"]
    assert "ExecutedVersion" not in dry


# Item 8: rest-json ValidationException bodies carry `message` only.
def test_validation_errors_carry_no_type(http):
    response = http.put(f"{FUNCTIONS}/nobody/configuration", json={"Timeout": 0})
    status, code, body = error(response)
    assert (status, code) == (400, "ValidationException")
    assert body == {"message": "1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: "
                               "Member must have value greater than or equal to 1"}


def test_other_errors_keep_their_type(http):
    status, code, body = error(http.get(f"{FUNCTIONS}/nobody/configuration"))
    assert (status, code, body["Type"]) == (404, "ResourceNotFoundException", "User")


# Item 16: deeply nested JSON is a parse error in every decoder, and validation texts stay bounded.
@pytest.mark.parametrize("body", [DEEP, b'{"Description": ' + DEEP + b"}"])
def test_deeply_nested_rest_json_bodies_are_invalid_content(http, body):
    status, code, message = error(http.put(f"{FUNCTIONS}/nobody/configuration", content=body))
    assert (status, code) == (400, "InvalidRequestContentException")
    assert message["message"].startswith("Could not parse request body into json: ")


def test_deeply_nested_invoke_payload_is_invalid_content(http, echo):
    status, code, body = error(http.post(f"{FUNCTIONS}/{echo}/invocations", content=DEEP))
    assert (status, code) == (400, "InvalidRequestContentException")
    assert body["message"].startswith("Could not parse request body into json: Could not parse payload into json: ")


def test_deeply_nested_logs_body_is_a_serialization_error(http):
    response = logs_call(http, "DescribeLogGroups", b'{"logGroupNamePrefix": ' + DEEP + b"}")
    assert (response.status_code, response.json()["__type"]) == (400, "SerializationException")


def test_a_nested_list_member_of_the_wrong_type_is_a_bounded_validation_error(http):
    nested: list = []
    for _ in range(400):
        nested = [nested]
    status, code, body = error(http.put(f"{FUNCTIONS}/nobody/configuration", json={"Layers": [nested]}))
    assert (status, code) == (400, "ValidationException")
    assert "at 'layers' failed to satisfy constraint: Member must satisfy constraint: [Member must be a string]" \
        in body["message"]
    assert len(body["message"]) < 1000


# Item 16: a lone UTF-16 surrogate is refused at decoding, on every protocol.
@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", f"{FUNCTIONS}/echo/configuration", {"Description": "\ud800"}),
    ("POST", f"{FUNCTIONS}/echo/aliases", {"Name": "live", "FunctionVersion": "$LATEST", "Description": "a\udfffb"}),
    ("POST", f"{FUNCTIONS}/echo/invocations", {"key": ["\udc00"]}),
    ("POST", f"{FUNCTIONS}/echo/invocations", {"\ud83d": 1}),
])
def test_lone_surrogates_are_invalid_request_content(http, lam, echo, method, path, body):
    before = lam.get_function_configuration(FunctionName=echo)["Description"]
    response = http.request(method, path, content=json.dumps(body).encode())  # ASCII, with \\udXXX escapes
    status, code, answer = error(response)
    assert (status, code) == (400, "InvalidRequestContentException")
    assert "lone surrogate" in answer["message"]
    assert lam.get_function_configuration(FunctionName=echo)["Description"] == before


def test_a_surrogate_pair_is_a_character(lam, echo):
    payload = json.dumps({"emoji": "\U0001f600"}).encode()  # "\ud83d\ude00"
    assert json.loads(lam.invoke(FunctionName=echo, Payload=payload)["Payload"].read()) == {"emoji": "\U0001f600"}


@pytest.mark.parametrize(("operation", "body"), [
    ("CreateLogStream", {"logGroupName": "/aws/lambda/echo", "logStreamName": "s\ud800"}),
    ("PutLogEvents", {"logGroupName": "/aws/lambda/echo", "logStreamName": "s",
                      "logEvents": [{"timestamp": 1, "message": "\udfff"}]}),
])
def test_lone_surrogates_are_serialization_errors_in_logs(http, operation, body):
    response = logs_call(http, operation, json.dumps(body).encode())
    assert (response.status_code, response.json()["__type"]) == (400, "SerializationException")


# Item 16: Invoke takes strict JSON only.
@pytest.mark.parametrize("payload", [b"NaN", b'{"a":NaN}', b"[Infinity]", b"-Infinity",
                                     b'\xef\xbb\xbf{"a":1}', b'"\xff"', '{"a":1}'.encode("utf-16")])
def test_invoke_refuses_non_strict_json(http, echo, payload):
    status, code, body = error(http.post(f"{FUNCTIONS}/{echo}/invocations", content=payload))
    assert (status, code) == (400, "InvalidRequestContentException")
    assert body["message"].startswith("Could not parse request body into json: Could not parse payload into json: ")


# Item 16: bodies are capped on every route, by Content-Length at once and while streaming.
def raw_exchange(lamina, head: bytes, body: bytes = b"") -> tuple[bytes, dict]:
    """Send `head` and `body` on a plain socket; the response's status line and JSON body (the
    server answers without reading the rest of an oversized body)."""
    with socket.create_connection(("127.0.0.1", lamina.port), timeout=60) as sock:
        sock.sendall(head + body)
        status, _, body, _ = read_response(sock)
        return status, json.loads(body)


@pytest.mark.parametrize(("method", "path", "target", "message"), [
    ("POST", f"{FUNCTIONS}/echo/invocations", None,
     "Request must be smaller than 6291456 bytes for the InvokeFunction operation"),
    ("POST", FUNCTIONS, None, "Request must be smaller than 70167211 bytes for the CreateFunction operation"),
    ("PUT", f"{FUNCTIONS}/echo/code", None,
     "Request must be smaller than 70167211 bytes for the UpdateFunctionCode operation"),
    ("POST", "/2018-10-31/layers/l/versions", None,
     "Request must be smaller than 70167211 bytes for the PublishLayerVersion operation"),
    ("PUT", f"{FUNCTIONS}/echo/configuration", None, "Request must be smaller than 6291456 bytes."),
    ("POST", "/", "PutLogEvents", "Request must be smaller than 8388608 bytes."),
])
def test_an_oversized_content_length_is_refused_unread(lamina, method, path, target, message):
    head = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 419430400\r\n"
            + (f"X-Amz-Target: {LOGS_TARGET}{target}\r\n" if target else "") + "\r\n").encode()
    status, body = raw_exchange(lamina, head, b"{")  # the 400 MB never follow: the answer must not wait for them
    assert status.startswith(b"HTTP/1.1 413 "), status
    assert body.get("message", body.get("Message")) == message
    with httpx.Client(base_url=lamina.url) as client:  # and the server is fine
        assert client.get("/health").status_code == 200


@pytest.mark.parametrize(("method", "path", "headers", "size", "message"), [
    ("POST", f"{FUNCTIONS}/echo/invocations", {}, 6_291_457,
     "Request must be smaller than 6291456 bytes for the InvokeFunction operation"),
    ("POST", f"{FUNCTIONS}/echo/invocations", {"X-Amz-Invocation-Type": "Event"}, 1_048_577,
     "Request must be smaller than 1048576 bytes for the InvokeFunction operation"),
    ("PUT", f"{FUNCTIONS}/echo/configuration", {}, 6_291_457, "Request must be smaller than 6291456 bytes."),
    ("POST", "/", {"X-Amz-Target": LOGS_TARGET + "PutLogEvents"}, 8_388_609,
     "Request must be smaller than 8388608 bytes."),
])
def test_a_streamed_body_is_cut_at_the_cap(http, method, path, headers, size, message):
    def chunks():  # no Content-Length: chunked transfer encoding
        sent = 0
        while sent < size:
            piece = min(65536, size - sent)
            sent += piece
            yield b" " * piece

    response = http.request(method, path, content=chunks(), headers=headers)
    assert response.status_code == 413
    assert response.headers.get("x-amzn-errortype", response.json().get("__type")) == "RequestEntityTooLargeException"
    body = response.json()
    assert body.get("message", body.get("Message")) == message


def test_a_body_at_the_cap_is_read(http, echo):
    payload = b'"' + b"x" * (1_048_576 - 2) + b'"'
    response = http.post(f"{FUNCTIONS}/{echo}/invocations", content=payload, headers={"X-Amz-Invocation-Type": "Event"})
    assert response.status_code == 202


def test_a_client_leaving_mid_body_is_not_an_internal_error(lamina, http):
    head = (f"PUT {FUNCTIONS}/echo/configuration HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n").encode()
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", lamina.port), timeout=10) as sock:
            sock.sendall(head + b'{"Description": "')
    assert http.get("/health").status_code == 200  # a later request is served after the three
    while server_log(lamina).count("client left before sending the whole body") < 3:
        assert "Traceback" not in server_log(lamina)
        time.sleep(0.05)  # waits for the server to notice; pytest-timeout bounds the wait
    log = server_log(lamina)
    assert "Traceback" not in log
    assert "internal error" not in log


# Item 16: an empty path parameter or a trailing slash is an unknown operation, never a redirect (but for
# the collection paths older SDKs send with one, which AWS serves: see test_legacy_collection_paths).
@pytest.mark.parametrize(("method", "path"), [
    ("POST", f"{FUNCTIONS}/"),
    ("GET", f"{FUNCTIONS}/echo/"),
    ("GET", f"{FUNCTIONS}//configuration"),
    ("PUT", f"{FUNCTIONS}//configuration"),
    ("DELETE", f"{FUNCTIONS}/"),
    ("GET", f"{FUNCTIONS}/echo/aliases/"),
    ("GET", f"{FUNCTIONS}/echo/aliases//"),
    ("POST", f"{FUNCTIONS}//invocations"),
    ("POST", f"{FUNCTIONS}/echo/invocations/"),
    ("GET", "/2018-10-31/layers//versions"),
])
def test_empty_path_parameters_and_trailing_slashes_are_unknown_operations(http, method, path):
    response = http.request(method, path, content=b"{}")
    status, code, body = error(response)
    assert (status, code) == (404, "UnknownOperationException")
    assert "location" not in response.headers


def test_legacy_collection_paths_with_a_trailing_slash_are_served(http):
    """Older service models (Debian's aws CLI 2.9, older boto3) list functions at `/functions/`."""
    response = http.get(f"{FUNCTIONS}/")
    assert response.status_code == 200 and "Functions" in response.json()
    assert http.get("/2016-08-19/account-settings/").status_code == 200


def test_no_request_above_left_a_traceback(lamina):
    assert "Traceback" not in server_log(lamina)
