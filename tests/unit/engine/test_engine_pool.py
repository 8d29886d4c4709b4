"""The engine, its pools and the environment state machine driven by a fake sandbox
(no processes, no sockets): reuse, scale-out, throttling, retiring, failures, reaping, closing."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import replace

import pytest
from engine_fakes import FakeBackend, Script, echo, make_engine, request, run, sleepy, spec

from lamina.engine import protocol
from lamina.engine.states import State
from lamina.errors import ServiceException, TooManyRequestsException


def messages(rig):
    return [event.message for batch in rig.batches for event in batch.events]


def test_sequential_events_reuse_one_warm_environment(tmp_path):
    rig = make_engine(tmp_path, FakeBackend())

    async def scenario(engine):
        first = await engine.invoke(spec(), request("r1", b'{"n": 1}'))
        second = await engine.invoke(spec(), request("r2", b'{"n": 2}'))
        assert (first.payload, second.payload) == (b'{"n": 1}', b'{"n": 2}')
        assert first.init_ms is not None and second.init_ms is None
        assert first.executed_version == "$LATEST" and first.max_memory_mb == 2
        assert len(rig.backend.started) == 1
        invokes = [h for kind, h, _ in rig.backend.started[0].sent if kind == protocol.INVOKE]
        assert [h["id"] for h in invokes] == ["r1", "r2"]
        assert invokes[0]["arn"].endswith(":function:f") and invokes[0]["deadline"] > time.time() * 1000
        assert engine.stats() == {"backend": "fake", "pools": 1, "environments": 1, "busy": 0, "idle": 1,
                                  "starting": 0, "waitingToStart": 0, "inFlight": 0, "warmLaneInvokes": 0}
    run(rig, scenario)
    lines = messages(rig)
    assert lines[0].startswith("INIT_START Runtime Version: python:3.12.v1\t")
    assert lines[1:4] == ["START RequestId: r1 Version: $LATEST", "END RequestId: r1", lines[3]]
    assert lines[3].startswith("REPORT RequestId: r1\tDuration: ") and "\tInit Duration: " in lines[3]
    assert lines[4:6] == ["START RequestId: r2 Version: $LATEST", "END RequestId: r2"]
    assert "Init Duration" not in lines[6]
    assert len(rig.batches) == 2  # one sink call per invocation


def test_end_and_report_follow_the_answer_in_the_streams_order(tmp_path):
    """The answer does not wait for END and REPORT: they reach the sink on the loop's next turn, or
    before the environment's next event when that comes first; the stream's order is kept."""
    rig = make_engine(tmp_path, FakeBackend())

    async def scenario(engine):
        await engine.invoke(spec(), request("r1"))
        assert messages(rig) == []
        rig.backend.started[0]._sink.output_received(b"read from fd 1 before the loop turned\n")
        await asyncio.sleep(0)
        assert messages(rig)[-3:-1] == ["read from fd 1 before the loop turned\n", "END RequestId: r1"]
        await engine.invoke(spec(), request("r2"))
        await engine.invoke(spec(), request("r3"))  # before the loop turned
        await asyncio.sleep(0)
        assert [line.split("\t")[0] for line in messages(rig)[5:]] == [
            "START RequestId: r2 Version: $LATEST", "END RequestId: r2", "REPORT RequestId: r2",
            "START RequestId: r3 Version: $LATEST", "END RequestId: r3", "REPORT RequestId: r3"]
        tail = await engine.invoke(spec(), request("r4", tail=True))  # the tail has them: written before the answer
        assert tail.log_tail.splitlines()[-1].startswith("REPORT RequestId: r4\t")
    run(rig, scenario)


def test_empty_payload_is_sent_as_an_empty_object(tmp_path):
    rig = make_engine(tmp_path, FakeBackend())

    async def scenario(engine):
        assert (await engine.invoke(spec(), request(payload=b""))).payload == b"{}"
    run(rig, scenario)


def test_concurrent_events_start_new_environments_then_reuse_them(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=sleepy(0.05))))

    async def scenario(engine):
        await asyncio.gather(*(engine.invoke(spec(), request(f"a{i}")) for i in range(4)))
        assert len(rig.backend.started) == 4
        assert engine.stats()["environments"] == 4 and engine.stats()["idle"] == 4
        await asyncio.gather(*(engine.invoke(spec(), request(f"b{i}")) for i in range(3)))
        assert len(rig.backend.started) == 4
        await engine.invoke(spec(version="1"), request("v1"))  # another version: another pool
        assert len(rig.backend.started) == 5 and engine.stats()["pools"] == 2
    run(rig, scenario)


def test_states_during_an_environments_life(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(init_delay=0.05, on_event=sleepy(0.05))))

    async def scenario(engine):
        call = asyncio.ensure_future(engine.invoke(spec(), request()))
        await asyncio.sleep(0.02)
        assert engine.stats()["starting"] == 1
        await asyncio.sleep(0.05)
        assert engine.stats()["busy"] == 1
        await call
        assert engine.stats()["idle"] == 1
        env = next(iter(engine._pools[("f", "$LATEST")].environments))
        assert env.state is State.READY
        await env.stop(0.05)
        assert env.state is State.GONE and rig.backend.started[0].closed
        assert engine.stats()["environments"] == 0
    run(rig, scenario)


def test_account_limit_throttles_and_frees_up(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=sleepy(0.05))), limit=2)

    async def scenario(engine):
        calls = [asyncio.ensure_future(engine.invoke(spec(), request(f"r{i}"))) for i in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(TooManyRequestsException) as info:
            await engine.invoke(spec(), request("r3"))
        assert info.value.body()["Reason"] == "ConcurrentInvocationLimitExceeded"
        await asyncio.gather(*calls)
        assert engine.stats()["inFlight"] == 0
        assert (await engine.invoke(spec(), request("r4"))).function_error is None
    run(rig, scenario)


def test_a_new_revision_retires_the_pools_environments(tmp_path):
    rig = make_engine(tmp_path, FakeBackend())

    async def scenario(engine):
        await engine.invoke(spec(revision="r1"), request("a"))
        old = rig.backend.started[0]
        await engine.invoke(spec(revision="r2"), request("b"))
        assert len(rig.backend.started) == 2
        await asyncio.sleep(0.01)
        assert old.signals == ["TERM"] and old.closed
        assert engine.stats()["environments"] == 1
        await engine.invoke(spec(revision="r2"), request("c"))
        assert len(rig.backend.started) == 2
    run(rig, scenario)


def test_retire_stops_idle_environments_now_and_busy_ones_when_released(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=sleepy(0.05))))

    async def scenario(engine):
        await asyncio.gather(engine.invoke(spec(), request("a")), engine.invoke(spec(), request("b")),
                             engine.invoke(spec(version="1"), request("v")))
        busy = asyncio.ensure_future(engine.invoke(spec(), request("c")))
        await asyncio.sleep(0.01)
        engine.retire("f", "$LATEST")
        await asyncio.sleep(0.01)
        assert engine.stats()["environments"] == 2  # the busy $LATEST one and version 1
        assert (await busy).function_error is None
        await asyncio.sleep(0.01)
        assert engine.stats()["environments"] == 1
        engine.retire("f")
        await asyncio.sleep(0.01)
        assert engine.stats()["environments"] == 0
        await engine.invoke(spec(), request("d"))
        assert len(rig.backend.started) == 4
    run(rig, scenario)


def _platform(tail: str) -> list[str]:
    """The tail's lines with their measured numbers written N and INIT_START without its ARN."""
    lines = []
    for line in tail.splitlines():
        line = re.sub(r"(Duration|Memory Used): [\d.]+ ", r"\1: N ", line)
        lines.append(line.split("\tRuntime Version ARN")[0])
    return lines


