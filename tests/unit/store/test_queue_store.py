"""lamina.store.queue.QueueStore on a real SQLite file: the lease-aware claim and next claimable time."""

import os
import sqlite3
import threading
import time

from lamina.store.database import open_database, transaction_turn
from lamina.store.queue import QueueStore

T0 = 5000.0


def event(request_id, due_at, function="f"):
    return (request_id, function, None, b"{}", T0, due_at)


def test_next_claimable_is_the_due_time_or_the_end_of_a_live_lease(db_url):
    store = QueueStore(open_database(db_url))
    assert store.next_claimable() is None
    store.commit([event("a", T0), event("b", T0 + 100)], [])
    assert store.next_claimable() == T0
    (a,) = store.claim(T0, 1, lease_until=T0 + 30)
    assert a["request_id"] == "a" and a["lease_until"] == T0 + 30
    assert store.next_claimable() == T0 + 30
    store.extend([a["id"]], lease_until=T0 + 200)
    assert store.next_claimable() == T0 + 100
    store.release([a["id"]])
    assert store.next_claimable() == T0


def test_claim_skips_future_and_leased_rows_and_commit_removes(db_url):
    store = QueueStore(open_database(db_url))
    store.commit([event("a", T0), event("b", T0), event("later", T0 + 10)], [])
    first = store.claim(T0, 10, lease_until=T0 + 30)
    assert [row["request_id"] for row in first] == ["a", "b"]
    assert store.claim(T0 + 10, 10, lease_until=T0 + 40)[0]["request_id"] == "later"
    store.reschedule(first[0]["id"], due_at=T0 + 20, runs=1, throttles=0)
    store.commit([], [first[1]["id"]])
    assert store.depth() == 2
    (again,) = store.claim(T0 + 20, 10, lease_until=T0 + 50)
    assert (again["request_id"], again["runs"], again["lease_until"]) == ("a", 1, T0 + 50)


def test_claim_and_next_claimable_leave_out_the_skipped_functions(db_url):
    store = QueueStore(open_database(db_url))
    store.commit([event("a1", T0, "a"), event("b1", T0 + 5, "b"), event("a2", T0, "a")], [])
    assert store.next_claimable(frozenset({"a"})) == T0 + 5
    assert store.claim(T0 + 5, 10, T0 + 30, frozenset({"a"}))[0]["request_id"] == "b1"
    assert [row["request_id"] for row in store.claim(T0 + 5, 10, T0 + 30, frozenset({"b"}))] == ["a1", "a2"]


def test_a_claimed_row_holds_every_column_as_committed(db_url):
    store = QueueStore(open_database(db_url))
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    store.commit([("rid", "fn", "live", b"\x00{\"k\": 1}", T0 - 1.5, T0, trace)], [])
    (row,) = store.claim(T0, 5, lease_until=T0 + 30.25)
    assert isinstance(row["id"], int)
    assert {key: value for key, value in row.items() if key != "id"} == {
        "request_id": "rid", "function_name": "fn", "qualifier": "live", "payload": b"\x00{\"k\": 1}",
        "enqueued_at": T0 - 1.5, "due_at": T0, "runs": 0, "throttles": 0, "lease_until": T0 + 30.25, "trace": trace}
    assert store.claim(T0, 5, lease_until=T0 + 30) == []  # leased


def test_a_claim_skips_every_function_of_a_longer_skip_list(db_url):
    store = QueueStore(open_database(db_url))
    store.commit([event(f"{name}1", T0, name) for name in "abcde"], [])
    rows = store.claim(T0, 10, T0 + 30, frozenset({"a", "c", "d"}))
    assert [row["request_id"] for row in rows] == ["b1", "e1"]
    assert [row["request_id"] for row in store.claim(T0, 10, T0 + 30, frozenset({"a"}))] == ["c1", "d1"]


def test_claims_racing_from_several_connections_never_lease_an_event_twice(db_url):
    """As nodes of a cluster claim from one PostgreSQL database (on SQLite the claims take turns)."""
    import threading

    QueueStore(open_database(db_url)).commit([event(f"e{i}", T0) for i in range(60)], [])
    stores = [QueueStore(open_database(db_url)) for _ in range(4)]
    claimed: list[list[str]] = [[] for _ in stores]
    start = threading.Barrier(len(stores))

    def claim(index: int) -> None:
        start.wait()
        while rows := stores[index].claim(T0, 3, lease_until=T0 + 30):
            claimed[index].extend(row["request_id"] for row in rows)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [request_id for ids in claimed for request_id in ids]
    assert sorted(everything) == sorted(f"e{i}" for i in range(60))  # each exactly once


