"""SQL that means the same on SQLite and PostgreSQL.

Inserts that meet an existing row: `insert_ignore` (INSERT ... ON CONFLICT DO NOTHING) and `upsert`
(ON CONFLICT DO UPDATE). Each is one statement, so two nodes (or threads) writing the same key at
once never fail on the primary key, as a read-then-insert or a delete-then-insert can on PostgreSQL,
where writers do not take turns on one lock. `starts_with`: a case-sensitive prefix test (SQLite's
LIKE ignores case; LIKE also needs its wildcards escaped). `whole_sum`: an integer column's sum as an int.
`sqlite_insert_rows`: many rows through SQLite's own driver in a few multi-row statements.

Imports nothing from lamina.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(conn: sa.Connection, table: sa.Table):
    """The dialect's INSERT (which has on_conflict_do_nothing / on_conflict_do_update)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise RuntimeError(f"lamina stores its state in SQLite or PostgreSQL, not {dialect}")


def insert_ignore(conn: sa.Connection, table: sa.Table, values: dict) -> bool:
    """Insert a row unless its key exists; True when it was inserted. (Told by the row RETURNING gives back:
    psycopg reports no rowcount for an INSERT.)"""
    keys = list(table.primary_key.columns)
    insert = insert_for(conn, table).values(**values).on_conflict_do_nothing().returning(*keys)
    return conn.execute(insert).first() is not None


def upsert(conn: sa.Connection, table: sa.Table, values: dict, keys: Iterable[str] | None = None,
           update: Iterable[str] | None = None) -> None:
    """Insert a row, or set its other columns (or those named in `update`) to `values` when its key (the
    primary key, or `keys`) exists: what deleting and inserting the row again did, in one statement."""
    keys = list(keys) if keys is not None else [column.name for column in table.primary_key.columns]
    insert = insert_for(conn, table).values(**values)
    names = [name for name in values if name not in keys] if update is None else list(update)
    changes = {name: insert.excluded[name] for name in names}
    if not changes:
        conn.execute(insert.on_conflict_do_nothing(index_elements=keys))
        return
    conn.execute(insert.on_conflict_do_update(index_elements=keys, set_=changes))


def starts_with(column: sa.ColumnElement, prefix: str) -> sa.ColumnElement:
    """`column` starts with `prefix`, case-sensitively and without wildcards. The positions are SQL
    literals: PostgreSQL has substr(text, integer, integer) and lamina's integer binds are 64-bit."""
    return sa.func.substr(column, sa.literal_column("1"), sa.literal_column(str(int(len(prefix))))) == prefix


def whole_sum(column: sa.ColumnElement) -> sa.ColumnElement:
    """SUM of an integer column, read back as an int: PostgreSQL sums BIGINT as NUMERIC, which psycopg
    reads as Decimal (JSON cannot carry it)."""
    return sa.cast(sa.func.sum(column), sa.BigInteger)


_ROWS_PER_STATEMENT = 64
_statements: dict[tuple[str, str, int], str] = {}


def sqlite_insert_rows(conn, head: str, row: str, values: list) -> None:
    """Insert rows through SQLite's own DBAPI connection (or cursor) as `head` VALUES `row`, `row`,
    ...; `values` holds every row's values in turn (one flat list; `row` has one `?` per value):
    64 rows per statement, then 32, 16 ... 1 for the rest (seven texts, each prepared once by the
    driver's statement cache), in their order. An executemany is one step per row, and the driver
    lets go of the GIL for every step: each a hand-over to and back from the event loop's thread."""
    width = row.count("?")
    done, left = 0, len(values) // width
    while left:
        size = _ROWS_PER_STATEMENT if left >= _ROWS_PER_STATEMENT else 1 << (left.bit_length() - 1)
        statement = _statements.get((head, row, size))
        if statement is None:
            statement = _statements[(head, row, size)] = f"{head} VALUES {', '.join([row] * size)}"
        conn.execute(statement, values[width * done:width * (done + size)])
        done, left = done + size, left - size