def test_a_failed_init_is_retried_inside_the_event_and_its_second_failure_is_the_answer(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(init="init_error", on_event=echo)))

    async def scenario(engine):
        for attempt in range(2):  # the environment is discarded: the next event starts (and retries) again
            result = await engine.invoke(spec(), request(f"r{attempt}", tail=True))
            assert result.function_error == "Unhandled" and result.error_type == "Runtime.ImportModuleError"
            assert json.loads(result.payload)["requestId"] == ""
            assert _platform(result.log_tail) == [
                "INIT_START Runtime Version: python:3.12.v1",
                "[ERROR] Runtime.ImportModuleError: boom",
                "INIT_REPORT Init Duration: N ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError",
                "[ERROR] Runtime.ImportModuleError: boom",
                "INIT_REPORT Init Duration: N ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ImportModuleError",
                f"START RequestId: r{attempt} Version: $LATEST",
                f"END RequestId: r{attempt}",
                f"REPORT RequestId: r{attempt}\tDuration: N ms\tBilled Duration: N ms\tMemory Size: 128 MB\t"
                "Max Memory Used: N MB\tStatus: error\tError Type: Runtime.ImportModuleError",  # no Init Duration
            ]
            assert result.init_ms is None
            await asyncio.sleep(0)
        assert len(rig.backend.started) == 4 and all(s.closed for s in rig.backend.started)
        # the retry runs in a fresh process tree, told its phase (for rapid's Telemetry API events)
        assert [s.launch.env.get("_LAMINA_INIT_PHASE") for s in rig.backend.started] == [None, "invoke"] * 2
        # named apart from the failed tree, whose clean-up removes its cgroup and /tmp by name
        first, retried = rig.backend.started[:2]
        assert retried.launch.env_id != first.launch.env_id
        assert retried.launch.mounts.tmp_dir != first.launch.mounts.tmp_dir
        assert engine.stats()["environments"] == 0
    run(rig, scenario)


