"""lamina.queue.sql.SqlQueue on a real SQLite file: leases, ack, retry-at, depth and age, and a
crash (a second instance on the same file). The clock is handed in, so no test sleeps."""

import asyncio
import functools
import threading

from lamina.queue import sql
from lamina.queue.sql import SqlQueue
from lamina.store.database import open_database, transaction_turn
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


async def claimed_after_reopening(db_url):
    """Every event a new instance on the same file finds (up to 1,000)."""
    queue = await started(open_queue(db_url, Clock()))
    events = await queue.claim(1000, lease_s=30)
    await queue.close()
    return events


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


def test_an_events_trace_is_stored_with_it_and_kept_by_its_retries(db_url):
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"

    async def main():
        clock = Clock()
        queue = await started(open_queue(db_url, clock), "untraced")
        await queue.enqueue(request_id="traced", function_name="f", qualifier=None, payload=b"{}", trace=trace)
        first = await queue.claim(2, lease_s=30)
        for event in first:
            await queue.retry_at(event.id, due_at=T0 + 60, runs=1, throttles=0)
        clock.now = T0 + 60
        retried = await queue.claim(2, lease_s=30)
        await queue.close()
        return first, retried
    first, retried = asyncio.run(main())
    for events in (first, retried):
        assert {event.request_id: event.trace for event in events} == {"untraced": None, "traced": trace}
    assert [event.runs for event in retried] == [1, 1]


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
        queue._db.stop()

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
        queue._db.stop()  # no clean close: what enqueue returned for must be on disk

    asyncio.run(accept())
    assert sorted(ids(asyncio.run(claimed_after_reopening(db_url)))) == sorted(f"e{i}" for i in range(300))


def test_events_accepted_at_once_are_told_once_each_after_their_commit(db_url):
    told: list[tuple[str, BaseException | None]] = []

    async def accept():
        queue = await started(open_queue(db_url, Clock()))
        everyone = asyncio.get_running_loop().create_future()

        def done(request_id, error):
            told.append((request_id, error))
            if len(told) == 300 and not everyone.done():
                everyone.set_result(None)

        for i in range(300):
            if i % 3:
                queue.accept_now(request_id=f"e{i}", function_name="f", qualifier=None, payload=b"{}", trace=None,
                                 done=functools.partial(done, f"e{i}"))
            else:  # a coroutine's enqueue shares the commits
                asyncio.ensure_future(queue.enqueue(request_id=f"e{i}", function_name="f", qualifier=None,
                                                    payload=b"{}")).add_done_callback(
                    lambda task, i=i: done(f"e{i}", task.exception()))
            if i % 50 == 0:
                await asyncio.sleep(0)  # several commits
        await everyone
        queue._db.stop()  # no clean close: what each was told of must be on disk

    asyncio.run(accept())
    assert sorted(told) == sorted((f"e{i}", None) for i in range(300))
    assert sorted(ids(asyncio.run(claimed_after_reopening(db_url)))) == sorted(f"e{i}" for i in range(300))


def test_a_failed_commit_tells_each_event_accepted_at_once_and_the_queue_goes_on(db_url):
    class FailingStore(QueueStore):
        fail = True

        def commit_here(self, add):
            if self.fail:
                raise OSError("disk full")
            return super().commit_here(add)

    store = FailingStore(open_database(db_url))
    told: list = []

    def done(request_id, error):
        told.append((request_id, type(error).__name__ if error else None))
        if request_id == "a":
            raise RuntimeError("the caller's own fault")  # logged; the others are still told

    async def main():
        queue = await started(SqlQueue(store, clock=Clock()))
        for request_id in ("a", "b"):
            queue.accept_now(request_id=request_id, function_name="f", qualifier=None, payload=b"{}", trace=None,
                             done=functools.partial(done, request_id))
        while len(told) < 2:
            await asyncio.sleep(0.01)
        store.fail = False
        queue.accept_now(request_id="c", function_name="f", qualifier=None, payload=b"{}", trace=None,
                         done=functools.partial(done, "c"))
        while len(told) < 3:
            await asyncio.sleep(0.01)
        events = await queue.claim(10, lease_s=30)
        await queue.close()
        return events

    events = asyncio.run(main())
    assert told == [("a", "OSError"), ("b", "OSError"), ("c", None)]
    assert ids(events) == ["c"]  # nothing of the failed commit was accepted


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


