"""The durable async queue's table: events accepted with 202 stay here until they are finished.

Rows are plain mappings; lamina.queue.sql turns them into the queue's records. A row is leased
while `lease_until` is in the future; a claim takes due rows whose lease is absent or expired.
On SQLite the group commit goes through one raw DBAPI connection kept by the thread that commits (it
is every Event invoke's cost: no pool checkout, no SQLAlchemy transaction per commit), taking its
turn on the engine's transaction lock as every other writer does. A commit that forgets finished
events may first write other rows in its transaction (`write_lines`: their log lines, so an event
never leaves before its lines are stored, in one transaction instead of two). `commit_here`
accepts events on the caller's own thread (the event loop's) when that needs no waiting: a second
raw connection that never waits for a lock and never checkpoints the WAL (`checkpoint`, on the
queue's thread, does). Imports lamina.store.schema, lamina.store.database and lamina.store.dialect.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from lamina.store.database import transaction_turn
from lamina.store.dialect import sqlite_insert_rows
from lamina.store.schema import queue_events

_c = queue_events.c
# When a row can next be claimed: its due time, or later when a lease still holds it.
_claimable_at = sa.case((_c.lease_until > _c.due_at, _c.lease_until), else_=_c.due_at)
# Accepted events as SQLite's own driver takes them (every Event invoke's row: no per-row parameter
# processing in the group commit), several rows per statement. A row with a trace binds one parameter
# more, even when it is NULL, so a commit with no traced row (the common case) leaves the column out.
_SQLITE_INSERT = ("INSERT INTO queue_events (request_id, function_name, qualifier, payload, enqueued_at, due_at, "
                  "runs, throttles, lease_until)")
_SQLITE_ROW = "(?, ?, ?, ?, ?, ?, 0, 0, NULL)"
_SQLITE_INSERT_TRACED = ("INSERT INTO queue_events (request_id, function_name, qualifier, payload, enqueued_at, "
                         "due_at, trace, runs, throttles, lease_until)")
_SQLITE_ROW_TRACED = "(?, ?, ?, ?, ?, ?, ?, 0, 0, NULL)"
_TRACED = 7  # the length of a row that has a trace
_SQLITE_DELETE_MOST = 500
_COLUMNS = tuple(column.name for column in queue_events.c)
_SQLITE_CLAIMABLE = "due_at <= ? AND (lease_until IS NULL OR lease_until <= ?)"
_SQLITE_CLAIMS: dict[int, str] = {}  # the claim's text by the length of its skip list


def _sqlite_claim(skipped: int) -> str:
    """`claim`'s statement on SQLite, skipping `skipped` functions (bound after the claimable test)."""
    skip = f" AND function_name NOT IN ({', '.join('?' * skipped)})" if skipped else ""
    return (f"UPDATE queue_events SET lease_until = ? WHERE id IN (SELECT id FROM queue_events WHERE "
            f"{_SQLITE_CLAIMABLE}{skip} ORDER BY due_at, id LIMIT ?) AND {_SQLITE_CLAIMABLE} "
            f"RETURNING {', '.join(_COLUMNS)}")
  # ids per DELETE (SQLite allows 32,766 variables per statement)


