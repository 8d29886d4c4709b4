"""The HTTP server's direct lane: requests the lane claims skip the ASGI cycle and are answered in
one write as uvicorn would write them; every other request (and what the lane declines) still
reaches the ASGI app. uvicorn's real protocol and parser, over an in-memory transport."""

import asyncio

import uvicorn
from transport_fakes import Transport
from uvicorn.server import ServerState

from lamina.http_server import OneWriteProtocol

INVOKE = b"/2015-03-31/functions/f/invocations"


class Lane:
    """Claims POSTs to INVOKE; answers `{"got": <body>}`-like bytes."""

    def __init__(self) -> None:
        self.claims: list[tuple] = []
        self.answered: list[bytes] = []
        self.left: list = []

    def claim(self, method, path, query, headers, client, raw_path):
        self.claims.append((method, path, query, dict(headers), client, raw_path))
        return path if path == INVOKE.decode() else None

    async def answer(self, ticket, body):
        self.answered.append(body)
        return 200, [(b"x-amzn-requestid", b"r1"), (b"content-type", b"application/json"),
                     (b"content-length", str(len(body)).encode())], body

    def abandoned(self, ticket) -> None:
        self.left.append(ticket)

    def answer_now(self, ticket, body, respond) -> bool:
        return False


class NowLane(Lane):
    """Takes every claimed request at once (`answer_now`) and answers it a loop turn later, with
    the head rendered as `name: value` lines (`rendered`) or as pairs."""

    def __init__(self, rendered: bool = True) -> None:
        super().__init__()
        self.rendered = rendered
        self.taken: list[bytes] = []
        self.respond = None

    def answer_now(self, ticket, body, respond) -> bool:
        self.taken.append(body)
        self.respond = respond
        if self.rendered:
            head = b"x-amzn-requestid: r1\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % len(body)
        else:
            head = [(b"x-amzn-requestid", b"r1"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]
        asyncio.get_running_loop().call_soon(respond, (200, head, body))
        return True


async def asgi_app(scope, receive, send):
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"4")]})
    await send({"type": "http.response.body", "body": b"asgi"})


def serve(data: bytes, lane: Lane, *, close_after: bool = False, app=asgi_app,
          defaults: list[tuple[bytes, bytes]] | None = None) -> Transport:
    async def run() -> Transport:
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        state = ServerState()
        state.default_headers = [(b"server", b"test")] if defaults is None else defaults
        protocol_class = type("Direct", (OneWriteProtocol,), {"direct": lane})
        protocol = protocol_class(config=config, server_state=state, app_state={})
        transport = Transport()
        protocol.connection_made(transport)
        protocol.data_received(data)
        for _ in range(20):
            await asyncio.sleep(0)
        if close_after:
            protocol.connection_lost(None)
        if protocol.timeout_keep_alive_task is not None:
            protocol.timeout_keep_alive_task.cancel()
        return transport

    return asyncio.run(run())


def post(path: bytes, body: bytes, *extra: bytes) -> bytes:
    return (b"POST " + path + b" HTTP/1.1\r\nHost: h\r\nContent-Length: " + str(len(body)).encode() + b"\r\n"
            + b"".join(line + b"\r\n" for line in extra) + b"\r\n" + body)


def test_a_claimed_request_is_answered_by_the_lane_in_one_write():
    lane = Lane()
    transport = serve(post(INVOKE + b"?Qualifier=1", b'{"a":1}', b"X-Amz-Log-Type: Tail"), lane)
    assert lane.answered == [b'{"a":1}']
    method, path, query, headers, client, raw_path = lane.claims[0]
    assert (method, path, query, client, raw_path) == ("POST", INVOKE.decode(), b"Qualifier=1", ("127.0.0.1", 5000),
                                                       INVOKE)
    assert headers[b"x-amz-log-type"] == b"Tail"  # names lower-cased, as ASGI gives them
    assert transport.writes == [b"HTTP/1.1 200 OK\r\nserver: test\r\nx-amzn-requestid: r1\r\n"
                                b"content-type: application/json\r\ncontent-length: 7\r\n\r\n" + b'{"a":1}']
    assert not transport.closed


