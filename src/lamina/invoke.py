"""The one front door of the data plane: resolve the function and qualifier, then route
RequestResponse to the engine, Event to the durable queue, DryRun to a check.

Resolution is served from an in-memory cache that the change events of lamina.events keep
fresh (server subscribes `Invoker.changed`), so the hot path touches no database. A change
does not just drop what it invalidates: the names that were invoked are resolved again in the
background right away, so the first invoke after an update (a cold start already) does not
also pay the database read and the RunSpec. Imports
lamina.arn, lamina.admission, lamina.errors, lamina.events, lamina.identity, lamina.model,
lamina.engine.spec, lamina.control.aliases (pick_version), lamina.queue (Attempt, QueuedEvent)
and lamina.telemetry (metrics, tracing); never lamina.store. The engine, the function store and
the queue are reached through the callables it is handed (the imports above are types and pure
helpers).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lamina import arn as arns
from lamina.admission import Admission
from lamina.control.aliases import pick_version
from lamina.engine.spec import InvokeRequest, InvokeResult, ResponseStream, RunSpec
from lamina.errors import (
    LambdaError,
    ResourceConflictException,
    ResourceNotFoundException,
    TooManyRequestsException,
)
from lamina.events import AliasChanged, FunctionChanged, FunctionDeleted
from lamina.identity import Caller
from lamina.model import LATEST, Alias, FunctionVersion
from lamina.queue.attempt import Attempt
from lamina.queue.attempt import Outcome as AttemptOutcome
from lamina.queue.queue import QueuedEvent
from lamina.telemetry.metrics import InvocationSample, Metrics
from lamina.telemetry.tracing import Tracing, continued_trace_header, queued_trace, xray_trace_header

log = logging.getLogger("lamina.invoke")

SYNC_PAYLOAD_LIMIT = 6_291_456
ASYNC_PAYLOAD_LIMIT = 1_048_576
NAMES_KEPT = 4096  # parsed (name, qualifier) pairs remembered, so a warm invoke parses no ARN
# (function, qualifier) pairs resolved again in the background when their function changes
REFRESHED_KEPT = 4096
# a version-4 UUID from the fast generator (request ids need uniqueness, not secrecy; as function URLs)
_V4_MASK = ~(0xF000 << 64 | 0xC000 << 48) & (1 << 128) - 1
_V4_BITS = 0x4000 << 64 | 0x8000 << 48


def new_request_id() -> str:
    """A request id (a version-4 UUID) from the fast generator."""
    digits = "%032x" % (random.getrandbits(128) & _V4_MASK | _V4_BITS)  # str(uuid.UUID(int=...)), without building one
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


@dataclass(frozen=True)
class Target:
    """A resolved invocation target: the version to run and how to start its environments."""

    version: FunctionVersion
    spec: RunSpec | None  # None while the version is not Active


@dataclass(slots=True)  # built per invoke: not frozen (a frozen one's init costs µs)
class Invocation:
    function_name: str
    qualifier: str | None
    payload: bytes
    invocation_type: str = "RequestResponse"  # | "Event" | "DryRun"
    tail: bool = False
    client_context: str | None = None  # JSON text
    caller: Caller | None = None  # who asked (lamina.api.pipeline); None for lamina's own calls
    request_id: str | None = None  # given when the payload already names it (a function URL's event)
    stream: ResponseStream | None = None  # where a streamed response goes as it is produced
    trace_id: str | None = None  # the X-Ray header the request came with (a function URL's), unless tracing makes one
    caller_trace: str | None = None  # Invoke's X-Amzn-Trace-Id header as sent: continued when well-formed


@dataclass(slots=True)  # built per invoke: not frozen (a frozen one's init costs µs)
class Outcome:
    status: int
    request_id: str
    result: InvokeResult | None = None
    executed_version: str | None = None


class Invoker:
    def __init__(self, *, region: str, account_id: str,
                 lookup: Callable[[str, str], FunctionVersion | None],
                 alias_of: Callable[[str, str], Alias | None],
                 spec_for: Callable[[FunctionVersion], RunSpec],
                 run: Callable[[RunSpec, InvokeRequest], Awaitable[InvokeResult]],
                 admission: Admission,
                 enqueue: Callable[..., Awaitable[None]],
                 metrics: Metrics | None = None,
                 tracing: Tracing | None = None,
                 run_warm: Callable[[RunSpec, InvokeRequest, Callable], bool] | None = None,
                 accept_now: Callable[..., None] | None = None) -> None:
        """`run_warm`: the engine's `run` without a coroutine for an idle warm environment
        (lamina.engine.Engine.run_warm), for `invoke_warm`; `accept_now`: `enqueue` without a
        coroutine (lamina.queue.sql.SqlQueue.accept_now), for `accept_event`. None: every invoke
        takes `invoke`."""
        self._region = region
        self._account_id = account_id
        self._lookup = lookup
        self._alias_of = alias_of
        self._aliases: dict[tuple[str, str], Alias] = {}
        self._spec_for = spec_for
        self._run = run
        self._run_warm = run_warm
        self._accept_now = accept_now
        self.accepted_now = 0  # Event invokes `accept_event` took (/health: eventLaneAccepts)
        self._admission = admission
        self._enqueue = enqueue
        self._metrics = metrics
        self._tracing = tracing
        self._cache: dict[tuple[str, str], Target] = {}
        # what a (FunctionName, Qualifier) pair names: (key, invoked ARN, qualifier); pure, so never stale
        self._names: dict[tuple[str, str | None], tuple[tuple[str, str], str, str | None]] = {}
        # a resolution read before a change is not cached after it: the stamp it started with must
        # still be current (the epoch moves for every function, a function's count for its own)
        self._epoch = 0
        self._changes: dict[str, int] = {}
        # qualifiers of each function that were invoked: resolved again as soon as it changes
        self._invoked: dict[str, set[str]] = {}
        self._refreshing: set[asyncio.Task] = set()
        # reads under way: an invoke that misses the cache joins one begun since the last change
        self._reading: dict[tuple[str, str], tuple[tuple[int, int], asyncio.Future]] = {}
        # seconds Event invokes have spent being accepted (from here to their commit), all told: its
        # growth per second is how many are accepted at once on average (lamina.queue.priority)
        self.accepting = 0.0

    def forget(self, function_name: str) -> None:
        """Drop cached targets of a function (its code, configuration or versions changed)."""
        self._changes[function_name] = self._changes.get(function_name, 0) + 1
        for cache in (self._cache, self._aliases):
            for key in [key for key in cache if key[0] == function_name]:
                del cache[key]

    def forget_all(self) -> None:
        """Drop every cached target (their specs' execution-role credentials were rotated)."""
        self._epoch += 1
        self._cache.clear()
        self._aliases.clear()

    def changed(self, event: FunctionChanged | FunctionDeleted | AliasChanged) -> None:
        """The subscriber of the events that change what a name resolves to: forget, then resolve
        the invoked names of the function again in the background (on the event loop; a deleted
        function's names are forgotten)."""
        name = event.function
        self.forget(name)
        if isinstance(event, FunctionDeleted):
            self._invoked.pop(name, None)
            return
        qualifiers = self._invoked.get(name)
        if not qualifiers:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the loop (no server running): the next invoke reads it
            return
        for qualifier in list(qualifiers):
            task = loop.create_task(self._refresh((name, qualifier)))
            self._refreshing.add(task)
            task.add_done_callback(self._refreshing.discard)

    async def _refresh(self, key: tuple[str, str]) -> None:
        try:
            await self._fetch(key)
        except Exception:  # the invoke that needs it reads it again and reports what fails
            log.debug("resolving %s:%s ahead failed", *key, exc_info=True)

    def _stamp(self, name: str) -> tuple[int, int]:
        return self._epoch, self._changes.get(name, 0)

    async def _fetch(self, key: tuple[str, str]) -> Target | None:
        """Read a target off the loop; cache it (and the alias it went through) unless its function
        changed meanwhile (the read may predate the change). Joins a read of the same version begun
        since the last change instead of starting another (not through an alias: each invoke draws
        its own version of a weighted alias)."""
        stamp = self._stamp(key[0])
        reading = self._reading.get(key)
        if reading is not None and reading[0] == stamp and _alias(key[1]) is None:
            return (await asyncio.shield(reading[1]))[2]
        future = asyncio.ensure_future(asyncio.to_thread(self._load, *key))
        self._reading[key] = (stamp, future)
        try:
            alias, version_id, target = await asyncio.shield(future)
        finally:
            if self._reading.get(key, (None, None))[1] is future:
                del self._reading[key]
        if target is not None and self._stamp(key[0]) == stamp:
            if alias is not None:
                self._aliases[key] = alias
            version = target.version
            if version.state == "Active" and version.last_update_status != "InProgress":
                self._cache[(key[0], version_id)] = target  # type: ignore[index]
        return target

    def _load(self, name: str, qualifier: str) -> tuple[Alias | None, str | None, Target | None]:
        """(alias gone through, version id, target) of a name; reads the store, writes no cache."""
        alias = None
        version_id = qualifier
        if not (qualifier == LATEST or qualifier.isdigit()):
            alias = self._aliases.get((name, qualifier)) or self._alias_of(name, qualifier)
            if alias is None:
                return None, None, None
            version_id = pick_version(alias, random.random())
        target = self._cache.get((name, version_id))
        if target is None:
            version = self._lookup(name, version_id)
            if version is None:
                return alias, version_id, None
            target = Target(version, self._spec_for(version) if version.state == "Active" else None)
        return alias, version_id, target

    def _note_invoked(self, key: tuple[str, str]) -> None:
        qualifiers = self._invoked.get(key[0])
        if qualifiers is None:
            if len(self._invoked) >= REFRESHED_KEPT:
                self._invoked.clear()
            qualifiers = self._invoked[key[0]] = set()
        qualifiers.add(key[1])

    def _named(self, function_name: str, qualifier: str | None) -> tuple[tuple[str, str], str, str | None]:
        """(cache key, invoked ARN, qualifier) of what a call names; raises what a bad name gets."""
        named = self._names.get((function_name, qualifier))
        if named is None:
            ref = arns.parse_function_name(function_name, self._region, self._account_id)
            merged = arns.merge_qualifier(ref.qualifier, qualifier)
            named = ((ref.name, merged or LATEST), arns.function_arn(self._region, self._account_id, ref.name, merged),
                     merged)
            if len(self._names) >= NAMES_KEPT:
                self._names.clear()
            self._names[(function_name, qualifier)] = named
        return named

    def _cached(self, key: tuple[str, str]) -> Target | None:
        """The cached target of a (function, qualifier) key: through a cached alias, the version it
        draws for this invoke (weighted routing). Cached targets are Active and not being updated."""
        alias = self._aliases.get(key)
        return self._cache.get(key if alias is None else (key[0], pick_version(alias, random.random())))

    async def resolve(self, function_name: str, qualifier: str | None) -> tuple[Target, str, str | None]:
        """The target, the ARN the caller named (reported as invoked_function_arn) and the qualifier."""
        key, invoked_arn, qualifier = self._named(function_name, qualifier)
        target = self._cached(key)
        if target is None:
            target = await self._fetch(key)
            if target is not None:
                self._note_invoked(key)
        if target is None:
            raise ResourceNotFoundException(
                f"Function not found: {arns.function_arn(self._region, self._account_id, *key)}"
            )
        version = target.version
        if version.state != "Active" or version.last_update_status == "InProgress":
            state = version.state if version.state != "Active" else "Pending"
            raise ResourceConflictException(
                "The operation cannot be performed at this time. The function is currently in the following "
                f"state: {state}"
            )
        return target, invoked_arn, qualifier

    def _trace_header(self, target: Target) -> str | None:
        """A new sampled X-Ray header when the function traces actively and spans go somewhere."""
        tracing = self._tracing
        if tracing is None or not tracing.enabled or target.version.tracing_mode != "Active":
            return None
        return xray_trace_header(True)

    def _event_trace(self, call: Invocation, target: Target) -> str | None:
        """What an Event invoke's trace is while it waits (lamina.telemetry.tracing.queued_trace): the
        caller's Root and decision when its header is well-formed, else a new Root when the function
        traces actively; every attempt continues it with its own Parent, so retries share the Root."""
        if call.caller_trace is not None:
            trace = queued_trace(call.caller_trace)
            if trace is not None:
                return trace
        new = self._trace_header(target)
        return None if new is None else queued_trace(new)

    async def _execute(self, target: Target, request: InvokeRequest, alias: str | None,
                       queued_at: float | None = None) -> InvokeResult:
        version = target.version
        name = version.name
        metrics = self._metrics
        try:
            token = self._admission.acquire(name)
        except TooManyRequestsException:
            if metrics is not None:
                metrics.throttle(name, version.version, alias)
            raise
        if metrics is not None:
            metrics.concurrency(name, self._admission.running_of(name))
        started_at = time.time() if request.trace_id is not None else 0.0  # (a span's start)
        try:
            result = await self._run(target.spec, request)
        except TooManyRequestsException:
            if metrics is not None:
                metrics.throttle(name, version.version, alias)
            raise
        finally:
            self._release(name, token)
        self._count(version, alias, request, result, started_at, queued_at)
        return result

    def _release(self, name: str, token: bool) -> None:
        """An admitted invocation of `name` is over (or never ran): uncounted, and the concurrency sampled."""
        self._admission.release(name, token)
        if self._metrics is not None:
            self._metrics.concurrency(name, self._admission.running_of(name))

    def _count(self, version: FunctionVersion, alias: str | None, request: InvokeRequest, result: InvokeResult,
               started_at: float, queued_at: float | None = None) -> None:
        """An invocation that ran, in the metrics and (after the answer) its trace's spans."""
        name = version.name
        if self._metrics is not None:
            self._metrics.invocation(InvocationSample(
                function=name, version=result.executed_version, alias=alias, duration_ms=result.duration_ms,
                billed_ms=result.billed_ms, memory_mb=version.memory_size, init_ms=result.init_ms,
                error=result.function_error is not None, architecture=version.architectures[0]))
        if (request.trace_id is not None and self._tracing is not None  # spans are built after the answer
                and version.tracing_mode == "Active"):  # a caller's sampled trace alone records nothing
            asyncio.get_running_loop().call_soon(functools.partial(
                self._tracing.record, trace_header=request.trace_id, function=name,
                version=result.executed_version, request_id=request.request_id, started_at=started_at,
                duration_ms=result.duration_ms, init_ms=result.init_ms, queued_at=queued_at,
                error_type=result.error_type, function_error=result.function_error is not None))

    async def invoke(self, call: Invocation) -> Outcome:
        request_id = call.request_id or new_request_id()
        target, invoked_arn, qualifier = await self.resolve(call.function_name, call.qualifier)
        version = target.version.version
        if call.invocation_type == "DryRun":
            return Outcome(204, request_id, executed_version=version)
        if call.invocation_type == "Event":
            began = time.monotonic()
            try:
                await self._enqueue(request_id=request_id, function_name=target.version.name, qualifier=qualifier,
                                    payload=call.payload, trace=self._event_trace(call, target))
            finally:
                self.accepting += time.monotonic() - began
            return Outcome(202, request_id, executed_version=version)
        request = self._request(call, request_id, target, invoked_arn)
        result = await self._execute(target, request, _alias(qualifier))
        return Outcome(200, request_id, result=result, executed_version=result.executed_version)

    def _request(self, call: Invocation, request_id: str, target: Target, invoked_arn: str) -> InvokeRequest:
        """What the engine gets of a RequestResponse call."""
        trace = self._trace_header(target)  # tracing's new header, if the function traces actively
        if call.caller_trace is not None:  # the caller's trace, continued when well-formed (else ignored)
            trace = continued_trace_header(call.caller_trace, trace is not None) or trace
        return InvokeRequest(request_id=request_id, payload=call.payload, invoked_arn=invoked_arn,
                             client_context=call.client_context, tail=call.tail,
                             trace_id=trace or call.trace_id, stream=call.stream)

    @property
    def warm_lane(self) -> bool:
        """Whether `invoke_warm` can take anything (the engine runs warm invokes at once)."""
        return self._run_warm is not None

    @property
    def event_lane(self) -> bool:
        """Whether `accept_event` can take anything (the queue accepts events at once)."""
        return self._accept_now is not None

    def _runnable(self, call: Invocation) -> tuple[Target, str, str | None] | None:
        """For the lane: the cached target of what `call` names when it may run now (Active, no
        update under way), with the invoked ARN and the qualifier; None when `invoke` must decide.
        Raises what `invoke` would raise of the name."""
        key, invoked_arn, qualifier = self._named(call.function_name, call.qualifier)
        target = self._cached(key)
        if target is None:
            return None
        version = target.version
        if version.state != "Active" or version.last_update_status == "InProgress":
            return None
        return target, invoked_arn, qualifier

    def accept_event(self, call: Invocation, done: Callable[[Outcome | None, BaseException | None], None]) -> bool:
        """`invoke` of an Event call without a coroutine when its target is cached (the lane,
        docs/architecture.md): the event joins the queue's next group commit now, and
        `done(outcome, error)` is called from the loop once it was committed (or not), with what
        `invoke` would return or raise. False for any other call, with nothing enqueued: `invoke`
        takes it then. Raises what `invoke` would raise of the name before it enqueues anything."""
        accept_now = self._accept_now
        if accept_now is None or call.invocation_type != "Event":
            return False
        ready = self._runnable(call)
        if ready is None:
            return False
        target, _, qualifier = ready
        version = target.version
        outcome = Outcome(202, call.request_id or new_request_id(), executed_version=version.version)
        accept_now(request_id=outcome.request_id, function_name=version.name, qualifier=qualifier,
                   payload=call.payload, trace=self._event_trace(call, target),
                   done=functools.partial(self._event_accepted, time.monotonic(), outcome, done))
        self.accepted_now += 1
        return True

    def _event_accepted(self, began: float, outcome: Outcome,
                        done: Callable[[Outcome | None, BaseException | None], None], error: BaseException | None) -> None:
        """The end of `invoke`'s Event branch, for `accept_event`."""
        self.accepting += time.monotonic() - began
        if error is None:
            done(outcome, None)
        else:
            done(None, error)

    def invoke_warm(self, call: Invocation, done: Callable[[Outcome | None, BaseException | None], None]) -> bool:
        """`invoke` of a RequestResponse call without a coroutine when its target is cached and an
        environment of it is warm (the warm lane, docs/architecture.md): the event is sent now and
        `done(outcome, error)` called from the loop once it ended, with what `invoke` would return
        or raise. False for any other call, with no admission count left and nothing sent: `invoke`
        takes it then. Raises what `invoke` would raise of the name before it sends anything."""
        run_warm = self._run_warm
        if run_warm is None or call.invocation_type != "RequestResponse" or call.stream is not None:
            return False
        ready = self._runnable(call)
        if ready is None:
            return False
        target, invoked_arn, qualifier = ready
        version = target.version
        name = version.name
        try:
            token = self._admission.acquire(name)
        except TooManyRequestsException:  # `invoke` counts the throttle and answers it
            return False
        metrics = self._metrics
        sent = False
        try:
            if metrics is not None:  # (`_execute` samples it here too, so a declined call's sample is its own)
                metrics.concurrency(name, self._admission.running_of(name))
            request = self._request(call, call.request_id or new_request_id(), target, invoked_arn)
            started_at = time.time() if request.trace_id is not None else 0.0
            sent = run_warm(target.spec, request, functools.partial(
                self._warm_done, version, _alias(qualifier), request, token, started_at, done))
        finally:
            if not sent:  # nothing runs: nothing stays counted (and nothing can fail once it runs)
                self._release(name, token)
        return sent

    def _warm_done(self, version: FunctionVersion, alias: str | None, request: InvokeRequest, token: bool,
                   started_at: float, done: Callable[[Outcome | None, BaseException | None], None],
                   result: InvokeResult | None, error: BaseException | None) -> None:
        """The end of `_execute` and `invoke`, for `invoke_warm`: the answer goes out before the
        metrics are counted (the caller's next invoke is admitted as soon as it can arrive)."""
        name = version.name
        self._admission.release(name, token)
        if result is None:
            done(None, error)
        else:
            done(Outcome(200, request.request_id, result=result, executed_version=result.executed_version), None)
        if self._metrics is not None:
            self._metrics.concurrency(name, self._admission.running_of(name))
        if result is not None:
            self._count(version, alias, request, result, started_at)

    async def deliver(self, function_name: str, qualifier: str | None, payload: bytes) -> tuple[str | None, bytes]:
        """A batch from an event source mapping, invoked synchronously: (function error or None,
        response payload). Raises LambdaError when it could not run (throttled, gone, not active)."""
        outcome = await self.invoke(Invocation(function_name, qualifier, payload))
        assert outcome.result is not None
        return outcome.result.function_error, outcome.result.payload

    async def run_event(self, event: QueuedEvent) -> Attempt:
        """One attempt of a queued event, with its original request id, as the queue sees it."""
        try:
            target, invoked_arn, qualifier = await self.resolve(event.function_name, event.qualifier)
        except ResourceNotFoundException:
            return Attempt(AttemptOutcome.GONE)
        except ResourceConflictException:
            return Attempt(AttemptOutcome.SYSTEM_ERROR)
        if self._admission.reserved(event.function_name) == 0:
            return Attempt(AttemptOutcome.ZERO_CONCURRENCY)
        trace = self._trace_header(target)
        if event.trace is not None:  # the trace it was accepted with (a caller's, or begun then): kept by retries
            trace = continued_trace_header(event.trace, trace is not None) or trace
        request = InvokeRequest(request_id=event.request_id, payload=event.payload, invoked_arn=invoked_arn,
                                trace_id=trace)
        try:
            result = await self._execute(target, request, _alias(qualifier), queued_at=event.enqueued_at)
        except TooManyRequestsException:
            return Attempt(AttemptOutcome.THROTTLE)
        except LambdaError as error:
            log.warning("event %s of %s: %s", event.request_id, event.function_name, error.message)
            return Attempt(AttemptOutcome.SYSTEM_ERROR)
        function_arn = arns.function_arn(self._region, self._account_id, event.function_name, result.executed_version)
        outcome = AttemptOutcome.FUNCTION_ERROR if result.function_error else AttemptOutcome.SUCCESS
        return Attempt(outcome, function_arn=function_arn, executed_version=result.executed_version,
                       function_error=result.function_error, response=result.payload)


def _alias(qualifier: str | None) -> str | None:
    """The alias a qualifier names, if it names one."""
    return None if qualifier is None or qualifier == LATEST or qualifier.isdigit() else qualifier
