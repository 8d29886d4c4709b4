"""Invoke's direct lane (lamina.http_server hands Invoke requests to the pipeline without ASGI)
answers exactly as the ASGI path does, on a real server: the same status, headers and body for
results, function errors, log tails, Event, DryRun and every error; keep-alive, pipelining,
Connection: close and a client leaving mid-body behave as before. A request carrying
X-Forwarded-For takes the ASGI path (uvicorn's proxy-headers middleware reads it), which makes the
two comparable side by side."""

from __future__ import annotations

import base64
import re
import socket
import time

import pytest

from support import ROLE, make_zip, read_response

INVOKE = "/2015-03-31/functions/{name}/invocations"
ASGI = b"X-Forwarded-For: 127.0.0.1\r\n"
CODE = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("no")
    print("hello", context.aws_request_id)
    return event
"""
REQUEST_ID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def echo(lam):
    lam.create_function(FunctionName="direct-echo", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": CODE})})
    lam.get_waiter("function_active_v2").wait(FunctionName="direct-echo")
    return "direct-echo"


def request(path: str, body: bytes, extra: bytes = b"") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n".encode() + extra
            + b"\r\n" + body)


def exchange(lamina, data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
    with socket.create_connection(("127.0.0.1", lamina.port), timeout=60) as sock:
        sock.sendall(data)
        status, headers, body, _ = read_response(sock)
        return status, headers, body


def comparable(answer: tuple[bytes, list[tuple[bytes, bytes]], bytes]) -> tuple:
    """An answer without what differs between any two requests: the date, request ids (also in the
    log tail) and durations."""
    status, headers, body = answer
    kept = []
    for name, value in headers:
        if name == b"date":
            continue
        if name == b"x-amz-log-result":
            value = base64.b64decode(value)
            value = re.sub(rb"[0-9.]+ ms", b"D ms", re.sub(rb"[0-9]+ MB", b"M MB", value))
        kept.append((name, REQUEST_ID.sub(b"ID", value)))
    return status, kept, REQUEST_ID.sub(b"ID", body)


@pytest.mark.parametrize(("path", "body", "extra"), [
    ("direct-echo", b'{"a": [1, 2]}', b""),
    ("direct-echo", b"", b""),
    ("direct-echo", b'{"fail": true}', b""),
    ("direct-echo", b'{"a": 1}', b"X-Amz-Log-Type: Tail\r\n"),
    ("direct-echo", b"{}", b"X-Amz-Invocation-Type: Event\r\n"),
    ("direct-echo", b"{}", b"X-Amz-Invocation-Type: DryRun\r\n"),
    ("direct-echo?Qualifier=%24LATEST", b"{}", b""),
    ("direct-echo?Qualifier=nope", b"{}", b""),
    ("arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Adirect-echo", b"{}", b""),
    ("missing", b"{}", b""),
    ("direct-echo", b"{nope", b""),
    ("direct-echo", b"{}", b"X-Amz-Invocation-Type: Sometimes\r\n"),
    ("direct-echo", b"{}", b"X-Amz-Client-Context: !!\r\n"),
])
def test_the_direct_lane_answers_as_the_asgi_path(lamina, echo, path, body, extra):
    target = INVOKE.format(name=path)
    direct = exchange(lamina, request(target, body, extra))
    asgi = exchange(lamina, request(target, body, extra + ASGI))
    assert comparable(direct) == comparable(asgi)
    names = [name for name, _ in direct[1]]
    assert names[:2] == [b"date", b"server"] and b"x-amzn-requestid" in names


def test_keep_alive_pipelining_and_connection_close(lamina, echo):
    target = INVOKE.format(name=echo)
    with socket.create_connection(("127.0.0.1", lamina.port), timeout=60) as sock:
        sock.sendall(request(target, b'{"n": 1}') + request(target, b'{"n": 2}'))  # pipelined
        first, _, body1, pending = read_response(sock)
        second, _, body2, pending = read_response(sock, pending)
        assert (first, body1, second, body2) == (b"HTTP/1.1 200 OK", b'{"n": 1}', b"HTTP/1.1 200 OK", b'{"n": 2}')
        sock.sendall(request(target, b'{"n": 3}', b"Connection: close\r\n"))
        status, headers, body, pending = read_response(sock, pending)
        assert (status, body) == (b"HTTP/1.1 200 OK", b'{"n": 3}')
        assert (b"connection", b"close") in headers
        assert sock.recv(1) == b""  # the server closed it


def test_a_client_leaving_mid_invoke_body_is_logged_not_an_error(lamina, echo):
    before = lamina.output.read_text(errors="replace").count("client left before sending the whole body")
    head = request(INVOKE.format(name=echo), b'{"a": "' + b"x" * 100 + b'"}')
    with socket.create_connection(("127.0.0.1", lamina.port), timeout=10) as sock:
        sock.sendall(head[:-20])
    deadline = time.monotonic() + 30
    while lamina.output.read_text(errors="replace").count("client left before sending the whole body") <= before:
        assert time.monotonic() < deadline, "the server never noticed the client leaving"
        time.sleep(0.05)
    assert exchange(lamina, request(INVOKE.format(name=echo), b"{}"))[0] == b"HTTP/1.1 200 OK"
    assert "Traceback" not in lamina.output.read_text(errors="replace")