def test_requests_the_lane_declines_reach_the_asgi_app():
    lane = Lane()
    transport = serve(post(b"/2015-03-31/functions", b"{}"), lane)
    assert lane.answered == []
    assert transport.writes[0].endswith(b"asgi") and transport.writes[0].startswith(b"HTTP/1.1 201 ")


def test_proxy_headers_a_chunked_body_and_expect_continue_go_the_asgi_way():
    for extra in (b"X-Forwarded-For: 10.0.0.1", b"Expect: 100-continue"):
        lane = Lane()
        transport = serve(post(INVOKE, b"{}", extra), lane)
        assert lane.claims == [] and lane.answered == []
        assert transport.writes[-1].endswith(b"asgi")
    lane = Lane()
    chunked = b"POST " + INVOKE + b" HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    transport = serve(chunked, lane)
    assert lane.answered == [] and transport.writes[-1].endswith(b"asgi")


def test_connection_close_is_answered_with_it_and_the_connection_closes():
    lane = Lane()
    transport = serve(post(INVOKE, b"{}", b"Connection: close"), lane)
    assert b"\r\nconnection: close\r\n" in transport.writes[0]
    assert transport.closed


def test_a_request_pipelined_behind_a_claimed_one_waits_for_its_answer():
    lane = Lane()
    transport = serve(post(INVOKE, b"[1]") + post(INVOKE, b"[2]"), lane)
    assert lane.answered == [b"[1]"]
    # uvicorn queues the second until the first is answered, then runs it the ASGI way
    assert transport.writes[0].endswith(b"[1]") and transport.writes[1].endswith(b"asgi")
    assert len(transport.writes) == 2


def test_a_client_leaving_mid_body_is_reported_and_gets_no_answer():
    lane = Lane()
    transport = serve(post(INVOKE, b'{"a":1}')[:-3], lane, close_after=True)
    assert lane.answered == [] and transport.writes == []
    assert lane.left == [INVOKE.decode()]


def test_a_declined_request_gets_uvicorns_whole_scope():
    # the scope is built once the lane declines (a claimed request needs none)
    scopes = []

    async def app(scope, receive, send):
        scopes.append(scope)
        await asgi_app(scope, receive, send)

    serve(post(b"/2015-03-31/functions?x=1", b"{}", b"X-Test: 1") + post(INVOKE, b"{}")
          + post(b"/2015-03-31/functions", b"[]"), Lane(), app=app)
    assert len(scopes) == 3  # the two behind the first are pipelined: uvicorn runs them the ASGI way
    scope = scopes[0]
    assert (scope["type"], scope["method"], scope["path"], scope["query_string"], scope["http_version"]) == (
        "http", "POST", "/2015-03-31/functions", b"x=1", "1.1")
    assert (b"x-test", b"1") in scope["headers"] and scope["client"] == ("127.0.0.1", 5000)
    assert scope["asgi"]["version"] == "3.0" and scope["state"] == {}
    assert scopes[1]["path"] == INVOKE.decode() and scopes[2]["path"] == "/2015-03-31/functions"
    assert (b"x-test", b"1") not in scopes[2]["headers"] and scopes[2]["query_string"] == b""


def test_default_headers_are_written_and_checked_as_uvicorn_does():
    transport = serve(post(INVOKE, b"{}"), Lane(), defaults=[(b"Server", b"test"), (b"X-Site", b"a")])
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\nserver: test\r\nx-site: a\r\nx-amzn-requestid: r1")
    # a default asking to close closes the connection (written once)
    transport = serve(post(INVOKE, b"{}"), Lane(), defaults=[(b"Connection", b"Close")])
    assert transport.writes[0].count(b"onnection:") == 1 and transport.closed
    # a default uvicorn would refuse drops the connection unanswered
    transport = serve(post(INVOKE, b"{}"), Lane(), defaults=[(b"x-bad", b"a\r\nb")])
    assert transport.writes == [] and transport.closed


