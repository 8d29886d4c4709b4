"""Throwaway PostgreSQL databases for tests (the machine's server: 127.0.0.1:5432, trust auth, user
postgres; LAMINA_TEST_POSTGRES overrides the libpq conninfo of its maintenance database).

Each database is named `lamina_pg_<hex>` (or another prefix), made with psycopg in autocommit on the
maintenance database and dropped WITH (FORCE), so connections a test left open do not keep it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import psycopg

ADMIN = os.environ.get("LAMINA_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def _admin_params() -> dict:
    return psycopg.conninfo.conninfo_to_dict(ADMIN)


def url_of(name: str) -> str:
    """The postgresql:// URL of database `name` on the test server."""
    params = _admin_params()
    host, port, user = params.get("host", "127.0.0.1"), params.get("port", "5432"), params.get("user", "postgres")
    password = f":{params['password']}" if params.get("password") else ""
    return f"postgresql://{user}{password}@{host}:{port}/{name}"


def create_database(prefix: str = "lamina_pg", *, template: str | None = None) -> str:
    """Create an empty database (or a copy of `template`); its name."""
    name = f"{prefix}_{secrets.token_hex(5)}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def throwaway_database(prefix: str = "lamina_pg", *, template: str | None = None) -> Iterator[str]:
    """A new database for the block; yields its URL and drops it afterwards."""
    name = create_database(prefix, template=template)
    try:
        yield url_of(name)
    finally:
        drop_database(name)


def empty_tables(url: str) -> None:
    """Close every other connection to the database at `url`, delete the rows of its tables (all but
    Alembic's version) and restart its row id sequences: as good as a newly migrated database, much
    faster than making one (DELETE rather than TRUNCATE: a test leaves few rows, and TRUNCATE makes
    new files for every table)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        sequences = [row[0] for row in conn.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")]
        with conn.transaction():
            conn.execute("SET LOCAL synchronous_commit = off")
            for table in tables:
                conn.execute(f'DELETE FROM "{table}"')
            for sequence in sequences:
                conn.execute(f'ALTER SEQUENCE "{sequence}" RESTART')
