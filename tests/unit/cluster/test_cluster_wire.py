"""The run protocol's bytes: specs without host paths, requests and results round trip, bodies above
a message's limit travel in parts and come back whole, lamina errors keep their type."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.cluster import wire
from lamina.engine.spec import FileSystemMount, ImageRun, InvokeRequest, InvokeResult, RunSpec
from lamina.errors import EFSMountFailureException, ServiceException, TooManyRequestsException


def _spec(**changes) -> RunSpec:
    values = dict(function_name="f", version="3", function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
                  revision_id="r1", runtime="python3.12", handler="app.handler", code_dir=Path("/host/code"),
                  interpreter="/usr/bin/python3.12", layer_dirs=(Path("/host/layer"),), environment={"A": "1"},
                  memory_mb=256, timeout_s=9, credentials=("AKIA", "secret", "token"),
                  file_systems=(FileSystemMount("arn:fs", "/mnt/data", Path("/host/fs")),),
                  code_sha256="ab" * 32, layer_sha256s=("cd" * 32,), executable="/usr/bin/node")
    values.update(changes)
    return RunSpec(**values)


def test_a_spec_travels_without_host_paths():
    back = wire.spec_from_bytes(wire.spec_bytes(_spec()))
    assert back.code_dir == Path() and back.layer_dirs == () and back.interpreter is None
    assert back.executable is None and back.image is None
    assert back.file_systems == (FileSystemMount("arn:fs", "/mnt/data", None),)
    assert back.code_sha256 == "ab" * 32 and back.layer_sha256s == ("cd" * 32,)
    assert back.credentials == ("AKIA", "secret", "token")
    assert (back.function_name, back.version, back.memory_mb, back.timeout_s, back.environment) == (
        "f", "3", 256, 9, {"A": "1"})
    assert back.pool_key == ("f", "3")


def test_an_image_spec_travels_as_its_digest_uri_and_overrides():
    spec = _spec(runtime="", handler="", image=ImageRun(Path("/host/root"), ("a",), "/"),
                 image_uri="reg/repo@sha256:" + "e" * 64, image_overrides={"Command": ["x"]})
    back = wire.spec_from_bytes(wire.spec_bytes(spec))
    assert back.image is None and back.image_uri == spec.image_uri and back.image_overrides == {"Command": ["x"]}


def test_a_request_and_its_result_round_trip():
    request = InvokeRequest(request_id="rid", payload=b"{}", invoked_arn="arn:x", client_context="{}",
                            trace_id="Root=1", tail=True)
    header, _, body = wire.unpack(wire.pack(wire.request_header(request, "7", "reply.7"), b"payload", b"SPEC"))
    assert header["k"] == wire.RUN and header["reply"] == "reply.7"
    back = wire.request_from(header, body)
    assert (back.request_id, back.invoked_arn, back.client_context, back.trace_id, back.tail, back.stream) == (
        "rid", "arn:x", "{}", "Root=1", True, None)
    result = InvokeResult(payload=b"out", executed_version="3", function_error="Unhandled", log_tail="tail",
                          duration_ms=1.5, billed_ms=2, init_ms=None, max_memory_mb=40)
    header, _, body = wire.unpack(wire.pack(wire.result_header(result, "7", "w1"), result.payload))
    assert wire.result_from(header, body) == result


@pytest.mark.parametrize("size", [0, 10, 1000, 5 * 1024 * 1024 + 17])
def test_bodies_above_the_limit_travel_in_parts(size):
    body = bytes(i % 251 for i in range(size))
    messages = wire.messages({"k": wire.RUN, "id": "1", "reply": "r"}, body, 64 * 1024, b"S" * 300)
    assert all(len(message) <= 64 * 1024 for message in messages)
    header, spec, first = wire.unpack(messages[0])
    assert spec == b"S" * 300
    if len(messages) == 1:
        assert first == body and "size" not in header
        return
    assembly = wire.Assembly(header, spec, first)
    whole = None
    for message in messages[1:]:
        part_header, _, part = wire.unpack(message)
        assert part_header == {"k": wire.PART, "id": "1"} and whole is None
        whole = assembly.add(part)
    assert whole == body


@pytest.mark.parametrize("error", [ServiceException("gone"), EFSMountFailureException("no mount"),
                                   TooManyRequestsException("ReservedFunctionConcurrentInvocationLimitExceeded")])
def test_lamina_errors_keep_their_type_and_text(error):
    back = wire.error_from(wire.error_header(error, "1", "w"))
    assert type(back) is type(error) and back.message == error.message and back.body() == error.body()


def test_an_unknown_error_type_becomes_a_service_exception():
    back = wire.error_from({"type": "NoSuchThing", "message": "odd"})
    assert isinstance(back, ServiceException) and back.message == "odd"
