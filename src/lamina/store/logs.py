"""Function logs in the metadata database: log groups, streams and events (CloudWatch Logs' model).

`append` takes batches of (group, stream, events) and writes them in one transaction, creating
groups and streams on first use; an event row names its stream by the stream's id (remembered
per store after the first write). The rest serves the Logs API: groups and streams with their
counters, pages of events in (timestamp, id) order, deletion, retention and its expiry. Answers
with plain dicts and tuples, knows nothing of API errors or tokens. Imports lamina.store.schema and
lamina.store.dialect only.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect

from lamina.store.dialect import insert_ignore, sqlite_insert_rows, starts_with, whole_sum
from lamina.store.schema import INT64_MAX, INT64_MIN, fits, log_events, log_groups, log_streams

DAY_MS = 86_400_000
# An event row as pages return it: (id, stream, timestamp ms, ingestion ms, message).
EventRow = tuple[int, str, int, int, str]
# The events of a write on SQLite (the hot write of every invocation's lines): many rows per INSERT
# (`dialect.sqlite_insert_rows`). The driver lets go of the GIL for every step of a statement: an
# executemany of a row per step handed the GIL to and back from the event loop's thread three times
# per invocation (the thread switches were ~a fifth of the log writer's CPU).
_SQLITE_INSERT = "INSERT INTO log_events (log_group, stream_id, timestamp_ms, ingestion_ms, message)"
_SQLITE_ROW = "(?, ?, ?, ?, ?)"
# A write's update of its stream's counters (first/last event times widened, ingestion time, stored
# bytes), by the stream's id and names (an id remembered from an earlier write may since name another
# stream: SQLite reuses the highest id once its row is deleted). Built once; on SQLite sent as its
# compiled text through the driver (building and compiling it per stream per write cost ~0.2 ms).
_s = log_streams.c
_first, _last = sa.bindparam("first"), sa.bindparam("last")
_UPDATE_STREAM = log_streams.update().where(
    (_s.id == sa.bindparam("stream_id")) & (_s.log_group == sa.bindparam("group_name"))
    & (_s.name == sa.bindparam("stream_name"))).values(
    first_event_ms=sa.case((_s.first_event_ms.is_(None) | (_s.first_event_ms > _first), _first),
                           else_=_s.first_event_ms),
    last_event_ms=sa.case((_s.last_event_ms.is_(None) | (_s.last_event_ms < _last), _last), else_=_s.last_event_ms),
    last_ingestion_ms=sa.bindparam("now"), stored_bytes=_s.stored_bytes + sa.bindparam("size"))
_compiled = _UPDATE_STREAM.compile(dialect=sqlite_dialect.dialect())
_SQLITE_UPDATE, _SQLITE_UPDATE_ORDER = str(_compiled), tuple(_compiled.positiontup or ())
_STREAM_ID = sa.select(_s.id).where((_s.log_group == sa.bindparam("group_name"))
                                    & (_s.name == sa.bindparam("stream_name")))
_SQLITE_STREAM_ID = "SELECT id FROM log_streams WHERE log_group = ? AND name = ?"
_SQLITE_NEW_GROUP = "INSERT INTO log_groups (name, created_ms) VALUES (?, ?) ON CONFLICT DO NOTHING"
_SQLITE_NEW_STREAM = ("INSERT INTO log_streams (log_group, name, created_ms, stored_bytes) VALUES (?, ?, ?, 0) "
                      "ON CONFLICT DO NOTHING")
_REMEMBERED = 10_000  # stream ids kept (a stream per environment: far more than live at once)


class LogStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._ids: dict[tuple[str, str], int] = {}  # (group, stream) → log_streams.id, as last written

    # -- writes -------------------------------------------------------------------------------
    def append(self, batches: list[Any]) -> None:
        """Store every event of `batches` (objects with .group, .stream and .events of
        .timestamp_ms / .message)."""
        with self._engine.begin() as conn, _driver_cursor(conn) as cursor:
            self._append(conn, cursor, batches)

    def append_on(self, conn: Any, batches: list[Any]) -> None:
        """`append` in a transaction the caller holds: on an SQLAlchemy connection, or on SQLite's own
        DBAPI connection (the queue's group commit, which removes the events these lines are of)."""
        if isinstance(conn, sa.Connection):
            with _driver_cursor(conn) as cursor:
                self._append(conn, cursor, batches)
            return
        cursor = conn.cursor()
        try:
            self._append(None, cursor, batches)
        finally:
            cursor.close()

    def _append(self, conn: sa.Connection | None, cursor: Any, batches: list[Any]) -> None:
        """Write `batches` through `conn` (SQLAlchemy; None with a bare SQLite cursor) and, on SQLite,
        its driver's `cursor`."""
        by_stream: dict[tuple[str, str], list[Any]] = {}
        for batch in batches:
            key = (batch.group, batch.stream)
            events = by_stream.get(key)
            if events is None:
                by_stream[key] = list(batch.events)
            else:
                events += batch.events
        now = int(time.time() * 1000)
        rows: list = []
        for (group, stream), events in by_stream.items():
            if events:
                timestamps = [event.timestamp_ms for event in events]
                messages = [event.message for event in events]
                stream_id = self._counted(conn, cursor, group, stream, timestamps, messages, now, create=True)
                rows += _rows(cursor, group, stream_id, timestamps, messages, now)  # type: ignore[arg-type]
        _insert(conn, cursor, rows)

    def put(self, group: str, stream: str, events: list[tuple[int, str]], now_ms: int) -> bool:
        """Store (timestamp ms, message) events in an existing stream; False when it does not exist."""
        timestamps, messages = (list(column) for column in zip(*events, strict=True))
        with self._engine.begin() as conn, _driver_cursor(conn) as cursor:
            stream_id = self._counted(conn, cursor, group, stream, timestamps, messages, now_ms, create=False)
            if stream_id is None:
                return False
            _insert(conn, cursor, _rows(cursor, group, stream_id, timestamps, messages, now_ms))
            return True

    def _counted(self, conn: sa.Connection | None, cursor: Any, group: str, stream: str, timestamps: list[int],
                 messages: list[str], now: int, *, create: bool) -> int | None:
        """Add events (their `timestamps` and `messages`) to their stream's counters (the stream and
        its group made first, with `create`); the stream's id, or None when it does not exist. On
        SQLite the update goes through the driver's `cursor` (SQLAlchemy's execution of it cost
        ~30 µs per stream per write)."""
        values = {"first": min(timestamps), "last": max(timestamps), "now": now,
                  "size": sum(map(len, messages)), "group_name": group, "stream_name": stream}

        def update(stream_id: int) -> int:
            values["stream_id"] = stream_id
            if cursor is not None:
                return cursor.execute(_SQLITE_UPDATE, tuple(values[name] for name in _SQLITE_UPDATE_ORDER)).rowcount
            return conn.execute(_UPDATE_STREAM, values).rowcount

        key = (group, stream)
        stream_id = self._ids.get(key)
        if stream_id is None or update(stream_id) == 0:
            stream_id = _stream_id(conn, cursor, values)
            if stream_id is None:
                if not create:
                    return None
                if cursor is not None:  # SQLite, through its driver as the update
                    cursor.execute(_SQLITE_NEW_GROUP, (group, now))
                    cursor.execute(_SQLITE_NEW_STREAM, (group, stream, now))
                else:
                    insert_ignore(conn, log_groups, {"name": group, "created_ms": now})
                    insert_ignore(conn, log_streams, {"log_group": group, "name": stream, "created_ms": now,
                                                      "stored_bytes": 0})
                stream_id = _stream_id(conn, cursor, values)
            if len(self._ids) >= _REMEMBERED:
                self._ids.clear()
            self._ids[key] = stream_id
            update(stream_id)
        return stream_id

    def create_group(self, group: str, now_ms: int) -> bool:
        """False when the group already exists."""
        with self._engine.begin() as conn:
            return insert_ignore(conn, log_groups, {"name": group, "created_ms": now_ms})

    def create_stream(self, group: str, stream: str, now_ms: int) -> bool | None:
        """None when the group does not exist, False when the stream does."""
        with self._engine.begin() as conn:
            if conn.execute(sa.select(log_groups.c.name).where(log_groups.c.name == group)).first() is None:
                return None
            return insert_ignore(conn, log_streams, {"log_group": group, "name": stream,
                                                           "created_ms": now_ms, "stored_bytes": 0})

    def delete_group(self, group: str) -> bool:
        """Delete a group with its streams and events; False when it does not exist."""
        with self._engine.begin() as conn:
            conn.execute(log_events.delete().where(log_events.c.log_group == group))
            conn.execute(log_streams.delete().where(log_streams.c.log_group == group))
            return conn.execute(log_groups.delete().where(log_groups.c.name == group)).rowcount == 1

    def delete_stream(self, group: str, stream: str) -> bool:
        """Delete a stream with its events; False when it does not exist."""
        with self._engine.begin() as conn:
            stream_id = conn.execute(_STREAM_ID, {"group_name": group, "stream_name": stream}).scalar()
            if stream_id is None:
                return False
            conn.execute(log_events.delete().where(log_events.c.stream_id == stream_id))
            return conn.execute(log_streams.delete().where(log_streams.c.id == stream_id)).rowcount == 1

    def set_retention(self, group: str, days: int | None) -> bool:
        """Set (or with None remove) a group's retention; False when the group does not exist."""
        with self._engine.begin() as conn:
            return conn.execute(log_groups.update().where(log_groups.c.name == group)
                                .values(retention_days=days)).rowcount == 1

    def expire(self, now_ms: int) -> int:
        """Delete every event older than its group's retention; the number of events deleted."""
        deleted = 0
        with self._engine.begin() as conn:
            retained = conn.execute(sa.select(log_groups.c.name, log_groups.c.retention_days)
                                    .where(log_groups.c.retention_days.is_not(None))).all()
            for group, days in retained:
                cutoff = now_ms - days * DAY_MS
                old = (log_events.c.log_group == group) & (log_events.c.timestamp_ms < cutoff)
                touched = [row[0] for row in conn.execute(sa.select(log_events.c.stream_id).where(old).distinct())]
                if not touched:
                    continue
                deleted += conn.execute(log_events.delete().where(old)).rowcount
                for stream_id in touched:
                    self._recount(conn, stream_id)
        return deleted

    @staticmethod
    def _recount(conn: sa.Connection, stream_id: int) -> None:
        """Recompute a stream's first/last event time and stored bytes from the events it still has."""
        first, last, size = conn.execute(sa.select(
            sa.func.min(log_events.c.timestamp_ms), sa.func.max(log_events.c.timestamp_ms),
            sa.func.coalesce(whole_sum(sa.func.length(log_events.c.message)), 0)).where(
            log_events.c.stream_id == stream_id)).one()
        conn.execute(log_streams.update().where(log_streams.c.id == stream_id).values(
            first_event_ms=first, last_event_ms=last, stored_bytes=size))

    # -- reads --------------------------------------------------------------------------------
    def events(self, group: str, stream: str | None = None) -> list[tuple[str, int, str]]:
        """(stream, timestamp ms, message) of a group's events in the order they were stored."""
        query = sa.select(log_streams.c.name, log_events.c.timestamp_ms, log_events.c.message).join_from(
            log_events, log_streams, log_streams.c.id == log_events.c.stream_id).where(
            log_events.c.log_group == group).order_by(log_events.c.id)
        if stream is not None:
            query = query.where(log_streams.c.name == stream)
        with self._engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def _group_query(self) -> sa.Select:
        stored = (sa.select(sa.func.coalesce(whole_sum(log_streams.c.stored_bytes), 0))
                  .where(log_streams.c.log_group == log_groups.c.name).scalar_subquery())
        return sa.select(log_groups.c.name, log_groups.c.created_ms, log_groups.c.retention_days,
                         stored.label("stored_bytes"))

    def group(self, group: str) -> dict | None:
        """{name, created_ms, retention_days, stored_bytes} of one group, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(self._group_query().where(log_groups.c.name == group)).first()
        return dict(row._mapping) if row is not None else None

    def groups(self, *, prefix: str | None = None, contains: str | None = None, names: list[str] | None = None,
               after: str | None = None, limit: int = 50) -> list[dict]:
        """Groups ordered by name, after the name `after`, at most `limit`."""
        query = self._group_query().order_by(log_groups.c.name).limit(limit)
        if prefix:
            query = query.where(starts_with(log_groups.c.name, prefix))
        if contains:
            # REPLACE is case-sensitive on SQLite and PostgreSQL alike (LIKE is not on SQLite).
            query = query.where(sa.func.replace(log_groups.c.name, contains, "") != log_groups.c.name)
        if names is not None:
            query = query.where(log_groups.c.name.in_(names))
        if after is not None:
            query = query.where(log_groups.c.name > after)
        with self._engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def stream(self, group: str, stream: str) -> dict | None:
        rows = self.streams(group, names=[stream])
        return rows[0] if rows else None

    def streams(self, group: str, *, prefix: str | None = None, names: list[str] | None = None,
                by_last_event: bool = False, descending: bool = False, offset: int = 0,
                limit: int | None = None) -> list[dict]:
        """A group's streams ({name, created_ms, first_event_ms, last_event_ms, last_ingestion_ms,
        stored_bytes}) by name or by last event time, from position `offset`."""
        columns = log_streams.c
        key = [sa.func.coalesce(columns.last_event_ms, columns.created_ms), columns.name] if by_last_event \
            else [columns.name]
        query = sa.select(columns.name, columns.created_ms, columns.first_event_ms, columns.last_event_ms,
                          columns.last_ingestion_ms, columns.stored_bytes).where(columns.log_group == group)
        if offset > INT64_MAX:
            return []
        query = query.order_by(*[k.desc() if descending else k.asc() for k in key]).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        if prefix:
            query = query.where(starts_with(columns.name, prefix))
        if names is not None:
            query = query.where(columns.name.in_(names))
        with self._engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def page(self, group: str, *, streams: list[str] | None = None, stream_prefix: str | None = None,
             start: int | None = None, end: int | None = None, after: tuple[int, int] | None = None,
             before: tuple[int, int] | None = None, newest_first: bool = False,
             limit: int = 10_000) -> list[EventRow]:
        """Events of a group in (timestamp, id) order (reversed with `newest_first`): start <= timestamp
        < end, strictly after / before a (timestamp, id) position, of the named streams or a prefix.
        Bounds beyond what a column holds (e.g. end = 2^63) bound nothing or leave nothing."""
        window = _window(start, end, after, before)
        if window is None:
            return []
        start, end, after, before = window
        c, s = log_events.c, log_streams.c
        position = sa.tuple_(c.timestamp_ms, c.id)
        query = sa.select(c.id, s.name, c.timestamp_ms, c.ingestion_ms, c.message).join_from(
            log_events, log_streams, s.id == c.stream_id).where(c.log_group == group)
        if streams is not None:  # the stream's group too: its (group, name) index finds the stream first
            query = query.where(s.log_group == group, s.name.in_(streams))
        if stream_prefix:
            query = query.where(s.log_group == group, starts_with(s.name, stream_prefix))
        if start is not None:
            query = query.where(c.timestamp_ms >= start)
        if end is not None:
            query = query.where(c.timestamp_ms < end)
        if after is not None:
            query = query.where(position > sa.tuple_(*after))
        if before is not None:
            query = query.where(position < sa.tuple_(*before))
        order = (c.timestamp_ms.desc(), c.id.desc()) if newest_first else (c.timestamp_ms.asc(), c.id.asc())
        with self._engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query.order_by(*order).limit(limit))]


def _stream_id(conn: sa.Connection | None, cursor: Any, values: dict) -> int | None:
    """The id of the stream `values` names (group_name, stream_name), or None; on SQLite through
    its driver's `cursor` (the only way with a bare cursor, the queue's group commit)."""
    if cursor is not None:
        row = cursor.execute(_SQLITE_STREAM_ID, (values["group_name"], values["stream_name"])).fetchone()
        return None if row is None else row[0]
    return conn.execute(_STREAM_ID, values).scalar()


@contextlib.contextmanager
def _driver_cursor(conn: sa.Connection) -> Iterator[Any]:
    """A cursor of the transaction's own SQLite connection (None on PostgreSQL), closed after."""
    if conn.dialect.name != "sqlite":
        yield None
        return
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    finally:
        cursor.close()


