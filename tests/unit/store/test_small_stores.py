"""The stores that have no unit test of their own, on a real database (`db_url`): EventBridge deliveries
waiting for a retry, stacks, code signing, provisioned concurrency, event invoke configs and reserved
concurrency, aliases. (tests/functional/test_store_postgresql.py runs these on PostgreSQL too.)"""

from __future__ import annotations

from lamina.model import Alias, Function, FunctionVersion
from lamina.store.aliases import AliasStore
from lamina.store.code_signing import CodeSigningStore
from lamina.store.database import open_database
from lamina.store.event_configs import EventConfigStore
from lamina.store.functions import FunctionStore
from lamina.store.provisioned import ProvisionedStore
from lamina.store.rule_deliveries import DeliveryStore, PendingDelivery
from lamina.store.stacks import StackStore


def pending(due_at: float, *, final: bool = False) -> PendingDelivery:
    return PendingDelivery(None, "arn:rule", "arn:function", {"Id": "t", "RetryPolicy": {}}, b"\x00{}\xff", 1.0, 0,
                           due_at, "ServiceException", "failed\nbadly", final, "MaximumRetryAttemptsExceeded"
                           if final else None)


def test_deliveries_wait_in_due_order_and_keep_their_fields(db_url):
    store = DeliveryStore(open_database(db_url))
    store.add([pending(30.0), pending(10.0, final=True), pending(20.0)])
    due = store.due(25.0, 10)
    assert [d.due_at for d in due] == [10.0, 20.0] and store.count() == 3
    first = due[0]
    assert (first.payload, first.final, first.condition, first.target) == (
        b"\x00{}\xff", True, "MaximumRetryAttemptsExceeded", {"Id": "t", "RetryPolicy": {}})
    store.update(PendingDelivery(**{**due[1].__dict__, "retries": 1, "due_at": 40.0}))
    assert [d.due_at for d in store.due(100.0, 1)] == [10.0]
    store.remove(first.id)
    assert [(d.due_at, d.retries) for d in store.due(100.0, 10)] == [(30.0, 0), (40.0, 1)]


def test_stacks_put_replace_list_delete(db_url):
    store = StackStore(open_database(db_url))
    store.put("b", '{"v": 1}', "t1")
    store.put("a", "{}", "t0")
    store.put("b", '{"v": 2}', "t2")
    assert store.get("b") == ('{"v": 2}', "t2") and store.names() == [("a", "t0"), ("b", "t2")]
    assert store.delete("a") is True and store.delete("a") is False and store.get("a") is None


def test_code_signing_profiles_configs_and_bindings(db_url):
    store = CodeSigningStore(open_database(db_url))
    store.add_profile_version("p", "v1", {"v": 1})
    store.save_profile_version("p", "v1", {"v": 2})
    assert store.profile_versions("p") == [{"v": 2}]
    for csc in ("csc-b", "csc-a", "csc-c"):
        store.put_config(csc, {"id": csc})
    store.put_config("csc-a", {"id": "csc-a", "changed": True})
    assert store.get_config("csc-a") == {"id": "csc-a", "changed": True}
    assert [c["id"] for c in store.list_configs(None, 2)] == ["csc-a", "csc-b"]
    assert [c["id"] for c in store.list_configs("csc-b", 5)] == ["csc-c"]
    store.bind("g", "csc-a")
    store.bind("f", "csc-b")
    store.bind("f", "csc-a")  # rebinding replaces
    assert store.config_of("f") == "csc-a" and store.functions_of("csc-a", None, 10) == ["f", "g"]
    assert store.functions_of("csc-a", "f", 10) == ["g"] and store.functions_of("csc-b", None, 10) == []
    store.unbind("g")
    store.delete_config("csc-c")
    assert store.config_of("g") is None and store.get_config("csc-c") is None


def test_a_code_signing_configs_tags_sit_beside_its_document_and_go_with_it(db_url):
    store = CodeSigningStore(open_database(db_url))
    store.put_config("csc-a", {"id": "csc-a"}, {"team": "blue"})
    store.put_config("csc-b", {"id": "csc-b"})
    assert store.tags_of("csc-a") == {"team": "blue"} and store.tags_of("csc-b") == {}
    store.put_config("csc-a", {"id": "csc-a", "changed": True})  # an update keeps the tags
    assert store.tags_of("csc-a") == {"team": "blue"} and store.get_config("csc-a") == {"id": "csc-a", "changed": True}
    assert store.set_tags("csc-a", {"team": "red", "env": "dev"}) is True
    assert store.tags_of("csc-a") == {"team": "red", "env": "dev"}
    assert store.get_config("csc-a") == {"id": "csc-a", "changed": True}  # never in the document
    store.delete_config("csc-a")
    assert store.tags_of("csc-a") is None and store.set_tags("csc-a", {"x": "y"}) is False
    store.put_config("csc-a", {"id": "csc-a"})  # made anew: none of the old tags
    assert store.tags_of("csc-a") == {}


def test_provisioned_configs_and_event_configs_and_reserved_concurrency(db_url):
    engine = open_database(db_url)
    provisioned = ProvisionedStore(engine)
    provisioned.put("f", "live", 2, "t1")
    provisioned.put("f", "live", 5, "t2")
    provisioned.put("f", "1", 1, "t3")
    assert provisioned.all("f") == [("f", "1", 1, "t3"), ("f", "live", 5, "t2")]
    provisioned.delete("f", "1")
    assert provisioned.all() == [("f", "live", 5, "t2")]
    configs = EventConfigStore(engine)
    configs.put("f", "$LATEST", {"MaximumRetryAttempts": 1})
    configs.put("f", "$LATEST", {"MaximumRetryAttempts": 0})
    assert configs.get("f", "$LATEST")[0] == {"MaximumRetryAttempts": 0}
    assert [q for q, _, _ in configs.list("f")] == ["$LATEST"]
    configs.set_reserved("f", 3)
    configs.set_reserved("f", 4)
    configs.set_reserved("g", 1)
    configs.set_reserved("g", None)
    assert configs.reserved() == {"f": 4}


def test_aliases_create_once_save_list_delete(db_url):
    engine = open_database(db_url)
    FunctionStore(engine).create(Function("f", FunctionVersion(name="f", version="$LATEST", runtime="python3.12",
                                                                handler="a.b", code_hex="ab" * 32, code_size=1)))
    store = AliasStore(engine)
    assert store.create(Alias("f", "live", "1", weights={"2": 0.5}, revision_id="r1"))
    assert not store.create(Alias("f", "live", "3"))
    store.create(Alias("f", "beta", "2"))
    store.save(Alias("f", "live", "1", description="d", revision_id="r2"))
    assert [a.name for a in store.list("f")] == ["beta", "live"]
    assert store.get("f", "live") == Alias("f", "live", "1", description="d", revision_id="r2")
    assert [a.name for a in store.pointing_at("f", "2")] == ["beta"]
    store.delete_all("f")
    assert store.list("f") == []
