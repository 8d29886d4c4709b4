"""lamina.store.logs on a real SQLite file."""


import pytest

from lamina.engine.spec import LogBatch as Batch
from lamina.engine.spec import LogEvent as Event
from lamina.store.database import open_database
from lamina.store.logs import LogStore


def test_append_creates_groups_and_streams_and_keeps_order(db_url):
    logs = LogStore(open_database(db_url))
    logs.append([Batch("/aws/lambda/f", "s1", (Event(1, "a"), Event(2, "b"))), Batch("/aws/lambda/f", "s2", (Event(3, "c"),))])
    logs.append([Batch("/aws/lambda/f", "s1", (Event(4, "d"),))])
    assert logs.events("/aws/lambda/f") == [("s1", 1, "a"), ("s1", 2, "b"), ("s2", 3, "c"), ("s1", 4, "d")]
    assert logs.events("/aws/lambda/f", "s2") == [("s2", 3, "c")]
    assert LogStore(open_database(db_url)).events("/aws/lambda/other") == []


def _store_with_events(db_url):
    logs = LogStore(open_database(db_url))
    logs.append([Batch("/g", "s", (Event(10, "a"), Event(20, "b")))])
    return logs


@pytest.mark.parametrize(("bounds", "messages"), [
    ({"end": 2**63}, ["a", "b"]),  # FilterLogEvents' endTime 2^63-1, plus one
    ({"end": 10**30}, ["a", "b"]),
    ({"end": -(2**63)}, []),
    ({"start": 2**63}, []),
    ({"start": -(10**30)}, ["a", "b"]),
    ({"after": (10**20, 10**36)}, []),  # a nextToken f/999...: after everything
    ({"before": (10**20, 10**36)}, ["a", "b"]),
    ({"after": (10, 10**36)}, ["b"]),  # a timestamp that fits, an id that cannot
    ({"before": (20, 10**36)}, ["a", "b"]),
    ({"before": (-(10**30), 0)}, []),
    ({"after": (-(10**30), 0)}, ["a", "b"]),
])
def test_page_bounds_beyond_64_bits_answer_without_reaching_sqlite(db_url, bounds, messages):
    logs = _store_with_events(db_url)
    assert [row[4] for row in logs.page("/g", **bounds)] == messages


def test_stream_offsets_beyond_64_bits_are_past_the_end(db_url):
    logs = _store_with_events(db_url)
    assert logs.streams("/g", offset=10**20) == []
    assert [row["name"] for row in logs.streams("/g", offset=0)] == ["s"]


def test_a_message_holding_nul_is_stored(db_url):
    """SQLite keeps U+0000; PostgreSQL text cannot, so there it becomes U+FFFD rather than failing the batch."""
    logs = LogStore(open_database(db_url))
    logs.append([Batch("/aws/lambda/f", "s", [Event(1, "a\x00b"), Event(2, "plain")])])
    [(_, _, first), (_, _, second)] = logs.events("/aws/lambda/f")
    assert first in ("a\x00b", "a\ufffdb") and second == "plain"
    assert logs.stream("/aws/lambda/f", "s")["stored_bytes"] == 8
    stored = logs.group("/aws/lambda/f")["stored_bytes"]
    assert stored == 8 and type(stored) is int  # PostgreSQL sums BIGINT as NUMERIC; JSON needs an int


def test_a_streams_counters_widen_to_every_write_and_sum_its_bytes(db_url):
    logs = LogStore(open_database(db_url))
    logs.append([Batch("/g", "s", (Event(50, "abc"), Event(40, "de")))])
    first = logs.stream("/g", "s")
    assert (first["first_event_ms"], first["last_event_ms"], first["stored_bytes"]) == (40, 50, 5)
    assert first["last_ingestion_ms"] is not None
    logs.append([Batch("/g", "s", (Event(45, "f"),))])  # inside the range: only the bytes grow
    assert [logs.stream("/g", "s")[key] for key in ("first_event_ms", "last_event_ms", "stored_bytes")] == [40, 50, 6]
    assert logs.put("/g", "s", [(10, "gh"), (90, "i")], 1234)  # both ends widen
    after = logs.stream("/g", "s")
    assert (after["first_event_ms"], after["last_event_ms"], after["stored_bytes"], after["last_ingestion_ms"]) == (
        10, 90, 9, 1234)
    assert not logs.put("/g", "missing", [(1, "x")], 1)  # put writes only into a stream that exists
    assert logs.stream("/g", "missing") is None