def test_a_retried_init_that_succeeds_runs_the_event_and_the_environment_stays_warm(tmp_path):
    script = Script(init="init_error", retry_init="ready", retry_delay=0.2, on_event=echo)
    rig = make_engine(tmp_path, FakeBackend(script))

    async def scenario(engine):
        result = await engine.invoke(spec(timeout=3), request("r", tail=True))
        assert result.function_error is None and result.payload == b'{"a": 1}'
        assert _platform(result.log_tail) == [
            "INIT_START Runtime Version: python:3.12.v1",
            "[ERROR] Runtime.ImportModuleError: boom",
            "INIT_REPORT Init Duration: N ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError",
            "START RequestId: r Version: $LATEST", "END RequestId: r",
            "REPORT RequestId: r\tDuration: N ms\tBilled Duration: N ms\tMemory Size: 128 MB\tMax Memory Used: N MB",
        ]
        assert result.init_ms is None
        assert result.duration_ms >= 200  # the event's clock started with the retried Init
        first, retried = rig.backend.started
        assert first.closed and not retried.closed
        # the event has what the retried Init left of its 3 s: its deadline is ~2.8 s away, not 3 s
        header = next(h for kind, h, _ in retried.sent if kind == protocol.INVOKE)
        assert header["deadline"] - time.time() * 1000 < 2850
        again = await engine.invoke(spec(timeout=3), request("r2", tail=True))  # warm: no new tree
        assert again.function_error is None and len(rig.backend.started) == 2
        assert "INIT_" not in again.log_tail
        assert engine.stats()["environments"] == 1
    run(rig, scenario)


def test_runtime_dying_during_init_is_an_exit_error(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(init="crash")))

    async def scenario(engine):
        result = await engine.invoke(spec(), request("r", tail=True))
        assert json.loads(result.payload) == {"errorMessage": "RequestId: r Error: Runtime exited with error: exit status 1",
                                              "errorType": "Runtime.ExitError"}
        # the exit lines name the event: they follow its START (the retried Init's exit, as on AWS)
        assert _platform(result.log_tail)[1:] == [
            "INIT_REPORT Init Duration: N ms\tPhase: init\tStatus: error\tError Type: Runtime.ExitError",
            "INIT_REPORT Init Duration: N ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ExitError",
            "START RequestId: r Version: $LATEST",
            "RequestId: r Error: Runtime exited with error: exit status 1", "Runtime.ExitError",
            "END RequestId: r",
            "REPORT RequestId: r\tDuration: N ms\tBilled Duration: N ms\tMemory Size: 128 MB\tMax Memory Used: N MB"
            "\tStatus: error\tError Type: Runtime.ExitError",
        ]
        assert len(rig.backend.started) == 2 and engine.stats()["environments"] == 0
    run(rig, scenario)


def test_an_init_past_the_init_timeout_is_retried_under_the_function_timeout(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(init="hang")), init_timeout=0.05)

    async def scenario(engine):
        began = time.monotonic()
        result = await engine.invoke(spec(timeout=1), request("r", tail=True))
        assert 1.0 <= time.monotonic() - began < 2.0  # 0.05 s of Init, then the 1 s function timeout
        assert result.error_type == "Sandbox.Timedout"
        assert json.loads(result.payload)["errorMessage"] == "RequestId: r Error: Task timed out after 1.00 seconds"
        lines = _platform(result.log_tail)
        assert lines[1:4] == ["INIT_REPORT Init Duration: N ms\tPhase: init\tStatus: timeout",
                              "INIT_REPORT Init Duration: N ms\tPhase: invoke\tStatus: timeout",
                              "START RequestId: r Version: $LATEST"]
        assert " r Task timed out after 1.0" in lines[4]  # the retried Init's time, counted in the event's
        assert lines[5:] == ["END RequestId: r", "REPORT RequestId: r\tDuration: N ms\tBilled Duration: N ms\t"
                             "Memory Size: 128 MB\tMax Memory Used: N MB\tStatus: timeout"]
        assert result.duration_ms >= 1000
        await asyncio.sleep(0.01)
        assert [s.signals for s in rig.backend.started] == [["KILL"], ["KILL"]]
        assert engine.stats()["environments"] == 0
    run(rig, scenario)


