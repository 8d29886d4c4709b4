"""The loopback HTTP listener that serves the Runtime, Extensions, Telemetry and Logs APIs: reads a
request (Content-Length or chunked; bodies over the response limit are read and dropped), asks
the Supervisor, writes its (status, headers, body). HTTP/1.1 with keep-alive; one thread per
connection, so a blocking `next` holds only its own connection.

Runs inside the sandbox; imports only the standard library and its rapid_* siblings.
"""

import http.server
import json
import socketserver

import rapid_api as api
import rapid_frames as frames

_LIMITED = frozenset({"response", "error"})
_OTHER_LIMIT = 1 << 20


def canonical(name):
    """A header name in its canonical form: each dash-separated word capitalised."""
    return "-".join(word.capitalize() for word in name.split("-"))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "lamina-rapid"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def _read_body(self, limit):
        """The body, or None when it is larger than `limit` (it is still read, then dropped)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunk = self.rfile.read(size)
                self.rfile.readline()
                total += size
                if total <= limit:
                    parts.append(chunk)
            return b"".join(parts) if total <= limit else None
        length = int(self.headers.get("Content-Length") or 0)
        if length <= limit:
            return self.rfile.read(length) if length else b""
        while length:
            length -= len(self.rfile.read(min(length, 1 << 20)) or b"x" * length)
        return None

    def _pieces(self):
        """The body as it arrives (chunked or Content-Length), in pieces of at most 1 MiB; the
        trailers of a chunked body end up in self.trailers (lower-case names)."""
        self.trailers = {}
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            length = int(self.headers.get("Content-Length") or 0)
            while length:
                data = self.rfile.read(min(length, frames.STREAM_PIECE))
                if not data:
                    return
                length -= len(data)
                yield data
            return
        while True:
            line = self.rfile.readline()
            if not line:
                return
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:
                    trailer = self.rfile.readline()
                    if trailer in (b"\r\n", b"\n", b""):
                        return
                    name, _, value = trailer.decode("latin-1").partition(":")
                    self.trailers[name.strip().lower()] = value.strip()
            while size:
                data = self.rfile.read(min(size, frames.STREAM_PIECE))
                if not data:
                    return
                size -= len(data)
                yield data
            self.rfile.readline()

    def _serve(self):
        endpoint, request_id = api.route(self.command, self.path)
        mode = self.headers.get("Lambda-Runtime-Function-Response-Mode")
        if endpoint == "response" and mode is not None:
            self._reply(*self.server.supervisor.runtime_stream(request_id, mode, self.headers, self._pieces(),
                                                               lambda: self.trailers))
            return
        body = self._read_body(frames.MAX_RESPONSE if endpoint in _LIMITED else _OTHER_LIMIT)
        supervisor = self.server.supervisor
        # HTTP header names are case-insensitive (hyper, Node send them in lower case): canonical
        # names (Go's form, `Lambda-Extension-Name`) are what the supervisor looks up
        headers = {canonical(key): self.headers.get(key) for key in self.headers}
        if endpoint is None:
            status, reply_headers, reply = 404, {"Content-Type": "application/json"}, json.dumps(
                {"errorMessage": f"Unknown endpoint {self.command} {self.path}", "errorType": "NotFound"}).encode()
        elif endpoint == "next":
            status, reply_headers, reply = supervisor.runtime_next()
        elif endpoint in _LIMITED:
            status, reply_headers, reply = supervisor.runtime_answer(endpoint, request_id, headers, body)
        elif endpoint == "init_error":
            status, reply_headers, reply = supervisor.runtime_init_error(headers, body)
        elif endpoint == "register":
            status, reply_headers, reply = supervisor.register(headers, body)
        elif endpoint == "event_next":
            status, reply_headers, reply = supervisor.event_next(headers)
        elif endpoint in ("extension_init_error", "extension_exit_error"):
            status, reply_headers, reply = supervisor.extension_error(endpoint, headers, body)
        elif endpoint in ("telemetry", "logs"):
            status, reply_headers, reply = supervisor.subscribe(endpoint, headers, body)
        else:  # ping
            status, reply_headers, reply = 200, {"Content-Type": "text/plain"}, b"pong"
        self._reply(status, reply_headers, reply)

    def _reply(self, status, reply_headers, reply):
        self.send_response(status)
        for key, value in reply_headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = do_PUT = _serve  # noqa: N815 - the base class's names


class Listener(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, supervisor, host="127.0.0.1", port=0):
        self.supervisor = supervisor
        super().__init__((host, port), _Handler)

    def server_bind(self):
        """HTTPServer's, without its socket.getfqdn(host): a reverse DNS lookup (and the idna
        codec's import) in an environment that has no resolver, on every cold start."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    @property
    def address(self):
        host, port = self.server_address[:2]
        return f"{host}:{port}"
