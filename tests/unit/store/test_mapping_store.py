"""lamina.store.mappings.MappingStore on a real SQLite file."""

from lamina.model import EventSourceMapping
from lamina.store.database import open_database
from lamina.store.mappings import MappingStore


def mapping(uuid: str, function: str = "f", arn: str = "arn:aws:sqs:us-east-1:000000000000:q") -> EventSourceMapping:
    return EventSourceMapping(uuid=uuid, function_name=function, qualifier=None, event_source_arn=arn, kind="sqs",
                              config={"BatchSize": 10, "FilterCriteria": {"Filters": [{"Pattern": "{}"}]}},
                              enabled=True, state="Creating", state_reason="USER_INITIATED",
                              last_processing_result=None, last_modified=1.5)


def test_put_get_list_status_delete(db_url):
    store = MappingStore(open_database(db_url))
    store.put(mapping("b"))
    store.put(mapping("a", function="g", arn="arn:aws:sqs:us-east-1:000000000000:other"))
    assert store.get("b") == mapping("b")
    assert [m.uuid for m in store.list()] == ["a", "b"]
    assert [m.uuid for m in store.list(function_name="g")] == ["a"]
    assert [m.uuid for m in store.list(event_source_arn="arn:aws:sqs:us-east-1:000000000000:q")] == ["b"]
    assert store.set_status("b", state="Enabled", last_processing_result="OK")
    assert (store.get("b").state, store.get("b").last_processing_result) == ("Enabled", "OK")
    assert store.count() == {"Creating": 1, "Enabled": 1}
    store.delete("b")
    assert store.get("b") is None and not store.set_status("b", state="Enabled")
