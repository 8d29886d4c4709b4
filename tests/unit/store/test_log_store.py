"""lamina.store.logs on a real SQLite file."""


from lamina.engine.spec import LogBatch as Batch
from lamina.engine.spec import LogEvent as Event
from lamina.store.database import open_database, sqlite_url
from lamina.store.logs import LogStore


def test_append_creates_groups_and_streams_and_keeps_order(tmp_path):
    logs = LogStore(open_database(sqlite_url(tmp_path)))
    logs.append([Batch("/aws/lambda/f", "s1", (Event(1, "a"), Event(2, "b"))), Batch("/aws/lambda/f", "s2", (Event(3, "c"),))])
    logs.append([Batch("/aws/lambda/f", "s1", (Event(4, "d"),))])
    assert logs.events("/aws/lambda/f") == [("s1", 1, "a"), ("s1", 2, "b"), ("s2", 3, "c"), ("s1", 4, "d")]
    assert logs.events("/aws/lambda/f", "s2") == [("s2", 3, "c")]
    assert LogStore(open_database(sqlite_url(tmp_path))).events("/aws/lambda/other") == []
