"""lamina.queue.sql.SqlQueue on a real SQLite file: leases, ack, retry-at, depth and age, and a
crash (a second instance on the same file). The clock is handed in, so no test sleeps."""

import asyncio

from lamina.queue.sql import SqlQueue
from lamina.store.database import open_database
from lamina.store.queue import QueueStore

T0 = 1_000_000.0


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


def open_queue(db_url, clock):
    return SqlQueue(QueueStore(open_database(db_url)), clock=clock)


async def started(queue, *request_ids):
    await queue.start()
    for request_id in request_ids:
        await queue.enqueue(request_id=request_id, function_name="f", qualifier=None, payload=b"{}")
    return queue


def ids(events):
    return [event.request_id for event in events]


def test_a_claimed_event_is_held_until_its_lease_runs_out(db_url):
    async def main():
        clock = Clock()
        queue = await started(open_queue(db_url, clock), "a", "b")
        first = await queue.claim(10, lease_s=30)
        again = await queue.claim(10, lease_s=30)
        clock.now = T0 + 29.9
        at_expiry = await queue.claim(10, lease_s=30)
        clock.now = T0 + 30
        after = await queue.claim(10, lease_s=30)
        await queue.close()
        return first, again, at_expiry, after
    first, again, at_expiry, after = asyncio.run(main())
    assert ids(first) == ["a", "b"]
    assert first[0].runs == 0 and first[0].throttles == 0 and first[0].enqueued_at == T0
    assert again == [] and at_expiry == []
    assert ids(after) == ["a", "b"]


def test_claim_takes_at_most_limit_earliest_due_first(db_url):
    async def main():
        clock = Clock()
        queue = await started(open_queue(db_url, clock), "a")
        clock.now = T0 + 1
        await queue.enqueue(request_id="b", function_name="f", qualifier="7", payload=b"x")
        first = await queue.claim(1, lease_s=30)
        second = await queue.claim(5, lease_s=30)
        await queue.close()
        return first, second
    first, second = asyncio.run(main())
    assert ids(first) == ["a"]
    (b,) = second
    assert (b.request_id, b.qualifier, b.payload, b.enqueued_at) == ("b", "7", b"x", T0 + 1)


def test_extend_keeps_a_lease_alive_past_its_first_expiry(db_url):
    async def main():
        clock = Clock()
        queue = await started(open_queue(db_url, clock), "a")
        (event,) = await queue.claim(1, lease_s=30)
        clock.now = T0 + 20
        await queue.extend([event.id], lease_s=30)
        clock.now = T0 + 45
        held = await queue.claim(1, lease_s=30)
        clock.now = T0 + 51
        free = await queue.claim(1, lease_s=30)
        await queue.close()
        return held, free
    held, free = asyncio.run(main())
    assert held == [] and ids(free) == ["a"]


def test_ack_removes_for_good(db_url):
    async def main():
        clock = Clock()
        queue = await started(open_queue(db_url, clock), "a", "b")
        a, b = await queue.claim(2, lease_s=30)
        await queue.ack(a.id)
        depth = queue.depth()
        clock.now = T0 + 3600
        left = await queue.claim(10, lease_s=30)
        await queue.close()
        return depth, left
    depth, left = asyncio.run(main())
    assert depth == 1 and ids(left) == ["b"]


def test_retry_at_releases_with_a_new_due_time_and_counts(db_url):
    async def main():
        clock = Clock()
        queue = await started(open_queue(db_url, clock), "a")
        (event,) = await queue.claim(1, lease_s=30)
        await queue.retry_at(event.id, due_at=T0 + 60, runs=1, throttles=2)
        clock.now = T0 + 59
        early = await queue.claim(1, lease_s=30)
        clock.now = T0 + 60
        due = await queue.claim(1, lease_s=30)
        await queue.close()
        return early, due
    early, due = asyncio.run(main())
    assert early == []
    (event,) = due
    assert (event.due_at, event.runs, event.throttles, event.enqueued_at) == (T0 + 60, 1, 2, T0)


