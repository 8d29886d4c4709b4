"""The console's one way to act: lamina's public HTTP API, called in process as boto3 calls it.

`ApiClient.call(service, operation, params)` serializes the call with botocore's own serializer
for the service's protocol (Lambda rest-json, CloudWatch Logs JSON 1.1), sends the resulting HTTP
request to lamina's ASGI application (the request pipeline in front of every route: identity,
body caps, dispatch) without a socket, and parses the answer with botocore's parser. So the
console can do nothing a script cannot: every click is one of the requests boto3 would send, and
an operation this server does not implement answers UnknownOperationException, which pages show as
"not available on this server". `get`/`send` do the same for lamina's own JSON endpoints
(`/system/metrics`, `/system/cost`, `/_lamina/test-events/...`, `/health`).

The request carries the browser's client address, so the pipeline resolves the same caller it
would for the browser. With `--auth sigv4` each request is signed (botocore's SigV4Auth) with the
signed-in user's keys (`credentials`, lamina.console.sessions), so the pipeline verifies it and
authorization allows exactly what that user may do. Imports nothing from lamina (botocore only): the
console is a client.
"""

from __future__ import annotations

import functools
import io
import json
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import botocore.session
from botocore import parsers, serialize
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HeadersDict
from botocore.credentials import ReadOnlyCredentials
from botocore.response import StreamingBody

Keys = ReadOnlyCredentials  # (access_key, secret_key, token)
Asgi = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]
NOT_AVAILABLE = "UnknownOperationException"


