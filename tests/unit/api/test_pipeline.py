"""lamina.api.pipeline: every HTTP request gets a view and a caller before dispatch."""

from __future__ import annotations

import asyncio
import json

from lamina.api.body import BODY
from lamina.api.pipeline import VIEW, anonymous_callers, caller_of, pipeline, request_view, speaks_json11
from lamina.errors import ResourceConflictException
from lamina.identity import Caller


def scope(path="/2015-03-31/functions/f/invocations", method="POST", headers=(), client=("10.1.2.3", 5000)):
    return {"type": "http", "method": method, "path": path, "query_string": b"Qualifier=1",
            "headers": list(headers), "client": client}


def run(app, request_scope):
    messages = []

    async def send(message):
        messages.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    asyncio.run(app(request_scope, receive, send))
    return messages


def test_the_view_reads_the_scope_without_the_body():
    view = request_view(scope(headers=[(b"x-amz-log-type", b"Tail")]))
    assert (view.method, view.path, view.query, view.source_ip) == (
        "POST", "/2015-03-31/functions/f/invocations", b"Qualifier=1", "10.1.2.3")
    assert view.headers[b"x-amz-log-type"] == b"Tail"
    assert request_view(scope(client=None)).source_ip is None


def test_anonymous_callers_are_the_accounts_root():
    authenticate = anonymous_callers("123456789012")
    caller = authenticate(request_view(scope()), b"")
    assert caller == Caller(account_id="123456789012", principal_arn="arn:aws:iam::123456789012:root",
                            access_key_id=None, source_ip="10.1.2.3", authenticated=False)
    assert authenticate(request_view(scope()), b"") is caller  # kept, not rebuilt per request
    assert authenticate(request_view(scope(client=("10.9.9.9", 1))), b"").source_ip == "10.9.9.9"


def test_dispatch_sees_the_view_and_the_caller():
    seen = []
    caller = Caller("000000000000", "arn:aws:iam::000000000000:user/u", access_key_id="AKID", authenticated=True)

    async def dispatch(request_scope, receive, send):
        seen.append((request_scope[VIEW].path, caller_of(request_scope)))

    run(pipeline(lambda view, body: caller, dispatch), scope())
    assert seen == [("/2015-03-31/functions/f/invocations", caller)]


def test_non_http_scopes_pass_straight_through():
    seen = []

    async def dispatch(request_scope, receive, send):
        seen.append(request_scope)

    def refuse(view, body):
        raise AssertionError("lifespan is not a request")

    run(pipeline(refuse, dispatch), {"type": "lifespan"})
    assert seen == [{"type": "lifespan"}]


def refuse(view, body=b""):
    raise ResourceConflictException("no")


async def never(request_scope, receive, send):
    raise AssertionError("a refused request must not be dispatched")


def test_a_refusal_is_answered_in_rest_json_for_lambda_paths():
    start, body = run(pipeline(refuse, never), scope())
    headers = dict(start["headers"])
    assert (start["status"], headers[b"x-amzn-errortype"]) == (409, b"ResourceConflictException")
    assert json.loads(body["body"]) == {"Type": "User", "message": "no"}


def test_a_refusal_is_answered_in_json11_for_logs_calls():
    logs = scope(path="/", headers=[(b"x-amz-target", b"Logs_20140328.DescribeLogGroups")])
    assert speaks_json11(request_view(logs)) and not speaks_json11(request_view(scope(path="/")))
    start, body = run(pipeline(refuse, never), logs)
    assert start["status"] == 409
    assert dict(start["headers"])[b"content-type"] == b"application/x-amz-json-1.1"
    assert json.loads(body["body"]) == {"__type": "ResourceConflictException", "message": "no"}


def test_a_failing_step_is_logged_and_answered_as_the_internal_error(caplog):
    def broken(view, body):
        raise RuntimeError("bug")

    start, body = run(pipeline(broken, never), scope())
    assert (start["status"], dict(start["headers"])[b"x-amzn-errortype"]) == (500, b"ServiceException")
    assert json.loads(body["body"]) == {"Type": "Service",
                                        "Message": "An internal error occurred in lamina; see its log."}
    assert "bug" in caplog.text


def test_dispatch_gets_the_body_in_the_scope_and_through_receive():
    seen = []

    async def dispatch(request_scope, receive, send):
        seen.append((request_scope[BODY], (await receive())["body"]))

    async def chunked():
        return chunks.pop(0)

    chunks = [{"type": "http.request", "body": b"{}", "more_body": True},
              {"type": "http.request", "body": b" ", "more_body": False}]
    asyncio.run(pipeline(lambda view, body: None, dispatch)(scope(), chunked, lambda message: None))
    assert seen == [(b"{} ", b"{} ")]


