"""The frame protocol between the engine and a managed runtime over a socketpair.

One frame = a 9-byte prefix, then a JSON header, then a raw payload:

    +-----------+------------------+-------------------+-----------------+----------------+
    | kind: u8  | header_len: u32  | payload_len: u32  | header (JSON)   | payload (raw)  |
    +-----------+------------------+-------------------+-----------------+----------------+

integers are big-endian; header_len 0 means an empty header ({}). Payload bytes (events,
results) are never re-encoded by the engine. The runtime (`lamina/runtimes/python`) keeps its own
copy of this codec because it cannot import lamina. Owns the codec, the incremental decoder and
the asyncio protocol that feeds decoded frames to a `FrameSink`. Imports nothing from lamina.
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
from typing import Protocol

PREFIX = struct.Struct(">BII")

# engine → runtime
INVOKE = 1  # header: id, arn, deadline (epoch ms), trace, cc?, ci?; payload: the event
# runtime → engine
READY = 2  # init finished; header: rss (peak RSS, KiB)
INIT_ERROR = 3  # init failed; header: type, rss, platform? (a message the engine words with the request id); payload: the error body (JSON)
RESULT = 4  # header: ct (content type), rss; payload: the response bytes
ERROR = 5  # the handler failed; header: type, rss; payload: the error body (JSON)
STREAM = 6  # stdout/stderr bytes; split into log lines by the engine
RECORD = 7  # one log event (a logging record or an error report); UTF-8 text
CHUNK = 8  # a piece of a streamed response, as the runtime produced it; header: ct (first chunk only)
# A streamed response then ends with RESULT (header streamed: 1, empty payload) or ERROR.

MAX_RESPONSE = 6_291_556  # larger RESULT/ERROR payloads are skipped, not buffered
STREAM_LIMIT = 200 * 1024 * 1024  # a streamed response's maximum (reference 2.10: 200 MB)
MAX_HEADER = 1 << 20
READ_BUFFER = 1 << 16


class ProtocolError(Exception):
    """The peer sent something that is not a frame of this protocol."""


def encode_head(kind: int, header: dict | bytes | None, payload_len: int) -> bytes:
    """The prefix and header (a dict, or JSON already encoded) of a frame whose payload (of
    `payload_len` bytes) follows."""
    if isinstance(header, bytes):
        head = header
    else:
        head = json.dumps(header, separators=(",", ":")).encode() if header else b""
    return PREFIX.pack(kind, len(head), payload_len) + head


def encode(kind: int, header: dict | bytes | None = None, payload: bytes = b"") -> bytes:
    return encode_head(kind, header, len(payload)) + payload


class FrameSink(Protocol):
    """What receives a runtime's traffic: decoded frames, captured fd 1/2 output, the end."""

    def frame_received(self, kind: int, header: dict, payload: bytes | None, size: int) -> None: ...

    def output_received(self, data: bytes) -> None: ...

    def connection_lost(self) -> None: ...


class Channel(Protocol):
    """The engine's writing end towards one runtime."""

    def send(self, kind: int, header: dict | bytes | None = None, payload: bytes = b"") -> None: ...

    def pause(self, paused: bool) -> None:
        """Stop (or resume) reading the runtime's frames: backpressure for a slow stream reader."""

    def close(self) -> None: ...


def decode_header(raw: bytes) -> dict:
    """A frame's header; the runtime's usual `{"rss":N}` is read without the JSON parser."""
    if raw.startswith(b'{"rss":') and raw.endswith(b"}") and raw[7:-1].isdigit():
        return {"rss": int(raw[7:-1])}
    return json.loads(raw) if raw else {}