def test_a_scan_past_a_skip_list_is_kept_until_an_event_it_may_have_missed_changes(db_url):
    async def main():
        clock = Clock()
        queue = await started(open_queue(db_url, clock), "s1", "s2")  # function "f": the skipped backlog
        scans = []
        store_claim, store_next = queue._store.claim, queue._store.next_claimable
        queue._store.claim = lambda *a: scans.append("claim") or store_claim(*a)
        queue._store.next_claimable = lambda *a: scans.append("next") or store_next(*a)
        skip = frozenset({"f"})
        seen = [await queue.claim(10, 30, skip=skip), await queue._in_db(queue._next_claimable, skip),
                await queue.claim(10, 30, skip=skip), await queue._in_db(queue._next_claimable, skip)]
        first = list(scans)
        await queue.enqueue(request_id="f3", function_name="f", qualifier=None, payload=b"{}")  # skipped: kept
        seen.append(await queue.claim(10, 30, skip=skip))
        after_own = list(scans)
        await queue.enqueue(request_id="g1", function_name="g", qualifier=None, payload=b"{}")  # outside: read again
        seen.append(ids(await queue.claim(10, 30, skip=skip)))
        g_claimed = list(scans)
        await queue._in_db(queue._next_claimable, skip)  # g1 is leased: claimable in 30 s
        await queue.claim(10, 30, skip=skip)
        kept_lease = list(scans)
        clock.now = T0 + 0.99
        await queue.claim(10, 30, skip=skip)
        clock.now = T0 + 1.0  # too old
        await queue.claim(10, 30, skip=skip)
        aged = list(scans)
        await queue.close()
        return seen, first, after_own, g_claimed, kept_lease, aged
    seen, first, after_own, g_claimed, kept_lease, aged = asyncio.run(main())
    assert seen == [[], None, [], None, [], ["g1"]]
    assert first == ["claim", "next"]  # the second claim and read came from the kept answer
    assert after_own == first
    assert g_claimed == first + ["claim"]
    assert kept_lease == g_claimed + ["next"]
    assert aged == kept_lease + ["claim"]


def test_a_kept_scan_is_forgotten_when_its_time_comes_or_an_event_is_rescheduled(db_url):
    async def main():
        clock = Clock()
        queue = await started(open_queue(db_url, clock), "s1")
        await queue.enqueue(request_id="g1", function_name="g", qualifier=None, payload=b"{}")
        skip = frozenset({"f"})
        [g1] = await queue.claim(10, 0.5, skip=skip)  # leased for 0.5 s
        next_at = await queue._in_db(queue._next_claimable, skip)
        held = await queue.claim(10, 30, skip=skip)
        clock.now = T0 + 0.5  # the lease ran out: the kept answer's time has come
        expired = ids(await queue.claim(10, 0.1, skip=skip))
        await queue._in_db(queue._next_claimable, skip)  # leased until T0 + 0.6
        await queue.retry_at(g1.id, due_at=T0, runs=1, throttles=0)  # due at once
        retried = ids(await queue.claim(10, 30, skip=skip))
        await queue.close()
        return next_at, held, expired, retried
    next_at, held, expired, retried = asyncio.run(main())
    assert next_at == T0 + 0.5 and held == []
    assert expired == ["g1"] and retried == ["g1"]


def test_acknowledged_events_leave_in_the_transaction_that_stores_the_log_lines(db_url):
    from lamina.engine.spec import LogBatch, LogEvent
    from lamina.store.logs import LogStore
    from lamina.telemetry.logbuffer import LogBuffer

    database = open_database(db_url)
    logs = LogStore(database)
    buffer = LogBuffer(logs.append, interval=3600)  # the writer thread stores nothing on its own
    seen = []

    def write_lines(conn, batches):
        seen.append((threading.current_thread().name, len(batches)))
        logs.append_on(conn, batches)

    async def main():
        queue = SqlQueue(QueueStore(database, write_lines=write_lines), clock=Clock(),
                         drain_lines=buffer.drain_into)
        await started(queue, "a", "b")
        accepted_only = list(seen)
        [a, b] = await queue.claim(10, 30)
        buffer(LogBatch("/aws/lambda/f", "s", (LogEvent(1, "START a"), LogEvent(2, "END a"))))
        await queue.ack(a.id)
        depth = queue.depth()
        await queue.close()
        return accepted_only, depth

    accepted_only, depth = asyncio.run(main())
    buffer.close()
    assert accepted_only == []  # accepting alone takes no lines
    assert seen == [("lamina-queue", 1)] and depth == 1
    assert logs.events("/aws/lambda/f") == [("s", 1, "START a"), ("s", 2, "END a")]


def test_a_failed_commit_keeps_both_the_event_and_its_log_lines(db_url):
    from lamina.engine.spec import LogBatch, LogEvent
    from lamina.store.logs import LogStore
    from lamina.telemetry.logbuffer import LogBuffer

    database = open_database(db_url)
    logs = LogStore(database)
    buffer = LogBuffer(logs.append, interval=3600)
    fail = [True]

    def write_lines(conn, batches):
        logs.append_on(conn, batches)
        if fail[0]:
            raise OSError("disk full")  # after the lines were written: the transaction is rolled back

    async def main():
        queue = SqlQueue(QueueStore(database, write_lines=write_lines), clock=Clock(),
                         drain_lines=buffer.drain_into)
        await started(queue, "a")
        [a] = await queue.claim(10, 30)
        buffer(LogBatch("/aws/lambda/f", "s", (LogEvent(1, "START a"),)))
        try:
            await queue.ack(a.id)
        except OSError:
            failed = True
        else:
            failed = False
        stored_then, depth_then = logs.events("/aws/lambda/f"), queue.depth()
        fail[0] = False
        await queue.ack(a.id)
        depth = queue.depth()
        await queue.close()
        return failed, stored_then, depth_then, depth

    failed, stored_then, depth_then, depth = asyncio.run(main())
    buffer.close()
    assert failed and stored_then == [] and depth_then == 1  # neither the lines nor the removal
    assert depth == 0 and logs.events("/aws/lambda/f") == [("s", 1, "START a")]  # both, once, on the retry


