"""The pure parts of function URLs: the 2.0 event, the response mapping and prelude, CORS, the URL's
host and path forms, the AWS_IAM signature-form check, the event-stream encoding and the wire shape."""

from __future__ import annotations

import base64
import json

import botocore.session
import pytest
from botocore.eventstream import EventStreamBuffer

from lamina import url_hosts
from lamina.api import cors, eventstream, url_event, url_response, wire
from lamina.api.pipeline import RequestView
from lamina.api.url_auth import Forbidden, access_key_of
from lamina.model import FunctionUrlConfig

ID = "abcdefghijklmnopqrstuvwxyz012345"


def event(**overrides):
    arguments = dict(method="GET", raw_path="/", raw_query="", headers=[], body=b"", url_id=ID,
                     domain_name=f"{ID}.lambda-url.us-east-1.localhost", source_ip="10.0.0.1", request_id="rid",
                     epoch_ms=1_584_039_838_000, trace_id="Root=1-x", port=9001)
    arguments.update(overrides)
    return url_event.build(**arguments)


@pytest.mark.parametrize(("content_type", "text"), [
    ("application/json", True), ("application/json; charset=utf-8", True), ("text/html", True),
    ("application/xml", True), ("application/javascript", True), ("application/vnd.api+json", True),
    ("image/svg+xml", True), ("application/x-www-form-urlencoded", False), ("multipart/form-data; b=x", False),
    ("application/octet-stream", False), (None, False), ("", False),
])
def test_text_or_base64_by_content_type(content_type, text):
    assert url_event.is_text(content_type) is text


