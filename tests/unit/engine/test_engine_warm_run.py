"""Engine.run_warm: an invoke of an idle warm environment without a coroutine. Each outcome it gives
(a result, a function error, a timeout, a process gone, a halt) is what `invoke` gives for the same
event; it declines (False, nothing done) whenever the invoke is not that plain warm case."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from engine_fakes import FakeBackend, Script, echo, make_engine, request, run, sleepy, spec

from lamina.engine import protocol
from lamina.engine.spec import InvokeResult
from lamina.errors import ServiceException


def failing(sandbox, header, payload):
    sandbox.reply(protocol.ERROR, {"type": "ValueError", "rss": 4096}, b'{"errorMessage": "no"}')


def exiting(sandbox, header, payload):
    sandbox._loop.call_soon(sandbox.exit, 3)


def too_large(sandbox, header, payload):
    sandbox._loop.call_soon(sandbox._sink.frame_received, protocol.RESULT, {"rss": 1}, None, 7_000_000)


def backend(on_event) -> FakeBackend:
    return FakeBackend(Script(on_event=on_event))


def comparable(result: InvokeResult) -> dict:
    """A result without what differs from one run to the next (times)."""
    fields = dataclasses.asdict(result)
    for name in ("duration_ms", "billed_ms"):
        fields.pop(name)
    return fields


async def warm(engine, the_spec, the_request) -> tuple[bool, InvokeResult | None, BaseException | None]:
    """(taken, result, error) of `run_warm`, once its event ended."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future = loop.create_future()
    taken = engine.run_warm(the_spec, the_request, lambda result, error: ended.set_result((result, error)))
    if not taken:
        return False, None, None
    return (True, *await ended)


@pytest.mark.parametrize(("on_event", "timeout"), [(echo, 3), (failing, 3), (sleepy(5), 1), (exiting, 3),
                                                    (too_large, 3)])
def test_a_warm_run_ends_as_invoke_does(tmp_path, on_event, timeout):
    answers = iter([echo])  # the first event of each environment warms it up

    def script(sandbox, header, payload):
        next(answers, on_event)(sandbox, header, payload)

    rig = make_engine(tmp_path, backend(script))
    the_spec = spec(timeout=timeout)

    async def scenario(engine):
        nonlocal answers
        await engine.invoke(the_spec, request("warm-1"))
        by_invoke = await engine.invoke(the_spec, request("r1"))
        answers = iter([echo])
        await engine.invoke(the_spec, request("warm-2"))  # a warm environment again (the last may have ended)
        taken, by_warm, error = await warm(engine, the_spec, request("r1"))
        assert taken and error is None
        assert comparable(by_warm) == comparable(by_invoke)
        assert engine.stats()["inFlight"] == 0 and engine.stats()["busy"] == 0
    run(rig, scenario)


def test_a_warm_run_leaves_its_environment_idle_for_the_next(tmp_path):
    rig = make_engine(tmp_path, backend(echo))
    the_spec = spec()

    async def scenario(engine):
        await engine.invoke(the_spec, request("first"))
        for i in range(3):
            taken, result, error = await warm(engine, the_spec, request(f"r{i}", payload=b"[%d]" % i))
            assert taken and error is None and result.payload == b"[%d]" % i
        stats = engine.stats()
        assert (stats["environments"], stats["idle"], stats["inFlight"], stats["warmLaneInvokes"]) == (1, 1, 0, 3)
        sent = [(kind, header["id"]) for kind, header, _ in rig.backend.started[0].sent if kind == protocol.INVOKE]
        assert sent == [(protocol.INVOKE, rid) for rid in ("first", "r0", "r1", "r2")]
    run(rig, scenario)


def test_a_halt_answers_a_warm_run_as_it_answers_invoke(tmp_path):
    answers = iter([echo])

    def script(sandbox, header, payload):
        next(answers, sleepy(60))(sandbox, header, payload)

    rig = make_engine(tmp_path, backend(script))
    the_spec = spec(timeout=120)

    async def scenario(engine):
        await engine.invoke(the_spec, request("first"))
        ended = asyncio.get_running_loop().create_future()
        assert engine.run_warm(the_spec, request("r1"), lambda result, error: ended.set_result((result, error)))
        await asyncio.sleep(0.01)
        engine.halt()
        result, error = await ended
        assert result is None and type(error) is ServiceException
        assert str(error) == "The service is shutting down: the invocation was stopped."
    run(rig, scenario)


def test_run_warm_declines_what_is_not_a_plain_warm_invoke(tmp_path):
    answers = iter([echo])

    def script(sandbox, header, payload):
        next(answers, sleepy(60))(sandbox, header, payload)

    rig = make_engine(tmp_path, backend(script), limit=2)
    the_spec = spec(timeout=120)

    async def scenario(engine):
        assert not engine.run_warm(the_spec, request("cold"), _never)  # no environment yet
        await engine.invoke(the_spec, request("first"))
        assert not engine.run_warm(spec(timeout=120), request("other"), _never)  # a spec not yet vetted
        assert not engine.run_warm(spec(revision="r2", timeout=120), request("new"), _never)  # another revision
        busy = asyncio.ensure_future(engine.invoke(the_spec, request("busy")))
        await asyncio.sleep(0.01)
        assert not engine.run_warm(the_spec, request("none idle"), _never)  # its one environment is busy
        second = asyncio.ensure_future(engine.invoke(the_spec, request("second")))
        await asyncio.sleep(0.05)
        assert engine.stats()["inFlight"] == 2
        assert not engine.run_warm(the_spec, request("over"), _never)  # the engine's limit (2) is reached
        assert [sandbox.sent[-1][1]["id"] for sandbox in rig.backend.started] == ["busy", "second"]
        engine.halt()
        await asyncio.gather(busy, second, return_exceptions=True)
        assert not engine.run_warm(the_spec, request("closing"), _never)
    run(rig, scenario)


def _never(result, error):  # pragma: no cover - a declined run calls nothing
    raise AssertionError(f"a declined run_warm called back: {result!r} {error!r}")
