"""The Alembic migrations and lamina.store.schema describe the same database: a fresh database migrated
to head compares equal to the metadata the stores query through (tables, columns, types,
nullability, server defaults, indexes, unique constraints, foreign keys; Alembic's own version
table aside). A migration that forgets a column, or a schema change without its migration, fails
here instead of on the first query of a migrated database.

Runs on SQLite here and on PostgreSQL in tests/functional/test_store_postgresql.py (`empty_db_url`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.compiler import compiles

from lamina.store import schema
from lamina.store.database import migrate, normalise
from lamina.store.schema import metadata

VERSION_TABLE = "alembic_version"  # Alembic's own bookkeeping, not lamina's schema


@contextlib.contextmanager
def catalog_casts_as_integer() -> Iterator[None]:
    """While comparing: an Integer *bind cast* on PostgreSQL is `::INTEGER` again. lamina.store.schema
    compiles every Integer to BIGINT there (its columns hold 64 bits, as on SQLite), and SQLAlchemy's
    psycopg dialect casts bound parameters, so the catalog queries reflection runs would call
    generate_subscripts(int2vector, bigint) and pg_get_indexdef(oid, bigint, bool), which PostgreSQL
    does not have. Only bind casts change (they pass identifier_preparer without a type_expression);
    DDL and the type names Alembic compares still say BIGINT. Reflection is the only thing that meets
    this: lamina never reflects."""
    lamina_integer = schema._postgresql_integer

    def integer(type_, compiler, **kw) -> str:
        if "identifier_preparer" in kw and kw.get("type_expression") is None:
            return "INTEGER"
        return lamina_integer(type_, compiler, **kw)

    compiles(sa.Integer, "postgresql")(integer)
    try:
        yield
    finally:
        compiles(sa.Integer, "postgresql")(lamina_integer)


def differences(connection: sa.Connection) -> list:
    context = MigrationContext.configure(connection, opts={
        "compare_type": True,
        "compare_server_default": True,
        "include_name": lambda name, kind, parent: not (kind == "table" and name == VERSION_TABLE),
    })
    with catalog_casts_as_integer():
        return compare_metadata(context, metadata)


def describe(diff) -> str:
    """One line per difference: what to change, where (a modify_* change comes as a list of tuples)."""
    if isinstance(diff, list):
        return "; ".join(describe(part) for part in diff)
    kind, *rest = diff
    return f"{kind}: " + ", ".join(str(getattr(part, "name", part)) for part in rest[:3] if part is not None)


def test_a_database_migrated_to_head_matches_the_schema(empty_db_url):
    engine = sa.create_engine(normalise(empty_db_url))
    try:
        migrate(engine)
        with engine.connect() as connection:
            found = differences(connection)
    finally:
        engine.dispose()
    assert [describe(diff) for diff in found] == []


def test_the_comparison_sees_a_missing_column(empty_db_url):
    """The check can fail: a column dropped behind the migrations' back is reported."""
    engine = sa.create_engine(normalise(empty_db_url))
    try:
        migrate(engine)
        with engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE queue_events DROP COLUMN lease_until"))
        with engine.connect() as connection:
            found = [describe(diff) for diff in differences(connection)]
    finally:
        engine.dispose()
    assert any(line.startswith("add_column") and "lease_until" in line for line in found), found