def test_an_oversized_content_length_is_refused_unread():
    async def unread():
        raise AssertionError("the body must not be read")

    messages = []

    async def send(message):
        messages.append(message)

    big = scope(headers=[(b"content-length", b"6291457")])
    asyncio.run(pipeline(lambda view, body: None, never)(big, unread, send))
    start, body = messages
    assert (start["status"], dict(start["headers"])[b"x-amzn-errortype"]) == (413, b"RequestEntityTooLargeException")
    assert json.loads(body["body"]) == {
        "Type": "User", "Message": "Request must be smaller than 6291456 bytes for the InvokeFunction operation"}


def test_a_client_leaving_mid_body_gets_no_answer_and_no_dispatch(caplog):
    messages = []

    async def send(message):
        messages.append(message)

    parts = [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]

    async def receive():
        return parts.pop(0)

    asyncio.run(pipeline(lambda view, body: None, never)(scope(), receive, send))
    assert messages == []
    assert "Traceback" not in caplog.text and "client left" in caplog.text


def test_a_before_body_step_refuses_unread():
    async def unread():
        raise AssertionError("the body must not be read")

    messages = []

    async def send(message):
        messages.append(message)

    asyncio.run(pipeline(lambda view, body: None, never, refuse)(scope(), unread, send))
    assert messages[0]["status"] == 409


def test_an_app_error_after_a_complete_answer_keeps_the_connection_and_one_before_gets_the_500(caplog):
    async def answered_then_raised(scope, receive, send):  # what Starlette's error handler does
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        raise RuntimeError("the database is unreachable")

    messages = run(pipeline(lambda view, body: None, answered_then_raised), scope())  # nothing re-raised
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]

    async def raised(scope, receive, send):
        raise RuntimeError("bug before answering")

    start, body = run(pipeline(lambda view, body: None, raised), scope())
    assert (start["status"], dict(start["headers"])[b"x-amzn-errortype"]) == (500, b"ServiceException")
    assert "bug before answering" in caplog.text


class NowDirect:
    """A direct step that takes RequestResponse requests at once when `takes` says so."""

    def __init__(self, takes: bool) -> None:
        self.takes = takes
        self.callers: list = []

    @staticmethod
    def claim(method, path):
        return "f" if path.endswith("/invocations") else None

    def may_answer_now(self, ticket, view) -> bool:
        return view.headers.get(b"x-amz-invocation-type", b"RequestResponse") == b"RequestResponse"

    def answer_now(self, ticket, view, caller, data, respond) -> bool:
        self.callers.append(("now", caller))
        return self.takes

    async def answer(self, ticket, view, caller, data):
        from lamina.api.responses import RawResponse

        self.callers.append(("answer", caller))
        return RawResponse(200, [], b"{}")


def claimed_of(entry, invocation_type: bytes = b"RequestResponse"):
    headers = [(b"content-length", b"2"), (b"x-amz-invocation-type", invocation_type)]
    return entry.claim("POST", "/2015-03-31/functions/f/invocations", b"", headers, ("10.1.2.3", 5), b"")


def test_a_request_the_direct_step_takes_at_once_is_authenticated_once():
    resolved = []
    caller = Caller("000000000000", "arn:aws:iam::000000000000:root")

    def authenticate(view, body):
        resolved.append(body)
        return caller

    async def dispatch(request_scope, receive, send):  # pragma: no cover - the direct entry answers
        raise AssertionError

    # taken at once: one identity step
    direct = NowDirect(takes=True)
    entry = pipeline(authenticate, dispatch, direct=direct)
    assert entry.answer_now(claimed_of(entry), b"{}", lambda answer: None)
    assert resolved == [b"{}"] and direct.callers == [("now", caller)]
    # declined after the identity step: `answer` reuses that caller instead of verifying again
    resolved.clear()
    direct = NowDirect(takes=False)
    entry = pipeline(authenticate, dispatch, direct=direct)
    claimed = claimed_of(entry)
    assert not entry.answer_now(claimed, b"{}", lambda answer: None)
    assert asyncio.run(entry.answer(claimed, b"{}"))[0] == 200
    assert resolved == [b"{}"] and direct.callers == [("now", caller), ("answer", caller)]
    # one the step would never take (Event): no identity step until `answer`
    resolved.clear()
    direct = NowDirect(takes=True)
    entry = pipeline(authenticate, dispatch, direct=direct)
    claimed = claimed_of(entry, b"Event")
    assert not entry.answer_now(claimed, b"{}", lambda answer: None) and resolved == [] and direct.callers == []
    asyncio.run(entry.answer(claimed, b"{}"))
    assert resolved == [b"{}"] and direct.callers == [("answer", caller)]
