"""lamina.rule_targets: deliveries become Event invokes on the loop, the authorize seam, refusals."""

from __future__ import annotations

import asyncio
import threading

import pytest

from lamina.control.rules import Delivery
from lamina.errors import ResourceNotFoundException
from lamina.invoke import Outcome
from lamina.rule_targets import NotServing, RuleTargets

FN = "arn:aws:lambda:us-east-1:000000000000:function"
RULE = "arn:aws:events:us-east-1:000000000000:rule/r"


def run_in_thread(function) -> object:
    result: dict = {}

    def target():
        try:
            result["value"] = function()
        except Exception as error:  # handed back to the test
            result["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


async def deliver_from_thread(targets: RuleTargets, deliveries: list[Delivery]) -> dict:
    thread, result = run_in_thread(lambda: targets.deliver(deliveries))
    while thread.is_alive():
        await asyncio.sleep(0.01)
    return result


def test_each_delivery_is_an_event_invoke_unless_refused():
    calls, asked = [], []

    async def invoke(call):
        calls.append(call)
        if call.function_name.endswith(":gone"):
            raise ResourceNotFoundException("Function not found")
        return Outcome(202, "id")

    def authorize(function_arn, rule_arn):
        asked.append((function_arn, rule_arn))
        return not function_arn.endswith(":denied")

    async def main():
        targets = RuleTargets(invoke, authorize)
        targets.bind(asyncio.get_running_loop())
        return await deliver_from_thread(targets, [
            Delivery(RULE, f"{FN}:a:live", b'{"x":1}'), Delivery(RULE, f"{FN}:denied", b"{}"),
            Delivery(RULE, f"{FN}:gone", b"{}"), Delivery(RULE, f"{FN}:b", b"[]")])

    result = asyncio.run(main())
    assert "error" not in result
    assert [(c.function_name, c.qualifier, c.payload, c.invocation_type) for c in calls] == [
        (f"{FN}:a:live", None, b'{"x":1}', "Event"), (f"{FN}:gone", None, b"{}", "Event"),
        (f"{FN}:b", None, b"[]", "Event")]
    assert asked[1] == (f"{FN}:denied", RULE)


def test_deliveries_are_refused_when_not_serving():
    async def invoke(call):
        raise AssertionError("not reached")

    targets = RuleTargets(invoke)
    with pytest.raises(NotServing):
        targets.deliver([Delivery(RULE, f"{FN}:a", b"{}")])

    async def main():
        targets.bind(asyncio.get_running_loop())
        targets.close()
        return await deliver_from_thread(targets, [Delivery(RULE, f"{FN}:a", b"{}")])

    assert isinstance(asyncio.run(main())["error"], NotServing)