def test_release_gives_leased_events_back_at_once(db_url):
    async def main():
        clock = Clock()
        queue = await started(open_queue(db_url, clock), "a", "b")
        a, b = await queue.claim(2, lease_s=30)
        await queue.release([a.id])
        again = await queue.claim(2, lease_s=30)
        await queue.close()
        return again
    assert ids(asyncio.run(main())) == ["a"]


def test_depth_and_oldest_count_leased_events_too(db_url):
    async def main():
        clock = Clock()
        queue = await started(open_queue(db_url, clock))
        empty = (queue.depth(), queue.oldest())
        await queue.enqueue(request_id="a", function_name="f", qualifier=None, payload=b"{}")
        clock.now = T0 + 5
        await queue.enqueue(request_id="b", function_name="f", qualifier=None, payload=b"{}")
        await queue.claim(1, lease_s=30)
        full = (queue.depth(), queue.oldest())
        await queue.close()
        return empty, full
    assert asyncio.run(main()) == ((0, None), (2, T0))


def test_a_crash_leaves_leases_that_a_new_instance_honours_until_they_expire(db_url):
    clock = Clock()

    async def crash():
        queue = await started(open_queue(db_url, clock), "held", "waiting")
        await queue.claim(1, lease_s=30)  # then the process dies: no ack, no release
        queue._db.shutdown(wait=True)

    async def after_restart():
        queue = await started(open_queue(db_url, clock))
        clock.now = T0 + 1
        early = await queue.claim(10, lease_s=30)
        clock.now = T0 + 30.5
        late = await queue.claim(10, lease_s=30)
        await queue.close()
        return early, late

    asyncio.run(crash())
    early, late = asyncio.run(after_restart())
    assert ids(early) == ["waiting"]
    assert ids(late) == ["held"]


def test_concurrent_enqueues_share_a_commit_and_all_survive(db_url):
    async def accept():
        queue = await started(open_queue(db_url, Clock()))
        await asyncio.gather(*(queue.enqueue(request_id=f"e{i}", function_name="f", qualifier=None, payload=b"{}")
                               for i in range(300)))
        queue._db.shutdown(wait=True)  # no clean close: what enqueue returned for must be on disk

    async def reopen():
        queue = await started(open_queue(db_url, Clock()))
        events = await queue.claim(1000, lease_s=30)
        await queue.close()
        return events

    asyncio.run(accept())
    assert sorted(ids(asyncio.run(reopen()))) == sorted(f"e{i}" for i in range(300))


def test_wait_due_returns_when_an_event_is_enqueued(db_url):
    async def main():
        queue = await started(open_queue(db_url, Clock()))
        waiter = asyncio.create_task(queue.wait_due(timeout=3600))
        await asyncio.sleep(0)
        await queue.enqueue(request_id="a", function_name="f", qualifier=None, payload=b"{}")
        await waiter  # would hang for an hour if the commit did not wake it
        events = await queue.claim(1, lease_s=30)
        await queue.close()
        return events
    assert ids(asyncio.run(main())) == ["a"]


def test_backlog_counts_events_and_the_oldest_per_function(db_url):
    async def main():
        clock = Clock()
        queue = await started(open_queue(db_url, clock))
        empty = queue.backlog()
        await queue.enqueue(request_id="a", function_name="f", qualifier=None, payload=b"{}")
        clock.now = T0 + 5
        await queue.enqueue(request_id="b", function_name="g", qualifier="live", payload=b"{}")
        await queue.enqueue(request_id="c", function_name="f", qualifier=None, payload=b"{}")
        await queue.claim(1, lease_s=30)
        full = queue.backlog()
        await queue.close()
        return empty, full
    assert asyncio.run(main()) == ({}, {"f": (2, T0), "g": (1, T0 + 5)})
