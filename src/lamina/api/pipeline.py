"""The request pipeline: the one place every request on the port passes before dispatch.

It reads a cheap `RequestView` of the ASGI scope (no Starlette objects, so the Invoke fast lane
keeps its speed), then the body within the route's cap (lamina.api.body): a declared size over the
cap is refused unread, a client gone mid-body is dropped without an answer. Then it resolves the
`Caller` with the `authenticate(view, body)` step it is handed (after the body: SigV4 signs the
payload's hash, so verification needs it; `anonymous_callers` when auth is off, lamina.api.signatures
with `--auth sigv4`) and stores view, caller and body in the scope for dispatch (`scope[VIEW]`,
`caller_of`, `scope[BODY]`; the body also once more through `receive`). A LambdaError a step raises
is answered in the protocol the request speaks: rest-json, JSON 1.1 (`X-Amz-Target`) or the query
protocol's XML (IAM/STS at `/`); any other exception is logged and answered as the internal error.
Function-URL requests (by Host or the /lambda-url/ path) are answered in the URL's error form.
`Pipeline` is both the ASGI app and the direct entry lamina.http_server uses for Invoke (`claim`
on the head, `answer` once the body is read): the same view, cap, `before_body` and identity
steps, then the `Direct` step (lamina.api.invoke.Direct), without an ASGI scope or messages.
Imports lamina.identity, lamina.errors, lamina.url_hosts and lamina.api (responses, body, query) only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

from lamina import url_hosts
from lamina.api import body, query, responses
from lamina.api.body import BODY
from lamina.errors import LambdaError, ServiceException
from lamina.identity import Caller, anonymous

log = logging.getLogger("lamina.api")

CALLER = "lamina.caller"
VIEW = "lamina.request"
CACHED_CALLERS = 4096  # anonymous callers kept per source IP, so the hot path builds none


class RequestView(NamedTuple):
    """What authentication and dispatch may read of a request before its body (a tuple: it is
    built for every request, Invoke's hot path included)."""

    method: str
    path: str
    query: bytes
    headers: Mapping[bytes, bytes]  # lower-case names, as ASGI gives them
    source_ip: str | None
    raw_path: bytes | None = None  # the path as sent, still percent-encoded (what SigV4 signs)


Authenticate = Callable[[RequestView, bytes], Caller]


def request_view(scope: dict) -> RequestView:
    client = scope.get("client")
    return RequestView(scope["method"], scope["path"], scope["query_string"], dict(scope["headers"]),
                       client[0] if client else None, scope.get("raw_path"))


def anonymous_callers(account_id: str) -> Authenticate:
    """The authentication step of an unsigned deployment: everyone is the account's default caller."""
    callers: dict[str | None, Caller] = {}

    def authenticate(view: RequestView, body: bytes = b"") -> Caller:
        caller = callers.get(view.source_ip)
        if caller is None:
            if len(callers) >= CACHED_CALLERS:
                callers.clear()
            caller = callers[view.source_ip] = anonymous(account_id, view.source_ip)
        return caller

    return authenticate


def speaks_json11(view: RequestView) -> bool:
    """Whether the request is a JSON 1.1 call (CloudWatch Logs, EventBridge: `POST /` with an X-Amz-Target)."""
    return view.path == "/" and b"x-amz-target" in view.headers


def speaks_query(view: RequestView) -> bool:
    """Whether the request is an IAM/STS query-protocol call (`POST /` or `GET /` without a target)."""
    return view.path == "/" and b"x-amz-target" not in view.headers and view.method in ("GET", "POST")


def is_function_url(view: RequestView) -> bool:
    """Whether the request is for a function URL (by its Host header or the /lambda-url/ path)."""
    return url_hosts.from_host(view.headers.get(b"host")) is not None or view.path.startswith(url_hosts.PATH_PREFIX)


def refusal(view: RequestView, error: LambdaError, data: bytes = b"") -> responses.RawResponse:
    """A pipeline step's error, written in the protocol the request speaks."""
    if is_function_url(view):
        return responses.function_url_error(error.status, error.code, error.message)
    if speaks_query(view):
        sts = b"Version=2011-06-15" in data or b"Version=2011-06-15" in view.query
        return query.error("sts" if sts else "iam", error)
    if speaks_json11(view):
        return responses.json11_error(error.code, error.message, error.status)
    return responses.rest_json_error(error)


class Direct(Protocol):
    """A dispatch step the pipeline may hand a request to without ASGI (lamina.api.invoke.Direct):
    `claim` says from the method and path whether it answers the request (a ticket, else None)."""

    def claim(self, method: str, path: str) -> Any: ...

    async def answer(self, ticket: Any, view: RequestView, caller: Caller, data: bytes) -> responses.RawResponse: ...

    def may_answer_now(self, ticket: Any, view: RequestView) -> bool: ...

    def answer_now(self, ticket: Any, view: RequestView, caller: Caller, data: bytes,
                   respond: Callable[[tuple[int, list[tuple[bytes, bytes]], bytes]], None]) -> bool: ...


class Claimed:
    """A request the direct entry claimed: the direct step's ticket, the request's view, and its
    caller once `Pipeline.answer_now` resolved it."""

    __slots__ = ("ticket", "view", "caller")

    def __init__(self, ticket: Any, view: RequestView) -> None:
        self.ticket = ticket
        self.view = view
        self.caller: Caller | None = None


def pipeline(authenticate: Authenticate, dispatch, before_body: Callable[[RequestView], None] | None = None,
             direct: Direct | None = None) -> Pipeline:
    """An ASGI app resolving each HTTP request's caller, then handing the request to `dispatch`.
    `before_body` may refuse a request before its body is read (with auth: one that carries no
    signature at all, so an anonymous client cannot make lamina read a 70 MB upload). `direct`
    answers the requests it claims the same way when lamina.http_server hands them over without
    ASGI (`Pipeline.claim`, `Pipeline.answer`); `dispatch` must route them to the same answer."""
    return Pipeline(authenticate, dispatch, before_body, direct)


class Pipeline:
    """The pipeline as an ASGI app, and its direct entry for lamina.http_server: a request `claim`
    accepts (one `direct` answers, with its whole body announced by Content-Length within the
    route's cap, and not refused by `before_body`) is answered by `answer` once its body is read,
    after the same identity step, and written by the server without an ASGI scope or messages.
    Any other request takes the ASGI path (which refuses what the direct entry declined)."""

    def __init__(self, authenticate: Authenticate, dispatch, before_body: Callable[[RequestView], None] | None,
                 direct: Direct | None) -> None:
        self._authenticate = authenticate
        self._dispatch = dispatch
        self._before_body = before_body
        self._direct = direct

    def claim(self, method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]],
              client: tuple[str, int] | None, raw_path: bytes) -> Claimed | None:
        """A ticket for `answer` when the request goes the direct way, else None (the ASGI path)."""
        direct = self._direct
        if direct is None:
            return None
        ticket = direct.claim(method, path)
        if ticket is None:
            return None
        view = RequestView(method, path, query, dict(headers), client[0] if client else None, raw_path)
        if is_function_url(view):
            return None
        size = body.declared_size(view.headers)
        if size is None or size > body.limit(method, path, view.headers).size:
            return None
        if self._before_body is not None:
            try:
                self._before_body(view)
            except Exception:  # refused (or failed): the ASGI path answers it
                return None
        return Claimed(ticket, view)

    async def answer(self, claimed: Claimed, data: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """(status, headers with content-length, body) of a claimed request whose body is `data`."""
        ticket, view, caller = claimed.ticket, claimed.view, claimed.caller
        try:
            if caller is None:  # (else `answer_now` resolved it, and then declined the request)
                caller = self._authenticate(view, data)
        except LambdaError as error:
            return refusal(view, error, data).wire()
        except Exception:
            log.exception("internal error resolving the caller of %s %s", view.method, view.path)
            return refusal(view, ServiceException(responses.INTERNAL_MESSAGE), data).wire()
        try:
            answer = await self._direct.answer(ticket, view, caller, data)  # type: ignore[union-attr]
        except Exception:
            log.exception("internal error on %s %s", view.method, view.path)
            answer = refusal(view, ServiceException(responses.INTERNAL_MESSAGE), data)
        return answer.wire()

    def answer_now(self, claimed: Claimed, data: bytes,
                   respond: Callable[[tuple[int, list[tuple[bytes, bytes]], bytes]], None]) -> bool:
        """`answer` without a coroutine, when the direct step can take the request at once after
        the same identity step (lamina.api.invoke.Direct.answer_now: a warm invoke): `respond`
        gets (status, headers with content-length, body) from the loop later. False, with nothing
        done, otherwise (a caller the step refuses included): `answer` takes the request then,
        with the caller resolved here (so a signature is verified once)."""
        ticket, view = claimed.ticket, claimed.view
        direct = self._direct
        if not direct.may_answer_now(ticket, view):  # type: ignore[union-attr]
            return False
        try:
            caller = claimed.caller = self._authenticate(view, data)
        except Exception:
            return False
        return direct.answer_now(ticket, view, caller, data, respond)  # type: ignore[union-attr]

    def abandoned(self, claimed: Claimed) -> None:
        """The client of a claimed request left before sending its whole body."""
        view = claimed.view
        log.warning("client left before sending the whole body of %s %s", view.method, view.path)

    async def __call__(self, scope, receive, send) -> None:
        dispatch = self._dispatch
        if scope["type"] != "http":
            return await dispatch(scope, receive, send)
        view = request_view(scope)
        cap = body.limit(view.method, view.path, view.headers)
        size = body.declared_size(view.headers)
        if size is not None and size > cap.size:  # refused unread
            return await refusal(view, cap.refusal()).send(send)
        if self._before_body is not None:
            try:
                self._before_body(view)
            except LambdaError as error:
                return await refusal(view, error).send(send)
        try:
            data = await body.read(receive, cap)
        except body.Disconnected:
            log.warning("client left before sending the whole body of %s %s", view.method, view.path)
            return None
        except LambdaError as error:
            return await refusal(view, error).send(send)
        try:
            caller = self._authenticate(view, data)
        except LambdaError as error:
            return await refusal(view, error, data).send(send)
        except Exception:
            log.exception("internal error resolving the caller of %s %s", view.method, view.path)
            return await refusal(view, ServiceException(responses.INTERNAL_MESSAGE), data).send(send)
        scope[VIEW] = view
        scope[CALLER] = caller
        scope[BODY] = data
        sent = {"start": False, "end": False}

        async def watched(message: dict) -> None:
            if message["type"] == "http.response.start":
                sent["start"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                sent["end"] = True
            await send(message)

        try:
            await dispatch(scope, body.replay(data, receive), watched)
        except Exception:
            # The app's error handler has answered a 500 and re-raised (Starlette does): the answer is
            # complete, so the connection stays usable (the server would drop it, and the client's next
            # request on it would fail with a reset). An error before any answer gets the 500 here.
            if sent["end"]:
                return None
            if sent["start"]:
                raise
            log.exception("internal error on %s %s", view.method, view.path)
            return await refusal(view, ServiceException(responses.INTERNAL_MESSAGE), data).send(send)


def caller_of(scope: dict) -> Caller:
    return scope[CALLER]
