"""lamina.queue.worker.EventQueue against an in-memory fake `Queue`, with a fake `run` callable:
what the worker claims, acks, retries, releases and delivers."""

import asyncio
import json

import pytest

from lamina.model import RetryConfig
from lamina.queue import worker as workers
from lamina.queue.attempt import Attempt, Outcome
from lamina.queue.queue import QueuedEvent
from lamina.queue.worker import EventQueue


class FakeQueue:
    """Events in a dict; leases as a set of held ids; every call recorded."""

    def __init__(self):
        self.events: dict[int, QueuedEvent] = {}
        self.held: set[int] = set()
        self.calls: list[tuple] = []
        self.changed = asyncio.Event()
        self.closed = False

    def add(self, request_id, *, enqueued_at=0.0, runs=0, throttles=0, function="f"):
        event_id = len(self.events) + 1 + len(self.calls)
        self.events[event_id] = QueuedEvent(event_id, request_id, function, None, b'{"k": 1}', enqueued_at, 0.0, runs,
                                            throttles)

    async def start(self):
        self.calls.append(("start",))

    async def close(self):
        self.closed = True

    async def enqueue(self, *, request_id, function_name, qualifier, payload, trace=None):
        self.add(request_id)
        self.changed.set()

    async def claim(self, limit, lease_s, *, skip=frozenset()):
        due = [e for i, e in self.events.items()
               if i not in self.held and e.due_at <= 0.0 and e.function_name not in skip][:limit]
        self.held.update(e.id for e in due)
        if due:
            self.calls.append(("claim", [e.request_id for e in due], lease_s))
        return due

    async def wait_due(self, timeout, *, skip=frozenset()):
        if any(i not in self.held and e.due_at <= 0.0 and e.function_name not in skip for i, e in self.events.items()):
            return await asyncio.sleep(0)
        self.changed.clear()
        await self.changed.wait()

    async def extend(self, event_ids, lease_s):
        self.calls.append(("extend", event_ids))

    async def release(self, event_ids):
        self.calls.append(("release", event_ids))
        self.held.difference_update(event_ids)

    async def ack(self, event_id):
        self.calls.append(("ack", self.events.pop(event_id).request_id))
        self.held.discard(event_id)

    async def retry_at(self, event_id, *, due_at, runs, throttles):
        event = self.events[event_id]
        self.calls.append(("retry_at", event.request_id, due_at, runs, throttles))
        # due at once in this fake, so a test sees every attempt
        self.events[event_id] = QueuedEvent(event.id, event.request_id, event.function_name, None, event.payload,
                                            event.enqueued_at, 0.0, runs, throttles)
        self.held.discard(event_id)
        self.changed.set()

    def depth(self):
        return len(self.events)

    def oldest(self):
        return min((e.enqueued_at for e in self.events.values()), default=None)


def attempt(outcome):
    ran = outcome in (Outcome.SUCCESS, Outcome.FUNCTION_ERROR)
    return Attempt(outcome, function_arn="arn:f:1" if ran else "", executed_version="1" if ran else None,
                   function_error="Unhandled" if outcome is Outcome.FUNCTION_ERROR else None,
                   response=b'"out"' if ran else None)


async def drive(queue, outcomes, config, *, now=0.0, before=None, until=lambda q: not q.events):
    """Run the worker until `until(queue)` holds; returns (runs, delivered, dropped)."""
    runs, delivered, dropped = [], [], []

    async def run(event):
        runs.append(event.request_id)
        return attempt(outcomes[len(runs) - 1])

    async def deliver(destination, record):
        delivered.append((destination, json.loads(record)))

    worker = EventQueue(queue, run=run, config_for=lambda name, q: config, deliver=deliver,
                        arn_for=lambda name, q: f"arn:{name}", on_drop=dropped.append, clock=lambda: now,
                        before_remove=before)
    await worker.start()
    while not until(queue) or worker._in_flight:
        await asyncio.sleep(0)
    await worker.close()
    return runs, delivered, dropped


