"""Invoker.accept_event: an Event call whose target is cached goes to the queue's `accept_now`
without a coroutine and ends as `invoke` ends (the same outcome, the same event queued, the same
error when the commit fails); any other call is declined with nothing queued."""

from __future__ import annotations

import asyncio

import pytest

from lamina.admission import Admission
from lamina.errors import InvalidParameterValueException, ServiceException
from lamina.invoke import Invocation, Invoker, Target
from lamina.model import LATEST, Alias, FunctionVersion


def version(name, number=LATEST, state="Active", update=None):
    return FunctionVersion(name=name, version=number, state=state, state_reason=None, state_reason_code=None,
                           last_update_status=update)


VERSIONS = {("f", LATEST): version("f"), ("f", "1"): version("f", "1"), ("p", LATEST): version("p")}
ALIASES = {("f", "live"): Alias(function_name="f", name="live", function_version="1")}
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


class Queue:
    """`enqueue` and `accept_now` as the invoker sees them: each commit ends a loop turn later,
    with `error` when one is set."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.queued: list[tuple[str, dict]] = []

    async def enqueue(self, **event) -> None:
        self.queued.append(("enqueue", event))
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error

    def accept_now(self, *, done, **event) -> None:
        self.queued.append(("accept_now", event))
        asyncio.get_running_loop().call_soon(done, self.error)


def rig(queue: Queue | None = None) -> tuple[Invoker, Queue]:
    queue = queue or Queue()

    async def run(spec, request):  # pragma: no cover
        raise AssertionError("nothing runs here")

    invoker = Invoker(region="us-east-1", account_id="000000000000", lookup=lambda n, v: VERSIONS.get((n, v)),
                      alias_of=lambda n, a: ALIASES.get((n, a)), spec_for=lambda v: ("spec", v.name, v.version),
                      run=run, admission=Admission(1000), enqueue=queue.enqueue, accept_now=queue.accept_now)
    return invoker, queue


async def accept(invoker: Invoker, call: Invocation):
    ended = asyncio.get_running_loop().create_future()
    if not invoker.accept_event(call, lambda outcome, error: ended.set_result((outcome, error))):
        return None
    return await ended


def event(name, qualifier=None, **options) -> Invocation:
    return Invocation(name, qualifier, b'{"n": 1}', invocation_type="Event", **options)


@pytest.mark.parametrize(("name", "qualifier"), [("f", None), ("f", "1"), ("f", "live"), ("f:live", None),
                                                 ("arn:aws:lambda:us-east-1:000000000000:function:f", "1")])
def test_a_cached_target_is_accepted_at_once_as_invoke_accepts_it(name, qualifier):
    invoker, queue = rig()

    async def scenario():
        assert await accept(invoker, event(name, qualifier)) is None  # not cached yet: declined
        by_invoke = await invoker.invoke(event(name, qualifier, request_id="r1", caller_trace=TRACE))
        outcome, error = await accept(invoker, event(name, qualifier, request_id="r1", caller_trace=TRACE))
        assert error is None and outcome == by_invoke and outcome.status == 202
        (first, queued), (second, accepted) = queue.queued
        assert (first, second) == ("enqueue", "accept_now") and accepted == queued
        assert accepted["trace"] is not None and accepted["trace"].startswith("Root=1-5759e988-")
        assert invoker.accepted_now == 1 and invoker.accepting > 0

    asyncio.run(scenario())


def test_a_commit_that_fails_reaches_the_caller_as_invoke_raises_it():
    invoker, queue = rig(Queue(ServiceException("the disk is full")))

    async def scenario():
        with pytest.raises(ServiceException):
            await invoker.invoke(event("f"))
        outcome, error = await accept(invoker, event("f"))
        assert outcome is None and isinstance(error, ServiceException)

    asyncio.run(scenario())


@pytest.mark.parametrize("call", [Invocation("f", None, b"{}"),
                                  Invocation("f", None, b"{}", invocation_type="DryRun"),
                                  event("f", "2"),  # not cached (and not there)
                                  event("g")])
def test_what_is_not_a_cached_event_call_is_declined(call):
    invoker, queue = rig()

    async def scenario():
        await invoker.invoke(event("f"))
        assert await accept(invoker, call) is None
        assert [how for how, _ in queue.queued] == ["enqueue"]

    asyncio.run(scenario())


@pytest.mark.parametrize(("state", "update"), [("Pending", None), ("Inactive", None), ("Active", "InProgress")])
def test_a_function_that_cannot_run_now_is_declined_for_invoke_to_refuse(state, update):
    invoker, queue = rig()

    async def scenario():
        await invoker.invoke(event("p"))
        # (a change drops the cached target; one met before that still declines)
        invoker._cache[("p", LATEST)] = Target(version("p", state=state, update=update), None)
        assert await accept(invoker, event("p")) is None
        assert len(queue.queued) == 1

    asyncio.run(scenario())


def test_without_the_lane_nothing_is_accepted_at_once():
    invoker = Invoker(region="us-east-1", account_id="000000000000", lookup=lambda n, v: VERSIONS.get((n, v)),
                      alias_of=lambda n, a: None, spec_for=lambda v: v, run=None, admission=Admission(10),
                      enqueue=Queue().enqueue)
    assert not invoker.event_lane
    assert invoker.accept_event(event("f"), lambda *_: None) is False


def test_a_bad_name_raises_what_invoke_raises_before_anything_is_queued():
    invoker, queue = rig()
    with pytest.raises(InvalidParameterValueException):
        invoker.accept_event(event("arn:aws:lambda:us-east-1:000000000000:function:f:1", "2"), lambda *_: None)
    assert queue.queued == []