def test_headers_are_lower_cased_and_joined_and_cookies_move():
    built = event(headers=[(b"X-A", b"1"), (b"x-a", b"2"), (b"Cookie", b"a=1; b=2"), (b"cookie", b"c=3")])
    assert built["headers"]["x-a"] == "1,2"
    assert built["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in built["headers"]
    assert built["headers"]["x-forwarded-for"] == "10.0.0.1"
    assert built["headers"]["x-forwarded-proto"] == "http" and built["headers"]["x-forwarded-port"] == "9001"


def test_query_parameters_are_decoded_and_joined_and_absent_without_a_query():
    assert event(raw_query="multiQuery=foo&multiQuery=%2Fbar&e=")["queryStringParameters"] == {
        "multiQuery": "foo,/bar", "e": ""}
    assert "queryStringParameters" not in event()


def test_bodies():
    assert "body" not in event() and event()["isBase64Encoded"] is False
    text = event(body="é".encode(), headers=[(b"content-type", b"text/plain")])
    assert (text["body"], text["isBase64Encoded"]) == ("é", False)
    raw = event(body=b"\xff\x00", headers=[(b"content-type", b"text/plain")])  # not UTF-8: base64
    assert (base64.b64decode(raw["body"]), raw["isBase64Encoded"]) == (b"\xff\x00", True)
    untyped = event(body=b"abc")
    assert (untyped["body"], untyped["isBase64Encoded"]) == ("YWJj", True)


def test_request_context_and_iam_authorizer():
    context = event()["requestContext"]
    assert context["time"] == "12/Mar/2020:19:03:58 +0000" and context["timeEpoch"] == 1_584_039_838_000
    assert context["accountId"] == "anonymous" and "authorizer" not in context
    assert "authentication" in context and context["authentication"] is None
    iam = {"accessKey": "AKID", "accountId": "000000000000"}
    signed = event(authorizer=iam, account_id="000000000000")["requestContext"]
    assert signed["authorizer"] == {"iam": iam} and signed["accountId"] == "000000000000"


@pytest.mark.parametrize(("answer", "expected"), [
    ({"statusCode": 204}, (204, [(b"content-type", b"application/json")], b"")),
    ({"statusCode": "201", "body": "x", "headers": {"X-Up": 1, "b": True}},
     (201, [(b"x-up", b"1"), (b"b", b"true"), (b"content-type", b"application/json")], b"x")),
    ({"statusCode": 200, "body": "aGk=", "isBase64Encoded": True, "headers": {"content-type": "text/plain"}},
     (200, [(b"content-type", b"text/plain")], b"hi")),
    ({"statusCode": 200, "cookies": ["a=1"]},
     (200, [(b"content-type", b"application/json"), (b"set-cookie", b"a=1")], b"")),
    ({"statusCode": 200, "body": [1]}, (200, [(b"content-type", b"application/json")], b"[1]")),
    ({"a": "é"}, (200, [(b"content-type", b"application/json")], '{"a":"é"}'.encode())),
    ("hi", (200, [(b"content-type", b"application/json")], b"hi")),
    (None, (200, [(b"content-type", b"application/json")], b"null")),
    (False, (200, [(b"content-type", b"application/json")], b"false")),
    ({"statusCode": "x"}, url_response.BAD_GATEWAY),
    ({"statusCode": 99}, url_response.BAD_GATEWAY),
    ({"statusCode": True}, url_response.BAD_GATEWAY),
    ({"statusCode": 200, "body": "***", "isBase64Encoded": True}, url_response.BAD_GATEWAY),
    ({"statusCode": 200, "headers": ["x"]}, url_response.BAD_GATEWAY),
])
def test_buffered_mapping(answer, expected):
    assert url_response.buffered(json.dumps(answer).encode(), False) == expected


def test_function_errors_and_non_json_are_502():
    assert url_response.buffered(b'{"errorMessage": "x"}', True) == url_response.BAD_GATEWAY
    assert url_response.buffered(b"not json", False) == url_response.BAD_GATEWAY


def test_prelude_over_several_chunks():
    prelude = url_response.Prelude()
    assert prelude.feed(b'{"statusCode": 201, "headers": {"a": "b"}, "cookies": ["c=1"]}\0\0\0') is None
    assert prelude.feed(b"\0\0\0\0\0body") == (
        201, [(b"a", b"b"), (b"content-type", b"application/octet-stream"), (b"set-cookie", b"c=1")], b"body")
    with pytest.raises(ValueError):
        url_response.Prelude().feed(b"not json" + bytes(8))
    with pytest.raises(ValueError):
        url_response.Prelude().feed(b"x" * (url_response.PRELUDE_LIMIT + 1))


CORS = {"AllowOrigins": ["https://a.example"], "AllowMethods": ["GET"], "AllowHeaders": ["x-h"],
        "ExposeHeaders": ["x-e"], "MaxAge": 10, "AllowCredentials": True}


def test_cors():
    request = {b"origin": b"https://a.example", b"access-control-request-method": b"GET"}
    assert cors.is_preflight(CORS, "OPTIONS", request)
    assert not cors.is_preflight(None, "OPTIONS", request)
    assert not cors.is_preflight(CORS, "GET", request)
    assert cors.preflight(CORS, request) == [
        (b"access-control-allow-origin", b"https://a.example"), (b"access-control-allow-credentials", b"true"),
        (b"access-control-allow-methods", b"GET"), (b"access-control-allow-headers", b"x-h"),
        (b"access-control-expose-headers", b"x-e"), (b"access-control-max-age", b"10")]
    assert cors.preflight(CORS, {b"origin": b"https://b.example"}) == []
    assert cors.preflight({"AllowOrigins": ["*"]}, {b"origin": b"https://b.example"}) == [
        (b"access-control-allow-origin", b"*")]
    function_set = [(b"access-control-allow-origin", b"*"), (b"x", b"1")]
    assert cors.apply(CORS, {b"origin": b"https://a.example"}, function_set) == [
        (b"x", b"1"), (b"access-control-allow-origin", b"https://a.example"),
        (b"access-control-allow-credentials", b"true"), (b"access-control-expose-headers", b"x-e")]
    assert cors.apply(CORS, {}, function_set) == function_set
    assert cors.apply(None, {b"origin": b"https://a.example"}, function_set) == function_set


@pytest.mark.parametrize(("base", "url", "domain"), [
    ("http://127.0.0.1:9001", f"http://{ID}.lambda-url.us-east-1.localhost:9001/", f"{ID}.lambda-url.us-east-1.localhost"),
    ("http://[::1]:9001", f"http://{ID}.lambda-url.us-east-1.localhost:9001/", f"{ID}.lambda-url.us-east-1.localhost"),
    ("https://lamina.example.com", f"https://{ID}.lambda-url.us-east-1.lamina.example.com/",
     f"{ID}.lambda-url.us-east-1.lamina.example.com"),
])
def test_url_forms(base, url, domain):
    assert url_hosts.function_url(base, ID, "us-east-1") == url
    assert url_hosts.domain_name(base, ID, "us-east-1") == domain


@pytest.mark.parametrize(("host", "found"), [
    (f"{ID}.lambda-url.us-east-1.localhost:9001".encode(), ID),
    (f"{ID.upper()}.LAMBDA-URL.us-east-1.localhost".encode(), ID),
    (b"127.0.0.1:9001", None), (b"short.lambda-url.us-east-1.localhost", None), (None, None),
])
def test_url_id_from_host(host, found):
    assert url_hosts.from_host(host) == found


def test_url_id_from_path():
    assert url_hosts.from_path(f"/lambda-url/{ID}/a/b") == (ID, "/a/b")
    assert url_hosts.from_path(f"/lambda-url/{ID}") == (ID, "/")
    assert url_hosts.from_path("/lambda-url/nope/") is None
    assert url_hosts.from_path("/2015-03-31/functions") is None
    assert len(url_hosts.new_url_id()) == 32


def view(headers=None, query=b""):
    return RequestView("GET", "/", query, headers or {}, "127.0.0.1")


SIGNATURE = "a" * 64


@pytest.mark.parametrize(("headers", "query", "key"), [
    ({b"authorization": f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE12345/20250101/us-east-1/lambda/aws4_request, "
                        f"SignedHeaders=host;x-amz-date, Signature={SIGNATURE}".encode(), b"x-amz-date": b"x"},
     b"", "AKIDEXAMPLE12345"),
    ({}, f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE12345%2F20250101%2Fus-east-1%2Flambda"
         f"%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature={SIGNATURE}".encode(),
     "AKIDEXAMPLE12345"),
    ({}, b"", None),
    ({b"authorization": b"Bearer token"}, b"", None),
    ({b"authorization": f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE12345/20250101/us-east-1/lambda/aws4_request, "
                        f"SignedHeaders=host, Signature={SIGNATURE}".encode()}, b"", None),  # no date
    ({b"authorization": f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE12345/20250101/us-east-1/s3/aws4_request, "
                        f"SignedHeaders=host;x-amz-date, Signature={SIGNATURE}".encode(), b"x-amz-date": b"x"},
     b"", None),  # another service
    ({b"authorization": f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE12345/20250101/eu-west-1/lambda/aws4_request, "
                        f"SignedHeaders=host;x-amz-date, Signature={SIGNATURE}".encode(), b"x-amz-date": b"x"},
     b"", None),  # another region
    ({b"authorization": b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE12345/20250101/us-east-1/lambda/aws4_request, "
                        b"SignedHeaders=x-amz-date, Signature=" + SIGNATURE.encode(), b"x-amz-date": b"x"},
     b"", None),  # host not signed
])
def test_signature_form(headers, query, key):
    if key is None:
        with pytest.raises(Forbidden):
            access_key_of(view(headers, query), "us-east-1")
    else:
        assert access_key_of(view(headers, query), "us-east-1") == key


def test_event_stream_messages_decode_with_botocore():
    buffer = EventStreamBuffer()
    buffer.add_data(eventstream.payload_chunk(b"hello") + eventstream.invoke_complete("E", "details", "bG9n"))
    messages = list(buffer)
    assert messages[0].headers == {":event-type": "PayloadChunk", ":content-type": "application/octet-stream",
                                   ":message-type": "event"}
    assert messages[0].payload == b"hello"
    assert messages[1].headers[":event-type"] == "InvokeComplete"
    assert json.loads(messages[1].payload) == {"ErrorCode": "E", "ErrorDetails": "details", "LogResult": "bG9n"}
    assert json.loads(list(_decode(eventstream.invoke_complete()))[0].payload) == {}


def _decode(data: bytes):
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return buffer


def test_large_chunks_are_split_into_messages():
    data = b"x" * (eventstream.MAX_PAYLOAD + 10)
    assert b"".join(message.payload for message in _decode(eventstream.payload_chunk(data))) == data


MODEL = botocore.session.get_session().get_service_model("lambda")


@pytest.mark.parametrize(("operation", "created"), [("CreateFunctionUrlConfig", True), ("GetFunctionUrlConfig", False),
                                                    ("UpdateFunctionUrlConfig", False)])
def test_wire_shape_matches_the_model(operation, created):
    config = FunctionUrlConfig("f", "$LATEST", ID, "NONE", {"AllowOrigins": ["*"], "MaxAge": 5}, "BUFFERED",
                               "2024-01-01T00:00:00.000000Z", "2024-01-02T00:00:00.000000Z")
    body = wire.function_url_config(config, "http://x/", "arn:aws:lambda:us-east-1:000000000000:function:f",
                                    created=created)
    members = MODEL.operation_model(operation).output_shape.members
    assert set(body) <= set(members)
    assert set(MODEL.operation_model(operation).output_shape.required_members) <= set(body)
    assert ("LastModifiedTime" in body) is (not created)
    bare = wire.function_url_config(FunctionUrlConfig("f", "$LATEST", ID, "NONE", None, None, "t", "t"), "u", "a")
    assert "Cors" not in bare and "InvokeMode" not in bare
