"""Invoker.accepting: the seconds Event invokes spent being accepted (waiting for their commit), the
measure the queue's consumers defer to (lamina.queue.priority); other invokes leave it alone."""

import asyncio

import pytest

from lamina.admission import Admission
from lamina.engine.spec import InvokeResult
from lamina.invoke import Invocation, Invoker
from lamina.model import LATEST, FunctionVersion


def invoker(enqueue):
    version = FunctionVersion(name="f", version=LATEST, state="Active", state_reason=None, state_reason_code=None)

    async def run(spec, request):
        return InvokeResult(payload=b"null", executed_version=LATEST)

    return Invoker(region="us-east-1", account_id="000000000000", lookup=lambda name, v: version,
                   alias_of=lambda name, a: None, spec_for=lambda v: "spec", run=run, admission=Admission(1000),
                   enqueue=enqueue)


def test_an_event_invoke_adds_its_wait_for_the_commit():
    committed = []

    async def enqueue(**fields):
        await asyncio.sleep(0.02)  # the group commit
        committed.append(fields["request_id"])

    inv = invoker(enqueue)
    outcome = asyncio.run(inv.invoke(Invocation("f", None, b"{}", invocation_type="Event")))
    assert outcome.status == 202 and committed == [outcome.request_id]
    assert inv.accepting >= 0.02


def test_a_failed_commit_counts_too_and_other_invokes_do_not():
    async def enqueue(**fields):
        await asyncio.sleep(0.02)
        raise OSError("disk full")

    inv = invoker(enqueue)
    with pytest.raises(OSError):
        asyncio.run(inv.invoke(Invocation("f", None, b"{}", invocation_type="Event")))
    assert inv.accepting >= 0.02
    before = inv.accepting
    assert asyncio.run(inv.invoke(Invocation("f", None, b"{}"))).status == 200
    assert asyncio.run(inv.invoke(Invocation("f", None, b"{}", invocation_type="DryRun"))).status == 204
    assert inv.accepting == before
