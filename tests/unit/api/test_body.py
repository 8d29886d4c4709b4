"""lamina.api.body: the cap of each route's body, and reading within it."""

from __future__ import annotations

import asyncio

import pytest

from lamina.api import body
from lamina.errors import InvokeRequestTooLarge, RequestEntityTooLargeException

F = "/2015-03-31/functions"


@pytest.mark.parametrize(("method", "path", "headers", "size", "error", "message"), [
    ("POST", f"{F}/f/invocations", {}, 6_291_456, InvokeRequestTooLarge,
     "Request must be smaller than 6291456 bytes for the InvokeFunction operation"),
    ("POST", f"{F}/f/invocations", {b"x-amz-invocation-type": b"DryRun"}, 6_291_456, InvokeRequestTooLarge, None),
    ("POST", f"{F}/f/invocations", {b"x-amz-invocation-type": b"Event"}, 1_048_576, InvokeRequestTooLarge,
     "Request must be smaller than 1048576 bytes for the InvokeFunction operation"),
    ("POST", F, {}, 70_167_211, RequestEntityTooLargeException,
     "Request must be smaller than 70167211 bytes for the CreateFunction operation"),
    ("PUT", f"{F}/f/code", {}, 70_167_211, RequestEntityTooLargeException,
     "Request must be smaller than 70167211 bytes for the UpdateFunctionCode operation"),
    ("POST", "/2018-10-31/layers/l/versions", {}, 70_167_211, RequestEntityTooLargeException,
     "Request must be smaller than 70167211 bytes for the PublishLayerVersion operation"),
    ("POST", "/", {b"x-amz-target": b"Logs_20140328.PutLogEvents"}, 8_388_608, RequestEntityTooLargeException,
     "Request must be smaller than 8388608 bytes."),
    ("PUT", f"{F}/f/configuration", {}, 6_291_456, RequestEntityTooLargeException,
     "Request must be smaller than 6291456 bytes."),
    ("GET", F, {}, 6_291_456, RequestEntityTooLargeException, None),
    ("PUT", f"{F}/f/invocations", {}, 6_291_456, RequestEntityTooLargeException, None),  # not Invoke
])
def test_caps_per_route(method, path, headers, size, error, message):
    cap = body.limit(method, path, headers)
    assert (cap.size, type(cap.refusal())) == (size, error)
    if message is not None:
        assert cap.refusal().message == message


@pytest.mark.parametrize(("headers", "size"), [
    ({b"content-length": b"12"}, 12), ({}, None), ({b"content-length": b"-1"}, None), ({b"content-length": b"x"}, None),
])
def test_declared_size(headers, size):
    assert body.declared_size(headers) == size


def feed(*messages):
    queue = list(messages)

    async def receive():
        return queue.pop(0)

    return receive


CAP = body.Limit(10, RequestEntityTooLargeException, "too big")


def test_a_body_in_pieces_is_joined():
    receive = feed({"type": "http.request", "body": b"abc", "more_body": True},
                   {"type": "http.request", "body": b"defghij", "more_body": False})
    assert asyncio.run(body.read(receive, CAP)) == b"abcdefghij"


def test_a_body_past_the_cap_is_refused_before_the_rest_is_read():
    receive = feed({"type": "http.request", "body": b"abcdef", "more_body": True},
                   {"type": "http.request", "body": b"ghijk", "more_body": True})  # no third message
    with pytest.raises(RequestEntityTooLargeException, match="too big"):
        asyncio.run(body.read(receive, CAP))


def test_a_client_leaving_mid_body_is_disconnected():
    receive = feed({"type": "http.request", "body": b"abc", "more_body": True}, {"type": "http.disconnect"})
    with pytest.raises(body.Disconnected):
        asyncio.run(body.read(receive, CAP))


def test_replay_gives_the_body_once_then_defers():
    later = feed({"type": "http.disconnect"})
    receive = body.replay(b"data", later)

    async def both():
        return [await receive(), await receive()]

    assert asyncio.run(both()) == [{"type": "http.request", "body": b"data", "more_body": False},
                                   {"type": "http.disconnect"}]
