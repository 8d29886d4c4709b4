"""Writes that race, as the nodes of a cluster do on one PostgreSQL database: each store is opened
several times (separate engines, like separate processes) and written from threads started together.
No write may fail on a key another one just took: creates answer "exists", puts replace, numbers are
taken once. On SQLite the stores share one engine, as a single node's do (its transactions take turns
on one lock); the outcomes are the same."""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa

from lamina.model import EventSourceMapping, Function, FunctionVersion, LayerVersion
from lamina.store.database import open_database
from lamina.store.functions import FunctionStore
from lamina.store.layers import LayerStore
from lamina.store.mappings import MappingStore
from lamina.store.policies import PolicyStore
from lamina.store.rules import RuleRow, RuleStore

WRITERS = 4


def engines(db_url: str, count: int = WRITERS) -> list[sa.Engine]:
    """`count` engines on the database: separate ones on PostgreSQL (nodes), one shared on SQLite (one node)."""
    first = open_database(db_url)
    if first.dialect.name == "sqlite":
        return [first] * count
    return [first] + [open_database(db_url) for _ in range(count - 1)]


def together(calls: list[Callable[[], object]]) -> list[object]:
    """Run the calls on threads released at once; their results (an exception raised is re-raised)."""
    results: list[object] = [None] * len(calls)
    errors: list[BaseException] = []
    start = threading.Barrier(len(calls))

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = calls[index]()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def version(name: str, number: str = "$LATEST") -> FunctionVersion:
    return FunctionVersion(name=name, version=number, runtime="python3.12", handler="a.b", code_hex="ab" * 32,
                           code_size=10, revision_id="r", last_modified="2024-01-01T00:00:00.000+0000")


def test_one_create_of_a_function_wins(db_url):
    stores = [FunctionStore(engine) for engine in engines(db_url)]
    assert sorted(together([lambda s=s: s.create(Function("f", version("f"))) for s in stores])) == [
        False] * (WRITERS - 1) + [True]


def test_a_version_number_is_published_once(db_url):
    stores = [FunctionStore(engine) for engine in engines(db_url)]
    stores[0].create(Function("f", version("f")))
    won = together([lambda s=s: s.publish(version("f", "1"), source_modified="m") for s in stores])
    assert sorted(won) == [False] * (WRITERS - 1) + [True]
    assert [v.version for v in stores[0].list_versions("f")] == ["$LATEST", "1"]
    assert stores[0].get("f").last_version_number == 1
    together([lambda s=s: s.save_version(version("f", "1")) for s in stores])  # saves replace
    assert [v.version for v in stores[0].list_versions("f")] == ["$LATEST", "1"]


def test_layer_versions_published_at_once_get_distinct_numbers(db_url):
    stores = [LayerStore(engine) for engine in engines(db_url)]
    numbers = together([lambda s=s: [s.publish(LayerVersion(name="l", version=0)).version for _ in range(3)]
                        for s in stores])
    assert sorted(n for batch in numbers for n in batch) == list(range(1, 3 * WRITERS + 1))


def test_puts_of_one_key_replace_each_other(db_url):
    mappings = [MappingStore(engine) for engine in engines(db_url)]
    policies = [PolicyStore(engine) for engine in engines(db_url)]
    rules = [RuleStore(engine) for engine in engines(db_url)]

    def mapping(i: int) -> EventSourceMapping:
        return EventSourceMapping(uuid="u", function_name="f", qualifier=None, event_source_arn="arn:x", kind="sqs",
                                  config={"BatchSize": i}, enabled=True, state="Enabled", state_reason="",
                                  last_processing_result=None, last_modified=float(i))

    together([lambda i=i: mappings[i].put(mapping(i)) for i in range(WRITERS)]
             + [lambda i=i: policies[i].put(("function", "f", ""), [{"Sid": str(i)}], f"r{i}") for i in range(WRITERS)]
             + [lambda i=i: rules[i].put_rule(RuleRow("default", "r", {"State": "ENABLED"}, {}, None, None))
                for i in range(WRITERS)])
    assert len(mappings[0].list()) == 1 and mappings[0].get("u").config["BatchSize"] in range(WRITERS)
    statements, revision = policies[0].get(("function", "f", ""))
    assert revision == f"r{statements[0]['Sid']}"
    assert [rule.name for rule in rules[0].rules("default")] == ["r"]


def test_a_claimed_schedule_minute_is_not_moved_back_by_a_concurrent_put(db_url):
    rules = [RuleStore(engine) for engine in engines(db_url, 2)]
    rules[0].put_rule(RuleRow("default", "tick", {"ScheduleExpression": "rate(1 minute)"}, {}, 0, 5))
    stale = rules[0].rule("default", "tick")
    together([lambda: rules[0].mark_fired("default", "tick", 6),
              lambda: rules[1].put_rule(RuleRow(stale.bus, stale.name, {"Description": "x"}, {}, 0, stale.last_fired))])
    assert rules[0].rule("default", "tick").last_fired == 6