class RecordingStore(QueueStore):
    """The real store, noting on which thread each commit and checkpoint ran."""

    def __init__(self, engine):
        super().__init__(engine)
        self.calls = []

    def commit_here(self, add):
        done = super().commit_here(add)
        self.calls.append(("commit_here", threading.current_thread().name, len(add), done))
        return done

    def commit(self, add, remove, lines=None):
        super().commit(add, remove, lines)
        self.calls.append(("commit", threading.current_thread().name, len(add), len(remove)))

    def checkpoint(self):
        super().checkpoint()
        self.calls.append(("checkpoint", threading.current_thread().name))


async def idle(queue):
    """Until the queue's thread has handed back its last answer and gone to sleep (it does so just
    after the answer reaches the loop)."""
    while not queue._db.run_here(lambda: None)[0]:
        await asyncio.sleep(0.01)


def test_on_postgresql_every_commit_is_the_queues_threads(db_url):
    store = RecordingStore(open_database(db_url))

    async def main():
        queue = await started(SqlQueue(store, clock=Clock()), "a", "b")
        (first, *_) = await queue.claim(10, lease_s=30)
        await queue.ack(first.id)
        await queue.close()

    asyncio.run(main())
    if db_url.startswith("sqlite"):
        return  # the next test
    commits = [call for call in store.calls if call[0] != "checkpoint"]
    assert all(call[0] == "commit" and call[1] == "lamina-queue" or call[-1] is False for call in commits)
    assert sum(call[2] for call in commits if call[0] == "commit") == 2  # both accepted, on the thread
    assert ("commit", "lamina-queue", 0, 1) in commits  # and the ack


def test_accepted_events_commit_on_the_loops_thread_and_acks_on_the_queues(db_url, monkeypatch):
    if not db_url.startswith("sqlite"):
        return  # the test above
    monkeypatch.setattr(sql, "CHECKPOINT_EVERY", 3)
    engine = open_database(db_url)
    store = RecordingStore(engine)

    async def main():
        queue = SqlQueue(store, clock=Clock())
        await queue.start()
        await queue.claim(1, lease_s=30)
        for i in range(3):
            await idle(queue)
            await queue.enqueue(request_id=f"e{i}", function_name="f", qualifier=None, payload=b"{}")
        (first, *_) = await queue.claim(10, lease_s=30)
        await queue.ack(first.id)
        held, release = threading.Event(), threading.Event()

        def writer():  # another writer's transaction: the loop does not wait for it
            with transaction_turn(engine):
                held.set()
                release.wait()

        other = threading.Thread(target=writer)
        other.start()
        held.wait()
        await idle(queue)  # the thread is done with the ack
        pending = asyncio.ensure_future(queue.enqueue(request_id="late", function_name="f", qualifier=None,
                                                      payload=b"{}"))
        await asyncio.sleep(0.1)
        assert not pending.done()  # the queue's thread waits its turn
        release.set()
        await pending
        other.join()
        left = await queue.claim(10, lease_s=30)
        await queue.close()
        return left

    loop_thread = threading.current_thread().name
    assert sorted(ids(asyncio.run(main()))) == ["late"]  # e1, e2 are leased by the first claim
    here = [call for call in store.calls if call[0] == "commit_here"]
    assert here[:3] == [("commit_here", loop_thread, 1, True)] * 3
    assert ("checkpoint", "lamina-queue") in store.calls  # after the third commit on the loop's thread
    assert ("commit", "lamina-queue", 0, 1) in store.calls  # the ack: with its log lines, on the queue's thread
    assert ("commit_here", loop_thread, 1, False) in store.calls  # refused while the turn was taken
    assert ("commit", "lamina-queue", 1, 0) in store.calls  # ... so the queue's thread committed it


class CountingEvent(asyncio.Event):
    def __init__(self):
        super().__init__()
        self.sets = 0

    def set(self):
        self.sets += 1
        super().set()


def test_a_wait_is_not_woken_by_events_of_the_functions_it_skips(db_url):
    async def main():
        queue = await started(open_queue(db_url, Clock()))
        queue._changed = CountingEvent()  # what wakes the waiter
        waiter = asyncio.create_task(queue.wait_due(timeout=3600, skip=frozenset({"busy"})))
        await asyncio.sleep(0.05)
        for i in range(3):
            await queue.enqueue(request_id=f"b{i}", function_name="busy", qualifier=None, payload=b"{}")
        await asyncio.sleep(0.05)
        woken = queue._changed.sets  # not once for a skipped function's commits
        assert not waiter.done()
        await queue.enqueue(request_id="o", function_name="other", qualifier=None, payload=b"{}")
        await asyncio.wait_for(waiter, 5)
        await queue.close()
        return woken

    assert asyncio.run(main()) == 0
