"""The async queue on the real JetStream: what EventQueue relies on from a Queue — durable enqueue,
claim/ack, leases that run out and deliver again, release, delayed retries with their counts, one
event to one of several consumers, depth/backlog, and events surviving a new connection."""

from __future__ import annotations

import asyncio
import secrets
import time

from nats.js.errors import NotFoundError

from lamina.cluster.connection import connect
from lamina.cluster.jetstream_queue import JetStreamQueue
from lamina.cluster.names import Names

NATS_URL = "nats://127.0.0.1:4222"
LEASE = 1.0
PATIENCE = 15.0  # bound for waits on redelivery (a failure, not a speed measure)
SCENARIO_LIMIT = 90.0


def run(scenario):
    """Run `scenario(open_queue)` in a fresh cluster name; delete its stream and bucket afterwards."""
    names = Names(f"tjs{secrets.token_hex(4)}")

    async def main():
        opened = []

        async def open_queue(lease_s=LEASE, clock=time.time):
            nc = await connect(NATS_URL, name="test")
            queue = JetStreamQueue(nc, names, lease_s=lease_s, clock=clock)
            await queue.start()
            opened.append((queue, nc))
            return queue

        try:
            # a hang fails here, below pytest's timeout, with the traceback of the await that hung
            await asyncio.wait_for(scenario(open_queue), SCENARIO_LIMIT)
        finally:
            for queue, nc in opened:
                if not nc.is_closed:
                    await queue.close()
                    await nc.close()
            nc = await connect(NATS_URL, name="cleanup")
            js = nc.jetstream()
            for drop in (lambda: js.delete_stream(names.async_stream),
                         lambda: js.delete_object_store(names.async_payloads_bucket)):
                try:
                    await drop()
                except NotFoundError:
                    pass
            await nc.close()

    asyncio.run(main())


async def claim_until(queue, count, *, limit=10, lease_s=None):
    """Claim (waiting for deliveries) until `count` events arrived or PATIENCE ran out."""
    got = []
    deadline = time.monotonic() + PATIENCE
    while len(got) < count and time.monotonic() < deadline:
        claimed = await queue.claim(limit, lease_s or queue._lease_s)
        got += claimed
        if not claimed:
            await queue.wait_due(0.5)
    return got


async def enqueue(queue, request_id, function="f", qualifier=None, payload=b"{}", trace=None):
    await queue.enqueue(request_id=request_id, function_name=function, qualifier=qualifier, payload=payload,
                        trace=trace)


def test_enqueue_claim_ack_and_the_gauges():
    async def scenario(open_queue):
        queue = await open_queue(lease_s=30)
        before = time.time()
        await enqueue(queue, "r1", "f", None, b'{"n": 1}')
        await enqueue(queue, "r2", "f", "live", b'{"n": 2}')
        await enqueue(queue, "r3", "g.with.dots", None, b"")
        await queue.refresh()
        assert queue.depth() == 3
        backlog = queue.backlog()
        assert set(backlog) == {"f", "g.with.dots"}
        assert backlog["f"][0] == 2 and backlog["g.with.dots"][0] == 1
        assert before <= queue.oldest() == backlog["f"][1] <= backlog["g.with.dots"][1] <= time.time()
        events = await claim_until(queue, 3)
        assert [(e.request_id, e.function_name, e.qualifier, e.payload, e.runs, e.throttles) for e in events] == [
            ("r1", "f", None, b'{"n": 1}', 0, 0), ("r2", "f", "live", b'{"n": 2}', 0, 0),
            ("r3", "g.with.dots", None, b"", 0, 0)]
        assert len({e.id for e in events}) == 3 and all(e.due_at == e.enqueued_at for e in events)
        await queue.refresh()
        assert queue.depth() == 3  # leased events are unfinished
        for event in events:
            await queue.ack(event.id)
        await queue.refresh()
        assert queue.depth() == 0 and queue.backlog() == {} and queue.oldest() is None
        assert await queue.claim(10, 30) == []

    run(scenario)


def test_an_event_whose_lease_runs_out_is_delivered_again_and_extend_keeps_it():
    lease = 3.0  # renewed every 0.5 s: a loaded machine still renews well within it

    async def scenario(open_queue):
        holder = await open_queue(lease_s=lease)
        other = await open_queue(lease_s=lease)
        await enqueue(holder, "kept")
        await enqueue(holder, "dropped")
        first = await claim_until(holder, 2)
        kept = next(e for e in first if e.request_id == "kept")
        # the holder keeps renewing "kept" and forgets "dropped" (as if it died holding it)
        renewing = True

        async def renew():
            while renewing:
                await holder.extend([kept.id], lease)
                await asyncio.sleep(0.5)

        renewer = asyncio.create_task(renew())
        again = await claim_until(other, 1)
        await other.ack(again[0].id)
        await asyncio.sleep(lease * 1.5)
        later = await other.claim(10, lease)
        renewing = False
        await renewer
        assert [e.request_id for e in again] == ["dropped"] and later == []
        assert again[0].id == next(e.id for e in first if e.request_id == "dropped")
        await holder.ack(kept.id)
        await holder.refresh()
        assert holder.depth() == 0

    run(scenario)


def test_release_gives_events_back_at_once():
    async def scenario(open_queue):
        queue = await open_queue(lease_s=60)  # a lease expiry could not explain the redelivery
        await enqueue(queue, "r1")
        [event] = await claim_until(queue, 1)
        await queue.release([event.id])
        [again] = await claim_until(queue, 1)
        assert (again.id, again.request_id, again.runs) == (event.id, "r1", 0)
        await queue.ack(again.id)

    run(scenario)