def test_rows_with_and_without_a_trace_commit_together(db_url):
    store = QueueStore(open_database(db_url))
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"
    store.commit([event("plain", T0), event("traced", T0) + (trace,), event("also-plain", T0)], [])
    rows = store.claim(T0, 10, T0 + 30)
    assert [(row["request_id"], row["trace"]) for row in rows] == [
        ("plain", None), ("traced", trace), ("also-plain", None)]  # in the order they were accepted


def test_a_commit_of_many_rows_keeps_their_order_and_removes_every_finished_one(db_url):
    store = QueueStore(open_database(db_url))
    store.commit([event(f"e{i}", T0) for i in range(203)], [])  # 128 + 64 + 8 + 2 + 1 rows per statement
    rows = store.claim(T0, 1000, lease_until=T0 + 30)
    assert [row["request_id"] for row in rows] == [f"e{i}" for i in range(203)]
    assert [row["id"] for row in rows] == sorted(row["id"] for row in rows)
    store.commit([event("late", T0)], [row["id"] for row in rows[:-1]])  # 202 ids: one DELETE
    assert [row["request_id"] for row in store.claim(T0 + 60, 10, lease_until=T0 + 90)] == ["e202", "late"]


def test_a_commit_writes_its_lines_first_in_the_same_transaction(db_url):
    written = []

    def write_lines(conn, lines):
        written.append(lines)
        raise OSError("disk full")

    store = QueueStore(open_database(db_url), write_lines=write_lines)
    store.commit([event("a", T0)], [])
    (a,) = store.claim(T0, 1, lease_until=T0 + 30)
    try:
        store.commit([event("b", T0)], [a["id"]], ["lines"])
    except OSError:
        pass
    else:
        raise AssertionError("the writer's error propagates")
    assert written == [["lines"]] and store.depth() == 1  # neither "b" nor the removal of "a"


def declined_on_postgresql(db_url) -> bool:
    """On PostgreSQL a commit is a round trip: commit_here never makes it (the queue's thread does)."""
    if db_url.startswith("sqlite"):
        return False
    store = QueueStore(open_database(db_url))
    assert store.commit_here([event("a", T0)]) is False
    assert store.depth() == 0
    store.checkpoint()  # nothing to do
    return True


def test_commit_here_accepts_on_the_callers_thread_without_waiting_for_any_lock(db_url):
    if declined_on_postgresql(db_url):
        return
    engine = open_database(db_url)
    store = QueueStore(engine)
    assert store.commit_here([event("a", T0), event("b", T0, function="g")]) is True
    assert [row["request_id"] for row in QueueStore(open_database(db_url)).claim(T0, 10, T0 + 30)] == ["a", "b"]

    turn = transaction_turn(engine)
    held, release = threading.Event(), threading.Event()

    def writer():  # another writer of this process in its transaction
        with turn:
            held.set()
            release.wait()

    thread = threading.Thread(target=writer)
    thread.start()
    held.wait()
    started = time.monotonic()
    assert store.commit_here([event("c", T0)]) is False
    release.set()
    thread.join()

    other = sqlite3.connect(db_url.removeprefix("sqlite:///"))  # another process's writer
    other.execute("BEGIN IMMEDIATE")
    assert store.commit_here([event("d", T0)]) is False
    assert time.monotonic() - started < 5  # answered, not waited out (the busy timeout is 10 s)
    other.rollback()
    other.close()
    assert store.depth() == 2  # neither refused commit wrote anything
    assert store.commit_here([event("e", T0)]) is True
    assert store.depth() == 3
    store.close()


def test_commit_heres_connection_leaves_the_wal_to_checkpoint(db_url):
    if declined_on_postgresql(db_url):
        return
    store = QueueStore(open_database(db_url))
    for i in range(300):  # well past SQLite's automatic checkpoint of ~1,000 pages, were it on
        store.commit_here([(f"r{i}", "f", None, b"x" * 4000, T0, T0)])
    path = db_url.removeprefix("sqlite:///")
    assert os.path.getsize(path) < 300 * 4000  # the rows are still only in the WAL
    store.checkpoint()
    assert os.path.getsize(path) > 300 * 4000  # copied into the database file
    assert store.depth() == 300
    store.close()