class QueueStore:
    def __init__(self, engine: sa.Engine, *, write_lines: Callable[[Any, list], None] | None = None) -> None:
        self._engine = engine
        # writes log batches in the commit's transaction: given SQLite's own DBAPI connection, or
        # an SQLAlchemy connection on PostgreSQL
        self._write_lines = write_lines
        self._turn = transaction_turn(engine)  # None: not SQLite
        self._raw = None  # the committing thread's own DBAPI connection (SQLite)
        self._here = None  # `commit_here`'s connection (SQLite): out of the pool, its own pragmas

    def close(self) -> None:
        """Give the group commit's connections back (call from the thread that commits)."""
        raw, self._raw = self._raw, None
        if raw is not None:
            raw.close()
        here, self._here = self._here, None
        if here is not None:
            here.close()

    def commit_here(self, add: list[tuple]) -> bool:
        """Accept `add` (rows as `commit` takes them) in one transaction on the calling thread, if
        that needs no waiting: True once committed. False, with nothing written, on PostgreSQL (a
        round trip), while another writer of this process holds the turn, or when another process
        holds the file's write lock: `commit` on the queue's thread then does it."""
        if self._turn is None or not self._turn.acquire(blocking=False):
            return False
        try:
            conn = self._here
            if conn is None:
                conn = self._here = self._open_here()
            try:
                _insert_sqlite(conn, add)
                conn.commit()
            except BaseException as exc:
                try:
                    conn.rollback()
                except Exception:  # the connection is broken: the next call opens another
                    self._here = None
                    with contextlib.suppress(Exception):
                        conn.close()
                if isinstance(exc, sqlite3.OperationalError) and exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
                    return False  # another process holds the write lock
                raise
            return True
        finally:
            self._turn.release()

    def _open_here(self):
        raw = self._engine.raw_connection()
        conn = raw.driver_connection
        raw.detach()  # its pragmas below must not reach the pool's other users
        conn.execute("PRAGMA busy_timeout=0")  # a lock another process holds: answer at once
        conn.execute("PRAGMA wal_autocheckpoint=0")  # no page copying and file sync on the caller's thread
        return conn

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database file as far as readers allow (PASSIVE: as
        SQLite's automatic checkpoint does, waiting for no one); for what `commit_here` wrote, as
        its connection never does. Call from the thread that commits."""
        if self._turn is not None:
            self._thread_connection().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _thread_connection(self):
        if self._raw is None:
            self._raw = self._engine.raw_connection()
        return self._raw.driver_connection

    def commit(self, add: list[tuple], remove: list[int], lines: list | None = None) -> None:
        """Accept `add` and forget the finished `remove` in one transaction (the group commit); `add`
        rows are (request_id, function_name, qualifier, payload, enqueued_at, due_at), and trace after them
        when the event has one. `lines` (log batches) are written first, in the same transaction, by
        `write_lines`."""
        if lines and self._write_lines is None:
            raise ValueError("this queue store writes no log lines")
        if self._turn is not None:
            return self._commit_sqlite(add, remove, lines)
        with self._engine.begin() as conn:
            if lines:
                self._write_lines(conn, lines)  # type: ignore[misc]
            if add:
                conn.execute(queue_events.insert(), [
                    {"request_id": r, "function_name": f, "qualifier": q, "payload": p, "enqueued_at": e, "due_at": d,
                     "trace": t[0] if t else None, "runs": 0, "throttles": 0, "lease_until": None}
                    for r, f, q, p, e, d, *t in add])
            if remove:
                conn.execute(queue_events.delete().where(_c.id.in_(remove)))

    def _commit_sqlite(self, add: list[tuple], remove: list[int], lines: list | None) -> None:
        with self._turn:
            conn = self._thread_connection()
            try:
                if lines:
                    self._write_lines(conn, lines)  # type: ignore[misc]
                if add:
                    _insert_sqlite(conn, add)
                for start in range(0, len(remove), _SQLITE_DELETE_MOST):
                    ids = remove[start:start + _SQLITE_DELETE_MOST]
                    conn.execute(f"DELETE FROM queue_events WHERE id IN ({', '.join('?' * len(ids))})", ids)
                conn.commit()
            except BaseException:
                self._rollback(conn)
                raise

    def _rollback(self, conn) -> None:
        try:
            conn.rollback()
        except Exception:  # the connection is broken: the next transaction opens another
            self._raw, raw = None, self._raw
            raw.invalidate()

    def claim(self, now: float, limit: int, lease_until: float, skip: frozenset[str] = frozenset()) -> list[dict]:
        """Lease up to `limit` rows due at `now` and not leased (or whose lease expired) until
        `lease_until`, in one statement; earliest due first; none of the functions in `skip`. On
        PostgreSQL several processes may claim at once: the rows one of them is leasing are locked (FOR
        UPDATE) and the others skip them (SKIP LOCKED), and the lease is checked again on the row
        updated, so no row is leased twice."""
        if self._turn is not None:
            return self._claim_sqlite(now, limit, lease_until, skip)
        claimable = (_c.due_at <= now, sa.or_(_c.lease_until.is_(None), _c.lease_until <= now))
        if skip:
            claimable += (_c.function_name.not_in(sorted(skip)),)
        due = sa.select(_c.id).where(*claimable).order_by(_c.due_at, _c.id).limit(limit)
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            rows = conn.execute(queue_events.update().where(_c.id.in_(due.scalar_subquery()), *claimable)
                                .values(lease_until=lease_until).returning(*queue_events.c)).all()
        return sorted((dict(row._mapping) for row in rows), key=lambda row: (row["due_at"], row["id"]))

    def _claim_sqlite(self, now: float, limit: int, lease_until: float, skip: frozenset[str]) -> list[dict]:
        """`claim` through the committing thread's own DBAPI connection, under the transaction turn:
        the statement SQLAlchemy would build, without building it (several times the query's own
        cost per claim, and a claim runs for every few events the queue's workers take)."""
        names = sorted(skip)
        statement = _SQLITE_CLAIMS.get(len(names))
        if statement is None:
            statement = _SQLITE_CLAIMS[len(names)] = _sqlite_claim(len(names))
        with self._turn:  # type: ignore[union-attr]
            conn = self._thread_connection()
            try:
                rows = conn.execute(statement, (lease_until, now, now, *names, limit, now, now)).fetchall()
                conn.commit()
            except BaseException:
                self._rollback(conn)
                raise
        return sorted((dict(zip(_COLUMNS, row, strict=True)) for row in rows), key=lambda row: (row["due_at"], row["id"]))

    def extend(self, event_ids: list[int], lease_until: float) -> None:
        with self._engine.begin() as conn:
            conn.execute(queue_events.update().where(_c.id.in_(event_ids)).values(lease_until=lease_until))

    def release(self, event_ids: list[int]) -> None:
        with self._engine.begin() as conn:
            conn.execute(queue_events.update().where(_c.id.in_(event_ids)).values(lease_until=None))

    def reschedule(self, event_id: int, *, due_at: float, runs: int, throttles: int) -> None:
        """Release the row with a new due time and counts."""
        with self._engine.begin() as conn:
            conn.execute(queue_events.update().where(_c.id == event_id).values(
                due_at=due_at, runs=runs, throttles=throttles, lease_until=None))

    def next_claimable(self, skip: frozenset[str] = frozenset()) -> float | None:
        """The earliest time any row (of a function not in `skip`) can be claimed (due and not held by a
        live lease)."""
        query = sa.select(sa.func.min(_claimable_at))
        if skip:
            query = query.where(_c.function_name.not_in(sorted(skip)))
        with self._engine.connect() as conn:
            return conn.execute(query).scalar()

    def oldest(self) -> float | None:
        """When the oldest waiting event was accepted (epoch seconds), or None when none waits."""
        with self._engine.connect() as conn:
            return conn.execute(sa.select(sa.func.min(_c.enqueued_at))).scalar()

    def depth(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(queue_events)).scalar_one())

    def backlog(self) -> dict[str, tuple[int, float]]:
        """Per function with events held: (how many, when the oldest was accepted, epoch seconds)."""
        query = (sa.select(_c.function_name, sa.func.count(), sa.func.min(_c.enqueued_at))
                 .group_by(_c.function_name))
        with self._engine.connect() as conn:
            return {name: (int(count), float(oldest)) for name, count, oldest in conn.execute(query)}


def _insert_sqlite(conn, add: list[tuple]) -> None:
    if any(len(row) == _TRACED for row in add):  # in their order: the others bind NULL
        sqlite_insert_rows(conn, _SQLITE_INSERT_TRACED, _SQLITE_ROW_TRACED, [
            value for row in add for value in (row if len(row) == _TRACED else (*row, None))])
    else:
        sqlite_insert_rows(conn, _SQLITE_INSERT, _SQLITE_ROW, list(itertools.chain.from_iterable(add)))
