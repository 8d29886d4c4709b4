"""An environment's Init: starting its process tree, waiting for READY within the Init timeout,
and what a failed Init logs and answers. An on-demand Init that fails (an error, the runtime
exiting, the Init timeout) is tried again inside the event it was started for, as AWS does
("suppressed init"): its INIT_REPORT says `Phase: init`, the failed process tree is ended, and a
fresh one initialises under the function timeout, its INIT_REPORT saying `Phase: invoke`. The
environment stays STARTING meanwhile and keeps its id, log stream and scratch directory; the
event's clock starts with the retry, so its Duration includes the retried Init and REPORT has no
Init Duration. A retry that succeeds runs the event with what is left of the timeout, and the
environment stays warm.

`Initialising` is the part of lamina.engine.environment.Environment that does this (its base
class): it reads and sets the environment's state (`state`, `_to`), sandbox and channel, waiter,
exit status and platform lines, which Environment owns. Imports lamina.engine.* only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time

from lamina.engine import envvars, policy, report
from lamina.engine import protocol as frames
from lamina.engine.gate import StartGate
from lamina.engine.sandbox import Launch
from lamina.engine.spec import InvokeRequest, InvokeResult
from lamina.engine.states import LIVE, State

INIT_REPLIES = frozenset({frames.READY, frames.INIT_ERROR})


class Halted(Exception):
    """The server is stopping and its grace for invokes in flight ended: this event got no result."""


class Initialising:
    """Environment's Init (a base class: the attributes it uses are Environment's)."""

    async def prepare(self) -> bool:
        """Initialise ahead of any event (provisioned concurrency); True once it is ready. The first
        event then reports no Init Duration, as on AWS."""
        if self.state is not State.STARTING:
            return self.state is State.READY
        try:
            failure = await self._initialise(InvokeRequest(request_id="", payload=b"", invoked_arn=""))
        finally:
            self._settled()
        return failure is None and self.state is State.READY

    async def _initialise(self, request: InvokeRequest) -> InvokeResult | None:
        """Start and initialise it once the gate gives it a slot (the wait is not Init time)."""
        if self._gate is None:
            return await self._start_and_initialise(request)
        turn = self._turn = self._gate.ticket()
        try:
            ticket = await turn
        except asyncio.CancelledError:
            # never started: it is gone now (halted, or its caller went away, e.g. the event queue
            # closing), so nothing waits for it to end
            StartGate.give_up(turn)
            if self.state in LIVE:
                self._to(State.STOPPING)
            self._to(State.GONE)
            if not self._halted:
                raise
            raise Halted from None
        finally:
            self._turn = None
        try:
            return await self._start_and_initialise(request)
        finally:
            ticket.release()

    async def _start_and_initialise(self, request: InvokeRequest) -> InvokeResult | None:
        spec = self.spec
        initialization_type = self._launch.env.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        self._lines.init_start(spec.runtime, self._region, spec.function_name, initialization_type)
        retry = self._keep = policy.retries_init(initialization_type, bool(request.request_id))
        try:
            booted = await self._boot(request, self._launch, self._init_timeout)
        except BaseException:
            self._let_go()
            raise
        if isinstance(booted, InvokeResult):
            self._let_go()
            return booted
        kind, payload, detail, started, at = booted
        self.init_ms = (at - started) * 1000
        if kind == "ready":
            self._let_go()
            return None
        status, reported, body, error_type = self._failure(request.request_id, kind, payload, detail)
        if self.state is not State.STARTING or not retry:
            self._let_go()
            self._ended()
            self._lines.init_report(self.init_ms, status, reported)
            if kind == "exit" or (kind == "init_error" and payload is None):
                self._lines.exited(request.request_id, detail.get("status", 1), error_type)
            return self._platform_failure(request, started, at, body, error_type, status)
        # Suppressed init: tried again inside this event, in a fresh process tree.
        self._drain_output()  # what the failed Init wrote goes before its INIT_REPORT
        self._lines.init_report(self.init_ms, status, reported)
        if not await self._replace():  # stopped meanwhile: the first failure is the answer
            if self._halted:
                raise Halted
            return self._platform_failure(request, started, at, body, error_type, status)
        booted = await self._boot(request, self._retry_launch(), spec.timeout_s)  # the event's clock starts now
        if isinstance(booted, InvokeResult):
            return booted
        kind, payload, detail, started, at = booted
        self.init_ms = (at - started) * 1000
        if kind == "ready":
            self._retried = started
            return None
        return self._retry_failed(request, kind, payload, detail, started, at)

    async def _boot(self, request: InvokeRequest, launch: Launch,
                    timeout: float) -> tuple[str, bytes | None, dict, float, float] | InvokeResult:
        """Start a process tree and wait for its Init (at most `timeout` seconds): READY once it is
        (then the environment is READY), or what ended it as (kind, payload, detail, started, at);
        an InvokeResult when the tree could not be started at all."""
        started = time.perf_counter()
        starting = asyncio.ensure_future(self._backend.start(launch))
        try:
            # A caller going away (cancelled) does not cancel the start: a half-made sandbox would
            # be nobody's (its process left running, this environment never gone, so the engine's
            # close waiting for it forever); the start ends, and what it made is ended then.
            self._sandbox = await asyncio.shield(starting)
        except asyncio.CancelledError:
            if self.state in LIVE:
                self._to(State.STOPPING)
            starting.add_done_callback(self._started_after_all)
            raise
        except OSError as exc:
            if self.state is State.STARTING:
                self._to(State.FAILED)
            self._to(State.GONE)
            detail = f"fork/exec {launch.interpreter}: {exc.strerror or exc}".lower()
            return self._platform_failure(request, started, time.perf_counter(),
                                          report.invalid_entrypoint(request.request_id, detail),
                                          "Runtime.InvalidEntrypoint")
        self._sandbox.add_exit_callback(self._exited)
        if self.state is State.STOPPING or self._halted:  # stopped while it was being started
            self._sandbox.kill()
        if self._halted:
            self.abandon()
            raise Halted
        waiter = self._waiter = self._loop.create_future()
        self._expect = INIT_REPLIES
        timer = self._deadline.init_timer(timeout, waiter)
        try:
            self._channel = await self._sandbox.connect(self)
            kind, payload, detail, at = await waiter
        except asyncio.CancelledError:
            self.abandon()
            raise
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None
        if kind == "halted":
            self.abandon()
            raise Halted
        if kind == "ready":
            if self.state is State.STARTING:
                self._to(State.READY)
                return kind, payload, detail, started, at
            kind, detail = "exit", {"status": -signal.SIGKILL}  # stopped during init
        if self._status is None:
            self._peak_kb = max(self._peak_kb, self._sandbox.peak_memory_kb())
            self._sandbox.kill()
        return kind, payload, detail, started, at

    def _let_go(self) -> None:
        """No retry after all (or it is under way): a tree that ended meanwhile ends the environment."""
        self._keep = False
        self._check_gone()

    def _ended(self) -> None:
        """A failed Init that is not tried again: the environment fails (gone once its tree is)."""
        if self.state is State.STARTING:
            self._to(State.FAILED)

    def _failure(self, request_id: str, kind: str, payload: bytes | None,
                 detail: dict) -> tuple[str, str | None, bytes, str]:
        """What a failed Init reports: (status, the Error Type of its INIT_REPORT, the invoke's
        error body, the invoke's error type)."""
        if kind == "init_error" and payload is not None:
            error_type = detail.get("type") or "Runtime.Unknown"
            if detail.get("platform") is not None:  # rapid's own finding, worded by the platform
                payload = report.platform_failure(request_id, detail["platform"], error_type)
            return "error", error_type, payload, error_type
        if kind == "timeout":
            return "timeout", None, report.timed_out(request_id, self.spec.timeout_s), "Sandbox.Timedout"
        error_type = self._exit_type()
        return "error", error_type, report.exited(request_id, detail.get("status", 1), error_type), error_type

    async def _replace(self) -> bool:
        """Wait until the failed Init's process tree (killed) is gone, keeping the environment for
        the retry: True once it can start another; False when it was stopped or halted meanwhile
        (then it is gone too)."""
        sandbox = self._sandbox
        replaced = self._replaced = self._loop.create_future()
        self._check_gone()  # it may be gone already
        try:
            await replaced
        except asyncio.CancelledError:
            self.abandon()
            self._let_go()
            raise
        finally:
            self._replaced = None
        if self.state is not State.STARTING or self._halted:
            if self.state in LIVE:
                self._to(State.STOPPING)
            if self.state is not State.GONE:
                self._to(State.GONE)
            return False
        if self._eof_timer is not None:
            self._eof_timer.cancel()
            self._eof_timer = None
        if sandbox is not None:
            self._backend.settled(sandbox)
            sandbox.close()
        self._sandbox = self._channel = None
        self._status, self._eof, self._peak_kb = None, False, 0
        self._keep = False  # a retry that fails too ends the environment
        return True

    def _retry_launch(self) -> Launch:
        """The launch of the retried Init: told its phase, and named apart from the failed tree's (whose
        clean-up, in the background, removes its cgroup and its /tmp by name)."""
        launch = self._launch
        return dataclasses.replace(
            launch, env_id=launch.env_id + "-retry", env={**launch.env, envvars.INIT_PHASE_VARIABLE: "invoke"},
            mounts=dataclasses.replace(launch.mounts, tmp_dir=launch.mounts.tmp_dir.with_name("tmp-retry")))

    def _retry_failed(self, request: InvokeRequest, kind: str, payload: bytes | None, detail: dict,
                      started: float, at: float) -> InvokeResult:
        """The invoke whose retried Init failed too: INIT_REPORT (`Phase: invoke`), then START, the
        timeout or failure lines, END and REPORT, as AWS logs them; its duration is the retry's."""
        self._ended()
        rid = request.request_id
        status, reported, body, error_type = self._failure(rid, kind, payload, detail)
        duration = (at - started) * 1000
        lines = self._lines
        lines.init_report(duration, status, reported, "invoke")
        lines.unstarted = rid
        lines.write_start()
        if kind == "timeout":
            lines.timed_out(rid, duration / 1000)
        elif kind == "exit" or payload is None:
            lines.exited(rid, detail.get("status", 1), error_type)
        elif detail.get("platform") is not None:
            lines.failure(rid, detail["platform"], error_type)
        billed, memory = policy.billed_ms(duration), policy.memory_mb(self._peak_kb)
        lines.end((rid, duration, billed, memory, None, status, error_type))
        return self._unhandled(body, error_type, duration, billed, memory, None)

    def _started_after_all(self, starting: asyncio.Future) -> None:
        """The start its caller stopped waiting for is over: the sandbox it made is killed, and
        the environment is gone once that exits (at once when the start failed)."""
        sandbox = None if starting.cancelled() or starting.exception() is not None else starting.result()
        if sandbox is None:
            self._to(State.GONE)
            return
        self._sandbox = sandbox
        sandbox.add_exit_callback(self._exited)
        sandbox.kill()

    def _platform_failure(self, request: InvokeRequest, started: float, at: float, body: bytes,
                          error_type: str, status: str = "error") -> InvokeResult:
        """The result of the invoke whose environment could not be initialised, with START, END and
        REPORT logged around the failure (its duration is the failed init's)."""
        duration = (at - started) * 1000
        billed, memory = policy.billed_ms(duration), policy.memory_mb(self._peak_kb)
        self._lines.failed_init(request.request_id, duration, billed, memory, status, error_type)
        return self._unhandled(body, error_type, duration, billed, memory, self.init_ms)

    def _unhandled(self, body: bytes, error_type: str, duration: float, billed: int, memory: int,
                   init_ms: float | None) -> InvokeResult:
        """The Unhandled result of an invoke whose environment could not be initialised, once its
        lines are written (a Tail invoke gets them)."""
        captured = self.log.captured()
        return InvokeResult(
            payload=body, executed_version=self.spec.version, function_error="Unhandled", error_type=error_type,
            log_tail=report.tail(captured) if captured is not None else None, duration_ms=duration,
            billed_ms=billed, init_ms=init_ms, max_memory_mb=memory,
        )

    def _exit_type(self) -> str:
        """Why the runtime process is gone: the memory limit, or an exit of its own."""
        oom = self._sandbox is not None and self._sandbox.out_of_memory()
        return "Runtime.OutOfMemory" if oom else "Runtime.ExitError"