def _rows(cursor: Any, group: str, stream_id: int, timestamps: list[int], messages: list[str], now: int) -> list:
    """A stream's events as `_insert` takes them: for SQLite's driver one flat list of every row's
    five values in turn (made by slice assignment: no tuple per row), dicts for SQLAlchemy."""
    count = len(timestamps)
    if cursor is not None:
        flat: list = [group] * (5 * count)
        flat[1::5] = [stream_id] * count
        flat[2::5] = timestamps
        flat[3::5] = [now] * count
        flat[4::5] = messages
        return flat
    return [{"log_group": group, "stream_id": stream_id, "timestamp_ms": timestamp, "ingestion_ms": now,
             "message": message} for timestamp, message in zip(timestamps, messages, strict=True)]


def _insert(conn: sa.Connection | None, cursor: Any, rows: list) -> None:
    """Insert the rows of a write (all streams'), in the order given (their ids)."""
    if not rows:
        return
    if cursor is not None:  # through the driver: no per-row parameter processing
        sqlite_insert_rows(cursor, _SQLITE_INSERT, _SQLITE_ROW, rows)
    else:
        conn.execute(log_events.insert(), rows)


def _window(start: int | None, end: int | None, after: tuple[int, int] | None,
            before: tuple[int, int] | None) -> tuple | None:
    """`page`'s bounds restated within what the columns hold, or None when no stored event can meet them."""
    if (start is not None and start > INT64_MAX) or (end is not None and end <= INT64_MIN):
        return None
    if (after is not None and after[0] > INT64_MAX) or (before is not None and before[0] < INT64_MIN):
        return None
    start = None if start is not None and start < INT64_MIN else start
    end = None if end is not None and end > INT64_MAX else end
    after = None if after is not None and after[0] < INT64_MIN else _clamped(after)
    before = None if before is not None and before[0] > INT64_MAX else _clamped(before)
    return start, end, after, before


def _clamped(position: tuple[int, int] | None) -> tuple[int, int] | None:
    """A (timestamp, id) position whose timestamp fits, with its id brought into range (ids always fit)."""
    if position is None or fits(position[1]):
        return position
    return position[0], min(max(position[1], INT64_MIN), INT64_MAX)
