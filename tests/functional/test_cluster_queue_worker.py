"""The queue's real worker (lamina.queue.worker.EventQueue) on two "nodes" sharing one JetStream
queue: every event runs, failed runs come back with their counts after the retry delay, a
throttled event backs off, and an event whose node dies mid-run runs on the other node."""

from __future__ import annotations

import asyncio
import json
import secrets
import time

from nats.js.errors import NotFoundError

from lamina.cluster.connection import connect
from lamina.cluster.jetstream_queue import JetStreamQueue
from lamina.cluster.names import Names
from lamina.model import RetryConfig
from lamina.queue import worker as workers
from lamina.queue.attempt import Attempt, Outcome
from lamina.queue.worker import EventQueue

NATS_URL = "nats://127.0.0.1:4222"
PATIENCE = 30.0
SCALE = 0.01  # retry delays of 0.6 s and 1.2 s instead of one and two minutes


class Node:
    """One process's EventQueue over its own connection; `outcomes[request_id]` scripts the runs."""

    def __init__(self, name, names, runs, outcomes, delivered, lease_s):
        self.name, self.names, self.runs, self.outcomes = name, names, runs, outcomes
        self.delivered, self.lease_s = delivered, lease_s
        self.nc = self.queue = self.events = None

    async def start(self):
        self.nc = await connect(NATS_URL, name=self.name)
        self.queue = JetStreamQueue(self.nc, self.names, lease_s=self.lease_s)
        self.events = EventQueue(self.queue, run=self.run, config_for=lambda f, q: RetryConfig(on_failure="dlq"),
                                 deliver=self.deliver, arn_for=lambda f, q: f"arn:{f}", scale=SCALE, workers=8)
        await self.events.start()
        return self

    async def run(self, event):
        self.runs.append((self.name, event.request_id, event.runs, event.throttles, time.time()))
        script = self.outcomes.get(event.request_id, [])
        outcome = script.pop(0) if script else Outcome.SUCCESS
        if outcome == "hang":
            await asyncio.Event().wait()  # this node dies before the run ends
        return Attempt(outcome, function_arn=f"arn:{event.function_name}", executed_version="$LATEST",
                       function_error="Unhandled" if outcome is Outcome.FUNCTION_ERROR else None, response=b"{}")

    async def deliver(self, destination, record):
        self.delivered.append((destination, json.loads(record)))

    async def close(self):
        await self.events.close()
        await self.nc.close()


def cluster(scenario, *, lease_s=30.0):
    names = Names(f"tjs{secrets.token_hex(4)}")

    async def main():
        runs, outcomes, delivered, nodes = [], {}, [], []

        async def node(name):
            started = await Node(name, names, runs, outcomes, delivered, lease_s).start()
            nodes.append(started)
            return started

        try:
            await scenario(node, runs, outcomes, delivered)
        finally:
            for started in nodes:
                if not started.nc.is_closed:
                    await started.close()
            nc = await connect(NATS_URL, name="cleanup")
            try:
                await nc.jetstream().delete_stream(names.async_stream)
            except NotFoundError:
                pass
            await nc.close()

    asyncio.run(main())


async def until(condition):
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, "the queue did not get there"
        await asyncio.sleep(0.05)


def test_events_run_once_each_and_failures_retry_with_their_counts():
    async def scenario(node, runs, outcomes, delivered):
        a, b = await node("a"), await node("b")
        outcomes["fails-twice"] = [Outcome.FUNCTION_ERROR, Outcome.FUNCTION_ERROR, Outcome.FUNCTION_ERROR]
        outcomes["throttled"] = [Outcome.THROTTLE]
        names = [f"ok-{n}" for n in range(20)] + ["fails-twice", "throttled"]
        for n, request_id in enumerate(names):
            await (a if n % 2 else b).queue.enqueue(request_id=request_id, function_name=f"f{n % 3}", qualifier=None,
                                                    payload=b"{}")
        await until(lambda: len(delivered) == 1 and sum(r[1] == "throttled" for r in runs) == 2
                    and {r[1] for r in runs} == set(names))
        by_request = {}
        for _, request_id, event_runs, throttles, at in runs:
            by_request.setdefault(request_id, []).append((event_runs, throttles, at))
        assert all(len(by_request[f"ok-{n}"]) == 1 for n in range(20))  # no duplicates
        failing = by_request["fails-twice"]
        assert [(r, t) for r, t, _ in failing] == [(0, 0), (1, 0), (2, 0)]  # 1 + MaximumRetryAttempts runs
        assert failing[1][2] - failing[0][2] >= 60 * SCALE * 0.9  # waited for its delay each time
        assert failing[2][2] - failing[1][2] >= 120 * SCALE * 0.9
        assert [(r, t) for r, t, _ in by_request["throttled"]] == [(0, 0), (0, 1)]
        [(destination, record)] = delivered
        assert destination == "dlq" and record["requestContext"]["condition"] == "RetriesExhausted"
        assert record["requestContext"]["approximateInvokeCount"] == 3
        await until(lambda: a.queue.depth() == 0 and b.queue.depth() == 0)
        assert {n for n, *_ in runs} == {"a", "b"}  # both nodes did work

    cluster(scenario)


def test_an_event_whose_node_dies_mid_run_runs_on_another_node(monkeypatch):
    monkeypatch.setattr(workers, "LEASE_SECONDS", 3.0)
    monkeypatch.setattr(workers, "RENEW_SECONDS", 0.5)  # renewed well within the lease, even on a loaded machine

    async def scenario(node, runs, outcomes, delivered):
        doomed = await node("doomed")
        outcomes["e1"] = ["hang"]
        await doomed.queue.enqueue(request_id="e1", function_name="f", qualifier=None, payload=b"{}")
        await until(lambda: [r[:2] for r in runs] == [("doomed", "e1")])
        await asyncio.sleep(4.0)  # longer than a lease: the running node keeps renewing it
        survivor = await node("survivor")
        await asyncio.sleep(1.0)
        assert [r[:2] for r in runs] == [("doomed", "e1")]
        for task in list(doomed.events._loops):  # the node dies: no release, no more renewals
            task.cancel()
        await doomed.nc.close()
        await until(lambda: [r[:2] for r in runs] == [("doomed", "e1"), ("survivor", "e1")])
        await until(lambda: survivor.queue.depth() == 0)

    cluster(scenario, lease_s=3.0)
