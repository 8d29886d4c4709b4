"""The Runtime API address of a managed Python environment (AWS_LAMBDA_RUNTIME_API).

AWS sets AWS_LAMBDA_RUNTIME_API for every runtime, and wrappers, extensions and tools read it and
call it. lamina's Python runtime receives its events on the engine's channel, not over HTTP, so
this listener serves what such a caller can use: `GET /2018-06-01/ping` answers 200 `pong`, as
rapid does; any other request answers 404 with rapid's NotFound body. One daemon thread and one
loopback socket on an ephemeral port; nothing is imported beyond what the runtime already has
in memory (the zygote preloaded it), so a cold start pays a bind and a thread start. The thread
is started without waiting for it to run (threading.Thread.start waits, which on a busy host
held the runtime's start up by a scheduler round trip, 0.2-3 ms): the socket listens before
the thread starts, so a caller that comes first waits in the backlog.

Runs inside the sandbox; stdlib only, imports nothing from lamina.
"""

import _thread
import json
import socket

PING = b"GET /2018-06-01/ping "
_MAX_HEAD = 65536


def _reply(status, reason, content_type, body):
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


def answer(head):
    """The whole HTTP response to a request whose head (up to the blank line) is `head`."""
    if head.startswith(PING):
        return _reply(200, "OK", "text/plain", b"pong")
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    method, _, rest = request_line.partition(" ")
    path = rest.rsplit(" ", 1)[0] if " " in rest else rest
    body = json.dumps({"errorMessage": f"Unknown endpoint {method} {path}", "errorType": "NotFound"}).encode()
    return _reply(404, "Not Found", "application/json", body)


def _serve_one(connection):
    with connection:
        connection.settimeout(5)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < _MAX_HEAD:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                head += chunk
            connection.sendall(answer(head))
        except OSError:
            pass


def _accept_forever(server):
    while True:
        try:
            connection, _ = server.accept()
        except OSError:
            return
        _serve_one(connection)


def start(host="127.0.0.1"):
    """Listen on an ephemeral loopback port; returns the address ("127.0.0.1:PORT")."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((host, 0))
    server.listen(16)
    _thread.start_new_thread(_accept_forever, (server,))  # dies with the process, as a daemon thread
    address, port = server.getsockname()[:2]
    return f"{address}:{port}"
