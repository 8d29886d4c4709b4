"""Engine.halt: when the server's grace for invokes in flight ends, every invoke still running or
initialising is answered with ServiceException at once, its environment ends, and new invokes are
refused; invokes that finished before keep their results."""

from __future__ import annotations

import asyncio
import logging

import pytest
from engine_fakes import FakeBackend, Script, make_engine, request, run, sleepy, spec

from lamina.engine import protocol
from lamina.errors import ServiceException

STOPPED = "The service is shutting down: the invocation was stopped."


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.001)


def test_halt_answers_running_invokes_with_service_exception_and_ends_their_environments(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=sleepy(60))))

    async def scenario(engine):
        running = [asyncio.create_task(engine.invoke(spec(timeout=120), request(f"r{i}"))) for i in range(3)]
        await _until(lambda: engine.stats()["busy"] == 3)
        engine.halt()
        outcomes = await asyncio.gather(*running, return_exceptions=True)
        assert [(type(o), str(o)) for o in outcomes] == [(ServiceException, STOPPED)] * 3
        await _until(lambda: engine.stats()["environments"] == 0)
        assert all(sandbox.returncode is not None for sandbox in rig.backend.started)
        with pytest.raises(ServiceException):
            await engine.invoke(spec(), request("late"))
    run(rig, scenario)


def test_halt_answers_an_invoke_whose_environment_is_still_initialising(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(init="hang")))

    async def scenario(engine):
        starting = asyncio.create_task(engine.invoke(spec(), request("r1")))
        await _until(lambda: rig.backend.started and engine.stats()["starting"] == 1)
        engine.halt()
        with pytest.raises(ServiceException, match="shutting down"):
            await starting
    run(rig, scenario)


def test_an_invoke_that_finished_before_the_halt_keeps_its_result(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=sleepy(0.01))))

    async def scenario(engine):
        result = await engine.invoke(spec(), request("r1"))
        engine.halt()
        assert result.payload == b'"slept"' and result.function_error is None
    run(rig, scenario)


def test_a_result_arriving_after_the_event_was_answered_is_no_protocol_warning(tmp_path, caplog):
    """Under load the runtime's RESULT can arrive in the same loop turn as the timer or the halt
    that already answered the event: it is dropped quietly ("unexpected frame 4" was logged)."""
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=sleepy(60))))

    async def scenario(engine):
        running = asyncio.create_task(engine.invoke(spec(timeout=120), request("r1")))
        await _until(lambda: engine.stats()["busy"] == 1)
        engine.halt()
        rig.backend.started[0].deliver(protocol.RESULT, {"rss": 2048}, b'"late"')
        with pytest.raises(ServiceException):
            await running
    with caplog.at_level(logging.WARNING, logger="lamina.engine"):
        run(rig, scenario)
    assert "unexpected frame" not in caplog.text


async def _cancel(task: asyncio.Task) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_an_invoke_cancelled_while_its_sandbox_is_started_leaves_nothing_for_the_close_to_wait_for(tmp_path):
    """Issue 18: the event queue closing cancels the attempts it runs. One cancelled while its
    environment's sandbox was being started left the environment starting forever (the engine's
    close waited for it: the server never exited) and the sandbox the start made running. The
    start goes on; what it made is killed, and the environment is gone."""
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=sleepy(60)), start_delay=0.2))

    async def scenario(engine):
        running = asyncio.create_task(engine.invoke(spec(), request("r1")))
        await _until(lambda: engine.stats()["starting"] == 1)
        await _cancel(running)
        await asyncio.wait_for(_until(lambda: engine.stats()["environments"] == 0), 5)
        assert [sandbox.returncode for sandbox in rig.backend.started] == [-9]
    run(rig, scenario)


def test_an_invoke_cancelled_while_its_start_fails_leaves_nothing_either(tmp_path):
    backend = FakeBackend(start_delay=0.2)
    backend.fail_start = OSError("no zygote")
    rig = make_engine(tmp_path, backend)

    async def scenario(engine):
        running = asyncio.create_task(engine.invoke(spec(), request("r1")))
        await _until(lambda: engine.stats()["starting"] == 1)
        await _cancel(running)
        await asyncio.wait_for(_until(lambda: engine.stats()["environments"] == 0), 5)
    run(rig, scenario)


def test_an_invoke_cancelled_while_waiting_for_its_turn_to_start_leaves_nothing(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(init="hang")), start_concurrency=1)

    async def scenario(engine):
        first = asyncio.create_task(engine.invoke(spec(timeout=60), request("r1")))
        await _until(lambda: len(rig.backend.started) == 1)
        waiting = asyncio.create_task(engine.invoke(spec(timeout=60), request("r2")))
        await _until(lambda: engine.stats()["waitingToStart"] == 1)
        await _cancel(waiting)
        assert engine.stats()["environments"] == 1  # the first one only
        engine.halt()
        with pytest.raises(ServiceException):
            await first
    run(rig, scenario)  # its close (waiting for every environment to be gone) returns


def test_halt_answers_an_invoke_whose_init_is_being_retried(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(init="init_error", retry_init="hang")))

    async def scenario(engine):
        starting = asyncio.create_task(engine.invoke(spec(timeout=60), request("r1")))
        await _until(lambda: len(rig.backend.started) == 2)  # the failed Init's tree, then the retry's
        assert engine.stats()["starting"] == 1
        engine.halt()
        with pytest.raises(ServiceException, match="shutting down"):
            await starting
        await _until(lambda: engine.stats()["environments"] == 0)
        assert all(sandbox.returncode is not None for sandbox in rig.backend.started)
    run(rig, scenario)


def test_an_invoke_given_up_during_its_retried_init_ends_the_environment(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(init="crash", retry_init="hang")))

    async def scenario(engine):
        starting = asyncio.create_task(engine.invoke(spec(timeout=60), request("r1")))
        await _until(lambda: len(rig.backend.started) == 2)
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
        await _until(lambda: engine.stats()["environments"] == 0)
        assert rig.backend.started[1].signals == ["KILL"]
    run(rig, scenario)
