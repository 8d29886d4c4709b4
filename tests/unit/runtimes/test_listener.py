"""The managed Python runtime's AWS_LAMBDA_RUNTIME_API listener (runtimes/python/_lamina_listener.py)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src" / "lamina" / "runtimes" / "python"))

import _lamina_listener as listener  # noqa: E402


def test_ping_answers_pong_and_anything_else_rapids_not_found():
    assert listener.answer(b"GET /2018-06-01/ping HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200 OK\r\n")
    assert listener.answer(b"GET /2018-06-01/ping HTTP/1.1\r\n\r\n").endswith(b"\r\n\r\npong")
    other = listener.answer(b"POST /2020-01-01/extension/register HTTP/1.1\r\n\r\n")
    head, body = other.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 404 Not Found") and b"Content-Length: %d" % len(body) in head
    assert json.loads(body) == {"errorMessage": "Unknown endpoint POST /2020-01-01/extension/register",
                                "errorType": "NotFound"}


def test_it_listens_on_a_loopback_port_and_answers_http_clients():
    address = listener.start()
    assert address.startswith("127.0.0.1:") and int(address.split(":")[1]) > 0
    with urllib.request.urlopen(f"http://{address}/2018-06-01/ping", timeout=5) as response:
        assert (response.status, response.read()) == (200, b"pong")
    try:
        urllib.request.urlopen(f"http://{address}/2018-06-01/runtime/invocation/next", timeout=5)
        raise AssertionError("expected a 404")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404 and json.loads(exc.read())["errorType"] == "NotFound"


def test_start_does_not_wait_for_its_thread_and_an_early_caller_waits_in_the_backlog(monkeypatch):
    import threading

    deferred = []
    monkeypatch.setattr(listener._thread, "start_new_thread", lambda *call: deferred.append(call))
    address = listener.start()  # returns although the accepting thread has not run (nor even started)
    assert len(deferred) == 1
    answers = []
    caller = threading.Thread(target=lambda: answers.append(
        urllib.request.urlopen(f"http://{address}/2018-06-01/ping", timeout=5).read()))
    caller.start()
    caller.join(0.2)
    assert caller.is_alive() and not answers  # connected, waiting to be accepted
    function, args = deferred[0]
    threading.Thread(target=function, args=args, daemon=True).start()
    caller.join(5)
    assert answers == [b"pong"]
