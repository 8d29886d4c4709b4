"""Fixtures shared by unit tests: the database a store test runs on.

`db_url` is a migrated-on-open SQLite file here; tests/functional/test_store_postgresql.py runs the same
store test bodies with `db_url` naming a throwaway PostgreSQL database instead. `empty_db_url` is a
database no migration has touched yet (for tests that migrate step by step).
"""

from __future__ import annotations

import pytest

from lamina.store.database import sqlite_url


@pytest.fixture
def db_url(tmp_path) -> str:
    return sqlite_url(tmp_path)


@pytest.fixture
def empty_db_url(tmp_path) -> str:
    return sqlite_url(tmp_path)