def test_a_provisioned_environment_whose_init_fails_is_not_retried(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(init="init_error")))

    async def scenario(engine):
        version = spec(version="1")
        engine.provision({version.pool_key: (version, 1)})
        await _settle(lambda: len(rig.backend.started) >= 1)
        await asyncio.sleep(0.05)
        assert rig.backend.started[0].launch.env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "provisioned-concurrency"
        assert all(s.launch.env.get("_LAMINA_INIT_PHASE") is None for s in rig.backend.started)
        engine.provision({})
    run(rig, scenario)


def test_event_timeout_kills_the_environment_and_the_next_event_starts_cold(tmp_path):
    script = Script(on_event=lambda sandbox, header, payload: None if payload == b'"hang"' else echo(sandbox, header, payload))
    rig = make_engine(tmp_path, FakeBackend(script))

    async def scenario(engine):
        result = await engine.invoke(spec(timeout=1), request("r", b'"hang"', tail=True))
        assert result.function_error == "Unhandled" and result.error_type == "Sandbox.Timedout"
        assert result.payload == (b'{"errorMessage":"RequestId: r Error: Task timed out after 1.00 seconds",'
                                  b'"errorType":"Sandbox.Timedout"}')
        assert " r Task timed out after 1.0" in result.log_tail and result.log_tail.rstrip().endswith("Status: timeout")
        assert result.max_memory_mb == 4  # the sandbox's own reading, taken before the kill
        await asyncio.sleep(0.01)
        assert rig.backend.started[0].signals == ["KILL"]
        again = await engine.invoke(spec(timeout=1), request("r2"))
        assert again.function_error is None and again.init_ms is not None and len(rig.backend.started) == 2
    run(rig, scenario)


def test_runtime_dying_during_an_event_is_an_exit_error(tmp_path):
    def crash(sandbox, header, payload):
        sandbox.deliver(protocol.STREAM, {}, b"last words\n")
        sandbox._loop.call_soon(sandbox.exit, -9)
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=crash)))

    async def scenario(engine):
        result = await engine.invoke(spec(), request("r", tail=True))
        assert json.loads(result.payload) == {"errorMessage": "RequestId: r Error: Runtime exited with error: signal: killed",
                                              "errorType": "Runtime.ExitError"}
        lines = result.log_tail.splitlines()
        assert lines[-5:-1] == ["last words", "RequestId: r Error: Runtime exited with error: signal: killed",
                                "Runtime.ExitError", "END RequestId: r"]
        assert lines[-1].endswith("\tStatus: error\tError Type: Runtime.ExitError")
        assert engine.stats()["environments"] == 0
    run(rig, scenario)


def test_handler_error_and_oversized_response_keep_the_environment(tmp_path):
    def answer(sandbox, header, payload):
        if payload == b'"big"':
            sandbox._loop.call_soon(sandbox._sink.frame_received, protocol.RESULT, {}, None, 7_000_000)
        else:
            sandbox.reply(protocol.ERROR, {"type": "ValueError"}, b'{"errorMessage": "bad", "errorType": "ValueError"}')
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=answer)))

    async def scenario(engine):
        error = await engine.invoke(spec(), request("r1", b'"boom"', tail=True))
        assert (error.function_error, error.error_type) == ("Unhandled", "ValueError")
        assert "Status" not in error.log_tail
        big = await engine.invoke(spec(), request("r2", b'"big"', tail=True))
        assert (big.function_error, big.error_type) == ("Unhandled", "Function.ResponseSizeTooLarge")
        assert "\tStatus: error\tError Type: Function.ResponseSizeTooLarge" in big.log_tail
        assert len(rig.backend.started) == 1 and engine.stats()["idle"] == 1
    run(rig, scenario)


