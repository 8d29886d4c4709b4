"""tests/unit/control/test_concurrent_changes.py once more, on PostgreSQL: the same test bodies, with
`db_url` naming a throwaway database (`lamina_locks_<hex>`, migrated once, emptied after each test,
dropped after the module) and each front on its own engine, so the fronts take turns only through the
database's advisory locks, as separate processes would (lamina.store.locks).
"""

from __future__ import annotations

import gc
import importlib
import threading

import pytest
import sqlalchemy as sa

from lamina.store import locks
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


def test_a_named_lock_held_by_one_engine_makes_another_wait_in_postgresql(db_url):
    """Two engines (as two fronts): the second waits on the advisory lock (PostgreSQL shows it waiting
    in pg_locks) until the first lets go."""
    first, second, watcher = open_database(db_url), open_database(db_url), open_database(db_url)
    order: list[str] = []
    key = locks.key("function\x1ff")
    waiting = sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                      "AND ((classid::bigint << 32) | objid::bigint) = :key")

    def other() -> None:
        with locks.held(second, "function", "f"):
            order.append("second")

    with locks.held(first, "function", "f"):
        thread = threading.Thread(target=other)
        thread.start()
        with watcher.connect() as conn:
            while not conn.execute(waiting, {"key": key}).scalar():
                thread.join(0.05)
        order.append("first")
    thread.join()
    assert order == ["first", "second"]
    for engine in (first, second, watcher):
        engine.dispose()
