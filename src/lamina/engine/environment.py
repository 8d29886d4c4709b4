"""One execution environment: its state machine, its sandbox, the frames of its runtime and the
event in flight. It turns what happened into an InvokeResult with AWS's error bodies; its
platform log lines are `PlatformLines`' (engine/platform_lines.py), its timeouts `Deadline`'s
(engine/deadline.py).

One event at a time: the pool never hands a busy environment out. The warm path is one frame
out, one frame back, a timer, and list appends for the log; `run_warm` runs it without a
coroutine (the warm lane), with the same two halves as `run` (`_send`, `_concluded`). Its Init
(and a failed Init tried again inside its event, AWS's suppressed init) is `Initialising`'s
(engine/initialising.py), its base class. Imports lamina.engine.* only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable

from lamina.engine import policy, report
from lamina.engine import protocol as frames
from lamina.engine.deadline import Deadline
from lamina.engine.gate import StartGate, Ticket
from lamina.engine.initialising import Halted, Initialising
from lamina.engine.logstream import PROCESS, PROGRAM, LogStream
from lamina.engine.platform_lines import PlatformLines
from lamina.engine.protocol import Channel
from lamina.engine.sandbox import Launch, Sandbox, SandboxBackend
from lamina.engine.spec import InvokeRequest, InvokeResult, ResponseStream, RunSpec
from lamina.engine.states import LIVE, State, advance

log = logging.getLogger("lamina.engine")
_quote = json.encoder.encode_basestring_ascii  # a JSON string literal, in C


def _new_trace_id(now_ms: int) -> str:
    """An X-Ray header for an invoke that came without one (Lambda sets one on every invoke)."""
    return (f"Root=1-{now_ms // 1000:08x}-{random.getrandbits(96):024x};"
            f"Parent={random.getrandbits(64):016x};Sampled=0")


# What the runtime (or the platform) answered: (kind, payload, detail, monotonic time of arrival).
Outcome = tuple[str, bytes | None, dict, float]
_INVOKE_REPLIES = frozenset({frames.RESULT, frames.ERROR})
STREAM_TYPE = "application/octet-stream"  # a stream's content type when the runtime names none
_EOF_GRACE = 1.0  # seconds to wait for the channel to close after the process is gone


class _Reply:
    """The waiter of a `run_warm` event, in place of a future: a RESULT frame's outcome is handed on
    at once (`answer`); any other outcome (an error frame, the timeout, the process gone, a halt)
    a loop turn later, as a future's callback would be."""

    __slots__ = ("_env", "request", "then", "started", "_set")

    def __init__(self, env: Environment, request: InvokeRequest,
                 done: Callable[[InvokeResult | None, BaseException | None], None]) -> None:
        self._env = env
        self.request = request
        self.then = done
        self.started = 0.0
        self._set = False

    def done(self) -> bool:
        return self._set

    def set_result(self, outcome: Outcome) -> None:
        self._set = True
        self._env._loop.call_soon(self._env._warm_ended, self, outcome)

    def answer(self, outcome: Outcome) -> None:
        self._set = True
        self._env._warm_ended(self, outcome)


