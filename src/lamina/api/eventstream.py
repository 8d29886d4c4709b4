"""The AWS event-stream wire encoding of InvokeWithResponseStream's body (reference 2.8): each
message is total length u32, headers length u32, CRC32 of those 8 bytes, headers, payload, CRC32
of everything before it (big-endian); a header is name length u8, name, type 7 (string), value
length u16, value. Pure; imports nothing from lamina.
"""

from __future__ import annotations

import json
import struct
import zlib

_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")
MAX_PAYLOAD = 16 * 1024 * 1024  # below botocore's 24 MiB per message; larger chunks are split


def _header(name: str, value: str) -> bytes:
    key, text = name.encode(), value.encode()
    return bytes((len(key),)) + key + b"\x07" + struct.pack(">H", len(text)) + text


def message(headers: bytes, payload: bytes) -> bytes:
    prelude = _PRELUDE.pack(12 + len(headers) + len(payload) + 4, len(headers))
    body = prelude + _CRC.pack(zlib.crc32(prelude)) + headers + payload
    return body + _CRC.pack(zlib.crc32(body))


_CHUNK_HEADERS = (_header(":event-type", "PayloadChunk") + _header(":content-type", "application/octet-stream")
                  + _header(":message-type", "event"))
_COMPLETE_HEADERS = (_header(":event-type", "InvokeComplete") + _header(":content-type", "application/json")
                     + _header(":message-type", "event"))


def payload_chunk(data: bytes) -> bytes:
    """PayloadChunk event(s) carrying `data`."""
    if len(data) <= MAX_PAYLOAD:
        return message(_CHUNK_HEADERS, data)
    return b"".join(message(_CHUNK_HEADERS, data[i:i + MAX_PAYLOAD]) for i in range(0, len(data), MAX_PAYLOAD))


def invoke_complete(error_code: str | None = None, error_details: str | None = None,
                    log_result: str | None = None) -> bytes:
    """The InvokeComplete event that ends the stream (members only when set)."""
    body = {key: value for key, value in (("ErrorCode", error_code), ("ErrorDetails", error_details),
                                          ("LogResult", log_result)) if value is not None}
    return message(_COMPLETE_HEADERS, json.dumps(body, separators=(",", ":")).encode())