def test_bytes_results_keep_their_content_type(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(
        on_event=lambda sandbox, h, p: sandbox.reply(protocol.RESULT, {"ct": "application/unknown"}, b"\x00raw"))))

    async def scenario(engine):
        result = await engine.invoke(spec(), request())
        assert (result.payload, result.content_type) == (b"\x00raw", "application/unknown")
    run(rig, scenario)


def test_idle_environments_are_reaped_after_the_idle_timeout(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(), idle_timeout=30.0)

    async def scenario(engine):
        await asyncio.gather(*(engine.invoke(spec(), request(f"r{i}")) for i in range(2)))
        now = time.monotonic()
        engine.tick(now + 5)
        await asyncio.sleep(0.01)
        assert engine.stats()["environments"] == 2
        engine.tick(now + 31)
        await asyncio.sleep(0.01)
        assert engine.stats()["environments"] == 0
        assert all(s.signals == ["TERM"] for s in rig.backend.started)
        engine.tick(now + 62)
        assert engine.stats()["pools"] == 0  # an empty pool is forgotten after another idle timeout
    run(rig, scenario)


def test_signal_stop_sends_sigterm_at_once_and_stop_then_only_kills_after_the_grace(tmp_path):
    """The engine's close signals every environment before any stop waits: `signal_stop` sends
    SIGTERM without awaiting anything; the `stop` that follows sends no second one, and SIGKILL
    once the grace is over; a second `signal_stop`, or one after the environment is gone, sends
    nothing."""
    rig = make_engine(tmp_path, FakeBackend(ignore_term=True))

    async def scenario(engine):
        await engine.invoke(spec(), request("r1"))
        env = next(iter(engine._pools[("f", "$LATEST")].environments))
        sandbox = rig.backend.started[0]
        env.signal_stop(0.05)
        env.signal_stop(0.05)
        assert sandbox.signals == ["TERM"] and env.state is State.STOPPING
        await env.stop(0.05)
        assert sandbox.signals == ["TERM", "KILL"] and env.state is State.GONE
        env.signal_stop(0.05)
        assert sandbox.signals == ["TERM", "KILL"]
    run(rig, scenario)


def test_signal_stop_without_a_grace_kills_at_once(tmp_path):
    rig = make_engine(tmp_path, FakeBackend())

    async def scenario(engine):
        await engine.invoke(spec(), request("r1"))
        env = next(iter(engine._pools[("f", "$LATEST")].environments))
        env.signal_stop(0)
        assert rig.backend.started[0].signals == ["KILL"]
        await env.stop(0)
        assert env.state is State.GONE and rig.backend.started[0].signals == ["KILL"]
    run(rig, scenario)


def test_close_ends_everything_with_term_then_kill(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=sleepy(10)), ignore_term=True))

    async def scenario(engine):
        calls = [asyncio.ensure_future(engine.invoke(spec(), request(f"r{i}"))) for i in range(3)]
        await asyncio.sleep(0.01)
        await engine.close()
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert [type(r) for r in results] == [ServiceException] * 3, results
        assert [(s.signals, s.closed) for s in rig.backend.started] == [(["TERM", "KILL"], True)] * 3
        assert engine.stats()["environments"] == 0
        with pytest.raises(Exception, match="shutting down"):
            await engine.invoke(spec(), request())
    run(rig, scenario)


def test_a_cancelled_caller_ends_its_environment(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(Script(on_event=sleepy(10))))

    async def scenario(engine):
        call = asyncio.ensure_future(engine.invoke(spec(), request()))
        await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await asyncio.sleep(0.01)
        assert rig.backend.started[0].signals == ["KILL"] and engine.stats()["environments"] == 0
        assert engine.stats()["inFlight"] == 0
    run(rig, scenario)


def test_sandbox_that_cannot_start_is_an_invalid_entrypoint(tmp_path):
    backend = FakeBackend()
    backend.fail_start = FileNotFoundError(2, "No such file or directory")
    rig = make_engine(tmp_path, backend)

    async def scenario(engine):
        result = await engine.invoke(spec(), request("r"))
        assert json.loads(result.payload) == {
            "errorMessage": "RequestId: r Error: fork/exec /usr/bin/python3.12: no such file or directory",
            "errorType": "Runtime.InvalidEntrypoint"}
        assert engine.stats()["environments"] == 0
    run(rig, scenario)