def test_the_keep_alive_timer_closes_only_a_connection_idle_for_the_whole_timeout():
    async def run() -> None:
        config = uvicorn.Config(asgi_app, log_level="warning", lifespan="off", timeout_keep_alive=5)
        state = ServerState()
        protocol = type("Direct", (OneWriteProtocol,), {"direct": Lane()})(config=config, server_state=state,
                                                                             app_state={})
        transport = Transport()
        protocol.connection_made(transport)
        protocol.data_received(post(INVOKE, b"{}"))
        for _ in range(5):
            await asyncio.sleep(0)
        armed = protocol.timeout_keep_alive_task
        assert transport.writes and armed is not None
        protocol.data_received(post(INVOKE, b"{}"))  # the next request keeps the armed timer
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(transport.writes) == 2 and protocol.timeout_keep_alive_task is armed
        armed.cancel()
        protocol._keep_alive_due()  # due while idle for less than the timeout: waits for the rest
        assert not transport.closed and protocol.timeout_keep_alive_task is not None
        protocol.timeout_keep_alive_task.cancel()
        protocol._idle_since -= 5
        protocol._keep_alive_due()
        assert transport.closed and protocol.timeout_keep_alive_task is None
        protocol._idle_since = None  # a request under way: nothing to close, nothing armed
        transport.closed = False
        protocol._keep_alive_due()
        assert not transport.closed and protocol.timeout_keep_alive_task is None

    asyncio.run(run())


def test_a_request_the_lane_takes_at_once_is_answered_later_in_one_write():
    lane = NowLane()
    transport = serve(post(INVOKE, b'{"a":1}'), lane)
    assert lane.taken == [b'{"a":1}'] and lane.answered == []  # no coroutine answered it
    assert transport.writes == [b"HTTP/1.1 200 OK\r\nserver: test\r\nx-amzn-requestid: r1\r\n"
                                b"content-type: application/json\r\ncontent-length: 7\r\n\r\n" + b'{"a":1}']
    assert not transport.closed


def test_a_rendered_head_goes_out_as_the_same_head_as_pairs_would():
    cases = [(b"", None), (b"Connection: close", None), (b"", [(b"Connection", b"Close")]),
             (b"", [(b"Server", b"test"), (b"X-Site", b"a")])]
    for extra, defaults in cases:
        rendered = serve(post(INVOKE, b"[1]", *([extra] if extra else [])), NowLane(), defaults=defaults)
        pairs = serve(post(INVOKE, b"[1]", *([extra] if extra else [])), NowLane(rendered=False), defaults=defaults)
        assert rendered.writes == pairs.writes and rendered.closed == pairs.closed
        assert len(rendered.writes) == 1


def test_a_rendered_head_with_a_default_uvicorn_refuses_drops_the_connection():
    transport = serve(post(INVOKE, b"{}"), NowLane(), defaults=[(b"x-bad", b"a\r\nb")])
    assert transport.writes == [] and transport.closed


def test_a_large_body_after_a_rendered_head_goes_out_whole():
    body = b"[" + b"1," * 40000 + b"1]"  # past the size that is joined to the head (written beside it)
    transport = serve(post(INVOKE, body), NowLane())
    assert transport.writes == [b"HTTP/1.1 200 OK\r\nserver: test\r\nx-amzn-requestid: r1\r\n"
                                b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body) + body]


def test_a_client_gone_before_the_answer_now_gets_nothing():
    async def run() -> Transport:
        config = uvicorn.Config(asgi_app, log_level="warning", lifespan="off")
        lane = NowLane()
        lane.answer_now = lambda ticket, body, respond: setattr(lane, "respond", respond) or True  # answered later
        protocol = type("Direct", (OneWriteProtocol,), {"direct": lane})(config=config, server_state=ServerState(),
                                                                          app_state={})
        transport = Transport()
        protocol.connection_made(transport)
        protocol.data_received(post(INVOKE, b"{}"))
        protocol.connection_lost(None)
        lane.respond((200, b"content-length: 2\r\n", b"{}"))
        assert lane.left == []  # the whole body was read: not abandoned, just gone
        return transport

    assert asyncio.run(run()).writes == []
