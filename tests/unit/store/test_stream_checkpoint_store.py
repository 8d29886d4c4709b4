"""Stream checkpoints survive in the database (lamina.store.stream_checkpoints)."""

from __future__ import annotations

from lamina.store.database import open_database, sqlite_url
from lamina.store.stream_checkpoints import Checkpoint, CheckpointStore


def test_save_load_replace_forget(tmp_path):
    store = CheckpointStore(open_database(sqlite_url(tmp_path)))
    assert store.load("m") == {}
    store.save("m", Checkpoint("shard-1", position="AT_TIMESTAMP", at_timestamp=12.5))
    store.save("m", Checkpoint("shard-2", sequence_number="42", window={"start": 60, "state": {"n": 1}}))
    store.save("other", Checkpoint("shard-1", finished=True))
    store.save("m", Checkpoint("shard-1", sequence_number="7", position="AT_TIMESTAMP", at_timestamp=12.5))
    reopened = CheckpointStore(open_database(sqlite_url(tmp_path)))
    assert reopened.load("m") == {
        "shard-1": Checkpoint("shard-1", "7", "AT_TIMESTAMP", 12.5),
        "shard-2": Checkpoint("shard-2", "42", window={"start": 60, "state": {"n": 1}}),
    }
    reopened.forget("m")
    assert reopened.load("m") == {} and reopened.load("other")["shard-1"].finished