def test_failing_event_runs_one_plus_retries_then_goes_to_on_failure():
    queue = FakeQueue()
    queue.add("r1")
    config = RetryConfig(maximum_retry_attempts=2, on_failure="arn:dest")
    runs, delivered, dropped = asyncio.run(drive(queue, [Outcome.FUNCTION_ERROR] * 3, config))
    assert runs == ["r1", "r1", "r1"]
    assert [c for c in queue.calls if c[0] == "retry_at"] == [("retry_at", "r1", 60.0, 1, 0),
                                                              ("retry_at", "r1", 120.0, 2, 0)]
    assert queue.calls[-1] == ("ack", "r1") and queue.closed
    (destination, record), = delivered
    assert destination == "arn:dest" and dropped == ["f"]
    assert record["requestContext"] == {"requestId": "r1", "functionArn": "arn:f:1", "condition": "RetriesExhausted",
                                        "approximateInvokeCount": 3}
    assert record["requestPayload"] == {"k": 1} and record["responsePayload"] == "out"
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "1", "functionError": "Unhandled"}


def test_throttles_back_off_then_success_goes_to_on_success():
    queue = FakeQueue()
    queue.add("r2")
    outcomes = [Outcome.THROTTLE, Outcome.SYSTEM_ERROR, Outcome.SUCCESS]
    runs, delivered, dropped = asyncio.run(drive(queue, outcomes, RetryConfig(on_success="arn:ok")))
    assert len(runs) == 3 and dropped == []
    assert [c[2:] for c in queue.calls if c[0] == "retry_at"] == [(1.0, 0, 1), (2.0, 0, 2)]
    assert delivered[0][1]["requestContext"]["condition"] == "Success"
    assert delivered[0][1]["requestContext"]["approximateInvokeCount"] == 1


def test_a_gone_function_drops_the_event_without_a_record():
    queue = FakeQueue()
    queue.add("x")
    runs, delivered, dropped = asyncio.run(drive(queue, [Outcome.GONE], RetryConfig(on_failure="arn:f")))
    assert runs == ["x"] and delivered == [] and dropped == ["f"]
    assert ("ack", "x") in queue.calls


def test_zero_concurrency_finishes_with_a_record_naming_the_function():
    queue = FakeQueue()
    queue.add("z", runs=1)
    runs, delivered, dropped = asyncio.run(drive(queue, [Outcome.ZERO_CONCURRENCY], RetryConfig(on_failure="arn:d")))
    (_, record), = delivered
    assert record["requestContext"] == {"requestId": "z", "functionArn": "arn:f", "condition": "ZeroReservedConcurrency",
                                        "approximateInvokeCount": 1}
    assert "responseContext" not in record and dropped == ["f"]


def test_an_event_too_old_finishes_without_running():
    queue = FakeQueue()
    queue.add("old", enqueued_at=0.0)
    config = RetryConfig(maximum_event_age_s=60, on_failure="arn:d")
    runs, delivered, dropped = asyncio.run(drive(queue, [], config, now=61.0))
    assert runs == [] and dropped == ["f"]
    assert delivered[0][1]["requestContext"]["condition"] == "EventAgeExceeded"


def test_the_event_leaves_the_queue_only_after_before_remove():
    queue = FakeQueue()
    queue.add("a")
    order = []

    async def before():
        order.append(("before_remove", list(queue.events)))
    asyncio.run(drive(queue, [Outcome.SUCCESS], RetryConfig(), before=before))
    assert order == [("before_remove", [1])]


def test_claims_are_leased_and_close_releases_what_is_still_running():
    queue = FakeQueue()
    queue.add("slow")
    started, never = asyncio.Event(), asyncio.Event()

    async def main():
        async def run(event):
            started.set()
            await never.wait()

        worker = EventQueue(queue, run=run, config_for=lambda n, q: RetryConfig(), deliver=None, arn_for=None,
                            clock=lambda: 0.0)
        await worker.start()
        await started.wait()
        await worker.close()
    asyncio.run(main())
    assert ("claim", ["slow"], workers.LEASE_SECONDS) in queue.calls
    assert queue.calls[-1] == ("release", [1]) and queue.closed and 1 in queue.events