def test_retry_at_hands_the_event_back_with_new_counts_due_later():
    """Due or not is the queue's clock against the event's due time: the test moves that clock, so
    no assertion depends on how late a delivery or a wake-up comes."""
    now = [time.time()]

    async def scenario(open_queue):
        queue = await open_queue(lease_s=30, clock=lambda: now[0])
        await enqueue(queue, "r1", "f", "3", b"payload")
        [event] = await claim_until(queue, 1)
        due = now[0] + 60
        await queue.retry_at(event.id, due_at=due, runs=1, throttles=2)
        now[0] = due - 0.1  # each delivery is handed back for 0.1 s: it comes round again and again
        watching = time.monotonic() + 1.0  # (how long it is watched, not a bound anything must meet)
        while time.monotonic() < watching:
            assert await queue.claim(10, 30) == []  # never handed out before its due time
            await queue.wait_due(0.1)
        now[0] = due
        [retried] = await claim_until(queue, 1)
        assert (retried.request_id, retried.function_name, retried.qualifier, retried.payload) == ("r1", "f", "3",
                                                                                                  b"payload")
        assert (retried.runs, retried.throttles, retried.due_at, retried.enqueued_at) == (1, 2, due, event.enqueued_at)
        assert retried.id != event.id
        await queue.refresh()
        assert queue.depth() == 1  # the old message is gone, the retry is the only copy
        await queue.ack(retried.id)

    run(scenario)


def test_two_consumers_never_get_the_same_event():
    async def scenario(open_queue):
        first, second = await open_queue(lease_s=60), await open_queue(lease_s=60)
        for n in range(40):
            await enqueue(first, f"r{n}", f"f{n % 3}")
        seen = {}

        async def consume(queue, name):
            deadline = time.monotonic() + PATIENCE
            while sum(len(v) for v in seen.values()) < 40 and time.monotonic() < deadline:
                claimed = await queue.claim(3, 60)
                seen.setdefault(name, []).extend(e.request_id for e in claimed)
                for event in claimed:
                    await queue.ack(event.id)
                if not claimed:
                    await queue.wait_due(0.2)

        await asyncio.gather(consume(first, "a"), consume(second, "b"))
        everything = seen.get("a", []) + seen.get("b", [])
        assert sorted(everything) == sorted(f"r{n}" for n in range(40))  # each exactly once

    run(scenario)


def test_a_new_connection_sees_what_an_old_one_accepted():
    async def scenario(open_queue):
        old = await open_queue(lease_s=60)
        await enqueue(old, "accepted-before", "f", None, b"kept")
        [held] = await claim_until(old, 1)
        await enqueue(old, "accepted-after")
        old_nc = old._nc
        await old_nc.close()  # the node goes away without acknowledging anything
        new = await open_queue(lease_s=60)
        await new.refresh()
        assert new.depth() == 2
        [pending] = await claim_until(new, 1)
        assert pending.request_id == "accepted-after"
        # the event the old connection held is still in the stream; another node may finish it
        await new.ack(held.id)
        await new.ack(pending.id)
        await new.refresh()
        assert new.depth() == 0

    run(scenario)


def test_payloads_bigger_than_a_nats_message_travel_beside_it():
    async def scenario(open_queue):
        queue = await open_queue(lease_s=30)
        big = secrets.token_bytes(1_048_576)
        await enqueue(queue, "big", "f", None, big)
        [event] = await claim_until(queue, 1)
        assert event.payload == big
        await queue.retry_at(event.id, due_at=time.time(), runs=1, throttles=0)
        [again] = await claim_until(queue, 1)
        assert again.payload == big and again.runs == 1
        await queue.ack(again.id)
        store = await queue._payload_store()
        try:
            left = [info.name for info in await store.list() if not info.deleted]
        except NotFoundError:
            left = []
        assert left == []  # the finished event's payload went with it

    run(scenario)


def test_an_events_trace_travels_with_it_and_its_retries():
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"

    async def scenario(open_queue):
        queue = await open_queue(lease_s=30)
        await enqueue(queue, "traced", trace=trace)
        await enqueue(queue, "untraced")
        await enqueue(queue, "big", payload=secrets.token_bytes(1_048_576), trace=trace)  # beside the message
        first = await claim_until(queue, 3)
        for event in first:
            await queue.retry_at(event.id, due_at=time.time(), runs=1, throttles=0)
        retried = await claim_until(queue, 3)
        for events in (first, retried):
            assert {e.request_id: e.trace for e in events} == {"traced": trace, "untraced": None, "big": trace}
        assert [e.runs for e in retried] == [1, 1, 1]
        for event in retried:
            await queue.ack(event.id)

    run(scenario)


def test_claim_respects_its_limit():
    lease_s = 30

    async def scenario(open_queue):
        queue = await open_queue(lease_s=lease_s)
        for n in range(5):
            await enqueue(queue, f"r{n}")
        await queue.wait_due(1.0)
        first = await queue.claim(2, lease_s)
        assert len(first) == 2
        rest = await claim_until(queue, 3)
        assert sorted(e.request_id for e in first + rest) == [f"r{n}" for n in range(5)]
        for event in first + rest:
            await queue.ack(event.id)

    run(scenario)


def test_a_claim_with_another_lease_sets_the_lease_for_every_node():
    async def scenario(open_queue):
        queue = await open_queue(lease_s=60)
        other = await open_queue(lease_s=60)
        await enqueue(queue, "r1")
        [event] = await claim_until(queue, 1, lease_s=LEASE)  # the worker asks for a 1 s lease
        info = await queue._js.consumer_info(queue._names.async_stream, queue._names.async_consumer)
        assert info.config.ack_wait == LEASE
        [again] = await claim_until(other, 1, lease_s=LEASE)  # back long before 60 s
        assert again.id == event.id
        await other.ack(again.id)

    run(scenario)
