"""rapid's end of the engine channel: its own copy of the frame codec (it cannot import lamina).

Frame: kind u8 | header_len u32 | payload_len u32 (big-endian) | JSON header | raw payload.
Runs inside the sandbox; imports only the standard library.
"""

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

MAX_RESPONSE = 6_291_556  # the engine skips larger payloads and reports Function.ResponseSizeTooLarge
_CHUNK = 1 << 20


class Channel:
    def __init__(self, fd):
        self.fd = fd
        os.set_inheritable(fd, False)  # the runtime and extensions must not hold it
        self._rfile = open(fd, "rb", buffering=65536, closefd=False)  # noqa: SIM115 - lives as long as rapid
        self._lock = threading.Lock()

    def _write(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def send(self, kind, header=None, payload=b""):
        head = json.dumps(header, separators=(",", ":")).encode() if header else b""
        with self._lock:
            self._write(PREFIX.pack(kind, len(head), len(payload)) + head)
            if payload:
                self._write(payload)

    def send_oversized(self, kind, header):
        """A frame one byte over the limit: the engine skips it and reports the response as too large."""
        head = json.dumps(header, separators=(",", ":")).encode() if header else b""
        size = MAX_RESPONSE + 1
        with self._lock:
            self._write(PREFIX.pack(kind, len(head), size) + head)
            block = bytes(_CHUNK)
            while size:
                step = min(size, _CHUNK)
                self._write(block[:step])
                size -= step

    def stream(self, data):
        for start in range(0, len(data), _CHUNK):
            self.send(STREAM, None, data[start:start + _CHUNK])

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
        return kind, (json.loads(head) if head else {}), payload
