"""What a function's answer becomes on a function URL (reference 2.4, 2.5, 2.7). Pure; imports
nothing from lamina.

BUFFERED: a JSON object with `statusCode` is an HTTP response (status from an int or a numeric
string, `headers` copied as strings, `cookies` → one set-cookie each, `body` as-is or decoded from
base64 when `isBase64Encoded`, a non-string body JSON-serialised, `application/json` when no
content type was given); any other JSON value is a 200 application/json of its compact JSON, a
string without its quotes. `multiValueHeaders` does not exist in payload format 2.0 and is ignored.
A function error, or an answer that cannot be mapped, is 502 `Internal Server Error`.

RESPONSE_STREAM: a stream whose content type is `application/vnd.awslambda.http-integration-response`
starts with a JSON prelude `{"statusCode", "headers", "cookies"}` ended by 8 NUL bytes
(`Prelude` reads it from the first chunks); any other stream is a 200 of its content type.
"""

from __future__ import annotations

import base64
import binascii
import json

Headers = list[tuple[bytes, bytes]]
BAD_GATEWAY = (502, [(b"content-type", b"application/json")], b"Internal Server Error")
INTEGRATION_RESPONSE = "application/vnd.awslambda.http-integration-response"
PRELUDE_END = b"\0" * 8
PRELUDE_LIMIT = 16_384  # bytes searched for the prelude's end before the stream is given up as malformed


def _compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _status(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        status = value
    elif isinstance(value, str) and value.strip().isdigit():
        status = int(value)
    else:
        return None
    return status if 100 <= status <= 599 else None


def _header_value(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value).lower() \
        if isinstance(value, bool) else str(value)


def shaped(answer: dict) -> tuple[int, Headers, list[str]] | None:
    """Status, headers and cookies of a response object (the buffered answer or a stream's prelude);
    None when it cannot be mapped."""
    status = _status(answer.get("statusCode", 200))
    headers = answer.get("headers") or {}
    cookies = answer.get("cookies") or []
    if status is None or not isinstance(headers, dict) or not isinstance(cookies, list):
        return None
    pairs = [(str(name).lower().encode("latin-1", "replace"), _header_value(value).encode("latin-1", "replace"))
             for name, value in headers.items()]
    return status, pairs, [str(cookie) for cookie in cookies]


def buffered(payload: bytes, function_error: bool) -> tuple[int, Headers, bytes]:
    """The HTTP response of a BUFFERED URL for the function's answer."""
    if function_error:
        return BAD_GATEWAY
    try:
        answer = json.loads(payload) if payload.strip() else None
    except ValueError:
        return BAD_GATEWAY
    json_type = [(b"content-type", b"application/json")]
    if not isinstance(answer, dict) or "statusCode" not in answer:
        if isinstance(answer, str):
            return 200, json_type, answer.encode()
        return 200, json_type, _compact(answer)
    mapped = shaped(answer)
    if mapped is None:
        return BAD_GATEWAY
    status, headers, cookies = mapped
    body = answer.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        if answer.get("isBase64Encoded") is True:
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                return BAD_GATEWAY
        else:
            data = body.encode()
    else:
        data = _compact(body)
    headers = [pair for pair in headers if pair[0] != b"set-cookie"]
    if not any(name == b"content-type" for name, _ in headers):
        headers.append((b"content-type", b"application/json"))
    headers += [(b"set-cookie", cookie.encode("latin-1", "replace")) for cookie in cookies]
    return status, headers, data


class Prelude:
    """Reads an integration-response prelude from the first chunks of a stream: `feed` returns
    None until the 8 NULs arrived, then (status, headers, the body bytes that followed them)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> tuple[int, Headers, bytes] | None:
        self._buffer += data
        end = self._buffer.find(PRELUDE_END)
        if end < 0:
            if len(self._buffer) > PRELUDE_LIMIT:
                raise ValueError("no prelude end within the first 16 KB")
            return None
        try:
            answer = json.loads(self._buffer[:end])
        except ValueError:
            raise ValueError("the prelude is not JSON") from None
        mapped = shaped(answer) if isinstance(answer, dict) else None
        if mapped is None:
            raise ValueError("the prelude cannot be mapped")
        status, headers, cookies = mapped
        if not any(name == b"content-type" for name, _ in headers):
            headers.append((b"content-type", b"application/octet-stream"))
        headers += [(b"set-cookie", cookie.encode("latin-1", "replace")) for cookie in cookies]
        return status, headers, self._buffer[end + len(PRELUDE_END):]

    def pending(self) -> bytes:
        return self._buffer
