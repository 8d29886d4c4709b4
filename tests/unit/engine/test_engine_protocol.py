"""The engine ↔ runtime frame codec (lamina.engine.protocol), and its agreement with the runtime's
own copy (lamina/runtimes/python/_lamina_channel.py)."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import pytest

from lamina.engine import protocol

RUNTIME_CHANNEL = Path(protocol.__file__).resolve().parent.parent / "runtimes" / "python" / "_lamina_channel.py"


def runtime_channel():
    spec = importlib.util.spec_from_file_location("_lamina_channel_under_test", RUNTIME_CHANNEL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_layout_of_a_frame():
    frame = protocol.encode(protocol.RESULT, {"rss": 7}, b"payload")
    header = b'{"rss":7}'
    assert frame == bytes([protocol.RESULT]) + len(header).to_bytes(4, "big") + (7).to_bytes(4, "big") + header + b"payload"
    assert protocol.encode(protocol.STREAM, None, b"x") == b"\x06\x00\x00\x00\x00\x00\x00\x00\x01x"


def test_runtime_copy_agrees_on_kinds_and_prefix():
    channel = runtime_channel()
    for name in ("INVOKE", "READY", "INIT_ERROR", "RESULT", "ERROR", "STREAM", "RECORD"):
        assert getattr(channel, name) == getattr(protocol, name)
    assert channel.PREFIX.format == protocol.PREFIX.format


@pytest.mark.parametrize("chunk", [1, 2, 7, 9, 10, 1000, 1 << 20])
def test_decoder_reassembles_frames_however_they_are_cut(chunk):
    frames = [(protocol.READY, {"rss": 1}, b""), (protocol.STREAM, {}, b"hello\n"),
              (protocol.RESULT, {"ct": "application/json", "rss": 2}, b'{"a": 1}' * 1000),
              (protocol.RECORD, {}, "é ✓".encode())]
    data = b"".join(protocol.encode(kind, header, payload) for kind, header, payload in frames)
    decoder = protocol.FrameDecoder()
    out = []
    for start in range(0, len(data), chunk):
        out.extend(decoder.feed(data[start:start + chunk]))
    assert out == [(kind, header, payload, len(payload)) for kind, header, payload in frames]


def test_frames_read_one_whole_frame_at_a_time_are_copied_out_of_the_read_buffer():
    frames = [(protocol.RESULT, {"rss": 2}, b'{"a": 1}'), (protocol.READY, {"rss": 1}, b""),
              (protocol.ERROR, {"type": "E", "rss": 3}, b"x" * 200), (protocol.RESULT, {"rss": 4}, b"y" * 101)]
    decoder, buffer, out = protocol.FrameDecoder(limit=100), memoryview(bytearray(4096)), []
    for kind, header, payload in frames:
        data = protocol.encode(kind, header, payload)
        buffer[:len(data)] = data
        out.extend(decoder.feed(buffer[:len(data)]))
        buffer[:len(data)] = b"\0" * len(data)  # the shared buffer is reused for the next read
    assert out == [(protocol.RESULT, {"rss": 2}, b'{"a": 1}', 8), (protocol.READY, {"rss": 1}, b"", 0),
                   (protocol.ERROR, {"type": "E", "rss": 3}, None, 200), (protocol.RESULT, {"rss": 4}, None, 101)]
    assert not decoder._buf


@pytest.mark.parametrize("chunk", [3, 100, 4096, 1 << 20])
def test_oversized_payload_is_skipped_not_buffered(chunk):
    decoder = protocol.FrameDecoder(limit=100)
    data = protocol.encode(protocol.RESULT, {"rss": 3}, b"x" * 1000) + protocol.encode(protocol.RESULT, {}, b"ok")
    out = []
    for start in range(0, len(data), chunk):
        out.extend(decoder.feed(data[start:start + chunk]))
        assert len(decoder._buf) <= 200
    assert out == [(protocol.RESULT, {"rss": 3}, None, 1000), (protocol.RESULT, {}, b"ok", 2)]


def test_payload_at_the_limit_is_kept():
    decoder = protocol.FrameDecoder(limit=10)
    assert decoder.feed(protocol.encode(protocol.RESULT, None, b"0123456789")) == [
        (protocol.RESULT, {}, b"0123456789", 10)]


def test_absurd_header_is_a_protocol_error():
    decoder = protocol.FrameDecoder()
    with pytest.raises(protocol.ProtocolError):
        decoder.feed(protocol.PREFIX.pack(protocol.RESULT, protocol.MAX_HEADER + 1, 0))


def test_runtime_decoder_reads_engine_frames():
    channel = runtime_channel()
    header = {"id": "r", "deadline": 1, "arn": "a"}
    link = channel.Channel.__new__(channel.Channel)  # its reading half, without a socket
    link._rfile = io.BytesIO(protocol.encode(protocol.INVOKE, header, b'{"x": 1}') + b"\x01\x00")
    assert link.receive() == (protocol.INVOKE, header, b'{"x": 1}')
    assert link.receive() is None  # a cut frame is the end of the channel


def test_encoded_header_is_compact_json():
    frame = protocol.encode(protocol.INVOKE, {"id": "r", "cc": '{"a": 1}'}, b"")
    kind, hlen, plen = protocol.PREFIX.unpack_from(frame)
    assert json.loads(frame[protocol.PREFIX.size:]) == {"id": "r", "cc": '{"a": 1}'} and plen == 0
