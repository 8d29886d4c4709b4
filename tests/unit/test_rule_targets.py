"""lamina.rule_targets: deliveries become Event invokes on the loop, the authorize seam, refusals."""

from __future__ import annotations

import asyncio
import threading

from lamina.control.rules import Delivery
from lamina.errors import ResourceNotFoundException, TooManyRequestsException
from lamina.invoke import Outcome
from lamina.rule_targets import MemoryDeliveries, RuleTargets

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


def test_deliveries_are_kept_for_later_when_not_serving():
    async def invoke(call):
        raise AssertionError("not reached")

    store = MemoryDeliveries()
    targets = RuleTargets(invoke, store=store, clock=lambda: 100.0, jitter=lambda: 0.0)
    targets.deliver([Delivery(RULE, f"{FN}:a", b"{}")])  # before the server serves: stored, due at once
    [row] = store.rows.values()
    assert (row.error_code, row.final, row.retries, row.due_at) == ("INTERNAL_ERROR", False, 0, 100.5)

    async def main():
        targets.bind(asyncio.get_running_loop())
        targets.close()
        return await deliver_from_thread(targets, [Delivery(RULE, f"{FN}:b", b"{}")])

    assert "error" not in asyncio.run(main())
    assert sorted(row.function_arn for row in store.rows.values()) == [f"{FN}:a", f"{FN}:b"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def scenario(outcomes: dict, target: dict, steps: int, clock: Clock | None = None):
    """Deliver once, then run `retry_due` `steps` times, each after the next due time; returns
    (invoked function names, dead letters sent, store)."""
    calls, letters = [], []
    clock = clock or Clock()

    async def invoke(call):
        calls.append(call.function_name)
        error = outcomes.get(call.function_name)
        if callable(error):
            error = error()
        if error is not None:
            raise error
        return Outcome(202, "id")

    store = MemoryDeliveries()

    async def main():
        targets = RuleTargets(invoke, lambda f, r: not f.endswith(":denied"), store=store,
                              dead_letter=lambda arn, body, attributes: letters.append((arn, body, attributes)),
                              clock=clock, jitter=lambda: 1.0)
        targets.bind(asyncio.get_running_loop())
        fn = target["Arn"]
        result = await deliver_from_thread(targets, [Delivery(RULE, fn, b'{"e":1}', target)])
        assert "error" not in result
        for _ in range(steps):
            if store.rows:
                clock.now = min(row.due_at for row in store.rows.values())
            thread, result = run_in_thread(targets.retry_due)
            while thread.is_alive():
                await asyncio.sleep(0.01)
            assert "error" not in result

    asyncio.run(main())
    return calls, letters, store


DLQ = "arn:aws:sqs:us-east-1:000000000000:dlq"


def attributes_of(letter) -> dict:
    return {key: value["StringValue"] for key, value in letter[2].items()}


def test_a_missing_function_is_dead_lettered_without_retries():
    target = {"Id": "1", "Arn": f"{FN}:gone", "DeadLetterConfig": {"Arn": DLQ}}
    calls, letters, store = scenario({f"{FN}:gone": ResourceNotFoundException(f"Function not found: {FN}:gone")},
                                     target, steps=3)
    assert calls == [f"{FN}:gone"]
    assert [(arn, body) for arn, body, _ in letters] == [(DLQ, '{"e":1}')]
    assert attributes_of(letters[0]) == {"RULE_ARN": RULE, "TARGET_ARN": f"{FN}:gone", "ERROR_CODE": "NO_RESOURCE",
                                         "ERROR_MESSAGE": f"Function not found: {FN}:gone", "RETRY_ATTEMPTS": "0"}
    assert letters[0][2]["RETRY_ATTEMPTS"]["DataType"] == "Number"
    assert not store.rows


def test_a_refused_delivery_is_dead_lettered_as_no_permissions():
    target = {"Id": "1", "Arn": f"{FN}:denied", "DeadLetterConfig": {"Arn": DLQ}}
    calls, letters, _ = scenario({}, target, steps=1)
    assert calls == []
    assert attributes_of(letters[0])["ERROR_CODE"] == "NO_PERMISSIONS"
    assert "events.amazonaws.com is not authorized" in attributes_of(letters[0])["ERROR_MESSAGE"]


def test_throttled_deliveries_are_retried_until_maximum_retry_attempts():
    target = {"Id": "1", "Arn": f"{FN}:busy", "RetryPolicy": {"MaximumRetryAttempts": 3},
              "DeadLetterConfig": {"Arn": DLQ}}
    calls, letters, store = scenario({f"{FN}:busy": lambda: TooManyRequestsException("Rate Exceeded.")},
                                     target, steps=6)
    assert calls == [f"{FN}:busy"] * 4  # the attempt and three retries
    assert attributes_of(letters[0]) | {} == {
        "RULE_ARN": RULE, "TARGET_ARN": f"{FN}:busy", "ERROR_CODE": "THROTTLING", "ERROR_MESSAGE": "Rate Exceeded.",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts", "RETRY_ATTEMPTS": "3"}
    assert not store.rows


def test_retries_stop_at_maximum_event_age():
    target = {"Id": "1", "Arn": f"{FN}:busy", "RetryPolicy": {"MaximumEventAgeInSeconds": 60}}
    calls, letters, store = scenario({f"{FN}:busy": lambda: TooManyRequestsException("Rate Exceeded.")},
                                     target, steps=20)
    assert len(calls) == 6  # retries after 1, 2, 4, 8, 16 s; the next (32 s) would pass 60 s
    assert letters == [] and not store.rows  # no DeadLetterConfig: dropped


def test_a_retry_that_succeeds_leaves_nothing_waiting():
    state = {"n": 0}

    def flaky():
        state["n"] += 1
        return TooManyRequestsException("Rate Exceeded.") if state["n"] < 3 else None

    target = {"Id": "1", "Arn": f"{FN}:flaky", "DeadLetterConfig": {"Arn": DLQ}}
    calls, letters, store = scenario({f"{FN}:flaky": flaky}, target, steps=5)
    assert len(calls) == 3 and letters == [] and not store.rows


def test_an_unexpected_failure_is_kept_for_a_retry():
    target = {"Id": "1", "Arn": f"{FN}:odd", "RetryPolicy": {"MaximumRetryAttempts": 1}, "DeadLetterConfig": {"Arn": DLQ}}
    calls, letters, store = scenario({f"{FN}:odd": lambda: RuntimeError("queue closed")}, target, steps=3)
    assert len(calls) == 2
    assert attributes_of(letters[0])["ERROR_CODE"] == "INTERNAL_ERROR"
    assert attributes_of(letters[0])["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