def test_an_attempt_ending_while_the_queue_closes_starts_no_other_and_close_waits_for_every_attempt():
    """Issue 18: an attempt that ends on its own as close() cancels it (its run swallowed the
    cancel) started the next waiting event in a task close() did not wait for; that one ran on
    after the queue had closed (its retry failing: "cannot schedule new futures after shutdown")."""
    queue = FakeQueue()
    for name in ("a", "b", "c"):
        queue.add(name)
    started, ran, after_close = asyncio.Event(), [], []
    closed = False

    async def main():
        nonlocal closed

        async def run(event):
            ran.append(event.request_id)
            if closed:
                after_close.append(event.request_id)
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:  # a run that ends with an outcome of its own when cancelled
                return attempt(Outcome.SYSTEM_ERROR)

        worker = EventQueue(queue, run=run, config_for=lambda n, q: RetryConfig(), deliver=None, arn_for=None,
                            clock=lambda: 0.0)
        worker._shares["f"] = workers._Share(1, 0.0)  # one at a time: "b" and "c" wait behind "a"
        await worker.start()
        await started.wait()
        await worker.close()
        closed = True
        await asyncio.sleep(0.05)
        return worker
    worker = asyncio.run(main())
    assert ran == ["a"] and after_close == []
    assert not worker._tasks and queue.closed
    # "a" was rescheduled by its own outcome; "b" and "c" never ran and are given back
    assert ("release", [2, 3]) in queue.calls and {2, 3} <= set(queue.events)


def test_quiesce_lets_running_attempts_finish_and_starts_no_other():
    """At the stop signal (issue 18) the queue starts nothing more: attempts started during the
    drain made environments the stop's reserve (counted at the signal) had no time for."""
    queue = FakeQueue()
    for name in ("a", "b", "c"):
        queue.add(name)
    ran, go = [], asyncio.Event()

    async def main():
        async def run(event):
            ran.append(event.request_id)
            await go.wait()
            return attempt(Outcome.SUCCESS)

        worker = EventQueue(queue, run=run, config_for=lambda n, q: RetryConfig(), deliver=None, arn_for=None,
                            clock=lambda: 0.0)
        worker._shares["f"] = workers._Share(1, 0.0)  # one at a time: "b" and "c" wait behind "a"
        await worker.start()
        while not ran:
            await asyncio.sleep(0)
        worker.quiesce()
        go.set()
        while ("ack", "a") not in queue.calls:
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        await worker.close()
    asyncio.run(main())
    assert ran == ["a"]  # it finished; the others were not started
    assert set(queue.events) == {2, 3} and queue.held == set() and queue.closed


def test_running_events_have_their_leases_renewed(monkeypatch):
    monkeypatch.setattr(workers, "RENEW_SECONDS", 0)
    queue = FakeQueue()
    queue.add("slow")
    never = asyncio.Event()

    async def main():
        async def run(event):
            await never.wait()

        worker = EventQueue(queue, run=run, config_for=lambda n, q: RetryConfig(), deliver=None, arn_for=None,
                            clock=lambda: 0.0)
        await worker.start()
        while ("extend", [1]) not in queue.calls:
            await asyncio.sleep(0)
        await worker.close()
    asyncio.run(main())


