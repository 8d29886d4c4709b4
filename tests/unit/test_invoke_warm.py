"""Invoker.invoke_warm: a RequestResponse call whose target is cached goes to the engine's
`run_warm` without a coroutine and ends as `invoke` ends (outcome, admission); any other call is
declined with nothing done (no admission count left behind, nothing run)."""

from __future__ import annotations

import asyncio

import pytest

from lamina.admission import Admission
from lamina.engine.spec import InvokeResult
from lamina.errors import InvalidParameterValueException, ServiceException
from lamina.invoke import Invocation, Invoker
from lamina.model import LATEST, Alias, FunctionVersion


def active(name, version=LATEST):
    return FunctionVersion(name=name, version=version, state="Active", state_reason=None, state_reason_code=None)


VERSIONS = {("f", LATEST): active("f"), ("f", "1"): active("f", "1")}
ALIASES = {("f", "live"): Alias(function_name="f", name="live", function_version="1")}


class Engine:
    """`run` and `run_warm` as the invoker sees them: warm answers when `warm` is set."""

    def __init__(self, admission: Admission, warm: bool = True, error: BaseException | None = None) -> None:
        self.admission = admission
        self.warm = warm
        self.error = error
        self.runs: list[tuple[str, str]] = []
        self.running_seen: list[int] = []

    def result(self, spec, request) -> InvokeResult:
        return InvokeResult(payload=request.payload, executed_version=spec[2], duration_ms=1.0, billed_ms=1)

    async def run(self, spec, request) -> InvokeResult:
        self.runs.append(("run", request.request_id))
        return self.result(spec, request)

    def run_warm(self, spec, request, done) -> bool:
        if not self.warm:
            return False
        self.runs.append(("warm", request.request_id))
        self.running_seen.append(self.admission.running_of("f"))
        loop = asyncio.get_running_loop()
        if self.error is not None:
            loop.call_soon(done, None, self.error)
        else:
            loop.call_soon(done, self.result(spec, request), None)
        return True


def rig(admission: Admission | None = None, **engine_options) -> tuple[Invoker, Engine]:
    admission = admission or Admission(1000)
    engine = Engine(admission, **engine_options)

    async def enqueue(**_):  # pragma: no cover
        raise AssertionError("nothing is queued here")

    invoker = Invoker(region="us-east-1", account_id="000000000000", lookup=lambda n, v: VERSIONS.get((n, v)),
                      alias_of=lambda n, a: ALIASES.get((n, a)), spec_for=lambda v: ("spec", v.name, v.version),
                      run=engine.run, admission=admission, enqueue=enqueue, run_warm=engine.run_warm)
    return invoker, engine


async def warm(invoker: Invoker, call: Invocation):
    ended = asyncio.get_running_loop().create_future()
    if not invoker.invoke_warm(call, lambda outcome, error: ended.set_result((outcome, error))):
        return None
    return await ended


@pytest.mark.parametrize(("name", "qualifier"), [("f", None), ("f", "1"), ("f", "live"), ("f:live", None),
                                                 ("arn:aws:lambda:us-east-1:000000000000:function:f", "1")])
def test_a_cached_target_runs_warm_and_ends_as_invoke_does(name, qualifier):
    invoker, engine = rig()

    async def scenario():
        assert await warm(invoker, Invocation(name, qualifier, b"[1]")) is None  # not cached yet: declined
        by_invoke = await invoker.invoke(Invocation(name, qualifier, b"[1]", request_id="r1"))
        outcome, error = await warm(invoker, Invocation(name, qualifier, b"[1]", request_id="r1"))
        assert error is None and outcome == by_invoke
        assert engine.runs == [("run", "r1"), ("warm", "r1")]
        assert engine.running_seen == [1] and invoker._admission.running_of("f") == 0

    asyncio.run(scenario())


def test_an_engine_error_reaches_the_caller_after_the_admission_is_released():
    invoker, engine = rig(error=ServiceException("stopped"))

    async def scenario():
        await invoker.invoke(Invocation("f", None, b"{}"))
        outcome, error = await warm(invoker, Invocation("f", None, b"{}"))
        assert outcome is None and isinstance(error, ServiceException)
        assert invoker._admission.running_of("f") == 0

    asyncio.run(scenario())


@pytest.mark.parametrize("call", [Invocation("f", None, b"{}", invocation_type="Event"),
                                  Invocation("f", None, b"{}", invocation_type="DryRun"),
                                  Invocation("f", "2", b"{}"),  # not cached (and not there)
                                  Invocation("g", None, b"{}")])
def test_what_is_not_a_cached_request_response_call_is_declined(call):
    invoker, engine = rig()

    async def scenario():
        await invoker.invoke(Invocation("f", None, b"{}"))
        assert await warm(invoker, call) is None
        assert engine.runs == [("run", engine.runs[0][1])]

    asyncio.run(scenario())


def test_a_throttled_call_or_a_cold_engine_is_declined_with_no_count_left_behind():
    admission = Admission(1000)
    invoker, engine = rig(admission, warm=False)

    async def scenario():
        await invoker.invoke(Invocation("f", None, b"{}"))
        assert await warm(invoker, Invocation("f", None, b"{}")) is None  # the engine has no warm environment
        assert admission.running_of("f") == 0
        engine.warm = True
        admission.set_reserved({"f": 0})
        assert await warm(invoker, Invocation("f", None, b"{}")) is None  # invoke counts and answers the throttle
        assert admission.running_of("f") == 0 and len(engine.runs) == 1

    asyncio.run(scenario())


def test_a_bad_name_raises_what_invoke_raises_before_anything_runs():
    invoker, engine = rig()
    with pytest.raises(InvalidParameterValueException):
        invoker.invoke_warm(Invocation("arn:aws:lambda:us-east-1:000000000000:function:f:1", "2", b"{}"),
                            lambda *_: None)
    assert engine.runs == []
