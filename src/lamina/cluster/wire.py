"""The run protocol's bytes: RunSpec, InvokeRequest and InvokeResult as NATS messages between a
front (RemoteEngine) and a worker (WorkerNode).

A message is `[u32 header length][u32 spec length][header JSON][spec JSON][body]`: the header says
what it is (`k`), the spec segment (run requests only) is the RunSpec, encoded once per spec and
cached by both ends, and the body is raw payload bytes (never base64). Code and layers travel as
digests, images as their resolved digest URI: a spec read here has no host paths (empty code_dir
and layer_dirs, no image, no interpreter); the worker makes its own (lamina.cluster.localize).
Bodies larger than a NATS message travel in parts: the first message carries `size` (the whole
body's length) and the first slice, then `part` messages carry the rest, in order, on the same
subject. Imports lamina.engine.spec and lamina.errors only.
"""

from __future__ import annotations

import json
import struct
from dataclasses import fields
from pathlib import Path

from lamina import errors
from lamina.engine.spec import FileSystemMount, InvokeRequest, InvokeResult, RunSpec
from lamina.errors import LambdaError

_LENGTHS = struct.Struct(">II")
PART_OVERHEAD = 512  # room left in a NATS message for a part's header

# Message kinds (header "k").
RUN = "run"  # front → worker: run this request (spec segment + payload)
PART = "part"  # either way: the next slice of a body
ACK = "ack"  # worker → front: a request placed through the queue group reached this worker
RESULT = "res"  # worker → front: the InvokeResult (payload in the body)
BEGIN = "begin"  # worker → front: a streamed response starts (content type, version)
DATA = "data"  # worker → front: streamed response bytes
FAIL = "fail"  # worker → front: the invoke raised a lamina error (type, message) instead of a result
ABORT = "abort"  # front → worker: the stream's reader went away
PAUSE = "pause"  # front → worker: hold the runtime back (on) or let it go (off)

# RunSpec fields that name host paths: never sent; the worker makes its own.
_LOCAL = frozenset({"code_dir", "layer_dirs", "interpreter", "executable", "image", "file_systems"})
_SPEC_FIELDS = tuple(f.name for f in fields(RunSpec) if f.name not in _LOCAL)


