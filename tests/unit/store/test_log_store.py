"""lamina.store.logs on a real SQLite file."""


import pytest
import sqlalchemy as sa

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


def test_a_stream_deleted_and_made_again_gets_the_events_written_after(db_url):
    """The writer remembers each stream's id; once the stream is gone (and SQLite may give its id to
    the next stream made), a write finds or makes the stream by its names again."""
    logs = LogStore(open_database(db_url))
    logs.append([Batch("/g", "old", (Event(1, "a"),)), Batch("/g", "kept", (Event(2, "b"),))])
    assert logs.delete_stream("/g", "kept") and logs.delete_stream("/g", "old")
    logs.append([Batch("/g", "new", (Event(3, "c"),))])  # may reuse a freed id
    logs.append([Batch("/g", "old", (Event(4, "d"),)), Batch("/g", "new", (Event(5, "e"),))])
    assert logs.events("/g") == [("new", 3, "c"), ("old", 4, "d"), ("new", 5, "e")]
    assert [(row["name"], row["stored_bytes"]) for row in logs.streams("/g")] == [("new", 2), ("old", 1)]
    assert not logs.put("/g", "kept", [(6, "f")], 6)
    assert [(row[1], row[4]) for row in logs.page("/g", streams=["old"])] == [("old", "d")]
    assert [(row[1], row[4]) for row in logs.page("/g", stream_prefix="ne")] == [("new", "c"), ("new", "e")]


def test_events_stored_before_0084_keep_their_streams_ids_and_counters(empty_db_url):
    """Migration 0084 gives log_streams an id and log_events the stream's id instead of its name."""
    from alembic import command
    from alembic.config import Config

    from lamina.store.database import MIGRATIONS, migrate, normalise

    engine = sa.create_engine(normalise(empty_db_url))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0081")
        connection.execute(sa.text("INSERT INTO log_groups (name, created_ms) VALUES ('/g', 1), ('/h', 1)"))
        connection.execute(sa.text(
            "INSERT INTO log_streams (log_group, name, created_ms, first_event_ms, last_event_ms, "
            "last_ingestion_ms, stored_bytes) VALUES ('/g', 's2', 1, 10, 30, 40, 3), ('/g', 's1', 1, 20, 20, 40, 1), "
            "('/h', 's1', 1, 5, 5, 40, 2)"))
        connection.execute(sa.text(
            "INSERT INTO log_events (log_group, log_stream, timestamp_ms, ingestion_ms, message) VALUES "
            "('/g', 's2', 10, 40, 'a'), ('/g', 's1', 20, 40, 'b'), ('/h', 's1', 5, 40, 'hh'), "
            "('/g', 's2', 30, 40, 'cd')"))
        ids = [row[0] for row in connection.execute(sa.text("SELECT id FROM log_events ORDER BY id"))]
    migrate(engine)
    logs = LogStore(engine)
    assert logs.events("/g") == [("s2", 10, "a"), ("s1", 20, "b"), ("s2", 30, "cd")]
    assert logs.events("/h") == [("s1", 5, "hh")]
    assert [(row[0], row[1], row[4]) for row in logs.page("/g")] == [(ids[0], "s2", "a"), (ids[1], "s1", "b"),
                                                                     (ids[3], "s2", "cd")]
    assert [row[4] for row in logs.page("/g", streams=["s1"])] == ["b"]
    s2 = logs.stream("/g", "s2")
    assert (s2["first_event_ms"], s2["last_event_ms"], s2["last_ingestion_ms"], s2["stored_bytes"]) == (10, 30, 40, 3)
    logs.append([Batch("/g", "s1", (Event(50, "new"),)), Batch("/g", "s3", (Event(60, "x"),))])
    assert logs.events("/g", "s1") == [("s1", 20, "b"), ("s1", 50, "new")]
    assert [row["name"] for row in logs.streams("/g")] == ["s1", "s2", "s3"]
    assert logs.delete_stream("/h", "s1") and logs.events("/h") == [] and logs.events("/g", "s1")[0][2] == "b"
    engine.dispose()


def test_a_write_of_many_events_stores_each_once_in_order(db_url):
    """SQLite gets a write's rows in INSERTs of up to 64 rows each: 64 + 64 + 8 + 2 + 1 here."""
    logs = LogStore(open_database(db_url))
    first = [Event(i, f"a{i}") for i in range(100)]
    second = [Event(1000 + i, f"b{i}") for i in range(39)]
    logs.append([Batch("/g", "s1", tuple(first[:50])), Batch("/g", "s2", tuple(second)),
                 Batch("/g", "s1", tuple(first[50:]))])
    expected = [("s1", e.timestamp_ms, e.message) for e in first] + [("s2", e.timestamp_ms, e.message) for e in second]
    assert logs.events("/g") == expected
    page = logs.page("/g", limit=1000)
    assert len({row[0] for row in page}) == 139 and [row[4] for row in page] == [m for _, _, m in expected]
    assert logs.stream("/g", "s2")["stored_bytes"] == sum(len(e.message) for e in second)
