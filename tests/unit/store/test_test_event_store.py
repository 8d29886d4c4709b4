"""lamina.store.test_events on a real SQLite file (the migrated schema)."""

from lamina.store.database import open_database
from lamina.store.test_events import TestEventStore


def test_put_list_delete(db_url):
    store = TestEventStore(open_database(db_url))
    store.put("fn", "b", "{}")
    store.put("fn", "a", "[1]")
    store.put("fn", "a", "[2]")  # replaces
    store.put("other", "a", "3")
    assert [(n, e) for n, e, _ in store.list("fn")] == [("a", "[2]"), ("b", "{}")]
    assert store.count("fn") == 2
    assert store.delete("fn", "a") is True
    assert store.delete("fn", "a") is False
    assert store.delete("fn") is True
    assert store.list("fn") == [] and store.count("other") == 1