def test_runtimes_the_engine_cannot_run(tmp_path):
    rig = make_engine(tmp_path, FakeBackend())

    async def scenario(engine):
        node = await engine.invoke(replace(spec(), runtime="nodejs22.x"), request("r"))
        assert node.error_type == "Runtime.InvalidEntrypoint"
        assert "nodejs22.x" in json.loads(node.payload)["errorMessage"]
        missing = await engine.invoke(replace(spec(), interpreter=None), request("r"))
        assert "not installed" in json.loads(missing.payload)["errorMessage"]
        assert rig.backend.started == []
    run(rig, scenario)


def test_unexpected_frames_and_output_between_events_are_handled(tmp_path):
    rig = make_engine(tmp_path, FakeBackend())

    async def scenario(engine):
        await engine.invoke(spec(), request("r1"))
        sandbox = rig.backend.started[0]
        sandbox.deliver(protocol.RESULT, {}, b"stray")  # no event in flight: ignored
        sandbox.deliver(protocol.STREAM, {}, b"background thread output\n")
        engine.tick(time.monotonic())  # the ticker flushes output written between events
        assert messages(rig)[-1] == "background thread output\n"
        assert (await engine.invoke(spec(), request("r2"))).payload == b'{"a": 1}'
    run(rig, scenario)


def test_retire_may_be_called_from_another_thread(tmp_path):
    rig = make_engine(tmp_path, FakeBackend())

    async def scenario(engine):
        await engine.invoke(spec(), request("a"))
        await asyncio.to_thread(engine.retire, "f")
        await asyncio.sleep(0.02)
        assert engine.stats()["environments"] == 0 and rig.backend.started[0].signals == ["TERM"]
    run(rig, scenario)


async def _settle(condition) -> None:
    """Let the loop run until `condition()` holds (fake runtimes answer in a few iterations)."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the engine did not settle")


def test_provisioned_environments_stay_initialised_and_a_lowered_target_ages_out(tmp_path):
    rig = make_engine(tmp_path, FakeBackend(), idle_timeout=30.0)

    async def scenario(engine):
        version = spec()
        engine.provision({version.pool_key: (version, 2)})
        await _settle(lambda: engine.provisioned_ready("f", "$LATEST") == 2)
        assert len(rig.backend.started) == 2
        now = time.monotonic()
        engine.tick(now + 31)  # provisioned ones are never reaped for idleness
        await asyncio.sleep(0)
        assert engine.stats()["environments"] == 2
        engine.provision({version.pool_key: (version, 1)})  # one is demoted, none stopped or started
        assert engine.provisioned_ready("f", "$LATEST") == 1
        assert engine.stats()["environments"] == 2 and len(rig.backend.started) == 2
        engine.tick(now + 62)  # the demoted one ages out like any idle environment
        await _settle(lambda: engine.stats()["environments"] == 1)
        engine.provision({})  # back to on-demand only: the last one ages out too
        assert engine.provisioned_ready("f", "$LATEST") == 0
        engine.tick(now + 93)
        await _settle(lambda: engine.stats()["environments"] == 0)
        assert len(rig.backend.started) == 2
    run(rig, scenario)


def test_a_provisioned_environment_that_ends_is_replaced(tmp_path):
    rig = make_engine(tmp_path, FakeBackend())

    async def scenario(engine):
        version = spec()
        engine.provision({version.pool_key: (version, 1)})
        await _settle(lambda: engine.provisioned_ready("f", "$LATEST") == 1)
        rig.backend.started[0].exit(1)  # crashed while idle
        await _settle(lambda: engine.provisioned_ready("f", "$LATEST") == 0)
        engine.tick(time.monotonic() + 60)
        await _settle(lambda: engine.provisioned_ready("f", "$LATEST") == 1)
        assert len(rig.backend.started) == 2
    run(rig, scenario)


def test_each_event_gets_its_whole_timeout_after_an_earlier_one(tmp_path):
    """The timer armed for an earlier event's deadline does not time out a later one early: it waits
    on until the later event's own deadline."""
    slow = sleepy(0.6)

    def answer(sandbox, header, payload):
        if payload == b'"slow"':
            slow(sandbox, header, payload)
        elif payload != b'"hang"':
            echo(sandbox, header, payload)

    rig = make_engine(tmp_path, FakeBackend(Script(on_event=answer)))

    async def scenario(engine):
        first = await engine.invoke(spec(timeout=1), request("r1", b'"slow"'))
        assert first.function_error is None
        hung = await engine.invoke(spec(timeout=1), request("r2", b'"hang"'))
        assert hung.error_type == "Sandbox.Timedout" and hung.duration_ms >= 1000
    run(rig, scenario)
