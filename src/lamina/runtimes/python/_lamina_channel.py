"""The runtime's end of the engine channel: its own copy of the frame codec (the runtime cannot
import lamina), and the streams that replace sys.stdout / sys.stderr so that what a function
prints travels on the same socket as its result, in order.

Frame: kind u8 | header_len u32 | payload_len u32 (big-endian) | JSON header | raw payload.
Runs inside the sandbox; imports only the standard library.
"""

import io
import json
import os
import struct
import threading

PREFIX = struct.Struct(">BII")

INVOKE = 1
READY = 2
INIT_ERROR = 3
RESULT = 4
ERROR = 5
STREAM = 6
RECORD = 7
CHUNK = 8  # a piece of a streamed response (rapid's Runtime API streaming mode)

_SMALL = 65536
_STREAM_CHUNK = 1 << 20

_scan = json.JSONDecoder().scan_once  # what json.loads runs, without the Python around it


def loads(data):
    """json.loads(data). A document that is UTF-8 without a BOM and without whitespace around it
    (every INVOKE header, nearly every event) goes straight to the C scanner: json.loads's wrapper
    (encoding detection, decode, two whitespace matches) was ~2 us of the ~2.3 us it took per call.
    Anything else, and every error, is json.loads itself: same values, same exceptions."""
    if type(data) is bytes or type(data) is str:
        try:
            text = data.decode() if type(data) is bytes else data
            if text[:1] not in _PLAIN_END and text[-1:] not in _PLAIN_END:
                value, end = _scan(text, 0)
                if end == len(text):
                    return value
        except (StopIteration, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            pass
    return json.loads(data)


_PLAIN_END = frozenset(("", " ", "\t", "\n", "\r", "\ufeff"))  # an empty text, whitespace, a BOM


class Channel:
    """Plain reads and writes on the inherited descriptor (the socket module is not needed, and
    importing it would add to every cold start)."""

    def __init__(self, fd):
        self.fd = fd
        os.set_inheritable(fd, False)  # the function's own child processes must not hold it
        self._rfile = open(fd, "rb", buffering=_SMALL, closefd=False)
        self._lock = threading.Lock()

    def _write(self, data):
        written = os.write(self.fd, data)  # all of it, as a rule: no view to make
        if written < len(data):
            view = memoryview(data)[written:]
            while view:
                view = view[os.write(self.fd, view):]

    def send(self, kind, header=None, payload=b""):
        if isinstance(header, bytes):
            head = header
        else:
            head = json.dumps(header, separators=(",", ":")).encode() if header else b""
        prefix = PREFIX.pack(kind, len(head), len(payload))
        with self._lock:
            if len(payload) < _SMALL:
                self._write(prefix + head + payload)
            else:
                self._write(prefix + head)
                self._write(payload)

    def stream(self, data):
        for start in range(0, len(data), _STREAM_CHUNK):
            self.send(STREAM, None, data[start:start + _STREAM_CHUNK])

    def receive(self):
        """(kind, header, payload) of the next frame, or None when the engine closed the channel."""
        prefix = self._rfile.read(PREFIX.size)
        if len(prefix) < PREFIX.size:
            return None
        kind, header_len, payload_len = PREFIX.unpack(prefix)
        head = self._rfile.read(header_len) if header_len else b""
        payload = self._rfile.read(payload_len) if payload_len else b""
        if len(head) < header_len or len(payload) < payload_len:
            return None
        return kind, (loads(head) if head else {}), payload


class _BinaryWriter(io.RawIOBase):
    """`sys.stdout.buffer`: bytes written go to the log as they are."""

    def __init__(self, channel):
        super().__init__()
        self._channel = channel

    def writable(self):
        return True

    def write(self, data):
        data = bytes(data)
        if data:
            self._channel.stream(data)
        return len(data)


class LogWriter(io.TextIOBase):
    """Replaces sys.stdout / sys.stderr. Output passes through unchanged; the engine turns lines
    into log events. fileno() still names the real fd (1 or 2), which the engine also captures."""

    encoding = "utf-8"
    errors = "backslashreplace"
    line_buffering = True

    def __init__(self, channel, fd):
        super().__init__()
        self._channel = channel
        self._fd = fd
        self.buffer = _BinaryWriter(channel)

    def writable(self):
        return True

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            self._channel.stream(text.encode("utf-8", "backslashreplace"))
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        return self._fd

    def close(self):
        pass


class LogSink:
    """Where log records and reported errors go: one frame, hence one log event, each."""

    def __init__(self, channel):
        self._channel = channel

    def log(self, message, frame_type=None):
        self._channel.send(RECORD, None, str(message).encode("utf-8", "backslashreplace"))

    def log_error(self, message_lines):
        self.log("\r".join(message_lines) + "\n")
