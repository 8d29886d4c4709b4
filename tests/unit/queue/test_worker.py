"""lamina.queue.worker.EventQueue over a real SQLite queue table, with a fake `run` callable."""

import asyncio
import json

import pytest

from lamina.model import RetryConfig
from lamina.queue.worker import Attempt, EventQueue
from lamina.store.database import open_database, sqlite_url
from lamina.store.queue import QueueStore


def make_queue(tmp_path, outcomes, config, delivered, scale=0.001):
    store = QueueStore(open_database(sqlite_url(tmp_path)))
    runs = []

    async def run(event):
        runs.append(event.request_id)
        outcome = outcomes(event, len(runs))
        return Attempt(outcome, function_arn="arn:f:$LATEST", executed_version="$LATEST",
                       function_error="Unhandled" if outcome == "function_error" else None, response=b'"out"')

    async def deliver(destination, record):
        delivered.append((destination, json.loads(record)))

    queue = EventQueue(store, run=run, config_for=lambda name, q: config, deliver=deliver,
                       arn_for=lambda name, q: f"arn:{name}", scale=scale)
    return queue, store, runs


async def settle(store, timeout=5.0):
    for _ in range(int(timeout / 0.01)):
        if store.depth() == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("queue did not drain")


def test_failing_event_runs_one_plus_retries_then_goes_to_on_failure(tmp_path):
    async def main():
        delivered = []
        queue, store, runs = make_queue(tmp_path, lambda e, n: "function_error",
                                        RetryConfig(maximum_retry_attempts=2, on_failure="arn:dest"), delivered)
        await queue.start()
        await queue.enqueue(request_id="r1", function_name="f", qualifier=None, payload=b'{"k": 1}')
        await settle(store)
        await queue.close()
        return runs, delivered
    runs, delivered = asyncio.run(main())
    assert runs == ["r1", "r1", "r1"]
    (destination, record), = delivered
    assert destination == "arn:dest"
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"k": 1} and record["responsePayload"] == "out"


def test_success_goes_to_on_success_and_throttles_are_retried(tmp_path):
    async def main():
        delivered = []
        queue, store, runs = make_queue(tmp_path, lambda e, n: "throttle" if n < 3 else "success",
                                        RetryConfig(on_success="arn:ok"), delivered)
        await queue.start()
        await queue.enqueue(request_id="r2", function_name="f", qualifier=None, payload=b"{}")
        await settle(store)
        await queue.close()
        return runs, delivered
    runs, delivered = asyncio.run(main())
    assert len(runs) == 3
    assert delivered[0][1]["requestContext"]["condition"] == "Success"
    assert delivered[0][1]["requestContext"]["approximateInvokeCount"] == 1


def test_group_commit_and_nothing_lost_across_a_restart(tmp_path):
    async def accept():
        queue, store, runs = make_queue(tmp_path, lambda e, n: "success", RetryConfig(), [])
        # not started: events are only accepted (flushed by a flusher we start by hand)
        flusher = asyncio.create_task(queue._flusher())
        await asyncio.gather(*(queue.enqueue(request_id=f"e{i}", function_name="f", qualifier=None, payload=b"{}")
                               for i in range(500)))
        flusher.cancel()
        return store.depth()
    assert asyncio.run(accept()) == 500

    async def resume():
        queue, store, runs = make_queue(tmp_path, lambda e, n: "success", RetryConfig(), [])
        await queue.start()
        await settle(store)
        await queue.close()
        return runs
    assert sorted(asyncio.run(resume())) == sorted(f"e{i}" for i in range(500))


@pytest.mark.parametrize("outcome", ["gone", "zero_concurrency"])
def test_events_that_cannot_run_are_finished(tmp_path, outcome):
    async def main():
        delivered = []
        queue, store, runs = make_queue(tmp_path, lambda e, n: outcome, RetryConfig(on_failure="arn:f"), delivered)
        await queue.start()
        await queue.enqueue(request_id="x", function_name="f", qualifier=None, payload=b"{}")
        await settle(store)
        await queue.close()
        return delivered
    delivered = asyncio.run(main())
    if outcome == "gone":
        assert delivered == []
    else:
        assert delivered[0][1]["requestContext"]["condition"] == "ZeroReservedConcurrency"