class FrameDecoder:
    """Incremental decoder. Frames whose payload exceeds `limit` are skipped as they stream in
    and delivered with payload None (and their declared size), so a runaway runtime cannot make
    the engine buffer more than `limit` bytes."""

    def __init__(self, limit: int = MAX_RESPONSE) -> None:
        self._limit = limit
        self._buf = bytearray()
        self._frame: tuple[int, int, int] | None = None  # kind, header_len, payload_len
        self._skip = 0  # payload bytes still to discard
        self._skipped: tuple[int, dict, int] | None = None

    def feed(self, data: bytes | memoryview) -> list[tuple[int, dict, bytes | None, int]]:
        buf = self._buf
        if not buf and self._frame is None and not self._skip and len(data) >= PREFIX.size:
            # the usual read on the warm path: exactly one whole frame (a RESULT), nothing held
            kind, hlen, plen = PREFIX.unpack_from(data)
            start = PREFIX.size + hlen
            if len(data) == start + plen and hlen <= MAX_HEADER and plen <= self._limit:
                return [(kind, decode_header(bytes(data[PREFIX.size:start])), bytes(data[start:]), plen)]
        out: list[tuple[int, dict, bytes | None, int]] = []
        if self._skip:
            if len(data) < self._skip:
                self._skip -= len(data)
                return out
            data = data[self._skip:]
            self._skip = 0
            kind, header, size = self._skipped  # type: ignore[misc]
            self._skipped = None
            out.append((kind, header, None, size))
        buf += data
        while True:
            if self._frame is None:
                if len(buf) < PREFIX.size:
                    return out
                kind, hlen, plen = PREFIX.unpack_from(buf)
                if hlen > MAX_HEADER:
                    raise ProtocolError(f"frame header of {hlen} bytes")
                self._frame = (kind, hlen, plen)
            kind, hlen, plen = self._frame
            start = PREFIX.size
            if plen > self._limit:
                if len(buf) < start + hlen:
                    return out
                header = decode_header(bytes(buf[start:start + hlen]))
                self._frame = None
                have = len(buf) - start - hlen
                if have >= plen:  # the whole frame is here already: drop just it
                    del buf[:start + hlen + plen]
                    out.append((kind, header, None, plen))
                    continue
                del buf[:]
                self._skip = plen - have
                self._skipped = (kind, header, plen)
                return out
            end = start + hlen + plen
            if len(buf) < end:
                return out
            header = decode_header(bytes(buf[start:start + hlen]))
            payload = bytes(buf[start + hlen:end])
            del buf[:end]
            self._frame = None
            out.append((kind, header, payload, plen))


_reads = threading.local()


def read_buffer(reader: str = "channels", size: int = READ_BUFFER) -> memoryview:
    """The read buffer that every `reader` of one kind on this thread (the event loop's) shares:
    each read is copied out of it before the loop's next callback, so one buffer serves thousands
    of environments (one each held 64 KiB of the server's memory per environment). Each kind has
    its own, since one kind's reader may run while another's data is still being decoded."""
    views = getattr(_reads, "views", None)
    if views is None:
        views = _reads.views = {}
    view = views.get(reader)
    if view is None:
        view = views[reader] = memoryview(bytearray(size))
    return view


class FrameProtocol(asyncio.BufferedProtocol):
    """asyncio glue: bytes from the runtime's socket → decoded frames → the sink. Reads go into the
    thread's one preallocated buffer (a plain Protocol would allocate 256 KiB per read)."""

    def __init__(self, sink: FrameSink) -> None:
        self._sink = sink
        self._decoder = FrameDecoder()
        self._view = read_buffer()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        try:
            frames = self._decoder.feed(self._view[:nbytes])
        except (ProtocolError, ValueError):
            if self.transport is not None:
                self.transport.abort()
            return
        sink = self._sink
        for kind, header, payload, size in frames:
            sink.frame_received(kind, header, payload, size)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._sink.connection_lost()


class SocketChannel:
    """A Channel over an asyncio transport (the engine's end of the socketpair)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def send(self, kind: int, header: dict | bytes | None = None, payload: bytes = b"") -> None:
        if self._transport.is_closing():
            return
        if len(payload) < 65536:
            self._transport.write(encode(kind, header, payload))
        else:
            self._transport.writelines((encode_head(kind, header, len(payload)), payload))

    def pause(self, paused: bool) -> None:
        if self._transport.is_closing():
            return
        if paused:
            self._transport.pause_reading()
        else:
            self._transport.resume_reading()

    def close(self) -> None:
        self._transport.close()


async def connect_socket(sock, sink: FrameSink) -> SocketChannel:
    """Wrap the engine's end of a connected AF_UNIX stream socket."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_unix_connection(lambda: FrameProtocol(sink), sock=sock)
    return SocketChannel(transport)  # type: ignore[arg-type]