@pytest.mark.parametrize("slots", [1, 3])
def test_never_more_events_in_flight_than_workers(slots):
    queue = FakeQueue()
    for i in range(5):
        queue.add(f"e{i}", function=f"f{i}")  # one each: every function's share starts with more than one
    running, peak, go = set(), [], asyncio.Event()

    async def main():
        async def run(event):
            running.add(event.id)
            peak.append(len(running))
            await go.wait()
            running.discard(event.id)
            return attempt(Outcome.SUCCESS)

        worker = EventQueue(queue, run=run, config_for=lambda n, q: RetryConfig(), deliver=None, arn_for=None,
                            clock=lambda: 0.0, workers=slots)
        await worker.start()
        while len(running) < slots:
            await asyncio.sleep(0)
        go.set()
        while queue.events:
            await asyncio.sleep(0)
        await worker.close()
    asyncio.run(main())
    assert max(peak) == slots
    assert [c[1] for c in queue.calls if c[0] == "claim"][0] == [f"e{i}" for i in range(slots)]


def test_a_failing_claim_or_wait_is_logged_and_the_worker_carries_on(caplog):
    class Flaky(FakeQueue):
        failures = {"claim": 1, "wait_due": 1}

        async def claim(self, limit, lease_s, *, skip=frozenset()):
            if self.failures["claim"]:
                self.failures["claim"] -= 1
                raise OSError("disk I/O error")
            return await super().claim(limit, lease_s, skip=skip)

        async def wait_due(self, timeout, *, skip=frozenset()):
            if self.failures["wait_due"]:
                self.failures["wait_due"] -= 1
                raise OSError("disk I/O error")
            return await super().wait_due(timeout, skip=skip)

    queue = Flaky()
    queue.add("a")
    runs, delivered, dropped = asyncio.run(drive(queue, [Outcome.SUCCESS], RetryConfig()))
    assert runs == ["a"] and ("ack", "a") in queue.calls
    assert caplog.text.count("could not read the event queue") == 2


def test_a_backlog_runs_a_few_at_first_then_more_as_the_environments_warm():
    """40 events of one function: 2 run at once at first; each step of the (fake) clock past the interval,
    with every consumer having finished an attempt and events finishing faster, doubles the share, up to
    the ceiling (here 6)."""
    queue = FakeQueue()
    for i in range(40):
        queue.add(f"e{i}")
    clock, running, peaks = [0.0], set(), []

    async def main():
        async def run(event):
            running.add(event.id)
            peaks.append((clock[0], len(running)))
            await asyncio.sleep(0)
            clock[0] += 0.3 / len(running)  # each takes 0.3 s of the fake clock, overlapping the others running
            running.discard(event.id)
            return attempt(Outcome.SUCCESS)

        worker = EventQueue(queue, run=run, config_for=lambda n, q: RetryConfig(), deliver=None, arn_for=None,
                            clock=lambda: 0.0, monotonic=lambda: clock[0], ceiling_for=lambda name: (6, 900))
        await worker.start()
        while queue.events or worker._in_flight:
            await asyncio.sleep(0)
        await worker.close()
    asyncio.run(main())
    assert not queue.events and len(peaks) == 40
    assert max(n for at, n in peaks if at < 1.0) <= 2
    assert max(n for _, n in peaks) == 6  # grew past the start, never past the reservation


def test_a_claim_leaves_slots_for_other_functions_behind_one_functions_backlog():
    """100 events of "big" ahead of one of "small": the first claim takes only what big's share has
    room for (and a few more), so small's event is claimed and runs while big's backlog waits."""
    queue = FakeQueue()
    for i in range(100):
        queue.add(f"big{i}", function="big")
    queue.add("small", function="small")
    ran, never = [], asyncio.Event()

    async def main():
        async def run(event):
            ran.append(event.request_id)
            if event.function_name == "big":
                await never.wait()
            return attempt(Outcome.SUCCESS)

        worker = EventQueue(queue, run=run, config_for=lambda n, q: RetryConfig(), deliver=None, arn_for=None,
                            clock=lambda: 0.0, monotonic=lambda: 0.0)
        await worker.start()
        for _ in range(10_000):
            if "small" in ran:
                break
            await asyncio.sleep(0)
        await worker.close()
    asyncio.run(main())
    assert "small" in ran and len(ran) == 3 and len([c for c in queue.calls if c[0] == "claim"][0][1]) < 64


