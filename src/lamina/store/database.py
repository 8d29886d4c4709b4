"""The metadata database: an SQLAlchemy engine on SQLite (WAL) in the data dir, migrated at start,
whose transactions take turns on one lock (SQLite has one writer).

Imports nothing from lamina; the Alembic migrations it runs (store/migrations) import
lamina.store.schema.
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _serialise_transactions(engine: sa.Engine) -> None:
    """SQLite has one writer at a time and makes the others sleep in growing steps (1, 2, 5, 10 ms
    ...) while they wait; lamina's threads instead take turns on a lock, which hands over at once.
    Transactions are short, so readers waiting their turn cost less than writers sleeping."""
    lock = threading.RLock()

    def begin(_connection) -> None:
        lock.acquire()

    def end(_connection) -> None:
        lock.release()

    sa.event.listen(engine, "begin", begin)
    sa.event.listen(engine, "commit", end)
    sa.event.listen(engine, "rollback", end)


def open_database(url: str) -> sa.Engine:
    """Create the engine for `url` (e.g. sqlite:////data/lamina.db) and bring its schema up to date."""
    engine = sa.create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        migrate(engine)
        _serialise_transactions(engine)
    else:
        migrate(engine)
    return engine


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'lamina.db'}"


def migrate(engine: sa.Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
