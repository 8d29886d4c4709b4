"""The metadata database: an SQLAlchemy engine, migrated at start, on one of two databases.

- SQLite (single node, the default): a file in the data dir in WAL mode, whose transactions take
  turns on one lock (SQLite has one writer).
- PostgreSQL (cluster mode, `--database postgresql://...`): psycopg 3 with a pool sized for a
  server's worker threads; the migrations run under an advisory lock, so nodes starting at once
  migrate one after the other (the later ones find the schema up to date).

`database_url(settings)` is the URL a server uses; `open_database(url)` opens and migrates it, and
raises `DatabaseUnavailable` (one line, no traceback) when the server cannot be reached.
Imports nothing from lamina; the Alembic migrations it runs (store/migrations) import
lamina.store.schema.
"""

from __future__ import annotations

import functools
import threading
import weakref
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The PostgreSQL advisory lock (one bigint key: "lamina" in ASCII) that migrations run under.
MIGRATION_LOCK = 0x6C616D696E61
# A PostgreSQL connection pool per process: the API's worker threads, the log, metric and queue
# writers and the supervisor each hold a connection for one short transaction at a time. At most
# POOL_SIZE + POOL_OVERFLOW per node (PostgreSQL allows 100 by default: several nodes fit); a thread
# finding none free waits up to POOL_TIMEOUT seconds. Connections are checked before use (a restarted
# PostgreSQL costs one failed ping, not a failed request) and renewed every half hour.
POOL_SIZE = 8
POOL_OVERFLOW = 12
POOL_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10  # seconds psycopg waits for a PostgreSQL server to answer a new connection


class DatabaseUnavailable(ValueError):
    """The database named by the URL cannot be reached or opened (a one-line reason)."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


_TURNS: weakref.WeakKeyDictionary[sa.Engine, threading.RLock] = weakref.WeakKeyDictionary()


def transaction_turn(engine: sa.Engine) -> threading.RLock | None:
    """The lock an SQLite engine's transactions take turns on (None for PostgreSQL): code that writes
    through a raw DBAPI connection of the engine holds it for its transaction as well."""
    return _TURNS.get(engine)


def _serialise_transactions(engine: sa.Engine) -> None:
    """SQLite has one writer at a time and makes the others sleep in growing steps (1, 2, 5, 10 ms
    ...) while they wait; lamina's threads instead take turns on a lock, which hands over at once.
    Transactions are short, so readers waiting their turn cost less than writers sleeping."""
    lock = _TURNS[engine] = threading.RLock()

    def begin(_connection) -> None:
        lock.acquire()

    def end(_connection) -> None:
        lock.release()

    sa.event.listen(engine, "begin", begin)
    sa.event.listen(engine, "commit", end)
    sa.event.listen(engine, "rollback", end)


def _nul_safe_strings(dbapi_connection, _record) -> None:
    """PostgreSQL text cannot hold U+0000, which SQLite stores (a function may print one): on PostgreSQL
    each NUL in a string sent becomes U+FFFD, the replacement character, instead of failing the write."""
    text, binary = _nul_safe_dumpers()
    adapters = dbapi_connection.adapters
    adapters.register_dumper(str, binary)
    adapters.register_dumper(str, text)  # registered last: what psycopg picks for a str parameter


@functools.cache
def _nul_safe_dumpers() -> tuple[type, type]:
    from psycopg.types.string import StrBinaryDumper, StrDumperUnknown

    class NulSafeText(StrDumperUnknown):
        def dump(self, obj: str):
            return super().dump(obj.replace("\x00", "\ufffd") if "\x00" in obj else obj)

    class NulSafeBinary(StrBinaryDumper):
        def dump(self, obj: str):
            return super().dump(obj.replace("\x00", "\ufffd") if "\x00" in obj else obj)

    return NulSafeText, NulSafeBinary


def normalise(url: str) -> str:
    """`url` with PostgreSQL's plain schemes (postgresql://, postgres://) naming the psycopg 3 driver."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url


def is_sqlite(url: str) -> bool:
    return normalise(url).startswith("sqlite")


def shown(url: str) -> str:
    """`url` fit for a message: without its password."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def engine_options(url: str) -> dict[str, Any]:
    """create_engine's options for `url`: a checked, bounded pool for PostgreSQL."""
    if is_sqlite(url):
        return {}
    return {"pool_pre_ping": True, "pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW,
            "pool_timeout": POOL_TIMEOUT, "pool_recycle": 1800,
            "connect_args": {"connect_timeout": CONNECT_TIMEOUT, "application_name": "lamina"}}


def open_database(url: str) -> sa.Engine:
    """Create the engine for `url` (sqlite:////data/lamina.db or postgresql://user@host/db) and bring
    its schema up to date; DatabaseUnavailable when the database cannot be reached."""
    given, url = url, normalise(url)
    if not url.startswith(("sqlite:", "postgresql+psycopg:")):
        raise DatabaseUnavailable(f"cannot use the database URL {shown(given)}: lamina keeps its state in SQLite "
                                  "(sqlite:///path) or PostgreSQL (postgresql://user@host:5432/name)")
    try:
        engine = sa.create_engine(url, future=True, **engine_options(url))
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise DatabaseUnavailable(f"cannot use the database URL {shown(given)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        migrate(engine)
        _serialise_transactions(engine)
        return engine
    sa.event.listen(engine, "connect", _nul_safe_strings)
    try:
        migrate(engine)
    except sa.exc.OperationalError as exc:  # refused, unknown host or database, bad password, timeout
        engine.dispose()
        reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()
        raise DatabaseUnavailable(f"cannot reach the database {shown(given)}: "
                                  f"{reason[0] if reason else type(exc).__name__}") from None
    return engine


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'lamina.db'}"


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names (None for other databases or an in-memory one)."""
    if not is_sqlite(url):
        return None
    database = sa.engine.make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def database_url(settings: Any) -> str:
    """The database a server keeps its state in: `settings.database_url`, else SQLite in the data dir."""
    return settings.database_url or sqlite_url(Path(settings.data_dir))


def migrate(engine: sa.Engine) -> None:
    """Upgrade to the newest revision in one transaction; on PostgreSQL under an advisory lock held
    until it commits, so concurrent starts migrate in turn."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
