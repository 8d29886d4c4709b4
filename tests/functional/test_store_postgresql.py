"""The store unit tests (tests/unit/store, and the queue and control tests that drive a store) once more,
on PostgreSQL: the same test bodies, with the `db_url` fixture naming a throwaway database
(`lamina_pg_<hex>`, migrated once, emptied after each test, dropped after the module) instead of an
SQLite file, and `empty_db_url` a new unmigrated one. They live here because unit tests use no sockets.
"""

from __future__ import annotations

import gc
import importlib

import pytest

from lamina.store.database import open_database
from pg_support import empty_tables, throwaway_database

UNIT_MODULES = tuple(f"unit.store.{name}" for name in (
    "test_function_store", "test_layer_store", "test_log_store", "test_mapping_store", "test_metric_store",
    "test_policy_store", "test_queue_store", "test_stream_checkpoint_store", "test_test_event_store",
    "test_secret_store", "test_concurrent_writes", "test_small_stores", "test_schema_matches_migrations")) + (
    # The stores the control plane and the async queue drive, through their own unit tests.
    "unit.queue.test_sql", "unit.control.test_rules", "unit.control.test_iam_sts", "unit.control.test_logs",
    "unit.control.test_mappings", "unit.control.test_usage", "unit.control.test_function_url_configs")


def _adopt(dotted: str) -> None:
    """Collect the module's tests here (as test_<module>__<test>) with the fixtures it defines."""
    module = importlib.import_module(dotted)
    short = dotted.rsplit(".", 1)[1].removeprefix("test_")
    for name, value in vars(module).items():
        if name.startswith("test_") and callable(value):
            globals()[f"test_{short}__{name.removeprefix('test_')}"] = value
        elif type(value).__name__ == "FixtureFunctionDefinition":
            assert globals().get(name, value) is value, f"two unit modules define the fixture {name}"
            globals()[name] = value


for _module in UNIT_MODULES:
    _adopt(_module)


@pytest.fixture(scope="module")
def migrated_database():
    """One database migrated to head for the module; each test finds it empty."""
    with throwaway_database() as url:
        open_database(url).dispose()
        yield url


@pytest.fixture
def db_url(migrated_database):
    yield migrated_database
    gc.collect()  # the engines the test opened, with their pooled connections
    empty_tables(migrated_database)


@pytest.fixture
def empty_db_url():
    with throwaway_database() as url:
        yield url