def pack(header: dict, body: bytes | memoryview = b"", spec: bytes = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return b"".join((_LENGTHS.pack(len(head), len(spec)), head, spec, body))


def unpack(data: bytes) -> tuple[dict, bytes, bytes]:
    """(header, spec segment, body) of a message; ValueError when it is not one."""
    if len(data) < _LENGTHS.size:
        raise ValueError("short message")
    head_len, spec_len = _LENGTHS.unpack_from(data)
    start = _LENGTHS.size
    header = json.loads(data[start:start + head_len])
    spec = data[start + head_len:start + head_len + spec_len]
    return header, spec, data[start + head_len + spec_len:]


def messages(header: dict, body: bytes, limit: int, spec: bytes = b"") -> list[bytes]:
    """The message(s) that carry `header` (+ spec) and `body` within `limit` bytes each: one when it
    fits, else a first message with `size` and the first slice, then PART messages."""
    first = pack(header, body, spec)
    if len(first) <= limit:
        return [first]
    room = limit - len(pack({**header, "size": len(body)}, b"", spec)) - 16
    if room <= 0:
        raise ValueError("a run request's header does not fit in one NATS message")
    out = [pack({**header, "size": len(body)}, body[:room], spec)]
    step = limit - PART_OVERHEAD
    part = {"k": PART, "id": header["id"]}
    for offset in range(room, len(body), step):
        out.append(pack(part, body[offset:offset + step]))
    return out


class Assembly:
    """A body arriving in parts: `add` returns the whole body once the last part is in."""

    __slots__ = ("header", "spec", "size", "parts", "have")

    def __init__(self, header: dict, spec: bytes, first: bytes) -> None:
        self.header, self.spec, self.size = header, spec, int(header["size"])
        self.parts, self.have = [bytes(first)], len(first)

    def add(self, part: bytes) -> bytes | None:
        self.parts.append(bytes(part))
        self.have += len(part)
        return b"".join(self.parts) if self.have >= self.size else None


# ---- RunSpec ------------------------------------------------------------------------------------

def spec_bytes(spec: RunSpec) -> bytes:
    """The spec without host paths: file systems by ARN and mount path, code and layers by digest."""
    out = {}
    for name in _SPEC_FIELDS:
        value = getattr(spec, name)
        if isinstance(value, tuple):
            value = list(value)
        out[name] = value
    out["file_systems"] = [[fs.arn, fs.local_mount_path] for fs in spec.file_systems]
    return json.dumps(out, separators=(",", ":")).encode()


def spec_from_bytes(data: bytes) -> RunSpec:
    """A RunSpec with no host paths yet (code_dir Path(), no layer dirs, interpreter, image or file
    system directories): lamina.cluster.localize makes them on the worker."""
    raw = json.loads(data)
    values = {name: raw[name] for name in _SPEC_FIELDS if name in raw}
    values["layer_sha256s"] = tuple(values.get("layer_sha256s") or ())
    if values.get("credentials") is not None:
        values["credentials"] = tuple(values["credentials"])
    values["file_systems"] = tuple(FileSystemMount(arn, path, None) for arn, path in raw.get("file_systems") or ())
    return RunSpec(code_dir=Path(), interpreter=None, **values)


# ---- InvokeRequest / InvokeResult ---------------------------------------------------------------

def request_header(request: InvokeRequest, invoke_id: str, reply: str) -> dict:
    header = {"k": RUN, "id": invoke_id, "reply": reply, "rid": request.request_id, "arn": request.invoked_arn}
    if request.client_context is not None:
        header["cc"] = request.client_context
    if request.cognito_identity is not None:
        header["ci"] = request.cognito_identity
    if request.trace_id is not None:
        header["trace"] = request.trace_id
    if request.tail:
        header["tail"] = True
    if request.stream is not None:
        header["stream"] = True
    return header


def request_from(header: dict, payload: bytes, stream=None) -> InvokeRequest:
    return InvokeRequest(request_id=header["rid"], payload=payload, invoked_arn=header["arn"],
                         client_context=header.get("cc"), cognito_identity=header.get("ci"),
                         trace_id=header.get("trace"), tail=bool(header.get("tail")), stream=stream)


_RESULT_FIELDS = tuple(f.name for f in fields(InvokeResult) if f.name != "payload")


def result_header(result: InvokeResult, invoke_id: str, worker: str) -> dict:
    header = {"k": RESULT, "id": invoke_id, "w": worker}
    for name in _RESULT_FIELDS:
        value = getattr(result, name)
        if value is not None and value is not False:
            header[name] = value
    return header


def result_from(header: dict, payload: bytes) -> InvokeResult:
    return InvokeResult(payload=payload, **{name: header[name] for name in _RESULT_FIELDS if name in header})


# ---- errors -------------------------------------------------------------------------------------

def error_header(exc: LambdaError, invoke_id: str, worker: str) -> dict:
    """A lamina error the engine raised instead of a result (throttled, file system, shutting down)."""
    return {"k": FAIL, "id": invoke_id, "w": worker, "type": type(exc).__name__, "message": exc.message,
            "extra": {k: v for k, v in exc.extra.items() if isinstance(v, (str, int, float, bool))}}


def error_from(header: dict) -> LambdaError:
    kind = getattr(errors, str(header.get("type", "")), None)
    extra = header.get("extra") or {}
    if kind is errors.TooManyRequestsException:
        return errors.TooManyRequestsException(str(extra.get("Reason", "ConcurrentInvocationLimitExceeded")))
    if not (isinstance(kind, type) and issubclass(kind, LambdaError)) or kind is errors.TooManyRequestsException:
        kind = errors.ServiceException
    try:
        return kind(str(header.get("message", "")), **extra)
    except TypeError:
        return errors.ServiceException(str(header.get("message", "")))
