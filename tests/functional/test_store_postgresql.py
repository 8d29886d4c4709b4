"""The store unit tests (tests/unit/store, and the queue and control tests that drive a store) once more,
on PostgreSQL: the same test bodies, with the
`db_url` fixture naming a throwaway database (`lamina_pg_<hex>`, copied from one migrated template per
session and dropped after each test) instead of an SQLite file. They live here because unit tests use
no sockets.
"""

from __future__ import annotations

import importlib

import pytest

from lamina.store.database import open_database
from pg_support import create_database, drop_database, throwaway_database, url_of

UNIT_MODULES = tuple(f"unit.store.{name}" for name in (
    "test_function_store", "test_layer_store", "test_log_store", "test_mapping_store", "test_metric_store",
    "test_policy_store", "test_queue_store", "test_stream_checkpoint_store", "test_test_event_store",
    "test_secret_store")) + (
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


@pytest.fixture(scope="session")
def migrated_template():
    """A database migrated to head once per session, copied by each test's `db_url`."""
    name = create_database("lamina_pg_tpl")
    engine = open_database(url_of(name))
    engine.dispose()
    yield name
    drop_database(name)


@pytest.fixture
def db_url(migrated_template):
    with throwaway_database(template=migrated_template) as url:
        yield url


@pytest.fixture
def empty_db_url():
    with throwaway_database() as url:
        yield url
