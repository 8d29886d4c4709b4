"""The engine's streamed result path (CHUNK frames): pieces reach the request's stream as they arrive,
a caller without a stream gets them collected, errors and limits end the stream, and a reader that
goes away stops the invocation and ends its environment."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from engine_fakes import FakeBackend, Script, make_engine, request, run, spec

from lamina.engine import protocol


class Recorder:
    def __init__(self) -> None:
        self.items: list = []
        self.abort = None

    def begin(self, content_type: str, executed_version: str) -> None:
        self.items.append(("begin", content_type, executed_version))

    def write(self, data: bytes) -> None:
        self.items.append(data)

    def attach(self, abort, pause) -> None:
        self.abort = abort
        self.pause = pause


def streaming(pieces, end=(protocol.RESULT, {"rss": 1, "streamed": 1}, b""), gap=0.01):
    """A runtime that streams `pieces` (the first with a content type), then sends `end`."""
    def answer(sandbox, header, payload):
        sandbox.later(0, protocol.CHUNK, {"ct": "text/plain"}, b"")
        for index, piece in enumerate(pieces):
            sandbox.later(gap * (index + 1), protocol.CHUNK, {}, piece)
        if end is not None:
            sandbox.later(gap * (len(pieces) + 1), *end)
    return answer


def test_pieces_reach_the_stream_as_they_arrive(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=streaming([b"a", b"b"], gap=0.05))))
    recorder = Recorder()

    async def scenario(engine):
        task = asyncio.create_task(engine.invoke(spec(), replace(request(), stream=recorder)))
        await asyncio.sleep(0.07)
        seen_before_end = list(recorder.items)
        return seen_before_end, await task

    seen, result = run(rig, scenario)
    assert seen == [("begin", "text/plain", "$LATEST"), b"a"]
    assert recorder.items == [("begin", "text/plain", "$LATEST"), b"a", b"b"]
    assert result.streamed and result.function_error is None and result.payload == b""
    assert result.content_type == "text/plain"


def test_without_a_stream_the_pieces_are_collected(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=streaming([b"a", b"b"]))))
    result = run(rig, lambda engine: engine.invoke(spec(), request()))
    assert (result.payload, result.content_type, result.streamed) == (b"ab", "text/plain", False)


def test_a_collected_stream_over_6_mb_is_too_large_and_ends_the_environment(tmp_path):
    big = b"x" * (protocol.MAX_RESPONSE // 2 + 1)
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=streaming([big, big], end=None))))
    result = run(rig, lambda engine: engine.invoke(spec(), request()))
    assert (result.function_error, result.error_type) == ("Unhandled", "Function.ResponseSizeTooLarge")
    assert rig.backend.started[0].returncode is not None


def test_an_error_after_pieces_is_the_result(tmp_path):
    end = (protocol.ERROR, {"type": "Boom", "rss": 1}, b'{"errorType": "Boom"}')
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=streaming([b"a"], end=end))))
    recorder = Recorder()
    result = run(rig, lambda engine: engine.invoke(spec(), replace(request(), stream=recorder)))
    assert recorder.items[-1] == b"a"
    assert (result.function_error, result.error_type, result.payload) == ("Unhandled", "Boom", b'{"errorType": "Boom"}')


def test_a_reader_going_away_stops_the_invocation_and_its_environment(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=streaming([b"a"], end=None))))
    recorder = Recorder()

    async def scenario(engine):
        task = asyncio.create_task(engine.invoke(spec(), replace(request(), stream=recorder)))
        await asyncio.sleep(0.05)
        recorder.abort()
        result = await task
        await asyncio.sleep(0.05)
        return result, engine.stats()

    result, stats = run(rig, scenario)
    assert result.disconnected and result.function_error is None
    assert rig.backend.started[0].returncode is not None
    assert stats["busy"] == 0 and stats["environments"] == 0


def test_a_buffered_result_on_a_stream_is_not_streamed(tmp_path):
    def answer(sandbox, header, payload):
        sandbox.reply(protocol.RESULT, {"rss": 1}, b'{"whole": 1}')
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=answer)))
    recorder = Recorder()
    result = run(rig, lambda engine: engine.invoke(spec(), replace(request(), stream=recorder)))
    assert recorder.items == [] and not result.streamed and result.payload == b'{"whole": 1}'


def test_a_stream_past_its_limit_is_too_large_and_ends_the_environment(tmp_path, monkeypatch):
    monkeypatch.setattr(protocol, "STREAM_LIMIT", 3)
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=streaming([b"ab", b"cd"], end=None))))
    recorder = Recorder()
    result = run(rig, lambda engine: engine.invoke(spec(), replace(request(), stream=recorder)))
    assert recorder.items == [("begin", "text/plain", "$LATEST"), b"ab"]
    assert (result.function_error, result.error_type) == ("Unhandled", "Function.ResponseSizeTooLarge")
    assert b"(3 bytes)" in result.payload
    assert rig.backend.started[0].returncode is not None


def test_pausing_reaches_the_runtime_channel_and_is_undone_at_the_end(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=streaming([b"a"], gap=0.05))))
    recorder = Recorder()

    async def scenario(engine):
        task = asyncio.create_task(engine.invoke(spec(), replace(request(), stream=recorder)))
        await asyncio.sleep(0.02)
        recorder.pause(True)
        recorder.pause(True)
        return await task

    run(rig, scenario)
    assert rig.backend.started[0].paused == [True, False]