class Environment(Initialising):
    def __init__(self, *, env_id: str, spec: RunSpec, generation: int, backend: SandboxBackend,
                 launch: Launch, log_stream: LogStream, region: str, init_timeout: float,
                 on_gone: Callable[[Environment], None], gate: StartGate | None = None) -> None:
        self.id = env_id
        self.spec = spec
        self.generation = generation
        self.state = State.STARTING
        self.released_at = 0.0
        self.log = log_stream
        self.init_ms: float | None = None
        self.provisioned = False  # initialised ahead for provisioned concurrency; never reaped
        self._backend = backend
        self._launch = launch
        self._region = region
        self._init_timeout = init_timeout
        self._on_gone = on_gone
        self._gate = gate  # how many environments initialise at once (None: no limit)
        self._turn: asyncio.Future[Ticket] | None = None  # waiting for a slot of the gate
        self._loop = asyncio.get_running_loop()
        self._sandbox: Sandbox | None = None
        self._channel: Channel | None = None
        self._waiter: asyncio.Future[Outcome] | None = None
        self._expect: frozenset[int] = frozenset()
        self._halted = False
        self._stopping = False  # stop() began
        self._signalled = False  # SIGTERM (or SIGKILL) went to it from signal_stop() or stop()
        self._peak_kb = 0
        self._status: int | None = None
        self._eof = False
        self._eof_timer: asyncio.TimerHandle | None = None
        self._keep = False  # a failed Init will be retried: its tree ending does not end the environment
        self._replaced: asyncio.Future[None] | None = None  # a failed Init's tree is ending, for its retry
        self._retried: float | None = None  # when the event's retried Init began (it succeeded), until run
        self._gone: asyncio.Future[None] = self._loop.create_future()
        self._lines = PlatformLines(log_stream, spec, self._drain_output)
        self._deadline = Deadline(self._loop, spec, self._in_flight)
        # the streamed response of the event in flight
        self._stream: ResponseStream | None = None
        self._stream_type = STREAM_TYPE
        self._streamed = 0
        self._began = False
        self._chunks: list[bytes] = []
        self._paused = False

    def __repr__(self) -> str:
        return f"<Environment {self.id} {self.spec.function_name}:{self.spec.version} {self.state.value}>"

    @property
    def sandbox(self) -> Sandbox | None:
        return self._sandbox

    @property
    def live(self) -> bool:
        """Starting, ready or busy: neither ending nor gone."""
        return self.state in LIVE

    def _to(self, target: State) -> None:
        if self._lines.pending is not None:
            self._lines.settle()
        self.state = advance(self.state, target)
        if target is State.GONE:
            self._deadline.cancel()
            if self._sandbox is not None:
                self._sandbox.close()
            self.log.end_of_output()
            self.log.flush()
            if not self._gone.done():
                self._gone.set_result(None)
            self._on_gone(self)

    # ---- what the sandbox delivers -------------------------------------------------------------

    def frame_received(self, kind: int, header: dict, payload: bytes | None, size: int) -> None:
        lines = self._lines
        if lines.pending is not None:  # output after the last result still follows its END and REPORT
            lines.settle()
        elif lines.unstarted is not None:
            lines.write_start()
        if kind == frames.STREAM:
            if payload is not None:
                self.log.output(payload, PROGRAM)
            return
        if kind == frames.RECORD:
            if payload is not None:
                self.log.record(payload)
            return
        if kind == frames.CHUNK:
            self._chunk(header, payload, size)
            return
        rss = header.get("rss")
        if rss and rss > self._peak_kb:
            self._peak_kb = rss
        waiter = self._waiter
        if waiter is None or waiter.done() or kind not in self._expect:
            # one that timed out or was halted may still answer late: that is no protocol error
            if self.state in LIVE and (waiter is None or not waiter.done()):
                log.warning("%r: unexpected frame %d from the runtime", self, kind)
            return
        now = time.perf_counter()
        if payload is None:
            waiter.set_result(("too_large", None, {"size": size}, now))
        elif kind == frames.RESULT:
            if type(waiter) is _Reply:  # the warm lane's: the answer goes out now, not a loop turn later
                waiter.answer(("result", payload, header, now))
            else:
                waiter.set_result(("result", payload, header, now))
        elif kind == frames.ERROR:
            waiter.set_result(("error", payload, header, now))
        elif kind == frames.READY:
            waiter.set_result(("ready", None, header, now))
        else:
            waiter.set_result(("init_error", payload, header, now))

    def _chunk(self, header: dict, payload: bytes | None, size: int) -> None:
        """A piece of a streamed response: to the request's stream as it arrives, or collected for a
        caller that takes the response whole (within the 6 MB a buffered response may have)."""
        waiter = self._waiter
        if waiter is None or waiter.done() or self._expect is not _INVOKE_REPLIES:
            return
        if "ct" in header:
            self._stream_type = header["ct"]
        self._streamed += size
        stream = self._stream
        if stream is None:
            if payload is None or self._streamed > frames.MAX_RESPONSE:
                waiter.set_result(("stream_too_large", None, {"size": self._streamed}, time.perf_counter()))
                return
            self._chunks.append(payload)
            return
        if self._streamed > frames.STREAM_LIMIT or payload is None:
            waiter.set_result(("stream_too_large", None, {"size": self._streamed}, time.perf_counter()))
            return
        if not self._began:
            self._began = True
            stream.begin(self._stream_type, self.spec.version)
        if payload:
            stream.write(payload)

    def _pause(self, paused: bool) -> None:
        """Hold the runtime back (its frames stay unread) while the stream's reader is behind."""
        if self._channel is not None and self._paused != paused:
            self._paused = paused
            self._channel.pause(paused)

    def _in_flight(self) -> asyncio.Future[Outcome] | None:
        """The waiter of the event being run, unless it was answered (None between events)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done() and self._expect is _INVOKE_REPLIES:
            return waiter
        return None

    def _reader_gone(self) -> None:
        waiter = self._in_flight()
        if waiter is not None:
            waiter.set_result(("disconnected", None, {}, time.perf_counter()))

    def _drain_output(self) -> None:
        if self._sandbox is not None:
            self._sandbox.drain_output()

    def output_received(self, data: bytes) -> None:
        # Read from the pipe while the last event's END and REPORT wait (`PlatformLines.pending`):
        # written before its result, as a rule, so it goes before them (they follow on the loop's next turn).
        if self._lines.unstarted is not None:
            self._lines.write_start()
        self.log.output(data, PROCESS)

    def connection_lost(self) -> None:
        self._eof = True
        self._check_gone()

    def _exited(self, status: int) -> None:
        self._status = status
        if not self._eof:
            self._eof_timer = self._loop.call_later(_EOF_GRACE, self.connection_lost)
        self._check_gone()

    def _check_gone(self) -> None:
        """The tree is gone once it was reaped and the channel drained (in either order). The tree
        of an Init that will be retried (`_keep`) ends alone: the environment lives on, unless it
        was stopped or halted meanwhile; `_replaced` learns either way."""
        if self._status is None or not self._eof or self.state is State.GONE:
            return
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(("exit", None, {"status": self._status}, time.perf_counter()))
        if not (self._keep and self.state is State.STARTING and not self._halted):
            if self.state in LIVE:
                self._to(State.FAILED)
            self._to(State.GONE)
        replaced = self._replaced
        if replaced is not None and not replaced.done():
            replaced.set_result(None)

    def halt(self) -> None:
        """The server is stopping: the event being run ends now with Halted (the engine then stops
        the environment as it stops every one at close); one being initialised is ended now, one
        still being started once it exists."""
        self._halted = True
        turn = self._turn
        if turn is not None and not turn.done():  # still waiting for its turn to start: it never will
            turn.cancel()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(("halted", None, {}, time.perf_counter()))

    # ---- lifecycle ---------------------------------------------------------------------------

    async def run(self, request: InvokeRequest) -> InvokeResult:
        """Deliver one event (initialising the environment first if it is new)."""
        if self._lines.pending is not None:
            self._lines.settle()
        if request.tail:
            self.log.capture()
        if self.state is State.STARTING:
            try:
                failure = await self._initialise(request)
                if failure is not None:
                    return failure
                retried, self._retried = self._retried, None
                if retried is not None:  # its Init was retried inside it: Duration counts from the retry
                    return await self._invoke(request, None, retried)
                return await self._invoke(request, self.init_ms)
            finally:
                self._settled()
        return await self._invoke(request, None)

    def _settled(self) -> None:
        if self._sandbox is not None:
            self._backend.settled(self._sandbox)

    async def _invoke(self, request: InvokeRequest, init_ms: float | None,
                      retried: float | None = None) -> InvokeResult:
        """Deliver the event; `retried`: when its Init, retried inside it, began (the event's
        clock started then: its timeout and Duration count from there)."""
        waiter, started = self._send(request, retried)
        try:
            outcome = await waiter
        except asyncio.CancelledError:
            self.abandon()
            raise
        finally:
            self._waiter = None
        return self._concluded(request, outcome, started, init_ms)

    def run_warm(self, request: InvokeRequest, done: Callable[[InvokeResult | None, BaseException | None], None]) -> None:
        """`run` for a READY environment without a coroutine (the warm lane, docs/architecture.md):
        the event is sent now, and `done(result, None)` (or `done(None, Halted())`) is called from
        the loop once it ended, as `run` would return (or raise) then."""
        if self._lines.pending is not None:
            self._lines.settle()
        if request.tail:
            self.log.capture()
        self._send(request, None, _Reply(self, request, done))

    def _warm_ended(self, reply: _Reply, outcome: Outcome) -> None:
        """The end of `run_warm`'s event (its `_Reply` has the outcome)."""
        self._waiter = None
        try:
            result = self._concluded(reply.request, outcome, reply.started, None)
        except Exception as error:  # Halted; anything else is a fault the caller hears of, as `run` raises it
            if not isinstance(error, Halted):
                log.exception("%r: ending an event failed", self)
            reply.then(None, error)
            return
        reply.then(result, None)

    def _send(self, request: InvokeRequest, retried: float | None,
              reply: _Reply | None = None) -> tuple[asyncio.Future[Outcome] | _Reply, float]:
        """The event on its way: BUSY, the INVOKE frame, START, its deadline watched. (Its waiter
        — `reply` when given, else a future —, when its clock started.)"""
        self._to(State.BUSY)
        spec = self.spec
        rid = request.request_id
        now_ms = int(time.time() * 1000)
        left = None if retried is None else policy.event_left(spec.timeout_s, time.perf_counter() - retried)
        header = (f'{{"id":{_quote(rid)},"arn":{_quote(request.invoked_arn)},'
                  f'"deadline":{now_ms + (spec.timeout_s * 1000 if left is None else int(left * 1000))},'
                  f'"trace":{_quote(request.trace_id or _new_trace_id(now_ms))}')
        if request.client_context:
            header += ',"cc":' + _quote(request.client_context)
        if request.cognito_identity:
            header += ',"ci":' + _quote(request.cognito_identity)
        waiter = self._waiter = self._loop.create_future() if reply is None else reply  # type: ignore[assignment]
        self._expect = _INVOKE_REPLIES
        self._stream, self._stream_type, self._streamed, self._began, self._chunks = (
            request.stream, STREAM_TYPE, 0, False, [])
        if request.stream is not None:
            request.stream.attach(self._reader_gone, self._pause)
        started = time.perf_counter() if retried is None else retried
        # START is written once the event is on its way, still before anything the runtime sends
        # (frame_received and output_received write it first if they come sooner)
        lines = self._lines
        lines.unstarted = rid
        try:
            self._channel.send(frames.INVOKE, (header + "}").encode(), request.payload or b"{}")  # type: ignore[union-attr]
        finally:
            if lines.unstarted is not None:
                lines.write_start()
        self._deadline.watch(left)
        if reply is not None:
            reply.started = started
        return waiter, started

    def _concluded(self, request: InvokeRequest, outcome: Outcome, started: float, init_ms: float | None) -> InvokeResult:
        """What the event came to, once its waiter has the outcome: READY again (its END and
        REPORT written, or pending until the answer went out), and the result; Halted when the
        server stopped it."""
        kind, payload, detail, at = outcome
        spec = self.spec
        rid = request.request_id
        lines = self._lines
        if kind == "halted":  # back to ready: released while the engine closes, it is stopped (TERM, KILL)
            if self.state is State.BUSY:
                self._to(State.READY)
            raise Halted
        duration = (at - started) * 1000
        content_type = "application/json"
        function_error = error_type = status = None
        streamed, disconnected = self._stream is not None and self._streamed > 0, False
        if self._chunks:  # a streamed response collected for a caller that takes it whole
            if kind == "result":
                payload = b"".join(self._chunks)
            content_type = self._stream_type
        self._stream, self._chunks = None, []
        if self._paused:
            self._pause(False)
        if kind == "result":
            if detail.get("streamed"):
                streamed = streamed or self._began
                content_type = self._stream_type
            else:
                content_type = detail.get("ct", content_type)
        elif kind in ("disconnected", "stream_too_large"):
            # the reader left (or the stream passed its limit): the function is stopped where it is
            self._peak_kb = max(self._peak_kb, self._sandbox.peak_memory_kb())  # type: ignore[union-attr]
            self.abandon()
            if kind == "disconnected":
                disconnected, payload = True, b""
            else:
                payload = report.too_large(frames.STREAM_LIMIT if request.stream is not None else frames.MAX_RESPONSE)
                function_error, error_type, status = "Unhandled", "Function.ResponseSizeTooLarge", "error"
        elif kind == "error":
            function_error, error_type = "Unhandled", detail.get("type")
        elif kind == "too_large":
            payload = report.too_large(frames.MAX_RESPONSE)
            function_error, error_type, status = "Unhandled", "Function.ResponseSizeTooLarge", "error"
        elif kind == "timeout":
            self._peak_kb = max(self._peak_kb, self._sandbox.peak_memory_kb())  # type: ignore[union-attr]
            self.abandon()
            lines.timed_out(rid, duration / 1000)
            payload = report.timed_out(rid, spec.timeout_s)
            function_error, error_type, status = "Unhandled", "Sandbox.Timedout", "timeout"
        else:
            code = detail["status"]
            self._peak_kb = max(self._peak_kb, self._sandbox.peak_memory_kb())  # type: ignore[union-attr]
            error_type = self._exit_type()
            lines.exited(rid, code, error_type)
            payload = report.exited(rid, code, error_type)
            function_error, status = "Unhandled", "error"
        billed = policy.billed_ms(duration)
        memory = policy.memory_mb(self._peak_kb)
        ending = (rid, duration, billed, memory, init_ms, status, error_type)
        if self.state is State.BUSY and not request.tail:
            # The caller's answer needs none of the log lines: they are written right after it went
            # out (a callback of the next loop turn), or before anything else touches this
            # environment or its log (its next event, output, a state change), so they keep their order.
            self._to(State.READY)
            lines.pending = ending
            self._loop.call_soon(lines.settle, False)
        else:
            if self.state is State.BUSY:
                self._sandbox.drain_output()  # type: ignore[union-attr]
                self._to(State.READY)
            lines.end(ending)
        captured = self.log.captured() if request.tail else None
        return InvokeResult(
            payload=payload, executed_version=spec.version, function_error=function_error,  # type: ignore[arg-type]
            error_type=error_type, content_type=content_type,
            log_tail=report.tail(captured) if captured is not None else None,
            duration_ms=duration, billed_ms=billed, init_ms=init_ms, max_memory_mb=memory,
            streamed=streamed, disconnected=disconnected,
        )

    def abandon(self) -> None:
        """End the environment now (its event timed out or its caller went away)."""
        if self.state in LIVE:
            self._to(State.STOPPING)
        if self._sandbox is not None:
            self._sandbox.kill()

    def signal_stop(self, grace: float) -> None:
        """The first step of `stop`, now and without waiting: STOPPING, and SIGTERM (SIGKILL when
        `grace` is 0). The engine's close sends every environment's signal this way before any
        stop waits, so thousands of teardowns all begin at once (one task each took ~0.2 ms of
        the loop before its signal went: the last ones left 0.6 s after the first at 3,000)."""
        sandbox = self._sandbox
        if self.state is State.GONE or self._signalled or sandbox is None:
            return  # gone, signalled already, or still being started (`stop` waits for it)
        self._signalled = True
        if self.state in LIVE:
            self._to(State.STOPPING)
        if grace > 0:
            sandbox.terminate()
        else:
            sandbox.kill()

    async def stop(self, grace: float) -> None:
        """End the environment: SIGTERM (unless `signal_stop` sent it), SIGKILL `grace` seconds
        later, until it is gone."""
        if self.state is State.GONE:
            return
        if self._stopping:  # a stop is under way (the engine's close and a release can both ask)
            await asyncio.shield(self._gone)
            return
        self._stopping = True
        if self.state in LIVE:
            self._to(State.STOPPING)
        sandbox = self._sandbox
        if sandbox is None:  # still being started: _initialise kills it once it exists
            await asyncio.shield(self._gone)
            return
        if not self._signalled:
            self._signalled = True
            if grace > 0:
                sandbox.terminate()
            else:
                sandbox.kill()
        if grace > 0:
            try:
                await asyncio.wait_for(asyncio.shield(self._gone), grace)
            except TimeoutError:
                sandbox.kill()
        await asyncio.shield(self._gone)
