"""tests/unit/control/test_concurrent_changes.py once more, on PostgreSQL: the same test bodies, with
`db_url` naming a throwaway database (`lamina_locks_<hex>`, migrated once, emptied after each test,
dropped after the module) and each front on its own engine, so the fronts take turns only through the
database's advisory locks, as separate processes would (lamina.store.locks).
"""

from __future__ import annotations

import gc
import importlib

import pytest

from lamina.store.database import open_database
from pg_support import empty_tables, throwaway_database

_unit = importlib.import_module("unit.control.test_concurrent_changes")
fronts = _unit.fronts
for _name, _value in vars(_unit).items():
    if _name.startswith("test_") and callable(_value):
        globals()[_name] = _value


@pytest.fixture(scope="module")
def migrated_database():
    with throwaway_database("lamina_locks") as url:
        open_database(url).dispose()
        yield url


@pytest.fixture
def db_url(migrated_database):
    yield migrated_database
    gc.collect()
    empty_tables(migrated_database)
