"""Responses as bytes on the wire: the one writer of AWS errors per protocol, and of JSON answers.

- rest-json (the Lambda API, and lamina's own /system routes): `rest_json_error` writes a
  LambdaError as lamina.errors decides it (status, `x-amzn-ErrorType` and any extra headers,
  body casing), with `x-amzn-RequestId`; `json_ok` writes a success body.
- function URLs: `function_url_error` writes `{"Message"}` with `x-amzn-ErrorType`.
- JSON 1.1 (CloudWatch Logs): `json11_error` writes `{"__type", "message"}` with `x-amzn-RequestId`.
A `RawResponse` is a plain ASGI callable, so the raw fast lane sends it as cheaply as Starlette
endpoints and exception handlers return it. Imports lamina.errors only.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from lamina.errors import LambdaError, ServiceException

REST_JSON = b"application/json"
JSON11 = b"application/x-amz-json-1.1"
INTERNAL_MESSAGE = "An internal error occurred in lamina; see its log."
_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(frozen=True, slots=True)
class RawResponse:
    """Status, lower-case header pairs and body, sent as-is (content-length added here)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""

    def wire(self) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """(status, headers as they go out, body): content-length added unless the status has no body."""
        headers = self.headers
        if self.status not in _NO_BODY_STATUSES:
            headers = [*headers, (b"content-length", str(len(self.body)).encode())]
        return self.status, headers, self.body

    async def send(self, send) -> None:
        status, headers, body = self.wire()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        await self.send(send)


def _json(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _request_id(request_id: str | None) -> tuple[bytes, bytes]:
    return b"x-amzn-requestid", (request_id or str(uuid.uuid4())).encode()


def json_ok(status: int, body: object, request_id: str | None = None, *,
            content_type: bytes = REST_JSON) -> RawResponse:
    """A JSON answer (no body and no content type when `body` is None, as for 204)."""
    headers = [_request_id(request_id)]
    if body is None:
        return RawResponse(status, headers)
    headers.append((b"content-type", content_type))
    return RawResponse(status, headers, _json(body))


def rest_json_error(error: LambdaError, request_id: str | None = None) -> RawResponse:
    """A Lambda (rest-json) error: status, headers and body casing as lamina.errors decides."""
    headers = [(name.lower().encode(), value.encode()) for name, value in error.headers().items()]
    headers += [_request_id(request_id), (b"content-type", REST_JSON)]
    return RawResponse(error.status, headers, _json(error.body()))


def function_url_error(status: int, error_type: str, message: str, request_id: str | None = None) -> RawResponse:
    """A function URL's own error (403, 413, 429...): `{"Message"}` with `x-amzn-ErrorType`."""
    return RawResponse(status, [(b"x-amzn-errortype", error_type.encode()), _request_id(request_id),
                                (b"content-type", REST_JSON)], _json({"Message": message}))


def internal_error() -> RawResponse:
    """The rest-json answer to an unexpected exception (the caller logs it): 500 ServiceException."""
    return rest_json_error(ServiceException(INTERNAL_MESSAGE))


def json11_error(code: str, message: str, status: int = 400, *, content_type: bytes = JSON11) -> RawResponse:
    """A JSON 1.1 error: the code in `__type`, the text in a lower-case `message`."""
    return RawResponse(status, [_request_id(None), (b"content-type", content_type)],
                       _json({"__type": code, "message": message}))