def test_while_a_burst_is_accepted_each_function_runs_one_attempt_at_a_time_then_all_run(monkeypatch):
    """The front door is busy accepting (queue/priority.py): after the first tick each function runs
    one attempt at a time, not its share of 2; once the burst is over its share runs again, and every
    event runs exactly once."""
    monkeypatch.setattr(workers.priority, "TICK_SECONDS", 0.001)
    queue = FakeQueue()
    for i in range(30):
        queue.add(f"a{i}", function="a")
    for i in range(10):
        queue.add(f"b{i}", function="b")
    burst, accepted = [True], [0.0]
    running = {"a": 0, "b": 0}
    starts: list[tuple[bool, str, int]] = []  # (during the burst, function, attempts of it running)
    ran: list[str] = []

    def accepting() -> float:  # seconds spent accepting Event invokes, all told
        if burst[0]:
            accepted[0] += 1000.0
        return accepted[0]

    async def main():
        first = asyncio.Event()

        async def run(event):
            running[event.function_name] += 1
            starts.append((burst[0], event.function_name, running[event.function_name]))
            ran.append(event.request_id)
            if len(ran) <= 4:
                await first.wait()  # the attempts started before the first tick
            else:
                await asyncio.sleep(0.001)
            if len(ran) == 24:
                burst[0] = False
            running[event.function_name] -= 1
            return attempt(Outcome.SUCCESS)

        worker = EventQueue(queue, run=run, config_for=lambda n, q: RetryConfig(), deliver=None, arn_for=None,
                            clock=lambda: 0.0, monotonic=lambda: 0.0, accepting=accepting)
        await worker.start()
        while len(ran) < 4:
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)  # ticks: the allowance falls to the floor
        first.set()
        while queue.events or worker._in_flight:
            await asyncio.sleep(0.001)
        await worker.close()
    asyncio.run(main())
    assert sorted(ran) == sorted([f"a{i}" for i in range(30)] + [f"b{i}" for i in range(10)])  # each once
    assert [c for c in queue.calls if c[0] == "ack"] and not queue.events
    assert [n for during, _, n in starts[:4]] == [1, 2, 1, 2]  # before the first tick: each share's 2
    held = [n for during, _, n in starts[4:] if during]
    assert held and max(held) == 1
    assert max(n for during, _, n in starts if not during) == 2  # after the burst: the share again


def test_without_a_front_door_measure_the_share_runs_in_full():
    queue = FakeQueue()
    for i in range(6):
        queue.add(f"e{i}")
    peak, running = [0], [0]

    async def main():
        async def run(event):
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            await asyncio.sleep(0.001)
            running[0] -= 1
            return attempt(Outcome.SUCCESS)

        worker = EventQueue(queue, run=run, config_for=lambda n, q: RetryConfig(), deliver=None, arn_for=None,
                            clock=lambda: 0.0, monotonic=lambda: 0.0)
        await worker.start()
        while queue.events or worker._in_flight:
            await asyncio.sleep(0.001)
        await worker.close()
    asyncio.run(main())
    assert peak[0] == 2


def test_a_share_the_front_door_holds_is_not_grown_but_follows_a_lowered_reservation_at_once():
    ceiling = [64]
    worker = EventQueue(FakeQueue(), run=None, config_for=None, deliver=None, arn_for=None,
                        ceiling_for=lambda name: (ceiling[0], 900), monotonic=lambda: 0.0)
    worker._allowance = 1  # a burst is being accepted
    share = workers._Share(8, 0.0)
    share.warmed, share.running = 100, 1
    worker._step("f", share, 10.0)  # warm, long past the interval, but held: no doubling
    assert share.limit == 8 and share.warmed == 0
    ceiling[0] = 3  # its reserved concurrency was lowered meanwhile
    worker._step("f", share, 10.5)
    assert share.limit == 3
