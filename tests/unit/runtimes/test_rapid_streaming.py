"""rapid's Runtime API streaming mode: a chunked POST with Lambda-Runtime-Function-Response-Mode:
streaming becomes CHUNK frames as it is read, and ends as RESULT (streamed) or, with error trailers,
as ERROR; an unknown mode is refused with InvalidFunctionResponseMode."""

from __future__ import annotations

import base64
import json
import socket
import threading

from rapid_fakes import RAPID, Channel

assert RAPID.is_dir()  # rapid's modules import from here on (rapid_fakes put its directory on sys.path)

import rapid_api  # noqa: E402
import rapid_frames as frames  # noqa: E402
import rapid_http  # noqa: E402
import rapid_supervisor  # noqa: E402


class Output:
    def drain(self):
        pass


def supervisor() -> rapid_supervisor.Supervisor:
    made = object.__new__(rapid_supervisor.Supervisor)
    made.channel = Channel()
    made.cv = threading.Condition()
    made.state = rapid_api.RuntimeState()
    made.state.next()
    made.state.deliver("rid")
    made.function_output = Output()
    made.invoke = None
    made.runtime = None
    made.launched = {}
    return made


def post(listener, head: bytes, body: bytes) -> tuple[int, dict]:
    host, port = listener.address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            data += sock.recv(65536)
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1])


def serve(made):
    listener = rapid_http.Listener(made)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    return listener


HEAD = (b"POST /2018-06-01/runtime/invocation/rid/response HTTP/1.1\r\nHost: x\r\n"
        b"Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: text/plain\r\n\r\n")


def test_a_streamed_response_becomes_chunk_frames_then_result():
    made = supervisor()
    listener = serve(made)
    try:
        status, body = post(listener, HEAD, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    finally:
        listener.shutdown()
    assert (status, body) == (202, {"status": "OK"})
    kinds = [(kind, header, payload) for kind, header, payload in made.channel.sent]
    assert kinds[0] == (frames.CHUNK, {"ct": "text/plain"}, b"")
    assert b"".join(payload for kind, _, payload in kinds if kind == frames.CHUNK) == b"hello world"
    assert kinds[-1][0] == frames.RESULT and kinds[-1][1]["streamed"] == 1


def test_error_trailers_end_the_stream_with_an_error():
    made = supervisor()
    listener = serve(made)
    error = json.dumps({"errorMessage": "broke", "errorType": "Custom.Error"}).encode()
    try:
        status, _ = post(listener, HEAD, b"2\r\nhi\r\n0\r\nLambda-Runtime-Function-Error-Type: Custom.Error\r\n"
                         b"Lambda-Runtime-Function-Error-Body: " + base64.b64encode(error) + b"\r\n\r\n")
    finally:
        listener.shutdown()
    assert status == 202
    kind, header, payload = made.channel.sent[-1]
    assert (kind, header["type"], payload) == (frames.ERROR, "Custom.Error", error)


def test_an_unknown_mode_is_refused_and_the_invoke_still_open():
    made = supervisor()
    listener = serve(made)
    try:
        status, body = post(listener, HEAD.replace(b"streaming", b"sometimes"), b"0\r\n\r\n")
    finally:
        listener.shutdown()
    assert status == 400 and body["errorType"] == "InvalidFunctionResponseMode"
    assert made.channel.sent == [] and made.state.state == "Running"