class ApiError(Exception):
    """An API's error answer: its code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status

    @property
    def not_available(self) -> bool:
        """Whether the server does not implement the operation at all."""
        return self.code == NOT_AVAILABLE


@functools.cache
def _model(service: str):
    return botocore.session.get_session().get_service_model(service)


@functools.cache
def _serializer(protocol: str):
    return serialize.create_serializer(protocol, include_validation=False)


@functools.cache
def _parser(protocol: str):
    return parsers.create_parser(protocol)


@functools.cache
def _body_is_result(service: str, operation: str) -> bool:
    """Whether the operation's answer is exactly its JSON body: a JSON protocol whose output has no
    member bound to a header, the status code or a payload, and no timestamp or blob member botocore
    would convert. Then json.loads gives what botocore's parser would, at a fraction of the cost (the
    functions list reads 20 pages of 50 for 1,000 functions)."""
    model = _model(service)
    if model.metadata["protocol"] not in ("rest-json", "json"):
        return False
    shape = model.operation_model(operation).output_shape
    if shape is None:
        return True
    if shape.serialization.get("payload"):
        return False
    seen: set[str] = set()

    def plain(s) -> bool:
        if s.name in seen:
            return True
        seen.add(s.name)
        if s.type_name in ("timestamp", "blob"):
            return False
        if s.type_name == "structure":
            return all(not m.serialization.get("location") and plain(m) for m in s.members.values())
        if s.type_name == "list":
            return plain(s.member)
        if s.type_name == "map":
            return plain(s.key) and plain(s.value)
        return True

    return plain(shape)


def _query(pairs) -> str:
    """A query string (or form) as botocore encodes it: RFC 3986 percent-encoding, what SigV4 signs."""
    return urllib.parse.urlencode(pairs, doseq=True, quote_via=urllib.parse.quote)


class ApiClient:
    """Calls the API of one lamina (`app`, its outermost ASGI application) in process."""

    def __init__(self, app: Callable[[], Asgi], host: str = "127.0.0.1", region: str = "us-east-1") -> None:
        self._app = app  # late-bound: the console's routes are part of the app it calls
        self._host = host
        self._region = region

    async def call(self, service: str, operation: str, params: dict | None = None,
                   client: tuple[str, int] | None = None, credentials: Keys | None = None) -> dict:
        """One API operation, as boto3 would send it; ApiError on an error answer."""
        model = _model(service)
        protocol = model.metadata["protocol"]
        op = model.operation_model(operation)
        request = _serializer(protocol).serialize_to_request(params or {}, op)
        path = request["url_path"]
        query = _query(request["query_string"]) if request["query_string"] else ""
        if "?" in path:  # literal query members of the route (e.g. `?Qualifier`), as botocore keeps them
            path, _, literal = path.partition("?")
            query = "&".join(part for part in (literal, query) if part)
        body = request["body"]
        if isinstance(body, dict):  # the query protocol (STS, IAM): a form, as botocore sends it
            body = _query(body)
        body = body if isinstance(body, bytes) else (body or "").encode()
        status, headers, data = await self._send(request["method"], path, query, request["headers"], body, client,
                                                 credentials, model.signing_name or model.endpoint_prefix)
        if status < 300 and _body_is_result(service, operation):
            return json.loads(data) if data.strip() else {}
        # As botocore's endpoint does: a streaming output (Invoke's Payload) is read from a stream.
        body_or_stream = StreamingBody(io.BytesIO(data), len(data)) if op.has_streaming_output and status < 300 else data
        parsed = _parser(protocol).parse({"status_code": status, "headers": HeadersDict(headers), "body": body_or_stream},
                                         op.output_shape)
        if status >= 300:
            error = parsed.get("Error", {})
            raise ApiError(error.get("Code") or headers.get("x-amzn-errortype", "").split(":")[0] or str(status),
                           error.get("Message", ""), status)
        parsed.pop("ResponseMetadata", None)
        return parsed

    async def available(self, service: str, operation: str, params: dict | None = None,
                        client: tuple[str, int] | None = None, credentials: Keys | None = None) -> dict | None:
        """Like call, but None when this server does not implement the operation."""
        try:
            return await self.call(service, operation, params, client, credentials)
        except ApiError as error:
            if error.not_available:
                return None
            raise

    async def get(self, path: str, query: dict | None = None, client: tuple[str, int] | None = None,
                  credentials: Keys | None = None) -> Any:
        return await self.send("GET", path, None, query, client, credentials)

    async def send(self, method: str, path: str, document: Any = None, query: dict | None = None,
                   client: tuple[str, int] | None = None, credentials: Keys | None = None) -> Any:
        """A JSON request to one of lamina's own endpoints; its JSON answer, ApiError on error."""
        body = b"" if document is None else json.dumps(document).encode()
        headers = {"Content-Type": "application/json"} if document is not None else {}
        status, response_headers, data = await self._send(
            method, path, _query(query or {}), headers, body, client, credentials)
        answer = json.loads(data) if data.strip() else None
        if status >= 300:
            answer = answer if isinstance(answer, dict) else {}
            code = (response_headers.get("x-amzn-errortype", "").split(":")[0] or answer.get("__type")
                    or answer.get("Type") or str(status))
            raise ApiError(code.rsplit("#", 1)[-1], answer.get("message") or answer.get("Message", ""), status)
        return answer

    async def raw(self, method: str, path: str, client: tuple[str, int] | None = None,
                  credentials: Keys | None = None) -> bytes:
        """The body of a plain request (e.g. the code download Code.Location names); ApiError on error."""
        status, headers, data = await self._send(method, path, "", {}, b"", client, credentials)
        if status >= 300:
            raise ApiError(headers.get("x-amzn-errortype", str(status)).split(":")[0], data.decode("utf-8", "replace"),
                           status)
        return data

    async def _send(self, method: str, path: str, query: str, headers: dict, body: bytes,
                    client: tuple[str, int] | None, credentials: Keys | None = None,
                    service: str = "lambda") -> tuple[int, dict[str, str], bytes]:
        if credentials is not None:  # signed as the SDK signs: the pipeline verifies it like any request
            signed = AWSRequest(method=method, url=f"http://{self._host}{path}" + (f"?{query}" if query else ""),
                                data=body, headers={k: v for k, v in headers.items() if k.lower() != "host"})
            SigV4Auth(credentials, service, self._region).add_auth(signed)
            headers = dict(signed.headers.items())
        raw_headers = [(b"host", self._host.encode()), (b"content-length", str(len(body)).encode())]
        raw_headers += [(k.lower().encode(), str(v).encode()) for k, v in headers.items()
                        if k.lower() not in ("content-length", "host")]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": urllib.parse.unquote(path), "raw_path": path.encode(),
            "query_string": query.encode(), "root_path": "", "headers": raw_headers,
            "client": client or ("127.0.0.1", 0), "server": (self._host, 0),
        }
        sent = False
        status = 500
        response_headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def receive() -> dict:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for key, value in message.get("headers", []):
                    response_headers[key.decode().lower()] = value.decode()
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self._app()(scope, receive, send)
        return status, response_headers, b"".join(chunks)
