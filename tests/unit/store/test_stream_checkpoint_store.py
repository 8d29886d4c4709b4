"""Stream checkpoints survive in the database (lamina.store.stream_checkpoints)."""

from __future__ import annotations

from lamina.model import EventSourceMapping
from lamina.store.database import open_database
from lamina.store.mappings import MappingStore
from lamina.store.stream_checkpoints import Checkpoint, CheckpointStore


def mapping(uuid: str) -> EventSourceMapping:
    return EventSourceMapping(uuid=uuid, function_name="f", qualifier=None, event_source_arn="arn", kind="kinesis",
                              config={}, enabled=True, state="Enabled", state_reason="User action",
                              last_processing_result=None, last_modified=0.0)


def test_save_load_replace_forget(db_url):
    engine = open_database(db_url)
    for uuid in ("m", "other"):
        MappingStore(engine).put(mapping(uuid))
    store = CheckpointStore(engine)
    assert store.load("m") == {}
    store.save("m", Checkpoint("shard-1", position="AT_TIMESTAMP", at_timestamp=12.5))
    store.save("m", Checkpoint("shard-2", sequence_number="42", window={"start": 60, "state": {"n": 1}}))
    store.save("other", Checkpoint("shard-1", finished=True))
    store.save("m", Checkpoint("shard-1", sequence_number="7", position="AT_TIMESTAMP", at_timestamp=12.5))
    reopened = CheckpointStore(open_database(db_url))
    assert reopened.load("m") == {
        "shard-1": Checkpoint("shard-1", "7", "AT_TIMESTAMP", 12.5),
        "shard-2": Checkpoint("shard-2", "42", window={"start": 60, "state": {"n": 1}}),
    }
    reopened.forget("m")
    assert reopened.load("m") == {} and reopened.load("other")["shard-1"].finished


def test_a_deleted_mappings_checkpoints_are_not_written_again(db_url):
    engine = open_database(db_url)
    store = CheckpointStore(engine)
    store.save("gone", Checkpoint("shard-1", sequence_number="1"))
    assert store.load("gone") == {}
