"""The request body: how many bytes each route may send (a pure table of AWS's limits) and reading
it within that cap, before any route sees it.

A Content-Length over the route's cap is refused at once, unread; a streamed (chunked) body is
refused as soon as it passes the cap; a client that disconnects mid-body gets no answer. The body
read here is the only copy: it travels in the scope (`scope[BODY]`) and `replay` hands it to
Starlette routes as one message.
Caps: Invoke (and InvokeWithResponseStream) 6 MB synchronous / 1 MB asynchronous (AWS's payload limits; DryRun counts as
synchronous); the zip uploads (CreateFunction, UpdateFunctionCode, PublishLayerVersion) AWS's
70,167,211-byte request limit (a 50 MB zip in base64, plus the other members); CloudWatch Logs 8 MiB
(a full 1 MiB PutLogEvents batch even when every byte is escaped as `\\u00XX`); every other route
6 MB.
Imports lamina.errors and lamina.invoke (the payload limits) only.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple

from lamina.errors import InvokeRequestTooLarge, LambdaError, RequestEntityTooLargeException
from lamina.invoke import ASYNC_PAYLOAD_LIMIT, SYNC_PAYLOAD_LIMIT

BODY = "lamina.body"
UPLOAD_LIMIT = 70_167_211
LOGS_LIMIT = 8_388_608
OTHER_LIMIT = 6_291_456

_INVOKE = re.compile(r"/2015-03-31/functions/[^/]+/invocations|/2021-11-15/functions/[^/]+/response-streaming-invocations")
# (method, path) of the operations that carry a zip in their JSON body, by AWS operation name.
_UPLOADS = (
    ("POST", re.compile(r"/2015-03-31/functions/?"), "CreateFunction"),
    ("PUT", re.compile(r"/2015-03-31/functions/[^/]+/code/?"), "UpdateFunctionCode"),
    ("POST", re.compile(r"/2018-10-31/layers/[^/]+/versions/?"), "PublishLayerVersion"),
    ("POST", re.compile(r"/console/functions/[^/]+/zip"), "UpdateFunctionCode"),  # the console's raw .zip upload
)

Receive = Callable[[], Awaitable[dict]]


class Limit(NamedTuple):
    size: int
    error: type[LambdaError]  # what the route answers to a larger body, with `message`
    message: str

    def refusal(self) -> LambdaError:
        return self.error(self.message)


class Disconnected(Exception):
    """The client went away before sending the whole body."""


def _request_limit(size: int, operation: str | None, error: type[LambdaError] = RequestEntityTooLargeException):
    named = f" for the {operation} operation" if operation else "."
    return Limit(size, error, f"Request must be smaller than {size} bytes{named}")


SYNC_INVOKE = _request_limit(SYNC_PAYLOAD_LIMIT, "InvokeFunction", InvokeRequestTooLarge)
ASYNC_INVOKE = _request_limit(ASYNC_PAYLOAD_LIMIT, "InvokeFunction", InvokeRequestTooLarge)
LOGS = _request_limit(LOGS_LIMIT, None)
OTHER = _request_limit(OTHER_LIMIT, None)
UPLOADS = tuple((method, pattern, _request_limit(UPLOAD_LIMIT, operation)) for method, pattern, operation in _UPLOADS)


def limit(method: str, path: str, headers: Mapping[bytes, bytes]) -> Limit:
    """The cap on the body of a request, and the error a larger body gets."""
    if method == "POST" and _INVOKE.fullmatch(path):
        return ASYNC_INVOKE if headers.get(b"x-amz-invocation-type") == b"Event" else SYNC_INVOKE
    if method == "POST" and path == "/" and b"x-amz-target" in headers:
        return LOGS
    for upload_method, pattern, cap in UPLOADS:
        if method == upload_method and pattern.fullmatch(path):
            return cap
    return OTHER


def declared_size(headers: Mapping[bytes, bytes]) -> int | None:
    """The Content-Length the client announced (None when absent or not a number)."""
    value = headers.get(b"content-length")
    if value is None or not value.isdigit():
        return None
    return int(value)


async def read(receive: Receive, cap: Limit) -> bytes:
    """The whole body, refused (`cap.refusal()` raised) once it passes `cap.size`; Disconnected when
    the client leaves first."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap.size:
            raise cap.refusal()
        chunks.append(chunk)
        if not message.get("more_body"):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives `body` as the one request message, then defers to `receive` (which
    then only reports a disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive_again() -> dict:
        return pending.pop() if pending else await receive()

    return receive_again
