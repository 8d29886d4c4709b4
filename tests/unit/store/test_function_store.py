"""lamina.store.functions on a real SQLite file, migrated by Alembic."""

import pytest

from lamina.model import Function, FunctionVersion
from lamina.store.database import open_database
from lamina.store.functions import FunctionStore


@pytest.fixture
def store(db_url):
    return FunctionStore(open_database(db_url))


def version(name, number="$LATEST", **kw):
    return FunctionVersion(name=name, version=number, runtime="python3.12", handler="a.b",
                           code_hex="ab" * 32, code_size=10, revision_id="r",
                           last_modified="2024-01-01T00:00:00.000+0000", **kw)


def test_create_get_and_conflict(store):
    assert store.create(Function("f", version("f"), tags={"t": "1"}))
    assert not store.create(Function("f", version("f")))
    got = store.get("f")
    assert got.latest == version("f") and got.tags == {"t": "1"} and got.last_version_number == 0
    assert store.get("missing") is None


def test_versions_are_ordered_by_name_then_number_and_page(store):
    for name in ("b", "a"):
        store.create(Function(name, version(name)))
    for number in ("1", "2", "10"):
        store.publish(version("a", number))
    listed = [(v.name, v.version) for v in store.list_versions()]
    assert listed == [("a", "$LATEST"), ("a", "1"), ("a", "2"), ("a", "10"), ("b", "$LATEST")]
    assert [(v.name, v.version) for v in store.list_versions(after=("a", 2), limit=2)] == [("a", "10"), ("b", "$LATEST")]
    assert [v.name for v in store.list_versions(latest_only=True)] == ["a", "b"]
    assert store.get("a").last_version_number == 10


def test_save_delete_usage_and_code_references(store):
    store.create(Function("f", version("f")))
    store.save_version(version("f", description="changed"))
    assert store.get("f").latest.description == "changed"
    store.publish(version("f", "1"))
    assert store.usage() == (1, 20)
    assert store.code_in_use("ab" * 32)
    store.delete_version("f", "1")
    assert store.get_version("f", "1") is None
    store.delete("f")
    assert store.get("f") is None and store.usage() == (0, 0) and not store.code_in_use("ab" * 32)


def test_everything_survives_reopening(db_url):
    FunctionStore(open_database(db_url)).create(Function("kept", version("kept")))
    again = FunctionStore(open_database(db_url))  # migrations are a no-op the second time
    assert again.get("kept").latest.name == "kept"


def test_a_published_version_remembers_the_latest_it_came_from(store):
    store.create(Function("f", version("f")))
    store.publish(version("f", "1"), source_modified="2024-01-02T00:00:00.000+0000")
    store.publish(version("f", "2"))
    assert store.published_from("f", "1") == "2024-01-02T00:00:00.000+0000"
    assert store.published_from("f", "2") is None and store.published_from("f", "9") is None
    assert store.get_version("f", "1") == version("f", "1")  # the marker is not part of the record
